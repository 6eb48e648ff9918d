// The lightbox: every link marked data-lightbox opens the image large instead of its page
// (a modified click still opens the page; app.js loads this file on the first such click). Keys: ← → move through the images on the page
// (the job, the thread, the gallery), Z zooms to 1:1, D downloads, R remixes, U uses it as a
// reference, E edits, F favourites, B adds to a board, C compares an edit with its source,
// O opens the details, Esc closes. Every action is also a plain link or form on the image's page.
(function () {
  "use strict";
  var doc = document, box = null, items = [], index = 0, opener = null;

  function $(sel, root) { return (root || doc).querySelector(sel); }
  function el(tag, props, attrs) {
    var e = doc.createElement(tag);
    Object.assign(e, props || {});
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function urls() { var b = doc.body.dataset; return { gallery: b.gallery || "/gallery/", studio: b.studio || "/" }; }
  function csrf() { var h = doc.body.getAttribute("hx-headers"); try { return JSON.parse(h)["X-CSRFToken"]; } catch (e) { return ""; } }

  function collect() {
    var seen = {}, list = [];
    Array.prototype.forEach.call(doc.querySelectorAll("a[data-lightbox]"), function (a) {
      var pk = a.dataset.pk;
      if (!pk || seen[pk]) return;
      seen[pk] = true;
      var img = a.querySelector("img");
      list.push({ link: a, pk: pk, src: a.dataset.lightbox || urls().gallery + pk + "/original/", caption: (img && img.alt) || "",
                  before: a.dataset.before || "", editable: !("svg" in a.dataset), fav: a.dataset.fav === "1" });
    });
    return list;
  }

  function button(text, key, action, label) {
    var b = el("button", { type: "button" }, { "data-action": action, "aria-keyshortcuts": key });
    b.append(doc.createTextNode(text), el("kbd", { textContent: key }, { "aria-hidden": "true" }));
    if (label) b.setAttribute("aria-label", label);
    return b;
  }

  function build() {
    box = el("div", { className: "lb", hidden: true, id: "lightbox" }, { role: "dialog", "aria-modal": "true", "aria-label": "Image viewer" });
    var top = el("div", { className: "lb-top" });
    top.append(el("span", { className: "lb-count", id: "lb-count" }), el("p", { className: "lb-caption", id: "lb-caption" }),
      button("Close", "Esc", "close", "Close the viewer"));
    var stage = el("div", { className: "lb-stage", id: "lb-stage" });
    var prev = el("button", { type: "button", className: "lb-nav lb-prev", textContent: "‹" }, { "data-action": "prev", "aria-label": "Previous image" });
    var next = el("button", { type: "button", className: "lb-nav lb-next", textContent: "›" }, { "data-action": "next", "aria-label": "Next image" });
    var bottom = el("div", { className: "lb-bottom" });
    var boards = el("span", { className: "lb-boards" });
    var select = el("select", { id: "lb-board" }, { "aria-label": "Board" });
    boards.append(select, button("Add to board", "B", "board"));
    bottom.append(button("Zoom 1:1", "Z", "zoom"), button("Download", "D", "download"), button("Remix", "R", "remix"),
      button("Use as reference", "U", "reference"), button("Edit", "E", "edit"), button("Favourite", "F", "favourite"),
      boards, button("Compare with source", "C", "compare"), button("Details", "O", "details"),
      el("span", { className: "lb-status", id: "lb-status" }, { role: "status" }));
    box.append(top, stage, bottom);
    stage.after(prev, next);
    box.append(prev, next);
    doc.body.appendChild(box);
    box.addEventListener("click", function (e) {
      var b = e.target.closest("[data-action]");
      if (b) act(b.dataset.action);
      else if (e.target === stage) close();
    });
    box.addEventListener("keydown", onKey);
  }

  function fillBoards() {
    var select = $("#lb-board"), source = $("#lb-boards");
    select.textContent = "";
    if (source) Array.prototype.forEach.call(source.content.querySelectorAll("option"), function (o) { select.appendChild(o.cloneNode(true)); });
    select.appendChild(el("option", { value: "new", textContent: "New board…" }));
  }

  function show(i) {
    index = (i + items.length) % items.length;
    var item = items[index], stage = $("#lb-stage");
    stage.classList.remove("zoomed");
    stage.textContent = "";
    var img = el("img", { src: item.src, alt: item.caption || "Image " + (index + 1) });
    stage.appendChild(img);
    $("#lb-count").textContent = (index + 1) + " / " + items.length;
    $("#lb-caption").textContent = item.caption;
    $("#lb-status").textContent = "";
    box.querySelector('[data-action="compare"]').hidden = !item.before;
    box.querySelector('[data-action="edit"]').hidden = !item.editable;
    box.querySelector('[data-action="reference"]').hidden = !item.editable;
    var fav = box.querySelector('[data-action="favourite"]');
    fav.setAttribute("aria-pressed", String(item.fav));
    fav.firstChild.textContent = item.fav ? "★ Favourite" : "Favourite";
    box.querySelector(".lb-prev").hidden = box.querySelector(".lb-next").hidden = items.length < 2;
  }

  function open(link) {
    if (!box) build();
    items = collect();
    var i = items.map(function (x) { return x.link; }).indexOf(link);
    if (i < 0) return;
    opener = link;
    fillBoards();
    box.hidden = false;
    doc.body.classList.add("lb-open");
    show(i);
    box.querySelector('[data-action="close"]').focus();
  }

  function close() {
    if (!box || box.hidden) return;
    box.hidden = true;
    doc.body.classList.remove("lb-open");
    var link = items[index] && items[index].link;
    (link && doc.contains(link) ? link : opener || doc.body).focus();
  }

  function say(text) { $("#lb-status").textContent = text; }

  function post(url, data) {
    var body = new FormData();
    Object.keys(data).forEach(function (k) { body.append(k, data[k]); });
    return fetch(url, { method: "POST", body: body, credentials: "same-origin",
                        headers: { "X-CSRFToken": csrf(), "HX-Request": "true" } });
  }

  function act(action) {
    var item = items[index], u = urls(), base = u.gallery + item.pk + "/";
    if (action === "close") close();
    else if (action === "prev") show(index - 1);
    else if (action === "next") show(index + 1);
    else if (action === "zoom") {
      var stage = $("#lb-stage"), zoomed = stage.classList.toggle("zoomed");
      say(zoomed ? "Actual size (1:1)" : "Fitted to the window");
    } else if (action === "download") {
      var a = el("a", { href: base + "original/?download=1" });
      a.setAttribute("download", "");
      doc.body.appendChild(a); a.click(); a.remove();
      say("Downloading the original…");
    } else if (action === "remix") location.href = u.studio + "?remix=" + item.pk;
    else if (action === "reference" && item.editable) location.href = u.studio + "?reference=" + item.pk;
    else if (action === "edit" && item.editable) location.href = u.studio + "?edit=" + item.pk;
    else if (action === "details") location.href = base;
    else if (action === "favourite") {
      var want = !item.fav;
      post(base + "favourite/", { favourite: want ? "1" : "0" }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        item.fav = want;
        item.link.dataset.fav = want ? "1" : "0";
        show(index);
        say(want ? "Added to your favourites" : "Removed from your favourites");
      }).catch(function () { say("Could not change the favourite: try again."); });
    } else if (action === "board") {
      var select = $("#lb-board"), data = { board: select.value };
      if (doc.activeElement !== select && select.value !== "new" && select.options.length > 2) { select.focus(); say("Choose a board, then press B again"); return; }
      if (select.value === "new") {
        var name = window.prompt("Name of the new board");
        if (!name) return;
        data = { new_board: name };
      }
      post(base + "boards/", data).then(function (r) { return r.text().then(function (t) { return [r.ok, t]; }); })
        .then(function (res) { say(res[1] || (res[0] ? "Added." : "Could not add it.")); })
        .catch(function () { say("Could not add it to the board: try again."); });
    } else if (action === "compare" && item.before) compare(item);
  }

  function compare(item) {
    var stage = $("#lb-stage");
    stage.classList.remove("zoomed");
    stage.textContent = "";
    var wrap = el("div", { className: "lb-compare" });
    var after = el("img", { src: item.src, alt: "After: " + item.caption });
    var before = el("img", { src: item.before, alt: "Before: the source image", className: "lb-before" });
    var range = el("input", { type: "range", min: 0, max: 100, value: 50 }, { "aria-label": "Before and after: drag to compare" });
    range.addEventListener("input", function () { wrap.style.setProperty("--cut", range.value + "%"); });
    wrap.append(after, before, range);
    stage.appendChild(wrap);
    range.focus();
    say("Before on the left, after on the right");
  }

  function onKey(e) {
    if (e.target.tagName === "SELECT" && e.key !== "Escape" && e.key.toLowerCase() !== "b") return;
    if (e.target.type === "range" && (e.key === "ArrowLeft" || e.key === "ArrowRight")) return;
    var map = { ArrowLeft: "prev", ArrowRight: "next", Escape: "close", z: "zoom", d: "download", r: "remix", u: "reference",
                e: "edit", f: "favourite", b: "board", c: "compare", o: "details" };
    if (e.key === "Tab") {
      // Keep focus inside the dialog.
      var focusable = Array.prototype.filter.call(box.querySelectorAll("button, select, input"), function (x) { return !x.hidden && x.offsetParent !== null; });
      var first = focusable[0], last = focusable[focusable.length - 1];
      if (e.shiftKey && doc.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && doc.activeElement === last) { e.preventDefault(); first.focus(); }
      return;
    }
    var action = map[e.key.length === 1 ? e.key.toLowerCase() : e.key];
    if (!action || e.ctrlKey || e.metaKey || e.altKey) return;
    e.preventDefault();
    act(action);
  }

  // app.js loads this file on the first image opened and calls open() through this name.
  window.StudioLightbox = { open: open };
})();
