// Gallery enhancements; every action also works as a plain link or form without this file.
(function () {
  "use strict";
  // "Copy prompt": the prompt sits in a read-only textarea, so it can be copied by hand too.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.querySelector(button.dataset.copy);
      navigator.clipboard.writeText(source.value || source.textContent).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy prompt"; }, 1500);
      });
    });
  });
  // Destructive forms ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);
})();
