// Small progressive enhancements; every feature works without this file.
(function () {
  "use strict";
  // Say at once when more reference files are picked than the model takes
  // (the server refuses them too, with the same limit).
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-files]")) return;
    var max = parseInt(input.dataset.maxFiles, 10);
    input.setCustomValidity(input.files.length > max ? "This model takes at most " + max + " reference images." : "");
    input.reportValidity();
  });
  // A job that finishes while the tab is in the background shows it in the title.
  var baseTitle = document.title;
  document.addEventListener("htmx:afterSwap", function (event) {
    var card = event.detail.target;
    if (!document.hidden || !card || !card.dataset) return;
    var status = card.dataset.status || (card.querySelector && card.querySelector("[data-status]") || {}).dataset?.status;
    if (status === "succeeded" || status === "failed") document.title = "● " + (status === "succeeded" ? "Done" : "Failed") + " · " + baseTitle;
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) document.title = baseTitle; });
})();
