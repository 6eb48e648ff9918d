// Create page: the compact model picker and the settings drawer (phone).
// The picker is built from the radio list the server renders (the no-JavaScript picker):
// choosing a row checks its radio, so the form and htmx work exactly as without this file.
(function () {
  "use strict";
  var doc = document, FAV = "studio.favourites", RECENT = "studio.recent", RECENT_MAX = 5;

  function $(sel, root) { return (root || doc).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || doc).querySelectorAll(sel)); }
  function el(tag, props, attrs) {
    var e = doc.createElement(tag);
    Object.assign(e, props || {});
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function load(key) { try { return JSON.parse(localStorage.getItem(key) || "[]"); } catch (e) { return []; } }
  function save(key, list) { try { localStorage.setItem(key, JSON.stringify(list)); } catch (e) { /* private mode */ } }

  // -- settings drawer (phone) ----------------------------------------------------------
  function setDrawer(open) {
    var panel = $("#settings"), toggle = $("#settings-toggle");
    if (!panel || !toggle) return;
    panel.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) { var first = $("#mp-button", panel) || $("button, input, select", panel); if (first) first.focus(); }
    else toggle.focus();
  }
  doc.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("#settings-toggle")) setDrawer(!$("#settings").classList.contains("open"));
    else if (e.target.closest && e.target.closest("#settings-close")) setDrawer(false);
  });

  // -- the model picker -------------------------------------------------------------------
  var ui = null, sort = "tier", collapsed = {};

  // Read from the radio list itself, so each model's text is in the page once.
  function models() {
    var allDemo = !!$("#model-list[data-all-demo]");
    return $$("#model-list label.m").map(function (label) {
      var set = label.closest("fieldset"), text = function (sel) { var n = label.querySelector(sel); return n ? n.textContent.trim() : ""; };
      return {
        slug: label.querySelector("input").value, name: text("b"), price: parseInt(text(".cr"), 10) || 0, cost: text(".cr"),
        tier: set.dataset.tier, tierName: set.querySelector("legend").textContent.trim(), family: text(".f"),
        badges: $$(".bs i", label).map(function (i) { return i.textContent; }), desc: text(".d"), blocked: text(".why"),
        demo: allDemo || !!label.querySelector(".demo"), input: label.querySelector("input")
      };
    });
  }
  function spoken(m) { return m.cost.replace("cr/image", "credits per image"); }
  function current() { return models().filter(function (m) { return m.input.checked; })[0]; }

  function summary() {
    var m = current(), button = $("#mp-button"), chip = $("#st-model");
    if (!m || !button) return;
    // Auto: the model it picks is the options fragment's (re-rendered on each change).
    var o = $("#composer-options"), name = m.slug === "auto" && o ? "Auto: " + o.dataset.name : m.name;
    button.querySelector(".mp-b-name").textContent = name;
    button.querySelector(".mp-b-meta").textContent = m.cost + " · " + m.tierName;
    if (chip) chip.textContent = name;
  }

  function build() {
    var picker = $("#model-picker");
    if (!picker || picker.dataset.ready || !$("#model-list label.m")) return;
    picker.dataset.ready = "1";
    var button = el("button", { type: "button", className: "mp-button", id: "mp-button" },
      { "aria-haspopup": "dialog", "aria-expanded": "false", "aria-controls": "mp-pop" });
    button.append(el("span", { className: "mp-b-name" }), el("span", { className: "mp-b-meta" }));
    var pop = el("div", { className: "mp-pop", id: "mp-pop", hidden: true }, { role: "dialog", "aria-label": "Choose a model" });
    var head = el("div", { className: "mp-head" });
    var search = el("input", { type: "search", id: "mp-search", placeholder: "Search: name, 4K, mask, text…", autocomplete: "off" },
      { "aria-label": "Search models", "aria-controls": "mp-list", "aria-describedby": "mp-help" });
    var order = el("select", { id: "mp-sort" }, { "aria-label": "Sort models" });
    [["tier", "By tier"], ["asc", "Price ↑"], ["desc", "Price ↓"]].forEach(function (o) {
      order.appendChild(el("option", { value: o[0], textContent: o[1] }));
    });
    head.append(search, order);
    var help = el("p", { id: "mp-help", className: "sr-only", textContent: "Arrow keys move through the models, Enter chooses, F marks a favourite, Escape closes." });
    var list = el("div", { className: "mp-list", id: "mp-list" }, { role: "region", "aria-label": "Models" });
    var desc = el("div", { className: "mp-desc", id: "mp-desc" }, { "aria-live": "polite" });
    pop.append(head, help, list, desc);
    picker.prepend(button);
    picker.appendChild(pop);
    ui = { button: button, pop: pop, search: search, order: order, list: list, desc: desc };

    button.addEventListener("click", function () { setOpen(pop.hidden); });
    button.addEventListener("keydown", function (e) { if (e.key === "ArrowDown") { e.preventDefault(); setOpen(true); } });
    search.addEventListener("input", render);
    order.addEventListener("change", function () { sort = order.value; render(); });
    pop.addEventListener("keydown", onKey);
    list.addEventListener("click", onClick);
    list.addEventListener("focusin", function (e) { describe(e.target.closest(".mp-opt")); });
    list.addEventListener("mouseover", function (e) { var o = e.target.closest(".mp-opt"); if (o) describe(o); });
    doc.addEventListener("pointerdown", function (e) { if (!pop.hidden && !picker.contains(e.target)) setOpen(false, true); });
    pop.addEventListener("focusout", function (e) {
      if (!pop.hidden && e.relatedTarget && !picker.contains(e.relatedTarget)) setOpen(false, true);
    });
    summary();
  }

  function setOpen(open, quiet) {
    if (!ui) return;
    ui.pop.hidden = !open;
    ui.button.setAttribute("aria-expanded", String(open));
    if (open) { ui.search.value = ""; render(); ui.search.focus(); var m = current(); if (m) describe(ui.list.querySelector('[data-slug="' + m.slug + '"]')); }
    else if (!quiet) ui.button.focus();
  }

  function row(m, favs, group) {
    var li = el("li", { className: "mp-row" });
    var opt = el("button", { type: "button", className: "mp-opt" }, { "data-slug": m.slug, "data-group": group });
    if (m.input.checked) opt.setAttribute("aria-current", "true");
    if (m.blocked) opt.setAttribute("aria-disabled", "true");
    opt.append(
      el("span", { className: "n", textContent: m.name }),
      el("span", { className: "p", textContent: m.cost.replace("/image", "") }),
      el("span", { className: "b", textContent: [m.family].concat(m.badges, m.demo ? ["demo render"] : []).join(" · ") })
    );
    if (m.blocked) opt.appendChild(el("span", { className: "w", textContent: m.blocked }));
    opt.setAttribute("aria-label", m.name + ", " + spoken(m) + (m.badges.length ? ", " + m.badges.join(", ") : "") + (m.blocked ? ". " + m.blocked : ""));
    var fav = favs.indexOf(m.slug) >= 0;
    var star = el("button", { type: "button", className: "mp-fav", textContent: fav ? "★" : "☆" },
      { "aria-pressed": String(fav), "aria-label": "Favourite " + m.name, "data-fav": m.slug });
    li.append(opt, star);
    return li;
  }

  function sorted(list) {
    if (sort === "tier") return list;
    return list.slice().sort(function (a, b) { return (sort === "asc" ? a.price - b.price : b.price - a.price) || a.name.localeCompare(b.name); });
  }

  function render() {
    if (!ui) return;
    var all = models(), words = ui.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var favs = load(FAV), recent = load(RECENT);
    var match = all.filter(function (m) {
      var text = [m.slug, m.name, m.desc, m.family, m.tierName].concat(m.badges).join(" ").toLowerCase();
      return words.every(function (w) { return text.indexOf(w) >= 0; });
    });
    var bySlug = {};
    all.forEach(function (m) { bySlug[m.slug] = m; });
    var groups = [];
    if (!words.length) {
      var f = favs.map(function (s) { return bySlug[s]; }).filter(Boolean);
      var r = recent.map(function (s) { return bySlug[s]; }).filter(function (m) { return m && favs.indexOf(m.slug) < 0; });
      if (f.length) groups.push({ key: "fav", name: "Favourites", items: f });
      if (r.length) groups.push({ key: "recent", name: "Recently used", items: r });
    }
    if (words.length) {
      // Searching: one list, the models whose name holds every word first.
      var named = function (m) { var n = (m.name + " " + m.slug).toLowerCase(); return words.every(function (w) { return n.indexOf(w) >= 0; }); };
      var best = sorted(match.filter(named)).concat(sorted(match.filter(function (m) { return !named(m); })));
      if (best.length) groups.push({ key: "match", name: "Matches", items: best });
    } else {
      var tiers = [];
      match.forEach(function (m) { if (tiers.indexOf(m.tier) < 0) tiers.push(m.tier); });
      tiers.forEach(function (t) {
        var items = match.filter(function (m) { return m.tier === t; });
        groups.push({ key: t, name: items[0].tierName, items: sorted(items) });
      });
    }
    ui.list.textContent = "";
    groups.forEach(function (g) {
      var id = "mp-g-" + g.key, open = words.length > 0 || !collapsed[g.key];
      var section = el("section", { className: "mp-group" });
      var gh = el("button", { type: "button", className: "mp-gh" }, { "aria-expanded": String(open), "aria-controls": id, "data-key": g.key });
      gh.append(el("span", { textContent: g.name + " (" + g.items.length + ")" }));
      var ul = el("ul", { className: "mp-rows", id: id, hidden: !open }, { "aria-label": g.name });
      g.items.forEach(function (m) { ul.appendChild(row(m, favs, g.key)); });
      section.append(gh, ul);
      ui.list.appendChild(section);
    });
    if (!match.length) ui.list.appendChild(el("p", { className: "mp-empty", textContent: "No model matches “" + ui.search.value + "”." }));
  }

  function describe(opt) {
    if (!ui || !opt) return;
    var m = models().filter(function (x) { return x.slug === opt.dataset.slug; })[0];
    if (!m) return;
    ui.desc.textContent = "";
    ui.desc.append(el("b", { textContent: m.name + " · " + m.tierName + " · " + spoken(m) }),
      doc.createTextNode(m.blocked ? m.blocked : m.desc));
  }

  function choose(slug) {
    var m = models().filter(function (x) { return x.slug === slug; })[0];
    if (!m) return;
    if (m.blocked) { ui.desc.textContent = m.name + ": " + m.blocked; return; }
    if (!m.input.checked) {
      m.input.checked = true;
      m.input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    summary();
    setOpen(false);
  }

  function toggleFav(slug) {
    var favs = load(FAV), i = favs.indexOf(slug);
    if (i >= 0) favs.splice(i, 1); else favs.unshift(slug);
    save(FAV, favs);
    render();
    var star = ui.list.querySelector('[data-fav="' + slug + '"]');
    if (star) star.focus();
  }

  function onClick(e) {
    var gh = e.target.closest(".mp-gh"), opt = e.target.closest(".mp-opt"), star = e.target.closest(".mp-fav");
    if (gh) {
      collapsed[gh.dataset.key] = gh.getAttribute("aria-expanded") === "true";
      render();
      var again = ui.list.querySelector('.mp-gh[data-key="' + gh.dataset.key + '"]');
      if (again) again.focus();
    } else if (opt) choose(opt.dataset.slug);
    else if (star) toggleFav(star.dataset.fav);
  }

  function stops() {
    return $$(".mp-gh, .mp-rows:not([hidden]) .mp-opt", ui.list);
  }

  function onKey(e) {
    var t = e.target, list = stops(), i = list.indexOf(t);
    if (e.key === "Escape") { e.preventDefault(); setOpen(false); return; }
    if (t === ui.search) {
      if (e.key === "ArrowDown") { e.preventDefault(); var first = $(".mp-rows:not([hidden]) .mp-opt", ui.list) || list[0]; if (first) first.focus(); }
      else if (e.key === "Enter") {
        e.preventDefault();
        var pick = $$(".mp-rows:not([hidden]) .mp-opt:not([aria-disabled=true])", ui.list)[0];
        if (pick) choose(pick.dataset.slug);
      }
      return;
    }
    if (t.classList.contains("mp-fav")) {
      if (e.key === "ArrowLeft") { e.preventDefault(); t.previousElementSibling.focus(); }
      return;
    }
    if (i < 0) return;
    var next = null;
    if (e.key === "ArrowDown") next = list[Math.min(i + 1, list.length - 1)];
    else if (e.key === "ArrowUp") next = i === 0 ? ui.search : list[i - 1];
    else if (e.key === "Home") next = list[0];
    else if (e.key === "End") next = list[list.length - 1];
    else if (e.key === "ArrowRight" && t.classList.contains("mp-opt")) next = t.nextElementSibling;
    else if ((e.key === "f" || e.key === "F") && t.classList.contains("mp-opt")) { e.preventDefault(); toggleFav(t.dataset.slug); return; }
    else if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey && e.key !== " ") {
      ui.search.focus();
      return;  // the key lands in the search box
    }
    if (next) { e.preventDefault(); next.focus(); }
  }

  // Recently used: the model of each request sent from this composer.
  doc.addEventListener("submit", function (e) {
    if (!e.target.matches || !e.target.matches("#composer")) return;
    var m = current();
    if (!m) return;
    var recent = load(RECENT).filter(function (s) { return s !== m.slug; });
    recent.unshift(m.slug);
    save(RECENT, recent.slice(0, RECENT_MAX));
  }, true);

  function init() { build(); summary(); }
  doc.addEventListener("htmx:afterSettle", function () {
    if (!$("#mp-button") && $("#model-picker")) { var p = $("#model-picker"); delete p.dataset.ready; }
    init();
  });
  doc.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && $("#settings.open") && !(ui && !ui.pop.hidden)) setDrawer(false);
  });
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", init); else init();
})();
