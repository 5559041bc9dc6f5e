// The search page: the state in the URL, searching, paging, the query's chips,
// errors and empty results, image search, keyboard, theme, Hydrus.
"use strict";
window.PX = window.PX || {};

PX.app = (function () {
  var h = PX.h;
  var PAGE = 60;            // results per request, unless the URL says limit=
  var KEYS = ["q", "text", "sort", "similar", "limit", "id"];
  var state = { q: "", text: "", sort: "", similar: "", limit: "", id: "" };
  var upload = null;        // a File: the image searched by (not in the URL)
  var loaded = 0;           // results fetched so far
  var total = 0;
  var generation = 0;       // drops answers to superseded searches
  var loading = false;
  var $ = function (id) { return document.getElementById(id); };
  var noticeTimer = null;

  // -- the URL ------------------------------------------------------------------

  function readUrl() {
    var params = new URLSearchParams(window.location.search);
    state = {};
    KEYS.forEach(function (key) { state[key] = params.get(key) || ""; });
    if (!/^[1-9][0-9]{0,3}$/.test(state.limit)) state.limit = "";
  }

  function pageSize() {
    return state.limit ? String(Math.min(1000, Number(state.limit))) : String(PAGE);
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

  // -- searching ----------------------------------------------------------------

  function apiQuery() {
    if (!state.similar) return state.q;
    return (state.q ? state.q + " " : "") + "similar:" + state.similar;
  }

  function fetchPage(offset) {
    if (upload) {
      var form = new FormData();
      form.append("image", upload, upload.name || "pasted image");
      form.append("q", state.q);
      form.append("sort", state.sort);
      form.append("limit", pageSize());
      form.append("offset", String(offset));
      return PX.api.post("/api/search/image", form);
    }
    var params = new URLSearchParams({ q: apiQuery(), limit: pageSize(), offset: String(offset) });
    if (state.sort) params.set("sort", state.sort);
    if (state.text) params.set("text", state.text);
    return PX.api.get("/api/search?" + params.toString());
  }

  function fillForm() {
    $("q").value = state.q;
    $("text").value = state.text;
    var sort = $("sort");
    if (state.sort && !Array.prototype.some.call(sort.options, function (o) { return o.value === state.sort; })) {
      sort.appendChild(h("option", { value: state.sort, text: state.sort }));
    }
    sort.value = state.sort;
  }

  function search(how) {
    if (how === "push") window.history.pushState(null, "", urlFor(Object.assign({}, state, { id: "" })));
    fillForm();
    PX.suggest.close();
    renderChips();
    hideError();
    $("empty").hidden = true;
    PX.grid.reset();
    loaded = 0;
    total = 0;
    var mine = ++generation;
    $("count").textContent = "Searching…";
    return loadMore(mine);
  }

  function loadMore(mine) {
    mine = mine || generation;
    loading = true;
    return fetchPage(loaded).then(function (page) {
      if (mine !== generation) return;
      loading = false;
      total = page.total;
      loaded += page.items.length;
      PX.grid.add(page.items);
      renderCount(page);
      $("more-button").hidden = loaded >= total || page.items.length === 0;
      if (loaded === 0) showEmpty();
      // Infinite scroll: keep loading while the end of the grid is in sight.
      if (loaded < total && page.items.length > 0 &&
          $("more").getBoundingClientRect().top < window.innerHeight + 600) {
        return loadMore(mine);
      }
    }, function (err) {
      if (mine !== generation) return;
      loading = false;
      $("count").textContent = "";
      $("more-button").hidden = true;
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
    box.appendChild(h("div", { class: "error-message", text: err.message }));
  }

  function showEmpty() {
    var box = PX.clear($("empty"));
    box.hidden = false;
    var latest = PX.status.latest();
    if (!state.q && !state.text && !state.similar && !upload) {
      box.appendChild(h("p", { text: latest && latest.images === 0
        ? "The library has no images yet: add folders under [[library.roots]] in the configuration file, then restart PxIMSE or run `pximse index`."
        : "No images." }));
      return;
    }
    box.appendChild(h("p", { class: "empty-title", text: "No images match this search." }));
    var list = h("ul", { class: "relax" });
    box.appendChild(h("p", { text: "Try relaxing it:" }));
    box.appendChild(list);
    var items = PX.query.items(state.q);
    var mine = generation;
    items.slice(0, 12).forEach(function (item, index) {
      var relaxed = PX.query.without(state.q, index);
      var params = new URLSearchParams({ q: relaxed, limit: "1" });
      if (state.text) params.set("text", state.text);
      PX.api.get("/api/search?" + params.toString()).then(function (page) {
        if (mine !== generation || page.total === 0) return;
        list.appendChild(h("li", null, h("button", { type: "button", class: "link",
          onclick: function () { state.q = relaxed; search("push"); } },
          "without ", h("code", { text: item }),
          " — " + PX.formatCount(page.total) + (page.total === 1 ? " image" : " images"))));
      }, function () { /* a relaxed query that does not parse is no suggestion */ });
    });
    if (state.text) list.appendChild(h("li", { text: "a shorter or different description" }));
    if (items.length === 0 && !state.text) {
      list.appendChild(h("li", { text: "images may not be indexed yet: see the status at the top" }));
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
      box.appendChild(chip(item, item, function () {
        state.q = PX.query.without(state.q, index);
        search("push");
      }));
    });
    if (state.text) {
      box.appendChild(chip("described: " + state.text, state.text, function () {
        state.text = ""; search("push");
      }));
    }
    if (state.similar) {
      box.appendChild(chip("like " + state.similar.slice(0, 10) + "…", state.similar, function () {
        state.similar = ""; search("push");
      }));
    }
    if (upload) {
      box.appendChild(chip("like image " + (upload.name || "pasted"), "the uploaded image", function () {
        upload = null; search("push");
      }));
    }
  }

  // -- the detail view --------------------------------------------------------------

  function openDetail(id) {
    state.id = id;
    window.history.replaceState(null, "", urlFor(state));
    return PX.detail.open(id);
  }

  function closeDetail() {
    var id = state.id;
    PX.detail.close();
    state.id = "";
    window.history.replaceState(null, "", urlFor(state));
    var index = PX.grid.indexOfId(id);
    if (index >= 0) PX.grid.focusCard(index);
  }

  function step(delta) {
    var cards = PX.grid.cards();
    var index = PX.grid.indexOfId(state.id);
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
    upload = file;
    state.similar = "";
    state.text = "";
    search("push");
  }

  function similarTo(id) {
    upload = null;
    state.similar = id;
    state.text = "";
    PX.detail.close();
    state.id = "";
    search("push");
  }

  // -- small things -----------------------------------------------------------------

  function notify(message) {
    var box = $("notice");
    box.textContent = message;
    window.clearTimeout(noticeTimer);
    noticeTimer = window.setTimeout(function () { box.textContent = ""; }, 6000);
  }

  function toggleTheme() {
    var next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { window.localStorage.setItem("pximse-theme", next); } catch (e) { /* private mode */ }
  }

  function setUpHydrus() {
    PX.api.get("/api/hydrus").then(function (answer) {
      $("hydrus-button").hidden = !(answer && answer.configured);
    }, function () { $("hydrus-button").hidden = true; });
    $("hydrus-button").addEventListener("click", function () {
      PX.api.post("/api/hydrus/show", {
        q: state.q, text: state.text || null, similar: state.similar || null,
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
    });
  }

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
                      target.tagName === "SELECT" || target.isContentEditable);
  }

  function onKey(event) {
    if (event.defaultPrevented) return;
    if (event.key === "/" && !typing(event.target)) {
      event.preventDefault();
      $("q").focus();
      $("q").select();
    } else if (event.key === "Escape") {
      if (PX.detail.isOpen()) { event.preventDefault(); closeDetail(); }
      else if (typing(event.target)) event.target.blur();
    } else if (PX.detail.isOpen() && !typing(event.target) &&
               (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
      event.preventDefault();
      step(event.key === "ArrowLeft" ? -1 : 1);
    }
  }

  function start() {
    readUrl();
    PX.detail.init({
      close: closeDetail, step: step, similar: similarTo,
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
    PX.status.start({
      onFiles: function (change) {
        if (change.added || change.removed || change.moved) {
          notify("The library changed (" + (change.added || 0) + " added, " + (change.removed || 0) +
                 " removed): search again to see it.");
        }
      },
    });
    $("search-form").addEventListener("submit", function (event) {
      event.preventDefault();
      PX.suggest.close();
      state.q = $("q").value.trim();
      state.text = $("text").value.trim();
      state.sort = $("sort").value;
      if (state.text) {  // one ranking at a time: a description replaces the others
        state.similar = "";
        upload = null;
      }
      search("push");
    });
    $("sort").addEventListener("change", function () {
      state.sort = $("sort").value;
      search("push");
    });
    PX.suggest.init($("q"), $("suggestions"));
    $("pick-image").addEventListener("click", function () { $("image-file").click(); });
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
    $("more-button").addEventListener("click", function () { if (!loading) loadMore(); });
    if (window.IntersectionObserver) {
      new IntersectionObserver(function (entries) {
        if (entries[0].isIntersecting && loaded < total && !loading && loaded > 0) loadMore();
      }, { rootMargin: "600px" }).observe($("more"));
    }
    document.addEventListener("keydown", onKey);
    window.addEventListener("popstate", function () {
      readUrl();
      upload = null;
      var id = state.id;
      search().then(function () { if (id) openDetail(id); else PX.detail.close(); });
    });
    setUpHydrus();
    var id = state.id;
    search().then(function () { if (id) openDetail(id); });
  }

  return { start: start, notify: notify, state: function () { return state; } };
})();

document.addEventListener("DOMContentLoaded", PX.app.start);
