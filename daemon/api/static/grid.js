// The result grid: one card per image, one card per multi-page work (with its
// page count; expanding it shows every page), thumbnails only, lazy-loaded.
"use strict";
window.PX = window.PX || {};

PX.grid = (function () {
  var h = PX.h;
  var el;
  var cards = [];   // {key, items, el, expanded}
  var byKey = {};
  var handlers = {};

  function groupKey(item) {
    return item.work_key && item.work_pages > 1 ? "work:" + item.work_key : "id:" + item.id;
  }

  function label(item) {
    return PX.basename(item.path) || item.id.slice(0, 12);
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
      badges.push(h("span", { class: "page-no", text: "p" + item.page }));
    }
    var link = h("a", {
      class: "card-link", href: handlers.href(item.id),
      title: label(item) + " · " + item.width + "×" + item.height,
      onclick: function (event) {
        if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        handlers.open(card);
      },
    },
      h("span", { class: "thumb" },
        h("img", { src: PX.api.thumbnail(item.id), loading: "lazy", decoding: "async",
          alt: label(item), width: item.width, height: item.height,
          onerror: function (event) {
            // Offline, or not an image the thumbnailer can read: say so, quietly.
            event.target.parentNode.classList.add("missing");
            event.target.parentNode.dataset.reason = item.offline ? "offline" : "no thumbnail";
          } })),
      h("span", { class: "name", text: label(item) }));
    return h("div", {
      class: "card" + (item.offline ? " offline" : "") + (card.inWork ? " in-work" : ""),
      role: "listitem", dataset: { id: item.id, key: card.key },
    },
      link,
      h("span", { class: "card-meta" }, badges),
      h("button", { type: "button", class: "similar", title: "More like this",
        "aria-label": "More like this", text: "≈",
        onclick: function () { handlers.similar(item.id); } }));
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
        var c = { key: "id:" + item.id, items: [item], el: null, expanded: true, inWork: true };
        c.el = cardElement(c);
        el.insertBefore(c.el, anchor);
        return c;
      });
      el.removeChild(anchor);
      cards.splice.apply(cards, [index, 1].concat(pages));
      if (pages.length) focus(pages[0]);
    }, function (err) { PX.app.notify(err.message); });
  }

  // Moving with the arrow keys: left/right along the grid, up/down by one row.
  function neighbour(fromEl, key) {
    var index = cards.findIndex(function (c) { return c.el === fromEl; });
    if (index < 0) return cards.length ? cards[0] : null;
    if (key === "ArrowLeft") return cards[Math.max(0, index - 1)];
    if (key === "ArrowRight") return cards[Math.min(cards.length - 1, index + 1)];
    var here = fromEl.getBoundingClientRect();
    var step = key === "ArrowDown" ? 1 : -1;
    var best = null;
    for (var i = index + step; i >= 0 && i < cards.length; i += step) {
      var box = cards[i].el.getBoundingClientRect();
      if (Math.abs(box.top - here.top) < 2) continue;  // same row
      if (best && Math.abs(box.top - best.box.top) >= 2) break;  // past the next row
      var distance = Math.abs(box.left - here.left);
      if (!best || distance < best.distance) best = { card: cards[i], box: box, distance: distance };
    }
    return best ? best.card : cards[index];
  }

  return {
    init: function (options) {
      handlers = options;
      el = document.getElementById("grid");
      el.addEventListener("keydown", function (event) {
        if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].indexOf(event.key) < 0) return;
        var target = event.target.closest(".card");
        if (!target) return;
        event.preventDefault();
        var next = neighbour(target, event.key);
        if (next) {
          focus(next);
          if (next === cards[cards.length - 1] && handlers.nearEnd) handlers.nearEnd();
        }
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
  };
})();
