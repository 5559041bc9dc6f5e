// The tags of the results on screen, as booru sites and Hydrus show them:
// grouped (artists, characters, the tagger's general tags, the source's tags,
// rating), each with how many of these results carry it. A click adds it to
// the query, the − beside it (or Shift-click) excludes it.
"use strict";
window.PX = window.PX || {};

PX.tagbar = (function () {
  var h = PX.h;
  var el;
  var timer = null;
  var asked = 0;
  var handlers = {};
  var GROUPS = [
    ["artist", "Artists"], ["character", "Characters"], ["general", "General"],
    ["source", "Source tags"], ["rating", "Rating"],
  ];
  var MAX_IDS = 1000;
  var SHOWN = { general: 40, source: 30 };

  function shortName(tag) {
    return tag.name.replace(/^(character|rating):/, "");
  }

  function row(tag, query) {
    return h("li", { class: "tagbar-tag", dataset: { tag: tag.name } },
      h("button", { type: "button", class: "link tag-add", text: shortName(tag).replace(/_/g, " "),
        title: "Add " + tag.name + " to the query (Shift-click: exclude it)",
        onclick: function (event) { handlers.include(query || tag, event.shiftKey); } }),
      h("span", { class: "tag-count", text: PX.formatCount(tag.count) }),
      h("button", { type: "button", class: "tag-exclude", text: "−", "aria-label": "Exclude " + tag.name,
        title: "Exclude " + tag.name, onclick: function () { handlers.include(query || tag, true); } }));
  }

  function render(answer, loaded, total) {
    PX.clear(el);
    el.appendChild(h("h2", { class: "tagbar-title", text: loaded < total
      ? "Tags in the first " + PX.formatCount(loaded) + " of " + PX.formatCount(total)
      : "Tags in these " + PX.formatCount(loaded) + (loaded === 1 ? " result" : " results") }));
    var byGroup = {};
    answer.tags.forEach(function (tag) {
      (byGroup[tag.category] = byGroup[tag.category] || []).push(tag);
    });
    byGroup.artist = answer.artists.map(function (a) {
      return { name: a.name || a.user_id, count: a.count, artist: a };
    });
    GROUPS.forEach(function (group) {
      var list = byGroup[group[0]] || [];
      if (!list.length) return;
      var limit = SHOWN[group[0]] || 20;
      var section = h("section", { class: "tagbar-group", dataset: { category: group[0] } },
        h("h3", { text: group[1] }));
      var ul = h("ul");
      list.slice(0, limit).forEach(function (tag) {
        ul.appendChild(row(tag, tag.artist ? artistTerm(tag.artist) : null));
      });
      section.appendChild(ul);
      if (list.length > limit) {
        section.appendChild(h("button", { type: "button", class: "link", text: "all " + list.length,
          onclick: function (event) {
            list.slice(limit).forEach(function (tag) {
              ul.appendChild(row(tag, tag.artist ? artistTerm(tag.artist) : null));
            });
            event.target.parentNode.removeChild(event.target);
          } }));
      }
      el.appendChild(section);
    });
    if (!answer.tags.length && !answer.artists.length) {
      el.appendChild(h("p", { class: "muted", text: "These results have no tags yet." }));
    }
  }

  // An artist as a query term: by id at their source when known.
  function artistTerm(a) {
    if (a.user_id) return { term: "userid:" + PX.query.quoteTag(a.user_id), name: a.name || a.user_id };
    return { term: "user:\"" + String(a.name).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + "\"",
             name: a.name };
  }

  function refresh(items, total) {
    window.clearTimeout(timer);
    var mine = ++asked;
    if (!items.length) { PX.clear(el); return; }
    if (!el.firstChild) {
      // The column takes its place with the first results, not a moment later:
      // the rows are laid out once, at their final width.
      el.appendChild(h("h2", { class: "tagbar-title", text: "Tags in these results…" }));
    }
    timer = window.setTimeout(function () {
      var ids = items.slice(0, MAX_IDS).map(function (item) { return item.id; });
      PX.api.post("/api/results/tags", { ids: ids, limit: 300 }).then(function (answer) {
        if (mine === asked) render(answer, ids.length, total);
      }, function () { if (mine === asked) PX.clear(el); });
    }, 150);
  }

  return {
    init: function (options) {
      handlers = options;
      el = document.getElementById("tagbar");
      var toggle = document.getElementById("tags-toggle");
      toggle.addEventListener("click", function () {
        var open = !document.body.classList.contains("tags-open");
        document.body.classList.toggle("tags-open", open);
        toggle.setAttribute("aria-expanded", String(open));
      });
    },
    refresh: refresh,
    clear: function () { asked++; window.clearTimeout(timer); if (el) PX.clear(el); },
  };
})();
