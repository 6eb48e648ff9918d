// Gallery enhancements; every action also works as a plain link or form without this file.
// Copy prompt, confirm before deleting, select mode (Shift+click ranges), drag onto boards.
(function () {
  "use strict";
  var doc = document;
  function $$(sel, root) { return Array.prototype.slice.call((root || doc).querySelectorAll(sel)); }
  function csrf() { try { return JSON.parse(doc.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; } }

  // "Copy prompt": the prompt sits in a read-only textarea, so it can be copied by hand too.
  $$("[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = doc.querySelector(button.dataset.copy);
      navigator.clipboard.writeText(source.value || source.textContent).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy prompt"; }, 1500);
      });
    });
  });
  // Destructive forms ask first.
  doc.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);

  // Before and after: stack the two images and let the range clip the source (the top
  // one); a range input is keyboard operable as it is, and the style is set here, not inline.
  $$("[data-compare]").forEach(function (box) {
    var range = box.querySelector("input[type=range]"), pair = box.querySelector(".compare-pair");
    if (!range || !pair) return;
    function show() {
      pair.style.setProperty("--pos", range.value + "%");
      range.setAttribute("aria-valuetext", range.value + "% before");
    }
    range.addEventListener("input", show);
    range.closest(".compare-control").hidden = false;
    box.classList.add("sliding");
    show();
  });

  // -- select mode ------------------------------------------------------------------------
  var last = null;
  function boxes() { return $$("#grid .tile .pick input"); }
  function count() {
    var n = boxes().filter(function (b) { return b.checked; }).length, out = doc.getElementById("selected-count");
    if (out) out.textContent = n ? n + " selected" : "";
  }
  doc.addEventListener("click", function (e) {
    var toggle = e.target.closest && e.target.closest("#select-toggle");
    if (toggle) {
      var on = toggle.getAttribute("aria-pressed") !== "true", grid = doc.getElementById("gallery-results");
      toggle.setAttribute("aria-pressed", String(on));
      if (grid) grid.classList.toggle("selecting", on);
      toggle.closest(".selection-bar").classList.toggle("on", on);
      return;
    }
    var tile = e.target.closest && e.target.closest("#grid .tile");
    if (!tile) return;
    var box = tile.querySelector(".pick input");
    if (!box) return;
    var selecting = tile.closest(".selecting");
    if (!selecting && !e.target.closest(".pick")) return;  // outside select mode a click opens the image
    if (!e.target.closest(".pick")) { e.preventDefault(); box.checked = !box.checked; }
    if (e.shiftKey && last && last !== box) {
      var all = boxes(), a = all.indexOf(last), b = all.indexOf(box);
      all.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (x) { x.checked = box.checked; });
    }
    last = box;
    count();
  });
  doc.addEventListener("change", function (e) { if (e.target.matches && e.target.matches("#grid .pick input")) { last = e.target; count(); } });

  // -- drag images onto a board in the sidebar ------------------------------------------------
  doc.addEventListener("dragstart", function (e) {
    var link = e.target.closest && e.target.closest("#grid .tile a[data-pk]");
    if (!link) return;
    var box = link.closest(".tile").querySelector(".pick input");
    var ids = box && box.checked ? boxes().filter(function (b) { return b.checked; }).map(function (b) { return b.value; }) : [link.dataset.pk];
    e.dataTransfer.setData("application/x-studio-images", ids.join(","));
    e.dataTransfer.effectAllowed = "copy";
  });
  function target(e) { return e.target.closest && e.target.closest("[data-drop-board]"); }
  doc.addEventListener("dragover", function (e) {
    var t = target(e);
    if (!t || e.dataTransfer.types.indexOf("application/x-studio-images") < 0) return;
    e.preventDefault();
    t.classList.add("drop-over");
  });
  doc.addEventListener("dragleave", function (e) { var t = target(e); if (t) t.classList.remove("drop-over"); });
  doc.addEventListener("drop", function (e) {
    var t = target(e);
    if (!t) return;
    e.preventDefault();
    t.classList.remove("drop-over");
    var ids = (e.dataTransfer.getData("application/x-studio-images") || "").split(",").filter(Boolean);
    if (!ids.length) return;
    var body = new FormData();
    body.append("action", "add");
    body.append("board", t.dataset.dropBoard);
    ids.forEach(function (id) { body.append("image", id); });
    var status = doc.getElementById("board-status");
    fetch(doc.getElementById("selection").action, { method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), "HX-Request": "true" } })
      .then(function (r) { return r.text().then(function (text) { return [r.ok, text]; }); })
      .then(function (res) {
        if (status) status.textContent = res[1];
        var added = res[0] && parseInt((res[1].match(/Added (\d+)/) || [0, 0])[1], 10);
        var c = t.querySelector("[data-count]");
        if (added && c) c.textContent = parseInt(c.textContent, 10) + added;
      })
      .catch(function () { if (status) status.textContent = "Could not add the images: try again."; });
  });
})();
