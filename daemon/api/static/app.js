// The search page: the state in the URL, searching, paging, the query's chips,
// errors and empty results, Back and Forward to where you were, keyboard,
// theme, notices.
"use strict";
window.PX = window.PX || {};

PX.app = (function () {
  var h = PX.h;
  var PAGE = 60;            // results per request, unless the URL says limit=
  var MAX_RESTORE = 1000;   // results asked for at once to get back to where Back left off
  var KEYS = ["q", "text", "similar", "image", "sort", "seed", "limit", "id"];
  var state = {};
  var loaded = 0;           // results fetched so far
  var total = 0;
  var items = [];           // every result fetched, in order
  var generation = 0;       // drops answers to superseded searches
  var loading = false;
  var active = { text: "", similar: "", image: "" };  // the ranking the last search used
  var $ = function (id) { return document.getElementById(id); };
  var noticeTimer = null;
  var changes = { added: 0, removed: 0 };

  // -- the URL ------------------------------------------------------------------

  function readUrl() {
    var params = new URLSearchParams(window.location.search);
    state = {};
    KEYS.forEach(function (key) { state[key] = params.get(key) || ""; });
    if (!/^[1-9][0-9]{0,3}$/.test(state.limit)) state.limit = "";
    if (!/^[0-9]{1,9}$/.test(state.seed)) state.seed = "";
  }

  function pageSize() {
    return state.limit ? Math.min(1000, Number(state.limit)) : PAGE;
  }

  function urlFor(s) {
    var params = new URLSearchParams();
    KEYS.forEach(function (key) {
      if (s[key]) params.set(key, s[key]);
    });
    var query = params.toString();
    return "/" + (query ? "?" + query : "");
  }

  function hrefFor(id) {
    return urlFor(Object.assign({}, state, { id: id }));
  }

  // Where the reader is, kept in this history entry: Back comes back here.
  function remember() {
    var mark = { loaded: loaded, scroll: Math.round(window.scrollY) };
    window.history.replaceState(mark, "", window.location.href);
  }

  var rememberTimer = null;
  function rememberSoon() {
    window.clearTimeout(rememberTimer);
    rememberTimer = window.setTimeout(remember, 150);
  }

  // -- searching ----------------------------------------------------------------

  function apiQuery() {
    if (!active.similar) return state.q;
    return (state.q ? state.q + " " : "") + "similar:" + active.similar;
  }

  function fetchPage(offset, size) {
    var upload = active.image ? PX.ranking.file(active.image) : null;
    if (upload) {
      var form = new FormData();
      form.append("image", upload, upload.name || "pasted image");
      form.append("q", state.q);
      form.append("sort", effectiveSort());
      form.append("limit", String(size));
      form.append("offset", String(offset));
      if (state.seed) form.append("seed", state.seed);
      return PX.api.post("/api/search/image", form);
    }
    var params = new URLSearchParams({ q: apiQuery(), limit: String(size), offset: String(offset) });
    if (effectiveSort()) params.set("sort", effectiveSort());
    if (active.text) params.set("text", active.text);
    if (state.seed) params.set("seed", state.seed);
    return PX.api.get("/api/search?" + params.toString());
  }

  // The sort menu's choice, unless the query has its own order: (which wins).
  function effectiveSort() {
    return PX.query.orderIndex(state.q) >= 0 ? "" : state.sort;
  }

  function fillForm() {
    $("q").value = state.q;
    $("text").value = state.text;
    var sort = $("sort");
    var fromQuery = sort.querySelector("option[value='order:']");
    if (PX.query.orderIndex(state.q) >= 0) {
      var item = PX.query.items(state.q)[PX.query.orderIndex(state.q)];
      if (!fromQuery) {
        fromQuery = h("option", { value: "order:" });
        sort.insertBefore(fromQuery, sort.firstChild);
      }
      fromQuery.textContent = item + " (in the query)";
      sort.value = "order:";
      sort.title = "The query's " + item + " sets the order; pick another to replace it";
    } else {
      if (fromQuery) sort.removeChild(fromQuery);
      if (state.sort && !Array.prototype.some.call(sort.options, function (o) { return o.value === state.sort; })) {
        sort.appendChild(h("option", { value: state.sort, text: state.sort }));
      }
      sort.value = state.sort;
      sort.title = "Sort";
    }
    $("shuffle").hidden = effectiveSort() !== "random";
  }

  // What of the ranking can run: where CLIP cannot, "similar" becomes the
  // image's near-duplicates (said in a note), and a description or an image is
  // kept in view but not used (said too); nothing is dropped silently.
  function decideRanking() {
    var note = "";
    active = { text: state.text, similar: state.similar, image: state.image };
    if (state.image && !PX.ranking.file(state.image)) {
      note = "The image this search was ranked by is no longer held by this tab: choose it again (Image…).";
      state.image = "";
      active.image = "";
      window.history.replaceState(window.history.state, "", urlFor(state));
    }
    if (!PX.features.available("clip") && PX.ranking.kind(state)) {
      var reason = PX.features.get("clip").reason || "CLIP is unavailable";
      if (state.similar) {
        state.q = PX.ranking.dupesQuery(state.similar);
        state.similar = "";
        active.similar = "";
        window.history.replaceState(window.history.state, "", urlFor(state));
        note = "Near-duplicates by perceptual hash: CLIP search is unavailable (" + reason + ").";
      } else {
        note = (state.text ? "The description" : "The image") + " cannot rank these results: CLIP " +
          "search is unavailable (" + reason + "). The query's results are shown without it.";
        active.text = "";
        active.image = "";
      }
    }
    return note;
  }

  function showNote(text) {
    var box = PX.clear($("feature-note"));
    box.hidden = !text;
    if (!text) return;
    box.appendChild(h("span", { text: text + " " }));
    if (!PX.features.available("clip")) {
      box.appendChild(h("button", { type: "button", class: "link", text: "What to do",
        onclick: function (event) { PX.features.explain("clip", event.target); } }));
    }
  }

  function search(how, restore) {
    if (how === "push") {
      remember();
      window.history.pushState({ loaded: 0, scroll: 0 }, "", urlFor(Object.assign({}, state, { id: "" })));
      state.id = "";
    }
    var ranked = PX.ranking.kind(state);
    var ready = ranked && PX.features.ready ? PX.features.ready : Promise.resolve();
    var mine = ++generation;
    $("count").textContent = "Searching…";
    $("grid").classList.add("stale");
    return ready.then(function () {
      if (mine !== generation) return;
      var note = decideRanking();
      fillForm();
      PX.suggest.close();
      renderChips();
      showNote(note);
      hideError();
      PX.saved.paint();
      $("empty").hidden = true;
      if (active.text || active.image) {
        $("count").textContent = "Searching… (the first search by a description or an image loads CLIP)";
      }
      var wanted = restore && restore.loaded > pageSize()
        ? Math.min(MAX_RESTORE, restore.loaded) : pageSize();
      return loadPage(mine, true, wanted).then(function () {
        if (mine !== generation || !restore) return;
        window.scrollTo(0, restore.scroll || 0);
        remember();
      });
    });
  }

  function loadMore() {
    return loadPage(generation, false, pageSize());
  }

  function loadPage(mine, first, size) {
    loading = true;
    return fetchPage(first ? 0 : loaded, size).then(function (page) {
      if (mine !== generation) return;
      loading = false;
      if (first) {
        // The previous results stay until these arrive: no blank page meanwhile.
        PX.grid.reset();
        PX.selection.reset();
        $("grid").classList.remove("stale");
        loaded = 0;
        items = [];
      }
      total = page.total;
      loaded += page.items.length;
      items = items.concat(page.items);
      PX.grid.add(page.items);
      renderCount(page);
      PX.tagbar.refresh(items, total);
      $("more-button").hidden = loaded >= total || page.items.length === 0;
      if (loaded === 0) showEmpty();
      rememberSoon();
      // Infinite scroll: keep loading while the end of the grid is in sight.
      if (loaded < total && page.items.length > 0 &&
          $("more").getBoundingClientRect().top < window.innerHeight + 600) {
        return loadPage(mine, false, pageSize());
      }
    }, function (err) {
      if (mine !== generation) return;
      loading = false;
      $("more-button").hidden = true;
      if (first) {
        $("count").textContent = PX.grid.cards().length ? "The previous results, below:" : "";
      }
      showError(err);
    });
  }

  function renderCount(page) {
    var text = PX.formatCount(page.total) + (page.total === 1 ? " image" : " images");
    var ranked = page.explain && page.explain.vector;
    if (ranked) text += " · ranked by " + ranked.text;
    text += " · " + Math.round(page.elapsed_ms) + " ms";
    $("count").textContent = text;
  }

  // -- errors and empty results ---------------------------------------------------

  function hideError() {
    $("error").hidden = true;
    $("q").classList.remove("invalid");
  }

  function showError(err) {
    var box = PX.clear($("error"));
    var body = err.body || {};
    box.hidden = false;
    if (body.error === "query" && typeof body.position === "number") {
      var query = body.query !== undefined ? body.query : apiQuery();
      var at = Math.min(body.position, query.length);
      box.appendChild(h("div", { class: "error-message",
        text: "Column " + (body.column || at + 1) + ": " + body.message }));
      box.appendChild(h("div", { class: "error-query" },
        h("span", { text: query.slice(0, at) }),
        h("mark", { class: "error-at", text: query.slice(at, at + 1) || " " }),
        h("span", { text: query.slice(at + 1) })));
      var input = $("q");
      input.classList.add("invalid");
      if (query === state.q || apiQuery() === query) {
        if (at <= input.value.length) input.setSelectionRange(at, Math.min(input.value.length, at + 1));
      }
      return;
    }
    box.appendChild(h("div", { class: "error-message" }, PX.linkify(err.message)));
    if (body.error === "vector_search_unavailable") {
      PX.features.refresh();  // the page thought CLIP could run: ask again
    }
  }

  var TAG_LIKE = /^[-~(]*(?![a-z_]+:|[a-z_]+;|m;|!?tags1?[.:]|order:|sort:)[^\s]/i;

  // Why a search may find nothing although the library has the images: the
  // model whose results it asks for has not run on the library.
  function stageHints(box) {
    var status = PX.status.latest();
    if (!status) return;
    var stages = PX.status.stages(status);
    var list = PX.query.items(state.q);
    var wantsTags = list.some(function (item) {
      return /^!?tags\./i.test(item) || (TAG_LIKE.test(item) && !/^(dupes|similar|clip|pixiv|twitter|yandere|danbooru|gelbooru|has|user|userid):/i.test(item.replace(/^[-~(]+/, "")));
    });
    var wantsText = list.some(function (item) { return /^(-?ocr:|m;|!?m;)/i.test(item); });
    [["tagger", wantsTags, "tag searches match only the tags the files came with (Pixiv, booru names)"],
     ["ocr", wantsText, "text searches find nothing yet"]].forEach(function (hint) {
      var s = stages[hint[0]];
      if (!hint[1] || !s || s.done > 0 || s.other_models > 0 || !s.total) return;
      box.appendChild(h("p", { class: "stage-hint" },
        h("strong", { text: (hint[0] === "tagger" ? "No tagger has run on this library yet" :
          "No text (OCR) has been read from this library yet") }),
        " (" + hint[0] + ": ", PX.linkify(s.state || "idle"), "), so " + hint[2] + ". ",
        h("button", { type: "button", class: "link", text: "Status",
          onclick: function () { $("status-button").click(); } })));
    });
  }

  function showEmpty() {
    var box = PX.clear($("empty"));
    box.hidden = false;
    var latest = PX.status.latest();
    var searched = state.q || active.text || active.similar || active.image;
    if (latest && latest.images === 0) {
      box.appendChild(h("p", { class: "empty-title", text: "The library has no images yet." }));
      box.appendChild(h("p", { text: (latest.roots || []).length
        ? "PxIMSE is watching " + latest.roots.map(function (r) { return r.path; }).join(", ") +
          ": images put there show up here once scanned (the status at the top shows the scan)."
        : "Add folders under [[library.roots]] in the configuration file, then restart PxIMSE or " +
          "run `pximse index`." }));
      return;
    }
    if (!searched) {
      box.appendChild(h("p", { text: "No images." }));
      return;
    }
    box.appendChild(h("p", { class: "empty-title", text: "No images match this search." }));
    stageHints(box);
    var list = h("ul", { class: "relax" });
    var heading = h("p", { class: "relax-title", text: "Try relaxing it:", hidden: true });
    box.appendChild(heading);
    box.appendChild(list);
    var shown = function () { heading.hidden = false; };
    var queryItems = PX.query.items(state.q);
    var mine = generation;
    queryItems.slice(0, 12).forEach(function (item, index) {
      var relaxed = PX.query.without(state.q, index);
      var params = new URLSearchParams({ q: relaxed, limit: "1" });
      if (active.text) params.set("text", active.text);
      PX.api.get("/api/search?" + params.toString()).then(function (page) {
        if (mine !== generation || page.total === 0) return;
        shown();
        list.appendChild(h("li", null, h("button", { type: "button", class: "link",
          onclick: function () { state.q = relaxed; search("push"); } },
          "without ", h("code", { text: item }),
          " — " + PX.formatCount(page.total) + (page.total === 1 ? " image" : " images"))));
      }, function () { /* a relaxed query that does not parse is no suggestion */ });
    });
    if (active.text) {
      shown();
      list.appendChild(h("li", { text: "a shorter or different description" }));
    }
  }

  // -- chips --------------------------------------------------------------------

  function chip(label, title, remove) {
    return h("span", { class: "chip" }, h("span", { class: "chip-text", text: label, title: title }),
      h("button", { type: "button", class: "chip-remove", "aria-label": "Remove " + label,
        title: "Remove", text: "×", onclick: remove }));
  }

  function renderChips() {
    var box = PX.clear($("chips"));
    PX.query.items(state.q).forEach(function (item, index) {
      var dupes = /^(dupes|duplicates):([0-9a-f]+)$/i.exec(item);
      var label = dupes ? "near-duplicates of " + dupes[2].slice(0, 8) + "…" : item;
      box.appendChild(chip(label, item, function () {
        state.q = PX.query.without(state.q, index);
        search("push");
      }));
    });
    PX.ranking.renderPill(state, removeRanking);
  }

  function removeRanking() {
    state.text = "";
    state.similar = "";
    state.image = "";
    search("push");
  }

  // -- the detail view --------------------------------------------------------------

  function openDetail(id) {
    state.id = id;
    window.history.replaceState(window.history.state, "", urlFor(state));
    return PX.detail.open(id);
  }

  function closeDetail() {
    var id = state.id;
    PX.detail.close();
    state.id = "";
    window.history.replaceState(window.history.state, "", urlFor(state));
    var index = PX.grid.indexOfId(id);
    if (index >= 0) PX.grid.focusCard(index);
  }

  // The next or previous picture: the pages of the work in view first, then
  // the next result.
  function step(delta) {
    var page = PX.detail.pageAway(delta);
    var cards = PX.grid.cards();
    var index = PX.grid.indexOfId(state.id);
    var card = cards[index];
    var grouped = card && card.key.indexOf("work:") === 0;
    if (page && grouped) { openDetail(page); return; }
    var next = cards[index + delta];
    if (next) openDetail(next.items[0].id);
    if (index + delta >= cards.length - 3 && loaded < total && !loading) loadMore();
  }

  // -- searching by image -----------------------------------------------------------

  function searchByImage(file) {
    if (!file || !/^image\//.test(file.type || "image/")) {
      notify("That is not an image.");
      return;
    }
    if (!PX.features.available("clip")) {
      PX.features.explain("clip", $("pick-image"), "Searching by an image needs CLIP");
      return;
    }
    state.image = PX.ranking.hold(file);
    state.similar = "";
    state.text = "";
    search("push");
  }

  function similarTo(id) {
    state.image = "";
    state.text = "";
    PX.detail.close();
    state.id = "";
    if (PX.features.available("clip")) {
      state.similar = id;
    } else {
      state.similar = "";
      state.q = PX.ranking.dupesQuery(id);
      state.sort = "";
    }
    search("push").then(function () {
      if (!PX.features.available("clip")) {
        showNote("Near-duplicates by perceptual hash: CLIP search is unavailable (" +
          PX.features.get("clip").reason + ").");
      }
    });
  }

  // -- notices ----------------------------------------------------------------------

  function notify(message) {
    var box = PX.clear($("notice"));
    box.appendChild(h("span", { class: "notice-text" }, PX.linkify(message)));
    box.appendChild(h("button", { type: "button", class: "notice-close", text: "×",
      "aria-label": "Dismiss", onclick: function () { PX.clear(box); } }));
    window.clearTimeout(noticeTimer);
    noticeTimer = window.setTimeout(function () {
      if (box.querySelector(".notice-text") && !box.classList.contains("sticky")) PX.clear(box);
    }, 10000);
    box.classList.remove("sticky");
  }

  // New or removed files: a notice that stays, and a click shows them.
  function libraryChanged(change) {
    if (!(change.added || change.removed || change.moved)) return;
    changes.added += change.added || 0;
    changes.removed += change.removed || 0;
    var box = PX.clear($("notice"));
    window.clearTimeout(noticeTimer);
    box.classList.add("sticky");
    box.appendChild(h("span", { class: "notice-text", text: "The library changed (" + changes.added +
      " added, " + changes.removed + " removed). " }));
    box.appendChild(h("button", { type: "button", class: "link notice-refresh", text: "Show the changes",
      onclick: function () {
        changes = { added: 0, removed: 0 };
        PX.clear(box);
        box.classList.remove("sticky");
        search("replace");
      } }));
    box.appendChild(h("button", { type: "button", class: "notice-close", text: "×", "aria-label": "Dismiss",
      onclick: function () { changes = { added: 0, removed: 0 }; PX.clear(box); box.classList.remove("sticky"); } }));
  }

  // -- small things -----------------------------------------------------------------

  function toggleTheme() {
    var next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { window.localStorage.setItem("pximse-theme", next); } catch (e) { /* private mode */ }
  }

  function sendSearchToHydrus() {
    if (!PX.features.available("hydrus")) {
      PX.features.explain("hydrus", $("hydrus-button"), "Hydrus is not set up");
      return;
    }
    PX.api.post("/api/hydrus/show", {
      q: state.q, text: active.text || null, similar: active.similar || null,
    }).then(function (answer) {
      answer = answer || {};
      var text = answer.message;
      if (!text && answer.sent !== undefined) {
        text = "Sent " + PX.formatCount(answer.sent) + " of " + PX.formatCount(answer.total) +
          " images to Hydrus" + (answer.page && answer.page.name ? " (" + answer.page.name + ")" : "") +
          (answer.not_in_hydrus ? "; " + PX.formatCount(answer.not_in_hydrus) + " are not in Hydrus" : "");
      }
      notify(text || "Sent to Hydrus");
    }, function (err) { notify(err.message); });
  }

  function paintFeatures() {
    var clipOff = !PX.features.available("clip");
    var text = $("text");
    text.classList.toggle("unavailable", clipOff);
    text.readOnly = clipOff;
    text.placeholder = clipOff ? "describe it — CLIP unavailable (click)" : "describe it: girl in the rain";
    text.title = clipOff ? "CLIP search is unavailable: " + PX.features.get("clip").reason + " (click for what to do)"
      : "Describe it (CLIP): ranks the results by the description";
    PX.features.mark($("pick-image"), "clip", "Search by an image");
    PX.features.mark($("hydrus-button"), "hydrus", "Send to Hydrus");
    renderChips();
  }

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
                      target.tagName === "SELECT" || target.isContentEditable);
  }

  function closePopups() {
    var open = !$("popover").hidden || !$("saved-menu").hidden;
    $("popover").hidden = true;
    $("saved-menu").hidden = true;
    return open;
  }

  function onKey(event) {
    if (event.defaultPrevented) return;
    var inDetail = PX.detail.isOpen();
    if (event.key === "Escape") {
      if (closePopups()) { event.preventDefault(); return; }
      if (inDetail) { event.preventDefault(); closeDetail(); }
      else if (typing(event.target)) event.target.blur();
      else if (PX.selection.mode()) PX.selection.toggleMode();
      else if (PX.selection.active()) PX.selection.clear();
      return;
    }
    if (typing(event.target)) return;
    if (event.key === "/" && !inDetail) {
      event.preventDefault();
      $("q").focus();
      $("q").select();
    } else if (inDetail && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
      event.preventDefault();
      step(event.key === "ArrowLeft" ? -1 : 1);
    } else if (inDetail && (event.key === "ArrowUp" || event.key === "ArrowDown" ||
                            event.key === "[" || event.key === "]")) {
      var id = PX.detail.pageAway(event.key === "ArrowUp" || event.key === "[" ? -1 : 1);
      if (id) { event.preventDefault(); openDetail(id); }
    } else if (inDetail && (event.key === "i" || event.key === "I")) {
      PX.detail.toggleInfo();
    } else if (inDetail && !event.ctrlKey && !event.metaKey && PX.viewer.key(event.key)) {
      event.preventDefault();
    } else if (!inDetail && (event.ctrlKey || event.metaKey) && (event.key === "a" || event.key === "A")) {
      event.preventDefault();
      PX.selection.all();
    }
  }

  function includeTag(tag, exclude) {
    if (tag.term) {  // an artist
      var term = (exclude ? "-" : "") + tag.term;
      var list = PX.query.items(state.q).filter(function (item) {
        return item !== tag.term && item !== "-" + tag.term;
      });
      list.push(term);
      state.q = list.join(" ");
    } else {
      state.q = PX.query.withTag(state.q, tag, exclude);
    }
    search("push");
  }

  function runSearch(fields) {
    state = { q: fields.q || "", text: fields.text || "", similar: fields.similar || "", image: "",
              sort: fields.sort || "", seed: fields.sort === "random" ? newSeed() : "", limit: state.limit, id: "" };
    search("push");
  }

  function newSeed() {
    return String(1 + Math.floor(Math.random() * 999999999));
  }

  function start() {
    if ("scrollRestoration" in window.history) window.history.scrollRestoration = "manual";
    readUrl();
    // A ranked search needs to know whether CLIP can run before it asks; any
    // other first search goes alone, and the rest is asked once it is shown.
    var ranked = !!PX.ranking.kind(state);
    if (ranked) PX.features.start().then(paintFeatures);
    PX.features.onChange(paintFeatures);
    PX.detail.init({
      close: closeDetail, step: step, similar: similarTo,
      swipe: function (delta) { step(delta); },
      openPage: openDetail,
      search: function (query) {
        PX.detail.close();
        state = { q: query, text: "", similar: "", image: "", sort: "", seed: "", limit: state.limit, id: "" };
        search("push");
      },
      tag: function (tag, exclude) {
        state.q = PX.query.withTag(state.q, tag, exclude);
        PX.detail.close();
        state.id = "";
        search("push");
      },
    });
    PX.grid.init({
      href: hrefFor,
      open: function (card) { openDetail(card.items[0].id); },
      similar: similarTo,
      nearEnd: function () { if (loaded < total && !loading) loadMore(); },
    });
    PX.selection.init();
    PX.tagbar.init({ include: includeTag });
    PX.saved.init({
      current: function () { return { q: state.q, text: state.text, similar: state.similar,
                                      sort: state.sort, image: state.image }; },
      run: runSearch,
    });
    $("search-form").addEventListener("submit", function (event) {
      event.preventDefault();
      PX.suggest.close();
      state.q = $("q").value.trim();
      var text = $("text").value.trim();
      if (text && text !== state.text) {  // one ranking at a time: a new description replaces the others
        state.similar = "";
        state.image = "";
      }
      state.text = PX.features.available("clip") ? text : state.text;
      if (!text) state.text = "";
      document.body.classList.remove("tools-open");
      search("push");
    });
    $("text").addEventListener("focus", function (event) {
      if (!PX.features.available("clip")) PX.features.explain("clip", event.target, "Describing needs CLIP");
    });
    $("sort").addEventListener("change", function () {
      var value = $("sort").value;
      if (value === "order:") return;
      state.q = PX.query.withoutOrder(state.q);  // the menu's choice replaces the query's order:
      state.sort = value;
      state.seed = value === "random" ? newSeed() : "";
      search("push");
    });
    $("shuffle").addEventListener("click", function () {
      state.seed = newSeed();
      search("push");
    });
    PX.suggest.init($("q"), $("suggestions"));
    $("pick-image").addEventListener("click", function () {
      if (!PX.features.available("clip")) {
        PX.features.explain("clip", $("pick-image"), "Searching by an image needs CLIP");
        return;
      }
      $("image-file").click();
    });
    $("image-file").addEventListener("change", function (event) {
      if (event.target.files.length) searchByImage(event.target.files[0]);
      event.target.value = "";
    });
    document.addEventListener("paste", function (event) {
      var files = event.clipboardData ? event.clipboardData.files : [];
      if (files.length && /^image\//.test(files[0].type)) {
        event.preventDefault();
        searchByImage(files[0]);
      }
    });
    document.addEventListener("dragover", function (event) {
      if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0) {
        event.preventDefault();
        $("drop-hint").hidden = false;
      }
    });
    document.addEventListener("dragleave", function (event) {
      if (!event.relatedTarget) $("drop-hint").hidden = true;
    });
    document.addEventListener("drop", function (event) {
      $("drop-hint").hidden = true;
      if (event.dataTransfer && event.dataTransfer.files.length) {
        event.preventDefault();
        searchByImage(event.dataTransfer.files[0]);
      }
    });
    $("theme-button").addEventListener("click", toggleTheme);
    $("more-tools").addEventListener("click", function () {
      var open = !document.body.classList.contains("tools-open");
      document.body.classList.toggle("tools-open", open);
      $("more-tools").setAttribute("aria-expanded", String(open));
    });
    $("hydrus-button").addEventListener("click", sendSearchToHydrus);
    $("select-all").addEventListener("click", function () { PX.selection.toggleMode(); });
    $("more-button").addEventListener("click", function () { if (!loading) loadMore(); });
    if (window.IntersectionObserver) {
      new IntersectionObserver(function (entries) {
        if (entries[0].isIntersecting && loaded < total && !loading && loaded > 0) loadMore();
      }, { rootMargin: "600px" }).observe($("more"));
    }
    window.addEventListener("scroll", rememberSoon, { passive: true });
    document.addEventListener("keydown", onKey);
    document.addEventListener("click", function (event) {
      var pop = $("popover");
      if (!pop.hidden && !pop.contains(event.target) && !event.target.closest(".unavailable, .pill-why, #save-search, .link")) {
        pop.hidden = true;
      }
    });
    window.addEventListener("popstate", function (event) {
      readUrl();
      var id = state.id;
      search(null, event.state).then(function () { if (id) openDetail(id); else PX.detail.close(); });
    });
    var id = state.id;
    var first = search(null, window.history.state);
    var afterFirst = function () {
      if (!ranked) PX.features.start().then(paintFeatures);
      PX.status.start({
        onFiles: libraryChanged,
        // An empty page that was shown before the status came: say why now
        // (an empty library, a stage that has not run).
        onFirst: function () { if (!$("empty").hidden && loaded === 0) showEmpty(); },
      });
    };
    first.then(afterFirst, afterFirst);
    first.then(function () { if (id) openDetail(id); });
  }

  return {
    start: start, notify: notify, libraryChanged: libraryChanged,
    state: function () { return state; },
  };
})();

document.addEventListener("DOMContentLoaded", PX.app.start);
