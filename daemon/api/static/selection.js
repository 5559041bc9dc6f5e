// Picking several results and acting on them at once: a tile's check box (or
// Ctrl-click, or Space on a focused tile) picks it, Shift picks the range
// since the last one, and once anything is picked a click picks rather than
// opens. The bar at the bottom copies the paths, opens the folders, sends
// the images to Hydrus as a page, or writes their XMP sidecars now. A work
// shown as one tile stands for the pages of it that matched.
"use strict";
window.PX = window.PX || {};

PX.selection = (function () {
  var h = PX.h;
  var picked = {};      // card key -> the card's items
  var order = [];       // card keys, in the order they were picked
  var lastKey = null;
  var bar, count;

  function ids() {
    var out = [];
    order.forEach(function (key) {
      (picked[key] || []).forEach(function (item) {
        if (out.indexOf(item.id) < 0) out.push(item.id);
      });
    });
    return out;
  }

  var mode = false;      // picking without a modifier (the Select button; on a phone, the way to pick)

  function active() { return mode || order.length > 0; }

  function setMode(on) {
    mode = on;
    document.body.classList.toggle("select-mode", on);
    var button = document.getElementById("select-all");
    button.textContent = on ? "Done" : "Select";
    button.setAttribute("aria-pressed", String(on));
    if (!on) clear();
  }

  function paint(card, el) {
    var on = !!picked[card.key];
    (el || card.el).classList.toggle("picked", on);
    var box = (el || card.el).querySelector(".pick");
    if (box) box.setAttribute("aria-checked", String(on));
  }

  function update() {
    var n = ids().length;
    bar.hidden = n === 0;
    document.body.classList.toggle("selecting", n > 0 || mode);
    count.textContent = n + (n === 1 ? " image selected" : " images selected");
    ["sel-folders", "sel-hydrus", "sel-xmp"].forEach(function (id) {
      var feature = { "sel-folders": "open_folder", "sel-hydrus": "hydrus", "sel-xmp": "xmp" }[id];
      PX.features.mark(document.getElementById(id), feature, document.getElementById(id).dataset.title);
    });
  }

  function set(card, on) {
    if (on && !picked[card.key]) {
      picked[card.key] = card.items.slice();
      order.push(card.key);
    } else if (!on && picked[card.key]) {
      delete picked[card.key];
      order.splice(order.indexOf(card.key), 1);
    }
    paint(card);
  }

  function click(card, range) {
    var cards = PX.grid.cards();
    var here = cards.indexOf(card);
    var from = cards.findIndex(function (c) { return c.key === lastKey; });
    if (range && from >= 0 && here >= 0) {
      var lo = Math.min(from, here);
      var hi = Math.max(from, here);
      for (var i = lo; i <= hi; i++) set(cards[i], true);
    } else {
      set(card, !picked[card.key]);
    }
    lastKey = card.key;
    update();
  }

  function all() {
    PX.grid.cards().forEach(function (card) { set(card, true); });
    update();
  }

  function clear() {
    PX.grid.cards().forEach(function (card) { if (picked[card.key]) { delete picked[card.key]; paint(card); } });
    picked = {};
    order = [];
    lastKey = null;
    update();
  }

  // -- what can be done with them ---------------------------------------------------------

  function unavailable(feature, button, title) {
    if (PX.features.available(feature)) return false;
    PX.features.explain(feature, button, title);
    return true;
  }

  function copyPaths(button) {
    var list = ids();
    PX.api.post("/api/selection/paths", { ids: list }).then(function (answer) {
      var paths = [];
      answer.images.forEach(function (image) { if (image.paths.length) paths.push(image.paths[0]); });
      var text = paths.join("\n");
      return PX.copyText(text).then(function () {
        PX.app.notify("Copied " + paths.length + (paths.length === 1 ? " path" : " paths") +
          (answer.missing ? " (" + answer.missing + " images have no online file)" : ""));
      }, function () {
        PX.explain(button, "The browser refused the clipboard; the paths are:", paths.slice(0, 50));
      });
    }, function (err) { PX.app.notify(err.message); });
  }

  function openFolders(button) {
    if (unavailable("open_folder", button, "Folders cannot be opened from here")) return;
    PX.api.post("/api/selection/open-folders", { ids: ids() }).then(function (answer) {
      PX.app.notify("Opened " + answer.opened.length + (answer.opened.length === 1 ? " folder: " : " folders: ") +
        answer.opened.join(", "));
    }, function (err) { PX.app.notify(err.message); });
  }

  function toHydrus(button) {
    if (unavailable("hydrus", button, "Hydrus is not set up")) return;
    var list = ids();
    PX.app.notify("Sending " + list.length + " images to Hydrus…");
    PX.api.post("/api/selection/hydrus", { ids: list }).then(function (answer) {
      PX.app.notify("Sent " + PX.formatCount(answer.sent) + " of " + PX.formatCount(list.length) +
        " images to Hydrus" + (answer.page && answer.page.name ? " (" + answer.page.name + ")" : "") +
        (answer.not_in_hydrus ? "; " + PX.formatCount(answer.not_in_hydrus) + " are not in Hydrus" : ""));
    }, function (err) { PX.app.notify(err.message); });
  }

  function writeXmp(button) {
    if (unavailable("xmp", button, "XMP sidecars cannot be written")) return;
    var list = ids();
    PX.app.notify("Writing the sidecars of " + list.length + " images…");
    PX.api.post("/api/selection/xmp", { ids: list }).then(function (r) {
      var text = "XMP sidecars: " + r.created + " created, " + r.updated + " updated, " +
        r.unchanged + " already up to date";
      if (r.failed) text += ", " + r.failed + " failed (" + r.failures[0].path + ": " + r.failures[0].reason + ")";
      if (r.files === 0) text = "None of these images is in a root that writes XMP sidecars";
      PX.app.notify(text);
    }, function (err) { PX.app.notify(err.message); });
  }

  return {
    init: function () {
      bar = document.getElementById("selection-bar");
      count = document.getElementById("selection-count");
      var actions = { "sel-copy": copyPaths, "sel-folders": openFolders, "sel-hydrus": toHydrus,
                      "sel-xmp": writeXmp, "sel-all": all,
                      "sel-clear": function () { if (mode) setMode(false); else clear(); } };
      Object.keys(actions).forEach(function (id) {
        var button = document.getElementById(id);
        button.dataset.title = button.title || button.textContent;
        button.addEventListener("click", function () { actions[id](button); });
      });
      PX.features.onChange(update);
      update();
    },
    active: active,
    toggleMode: function () { setMode(!mode); },
    click: click,
    paint: paint,
    all: all,
    clear: clear,
    ids: ids,
    // A new search: what was picked is not in it.
    reset: function () { picked = {}; order = []; lastKey = null; if (bar) update(); },
    mode: function () { return mode; },
  };
})();
