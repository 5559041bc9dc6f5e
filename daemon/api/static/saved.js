// Saved searches, kept by this browser: ☆ saves the search on screen (its
// query, description, similar image and sort) under a name; the Saved menu
// runs one again or forgets it. A search shown by image upload cannot be
// saved (the image stays in this tab only).
"use strict";
window.PX = window.PX || {};

PX.saved = (function () {
  var h = PX.h;
  var KEY = "pximse-saved";
  var FIELDS = ["q", "text", "similar", "sort"];
  var button, menu, star, handlers = {};

  function list() {
    var found = PX.stored(KEY, []);
    return Array.isArray(found) ? found.filter(function (s) { return s && typeof s.name === "string"; }) : [];
  }

  function sameSearch(a, b) {
    return FIELDS.every(function (key) { return (a[key] || "") === (b[key] || ""); });
  }

  function describe(search) {
    var parts = [];
    if (search.q) parts.push(search.q);
    if (search.text) parts.push("“" + search.text + "”");
    if (search.similar) parts.push("like " + search.similar.slice(0, 8));
    return parts.join(" ") || "everything";
  }

  function paintStar() {
    var current = handlers.current();
    var on = list().some(function (s) { return sameSearch(s, current); });
    star.textContent = on ? "★" : "☆";
    star.setAttribute("aria-pressed", String(on));
    star.title = on ? "This search is saved (Saved lists it)" : "Save this search";
  }

  function save(name) {
    var current = handlers.current();
    var entry = { name: name };
    FIELDS.forEach(function (key) { if (current[key]) entry[key] = current[key]; });
    var kept = list().filter(function (s) { return s.name !== name && !sameSearch(s, current); });
    kept.unshift(entry);
    PX.store(KEY, kept.slice(0, 200));
    paintStar();
    renderMenu();
  }

  function askName() {
    var current = handlers.current();
    if (current.image) {
      PX.explain(star, "A search by an uploaded image cannot be saved",
        ["The image stays in this browser tab only. Save a search by a library image (≈) instead."]);
      return;
    }
    var box = document.getElementById("popover");
    PX.clear(box);
    var input = h("input", { type: "text", id: "save-name", "aria-label": "Name of the saved search",
      maxlength: "120" });
    input.value = describe(current);
    box.appendChild(h("form", { class: "save-form", onsubmit: function (event) {
      event.preventDefault();
      var name = input.value.trim();
      if (!name) return;
      save(name);
      box.hidden = true;
      PX.app.notify("Saved “" + name + "”");
    } }, h("strong", { text: "Save this search as" }), input,
      h("span", { class: "save-actions" },
        h("button", { type: "submit", class: "primary", text: "Save" }),
        h("button", { type: "button", text: "Cancel", onclick: function () { box.hidden = true; } }))));
    box.hidden = false;
    var rect = star.getBoundingClientRect();
    var width = Math.min(360, window.innerWidth - 16);
    box.style.width = width + "px";
    box.style.left = Math.max(8, Math.min(rect.left, window.innerWidth - width - 8)) + "px";
    box.style.top = (rect.bottom + 6) + "px";
    input.focus();
    input.select();
  }

  function renderMenu() {
    PX.clear(menu);
    var found = list();
    if (!found.length) {
      menu.appendChild(h("p", { class: "muted", text: "No saved searches yet: ☆ saves the one on screen." }));
      return;
    }
    menu.appendChild(h("ul", { class: "saved-list" }, found.map(function (entry) {
      return h("li", null,
        h("button", { type: "button", class: "link saved-run", title: describe(entry), text: entry.name,
          onclick: function () { closeMenu(); handlers.run(entry); } }),
        h("button", { type: "button", class: "saved-forget", "aria-label": "Forget " + entry.name,
          title: "Forget this saved search", text: "×", onclick: function () {
            PX.store(KEY, list().filter(function (s) { return s.name !== entry.name; }));
            renderMenu();
            paintStar();
          } }));
    })));
  }

  function closeMenu() {
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
  }

  return {
    init: function (options) {
      handlers = options;
      button = document.getElementById("saved-button");
      menu = document.getElementById("saved-menu");
      star = document.getElementById("save-search");
      star.addEventListener("click", askName);
      button.addEventListener("click", function () {
        var open = menu.hidden;
        if (open) renderMenu();
        menu.hidden = !open;
        button.setAttribute("aria-expanded", String(open));
      });
      document.addEventListener("click", function (event) {
        if (!menu.hidden && !menu.contains(event.target) && event.target !== button) closeMenu();
      });
    },
    paint: function () { if (star) paintStar(); },
    list: list,
  };
})();
