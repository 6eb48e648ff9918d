// Small progressive enhancements; every page works without this file.
// Studio: model filter, reference list (drop, pick, reorder, remove, the model's limit),
// mask painter, carry the prompt to compare/batch, and "job finished" signals.
(function () {
  "use strict";
  var doc = document;
  doc.documentElement.classList.add("has-js");

  function $(sel, el) { return (el || doc).querySelector(sel); }
  function $$(sel, el) { return Array.prototype.slice.call((el || doc).querySelectorAll(sel)); }
  function el(tag, props) { var e = doc.createElement(tag); Object.assign(e, props || {}); return e; }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  // -- model filter: hide what does not match every word -----------------------------
  function filterModels() {
    var input = $("#model-filter");
    if (!input) return;
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean), any = false;
    $$("#model-list fieldset").forEach(function (set) {
      var shown = 0;
      $$("label.m", set).forEach(function (label) {
        var text = label.textContent.toLowerCase();
        var ok = label.querySelector("input").checked || words.every(function (w) { return text.indexOf(w) >= 0; });
        label.hidden = !ok;
        if (ok) shown++;
      });
      set.hidden = !shown;
      any = any || shown > 0;
    });
    var empty = $("#filter-empty");
    if (empty) empty.hidden = any;
  }
  doc.addEventListener("input", function (e) { if (e.target.id === "model-filter") filterModels(); });
  doc.addEventListener("keydown", function (e) {
    if (e.target.id === "model-filter" && e.key === "Enter") e.preventDefault();
  });

  // -- references -------------------------------------------------------------------
  // items: {file, thumb} for picked files, {image, thumb, src} for gallery images.
  var items = [], caps = { max: 0, mask: false, name: "This model" };

  // Job cards settle every second: re-render the list only when the model's limits change.
  function readCaps(force) {
    var opts = $("#composer-options");
    if (!opts) return;
    var next = { max: parseInt(opts.dataset.maxRefs || "0", 10), mask: opts.dataset.mask === "1", name: opts.dataset.name || "This model" };
    if (!force && next.max === caps.max && next.mask === caps.mask && next.name === caps.name) return;
    caps = next;
    var refs = $("#refs"), box = $("#mask-box"), max = $("#refs-max");
    if (refs) refs.hidden = !caps.max && !items.length;
    if (box) box.hidden = !caps.mask || !items.length;
    // A painted mask stays for a model that takes one, but is not sent to one that does not.
    if ($("#id_mask")) $("#id_mask").disabled = !caps.mask;
    if (max) max.textContent = caps.max ? "up to " + caps.max : "none for this model";
    renderRefs();
  }

  function initRefs() {
    var list = $("#ref-list");
    if (!list || list.dataset.ready) return;
    list.dataset.ready = "1";
    items = $$("li", list).map(function (li) {
      return { image: li.dataset.image, src: li.dataset.src, thumb: li.querySelector("img").src };
    });
    var drop = $("#refs");
    drop.addEventListener("dragover", function (e) { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", function () { drop.classList.remove("over"); });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      drop.classList.remove("over");
      addFiles(e.dataTransfer.files);
    });
    $("#id_references").addEventListener("change", function (e) { addFiles(e.target.files); });
    readCaps(true);
  }

  // A file is added only once the browser has decoded it: a text file renamed .png is refused
  // at once, with its name, instead of showing as a broken thumbnail until the submit fails.
  var adding = Promise.resolve();
  function decodes(file) {
    return new Promise(function (resolve) {
      var url = URL.createObjectURL(file), img = new Image();
      img.onload = function () { resolve(img.naturalWidth > 0 ? url : (URL.revokeObjectURL(url), null)); };
      img.onerror = function () { URL.revokeObjectURL(url); resolve(null); };
      img.src = url;
    });
  }
  function addFiles(files) {
    var list = Array.prototype.slice.call(files);
    adding = adding.then(function () {
      return Promise.all(list.map(function (file) {
        return /^image\/(png|jpeg|webp)$/.test(file.type) ? decodes(file) : Promise.resolve(false);
      })).then(function (thumbs) {
        var wrongType = [], broken = [];
        list.forEach(function (file, i) {
          if (thumbs[i]) items.push({ file: file, thumb: thumbs[i] });
          else (thumbs[i] === false ? wrongType : broken).push(file.name);
        });
        renderRefs();
        var problems = [];
        if (wrongType.length) problems.push(wrongType.join(", ") + ": not a PNG, JPEG or WebP image, so not added.");
        if (broken.length) problems.push(broken.join(", ") + ": not a readable image (the file's content is not what its name says), so not added.");
        if (problems.length) refuse(problems.join(" "));
        else if ($("#refs-error")) $("#refs-error").textContent = "";
      });
    });
  }
  function refuse(text) {
    var box = $("#refs-error");
    if (!box) {
      box = el("p", { id: "refs-error", className: "error" });
      box.setAttribute("role", "alert");
      $("#refs-status").before(box);
    }
    box.textContent = text;
    say(text);
  }

  function button(text, label, onClick, disabled) {
    var b = el("button", { type: "button", textContent: text, disabled: !!disabled });
    b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  }

  function move(i, step) {
    var j = i + step, item = items[i];
    items[i] = items[j];
    items[j] = item;
    renderRefs();
    var target = $$("#ref-list li")[j];
    if (target) (target.querySelector(step < 0 ? "[data-dir=up]" : "[data-dir=down]") || target.querySelector("button:not([disabled])")).focus();
  }

  function removeAt(i) {
    var item = items.splice(i, 1)[0];
    if (item.file) URL.revokeObjectURL(item.thumb);
    renderRefs();
    var next = $$("#ref-list li button[data-dir=rm]")[Math.min(i, items.length - 1)];
    (next || $("#id_references")).focus();
  }

  function renderRefs() {
    var list = $("#ref-list"), input = $("#id_references");
    if (!list || !list.dataset.ready) return;
    list.textContent = "";
    var files = new DataTransfer(), order = [];
    items.forEach(function (item, i) {
      var sent = i < caps.max, name = item.file ? item.file.name : "gallery image " + item.image;
      var li = el("li", { className: sent ? "" : "over" });
      li.appendChild(el("img", { src: item.thumb, alt: "Reference " + (i + 1) + ": " + name }));
      li.appendChild(el("span", { className: "name", textContent: (i + 1) + ". " + name + (sent ? "" : " (not sent)") }));
      var row = el("div", { className: "row" });
      var up = button("←", "Move " + name + " earlier", function () { move(i, -1); }, i === 0);
      var down = button("→", "Move " + name + " later", function () { move(i, 1); }, i === items.length - 1);
      var rm = button("Remove", "Remove " + name, function () { removeAt(i); });
      up.dataset.dir = "up"; down.dataset.dir = "down"; rm.dataset.dir = "rm";
      row.append(up, down, rm);
      li.appendChild(row);
      if (sent && item.image) li.appendChild(el("input", { type: "hidden", name: "reference_image", value: item.image }));
      list.appendChild(li);
      if (!sent) return;
      if (item.file) { files.items.add(item.file); order.push("file"); } else order.push("image:" + item.image);
    });
    input.files = files.files;
    $("#ref-order").value = order.join(",");
    var over = items.length - Math.min(items.length, caps.max);
    $("#refs-status").textContent = over
      ? caps.name + " takes " + (caps.max ? "at most " + plural(caps.max, "reference image") : "no reference images") + ": the last " + (over === 1 ? "one is" : over + " are") + " not sent."
      : items.length ? plural(items.length, "reference image") + " attached, in this order." : "";
    $("#refs").hidden = !caps.max && !items.length;
    var box = $("#mask-box");
    if (box) box.hidden = !caps.mask || !items.length;
    maskSource();
  }

  // -- mask painter: white = repaint, black = keep (the studio's convention) ----------
  var mask = { key: null, w: 0, h: 0, tool: "brush", painted: false, x: 0.5, y: 0.5, focus: false };

  function maskSource() {
    var box = $("#mask-box"), canvas = $("#mask-canvas");
    if (!box || !canvas) return;
    var first = items.length && caps.max ? items[0] : null, key = first && (first.file || first.image);
    if (key === mask.key) return;
    mask.key = key;
    clearMask(false);
    $("#mask-hint").textContent = first ? "Paint over the part to change. The mask applies to reference 1." : "Add a reference image, then paint over the part to change.";
    canvas.hidden = !first;
    if (!first) { mask.base = null; return; }
    var img = new Image();
    img.onload = function () {
      if (mask.key !== key) return;
      mask.base = img;
      mask.w = img.naturalWidth;
      mask.h = img.naturalHeight;
      mask.layer = el("canvas", { width: mask.w, height: mask.h });
      var width = Math.min(mask.w, box.clientWidth - 24 || 400);
      canvas.width = width;
      canvas.height = Math.round(width * mask.h / mask.w);
      drawMask();
      if (box.hasAttribute("data-open")) { box.removeAttribute("data-open"); canvas.scrollIntoView({ block: "nearest" }); }
    };
    img.src = first.file ? first.thumb : first.src;
  }

  function brushSize() { return Math.max(mask.w, mask.h) * parseInt($("#mask-size").value, 10) / 100; }

  function stroke(x0, y0, x1, y1) {
    var ctx = mask.layer.getContext("2d");
    ctx.globalCompositeOperation = mask.tool === "eraser" ? "destination-out" : "source-over";
    ctx.strokeStyle = "#fff";
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.lineWidth = brushSize();
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1 + 0.01, y1);
    ctx.stroke();
    mask.painted = true;
    drawMask();
  }

  function drawMask() {
    var canvas = $("#mask-canvas");
    if (!canvas || !mask.base) return;
    var ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
    ctx.globalCompositeOperation = "source-over";
    if ($("#mask-preview").checked) {
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, w, h);
      ctx.drawImage(mask.layer, 0, 0, w, h);
    } else {
      ctx.drawImage(mask.base, 0, 0, w, h);
      var tint = el("canvas", { width: w, height: h }), t = tint.getContext("2d");
      t.drawImage(mask.layer, 0, 0, w, h);
      t.globalCompositeOperation = "source-in";
      t.fillStyle = "rgba(230, 30, 90, 0.55)";
      t.fillRect(0, 0, w, h);
      ctx.drawImage(tint, 0, 0);
    }
    if (mask.focus) {
      ctx.strokeStyle = "#f0c419";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(mask.x * w, mask.y * h, brushSize() * w / mask.w / 2, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  function clearMask(redraw) {
    if (mask.layer) mask.layer.getContext("2d").clearRect(0, 0, mask.w, mask.h);
    mask.painted = false;
    var input = $("#id_mask");
    if (input) input.value = "";
    if (redraw) drawMask();
  }

  // The PNG is built as strokes end, so it is in the file input before any submit.
  function exportMask() {
    if (!mask.painted || !mask.layer) return;
    var out = el("canvas", { width: mask.w, height: mask.h }), ctx = out.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, mask.w, mask.h);
    ctx.drawImage(mask.layer, 0, 0);
    out.toBlob(function (blob) {
      var files = new DataTransfer();
      files.items.add(new File([blob], "mask.png", { type: "image/png" }));
      $("#id_mask").files = files.files;
    }, "image/png");
  }

  function point(e) {
    var rect = e.target.getBoundingClientRect();
    return [(e.clientX - rect.left) * mask.w / rect.width, (e.clientY - rect.top) * mask.h / rect.height];
  }

  function initMask() {
    var canvas = $("#mask-canvas");
    if (!canvas || canvas.dataset.ready) return;
    canvas.dataset.ready = "1";
    canvas.hidden = true;
    var last = null;
    canvas.addEventListener("pointerdown", function (e) {
      if (!mask.base) return;
      canvas.setPointerCapture(e.pointerId);
      last = point(e);
      stroke(last[0], last[1], last[0], last[1]);
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!last) return;
      var p = point(e);
      stroke(last[0], last[1], p[0], p[1]);
      last = p;
    });
    ["pointerup", "pointercancel"].forEach(function (name) {
      canvas.addEventListener(name, function () { if (last) { last = null; exportMask(); } });
    });
    canvas.addEventListener("focus", function () { mask.focus = true; drawMask(); });
    canvas.addEventListener("blur", function () { mask.focus = false; drawMask(); });
    canvas.addEventListener("keydown", function (e) {
      var step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      if (step) {
        mask.x = Math.min(1, Math.max(0, mask.x + step[0] * 0.02));
        mask.y = Math.min(1, Math.max(0, mask.y + step[1] * 0.02));
        if (e.shiftKey && mask.base) stroke(mask.x * mask.w, mask.y * mask.h, mask.x * mask.w, mask.y * mask.h);
        drawMask();
      } else if ((e.key === " " || e.key === "Enter") && mask.base) {
        stroke(mask.x * mask.w, mask.y * mask.h, mask.x * mask.w, mask.y * mask.h);
        exportMask();
      } else return;
      e.preventDefault();
    });
    $$("[data-tool]").forEach(function (b) {
      b.addEventListener("click", function () {
        mask.tool = b.dataset.tool;
        $$("[data-tool]").forEach(function (other) { other.setAttribute("aria-pressed", String(other === b)); });
      });
    });
    $("#mask-clear").addEventListener("click", function () { clearMask(true); say("Mask cleared."); });
    $("#mask-preview").addEventListener("change", drawMask);
    $("#mask-size").addEventListener("input", drawMask);
  }

  // -- carry the prompt and model to compare and batch ---------------------------------
  doc.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a[data-carry]"), form = $("#composer");
    if (!a || !form) return;
    var q = new URLSearchParams(), f = form.elements, prompt = f.prompt ? f.prompt.value : "";
    if (f.model && f.model.value) q.set("model", f.model.value);
    if (f.aspect_ratio && f.aspect_ratio.value) q.set("aspect_ratio", f.aspect_ratio.value);
    if (prompt) { q.set("prompt", prompt); q.set("prompts", prompt); }
    a.href = a.pathname + "?" + q;
  });

  // -- finished jobs: announce, and mark the tab title when it is in the background ----
  var baseTitle = doc.title, active = {}, announcer;
  function say(text, loud) {
    if (!announcer) return;
    announcer.textContent = text;
    if (loud) { var s = $("#refs-status"); if (s) s.textContent = text; }
  }
  function scanJobs() {
    $$("[data-status]").forEach(function (card) {
      var st = card.dataset.status;
      if (st === "queued" || st === "running") { active[card.id] = true; return; }
      if (!active[card.id]) return;
      delete active[card.id];
      var word = st === "succeeded" ? "Done" : st === "canceled" ? "Canceled" : "Failed";
      say(word + ": " + (card.dataset.job || "job"));
      if (doc.hidden) doc.title = "● " + word + " · " + baseTitle;
    });
  }
  doc.addEventListener("visibilitychange", function () { if (!doc.hidden) doc.title = baseTitle; });

  // -- header menu (phone) ------------------------------------------------------------
  doc.addEventListener("click", function (e) {
    var toggle = e.target.closest && e.target.closest(".menu-toggle");
    if (!toggle) return;
    var menu = doc.getElementById(toggle.getAttribute("aria-controls")), open = !menu.classList.contains("open");
    menu.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  });

  // -- the lightbox: loaded (script and styles) on the first image opened ---------------
  var lightbox = null;
  doc.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a[data-lightbox]"), src = doc.body.dataset.lightboxJs;
    if (!a || !src || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    if (a.closest(".selecting")) return;  // select mode on the gallery: a click selects
    e.preventDefault();
    if (!lightbox) {
      lightbox = new Promise(function (resolve, reject) {
        doc.head.appendChild(el("link", { rel: "stylesheet", href: doc.body.dataset.lightboxCss }));
        var script = el("script", { src: src, onload: resolve, onerror: reject });
        doc.head.appendChild(script);
      });
    }
    lightbox.then(function () { window.StudioLightbox.open(a); }, function () { location.href = a.href; });
  });

  // -- wide tables: each scrolls in its own focusable region (keyboard users can scroll it) --
  function wrapTables() {
    $$("table.ledger").forEach(function (table) {
      if (table.parentNode.classList.contains("table-wrap")) return;
      var wrap = el("div", { className: "table-wrap", tabIndex: 0 }), caption = table.querySelector("caption");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", caption ? caption.textContent.trim().slice(0, 80) : "Table");
      table.parentNode.insertBefore(wrap, table);
      wrap.appendChild(table);
    });
  }

  function init() {
    wrapTables();
    if (!announcer) {
      announcer = el("p", { id: "announcer", className: "sr-only" });
      announcer.setAttribute("aria-live", "polite");
      doc.body.appendChild(announcer);
    }
    initMask();
    initRefs();
    filterModels();
    scanJobs();
  }
  doc.addEventListener("htmx:afterSettle", function () { readCaps(false); scanJobs(); wrapTables(); });
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", init); else init();
})();
