// The result grid: one tile per image, one per multi-page work (with its page
// count; expanding it shows every page, and it folds back), thumbnails only,
// lazy-loaded. Tiles keep each picture's shape in justified rows (a flexbox
// whose items grow by their aspect ratio, so every row fills the width and
// no picture is cropped or padded with bars); the row height is the density
// the user picks. Names show on hover and in the detail view, not under tiles.
"use strict";
window.PX = window.PX || {};

PX.grid = (function () {
  var h = PX.h;
  var el;
  var cards = [];   // {key, items, el, expanded, inWork}
  var byKey = {};
  var handlers = {};
  var MIN_RATIO = 0.4;  // a tall strip's tile is this narrow at most (its thumbnail is cropped to fit)
  var MAX_RATIO = 3.5;

  function groupKey(item) {
    return item.work_key && item.work_pages > 1 ? "work:" + item.work_key : "id:" + item.id;
  }

  function label(item) {
    return PX.basename(item.path) || item.id.slice(0, 12);
  }

  function ratio(item) {
    var r = (item.width || 1) / (item.height || 1);
    return Math.max(MIN_RATIO, Math.min(MAX_RATIO, r));
  }

  function similarButton(item) {
    var clip = PX.features.available("clip");
    return h("button", { type: "button", class: "similar" + (clip ? "" : " dupes"),
      title: clip ? "More like this (CLIP)" : "Near-duplicates (perceptual hash; CLIP is unavailable)",
      "aria-label": clip ? "More like this" : "Near-duplicates", text: clip ? "≈" : "≡",
      onclick: function () { handlers.similar(item.id); } });
  }

  function cardElement(card) {
    var item = card.items[0];
    var grouped = card.key.indexOf("work:") === 0 && !card.expanded;
    var badges = [];
    if (item.score !== undefined && item.score !== null) {
      badges.push(h("span", { class: "score", title: item.explain || "similarity",
        text: item.score.toFixed(3) }));
    }
    if (grouped) {
      var matched = card.items.length;
      badges.push(h("button", { type: "button", class: "pages",
        title: "Show every page of this work",
        text: item.work_pages + " pages" + (matched > 1 && matched < item.work_pages
          ? " · " + matched + " match" : ""),
        onclick: function () { expand(card); } }));
    } else if (card.inWork) {
      badges.push(h("span", { class: "page-no", text: "p" + ((item.page || 0) + 1) + "/" + item.work_pages }));
      badges.push(h("button", { type: "button", class: "collapse", title: "Fold this work back into one tile",
        "aria-label": "Fold the work back", text: "⤡", onclick: function () { collapse(card); } }));
    }
    var r = ratio(item);
    var link = h("a", {
      class: "card-link", href: handlers.href(item.id),
      title: label(item) + " · " + item.width + "×" + item.height,
      onclick: function (event) {
        if (event.button !== 0) return;
        if (event.ctrlKey || event.metaKey || event.shiftKey || PX.selection.active()) {
          // In a selection (or with a modifier): pick, do not open.
          event.preventDefault();
          PX.selection.click(card, event.shiftKey);
          return;
        }
        event.preventDefault();
        handlers.open(card);
      },
    },
      h("span", { class: "thumb", style: { "padding-bottom": (100 / r).toFixed(3) + "%" } },
        h("img", { src: PX.api.thumbnail(item.id), loading: "lazy", decoding: "async",
          alt: label(item), width: item.width, height: item.height,
          onerror: function (event) {
            // Offline, or not an image the thumbnailer can read: say so, quietly.
            event.target.parentNode.classList.add("missing");
            event.target.parentNode.dataset.reason = item.offline ? "offline" : "no thumbnail";
          } })),
      h("span", { class: "name", text: label(item) }));
    var tile = h("div", {
      class: "card" + (item.offline ? " offline" : "") + (card.inWork ? " in-work" : ""),
      role: "listitem", dataset: { id: item.id, key: card.key },
      style: { "flex-grow": (r * 100).toFixed(1), width: "calc(var(--row) * " + r.toFixed(4) + ")" },
    },
      link,
      h("span", { class: "card-meta" }, badges),
      h("button", { type: "button", class: "pick", role: "checkbox", "aria-checked": "false",
        "aria-label": "Select " + label(item), title: "Select (Shift: a range)",
        onclick: function (event) { PX.selection.click(card, event.shiftKey); } }),
      similarButton(item));
    PX.selection.paint(card, tile);
    return tile;
  }

  function focus(card) {
    var link = card.el.querySelector(".card-link");
    link.focus();
    card.el.scrollIntoView({ block: "nearest" });
  }

  function replace(card) {
    var fresh = cardElement(card);
    if (card.el && card.el.parentNode) card.el.parentNode.replaceChild(fresh, card.el);
    card.el = fresh;
  }

  function add(items) {
    items.forEach(function (item) {
      var key = groupKey(item);
      var card = byKey[key];
      if (card) {
        if (!card.expanded) {
          card.items.push(item);
          // The work's cover is its first page among those found.
          card.items.sort(function (a, b) { return (a.page || 0) - (b.page || 0); });
          replace(card);
        }
        return;
      }
      card = { key: key, items: [item], el: null, expanded: false };
      byKey[key] = card;
      cards.push(card);
      card.el = cardElement(card);
      el.appendChild(card.el);
    });
  }

  function expand(card) {
    var work = card.items[0].work_key;
    return PX.api.get("/api/search?" + new URLSearchParams({
      q: work, sort: "+page", limit: "500" }).toString()).then(function (page) {
      var index = cards.indexOf(card);
      if (index < 0) return;
      card.expanded = true;
      var anchor = card.el;
      var pages = page.items.map(function (item) {
        var c = { key: "id:" + item.id, items: [item], el: null, expanded: true, inWork: true,
                  work: card };
        c.el = cardElement(c);
        el.insertBefore(c.el, anchor);
        return c;
      });
      el.removeChild(anchor);
      cards.splice.apply(cards, [index, 1].concat(pages));
      if (pages.length) focus(pages[0]);
    }, function (err) { PX.app.notify(err.message); });
  }

  // The pages of an expanded work folded back into its one tile.
  function collapse(page) {
    var work = page.work;
    var first = cards.findIndex(function (c) { return c.work === work; });
    if (first < 0) return;
    var count = cards.filter(function (c) { return c.work === work; }).length;
    var removed = cards.splice(first, count, work);
    work.expanded = false;
    var fresh = cardElement(work);
    el.insertBefore(fresh, removed[0].el);
    removed.forEach(function (c) { if (c.el.parentNode) c.el.parentNode.removeChild(c.el); });
    work.el = fresh;
    focus(work);
  }

  // Moving with the arrow keys: left/right along the grid, up/down by one row.
  function neighbour(fromEl, key) {
    var index = cards.findIndex(function (c) { return c.el === fromEl; });
    if (index < 0) return cards.length ? cards[0] : null;
    if (key === "ArrowLeft") return cards[Math.max(0, index - 1)];
    if (key === "ArrowRight") return cards[Math.min(cards.length - 1, index + 1)];
    var here = fromEl.getBoundingClientRect();
    var middle = here.left + here.width / 2;
    var step = key === "ArrowDown" ? 1 : -1;
    var best = null;
    for (var i = index + step; i >= 0 && i < cards.length; i += step) {
      var box = cards[i].el.getBoundingClientRect();
      if (Math.abs(box.top - here.top) < 2) continue;  // same row
      if (best && Math.abs(box.top - best.box.top) >= 2) break;  // past the next row
      var distance = Math.abs(box.left + box.width / 2 - middle);
      if (!best || distance < best.distance) best = { card: cards[i], box: box, distance: distance };
    }
    return best ? best.card : cards[index];
  }

  var DENSITY = { s: 120, m: 180, l: 260 };
  var PHONE_DENSITY = { s: 80, m: 110, l: 170 };

  function setDensity(name) {
    if (!DENSITY[name]) name = "m";
    var phone = window.matchMedia && window.matchMedia("(max-width: 640px)").matches;
    el.style.setProperty("--row", (phone ? PHONE_DENSITY : DENSITY)[name] + "px");
    el.dataset.density = name;
    Array.prototype.forEach.call(document.querySelectorAll(".density button"), function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.density === name));
    });
    PX.store("pximse-density", name);
  }

  return {
    init: function (options) {
      handlers = options;
      el = document.getElementById("grid");
      setDensity(PX.stored("pximse-density", "m"));
      Array.prototype.forEach.call(document.querySelectorAll(".density button"), function (b) {
        b.addEventListener("click", function () { setDensity(b.dataset.density); });
      });
      window.addEventListener("resize", function () { setDensity(el.dataset.density); });
      el.addEventListener("keydown", function (event) {
        var target = event.target.closest(".card");
        if (!target) return;
        if (event.key === " " && event.target.classList.contains("card-link")) {
          event.preventDefault();
          var card = cards.find(function (c) { return c.el === target; });
          if (card) PX.selection.click(card, event.shiftKey);
          return;
        }
        if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].indexOf(event.key) < 0) return;
        event.preventDefault();
        var next = neighbour(target, event.key);
        if (next) {
          focus(next);
          if (next === cards[cards.length - 1] && handlers.nearEnd) handlers.nearEnd();
        }
      });
      PX.features.onChange(function () {
        // CLIP came or went: each tile's ≈ says what it will do now.
        cards.forEach(function (card) {
          var old = card.el.querySelector(".similar");
          if (old) old.parentNode.replaceChild(similarButton(card.items[0]), old);
        });
      });
    },
    reset: function () {
      cards = [];
      byKey = {};
      PX.clear(el);
    },
    add: add,
    cards: function () { return cards; },
    indexOfId: function (id) {
      return cards.findIndex(function (c) {
        return c.items.some(function (item) { return item.id === id; });
      });
    },
    focusCard: function (index) {
      if (cards[index]) focus(cards[index]);
    },
    setDensity: setDensity,
  };
})();
