// The detail view: the full image (PX.viewer: fit, fit width, zoom, swipe)
// with its OCR boxes; the pages of a multi-page work (2 / 6, a strip of them);
// every path, the tags (click adds to the query, shift-click excludes), the
// source fields with the artist as a search for their other works, dates in
// the browser's time zone, and links. Tab stays inside the dialog.
"use strict";
window.PX = window.PX || {};

PX.detail = (function () {
  var h = PX.h;
  var root, image, boxes, info, strip, pager;
  var current = null;
  var work = null;          // {key, pages: [items], index} of the current image's work
  var works = {};           // work key -> promise of its pages
  var infoShown = true;
  var tagSort = { key: "score", descending: true };
  var showBoxes = true;
  var handlers = {};

  function sourceLinks(d) {
    var links = [];
    var post = d.post_id ? encodeURIComponent(d.post_id) : null;
    var user = d.user_id ? encodeURIComponent(d.user_id) : null;
    if (d.source === "pixiv") {
      if (post) links.push(["Pixiv work", "https://www.pixiv.net/artworks/" + post]);
      if (user) links.push(["Pixiv artist", "https://www.pixiv.net/users/" + user]);
    } else if (d.source === "twitter") {
      if (post) {
        links.push(["Tweet", user ? "https://x.com/" + user + "/status/" + post
                                  : "https://x.com/i/status/" + post]);
      }
      if (user) links.push(["Twitter profile", "https://x.com/" + user]);
    } else if (d.source === "yandere" && post) {
      links.push(["yande.re post", "https://yande.re/post/show/" + post]);
    } else if (d.source === "danbooru" && post) {
      links.push(["Danbooru post", "https://danbooru.donmai.us/posts/" + post]);
    } else if (d.source === "gelbooru" && post) {
      links.push(["Gelbooru post", "https://gelbooru.com/index.php?page=post&s=view&id=" + post]);
    }
    return links;
  }

  function tagButton(tag) {
    return h("button", {
      type: "button", class: "tag tag-" + tag.kind, dataset: { tag: tag.name },
      title: "Click: add to the query · Shift-click: exclude (" + tag.origin + ")",
      onclick: function (event) {
        if (handlers.tag) handlers.tag(tag, event.shiftKey);
      },
    }, tag.name);
  }

  function sortedTags(tags) {
    var list = tags.slice();
    list.sort(function (a, b) {
      var order = tagSort.key === "name" ? a.name.localeCompare(b.name) : a.score - b.score;
      return tagSort.descending ? -order : order;
    });
    return list;
  }

  function tagTable(tags) {
    function header(key, label) {
      var active = tagSort.key === key;
      return h("th", { "aria-sort": active ? (tagSort.descending ? "descending" : "ascending") : "none" },
        h("button", { type: "button", class: "link", text: label + (active ? (tagSort.descending ? " ↓" : " ↑") : ""),
          onclick: function () {
            tagSort = { key: key, descending: active ? !tagSort.descending : key === "score" };
            render(current);
          } }));
    }
    return h("table", { class: "tags-table" },
      h("thead", null, h("tr", null, header("name", "tag"), header("score", "score"))),
      h("tbody", null, sortedTags(tags).map(function (tag) {
        return h("tr", null, h("td", null, tagButton(tag)),
          h("td", { class: "score" }, h("meter", { min: 0, max: 1, value: tag.score }),
            " " + tag.score.toFixed(3)));
      })));
  }

  // The artist's other works in this library: a search by their id at this
  // source (names change; ids do not), or by name where there is no id.
  function artistQuery(d) {
    if (d.user_id) return 'userid:' + PX.query.quoteTag(d.user_id) + (d.source ? " source:" + d.source : "");
    if (d.user_name) return "user:" + '"' + d.user_name.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
    return "";
  }

  function artistLink(d) {
    var query = artistQuery(d);
    if (!query) return null;
    return h("a", { class: "artist-link", href: "/?q=" + encodeURIComponent(query),
      title: "Other works by this artist in the library",
      text: d.user_name || d.user_id,
      onclick: function (event) {
        if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        if (handlers.search) handlers.search(query);
      } });
  }

  function field(label, value) {
    if (value === null || value === undefined || value === "") return null;
    return [h("dt", { text: label }), h("dd", null, value)];
  }

  // Pixiv captions are HTML written by the artist: shown as plain text, with
  // line breaks kept and tags dropped (the result is only ever a text node).
  function captionText(caption) {
    var entities = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'",
                     "&nbsp;": " " };
    return String(caption)
      .replace(/<br\s*\/?>/gi, "\n")
      .replace(/<[^>]*>/g, "")
      .replace(/&(amp|lt|gt|quot|#39|nbsp);/g, function (m) { return entities[m]; });
  }

  function pixivSection(p) {
    var yesNo = function (v) { return v === null || v === undefined ? null : (v ? "yes" : "no"); };
    var count = function (v) { return v === null || v === undefined ? null : PX.formatCount(v); };
    var state = p.state === "ok" ? null : p.state;
    return [
      h("h3", null, "Pixiv", state ? h("span", { class: "badge", text: state }) : null),
      p.title ? h("p", { class: "pixiv-title", text: p.title }) : null,
      p.caption ? h("p", { class: "pixiv-caption", text: captionText(p.caption) }) : null,
      h("dl", { class: "fields" },
        field("bookmarks", count(p.bookmarks)),
        field("views", count(p.views)),
        field("likes", count(p.likes)),
        field("comments", count(p.comments)),
        field("pages", count(p.pages)),
        field("created", p.created ? PX.localTime(p.created) : null),
        field("AI-generated", yesNo(p.ai)),
        field("R-18", yesNo(p.r18)),
        field("fetched", p.fetched_at ? PX.localTime(typeof p.fetched_at === "number"
          ? new Date(p.fetched_at * 1000).toISOString() : p.fetched_at) + (p.via ? " (" + p.via + ")" : "") : null)),
    ];
  }

  function drawBoxes(d) {
    PX.clear(boxes);
    var lines = d.ocr_lines || [];
    var space = d.ocr_box_space || { width: d.width, height: d.height };
    boxes.setAttribute("viewBox", "0 0 " + space.width + " " + space.height);
    boxes.style.display = showBoxes && lines.length ? "" : "none";
    lines.forEach(function (line) {
      if (!line.box || !line.box.length) return;
      var points = line.box.map(function (p) { return p[0] + "," + p[1]; }).join(" ");
      var shape = PX.svg("polygon", { points: points, class: "ocr-box" });
      var title = PX.svg("title");
      title.textContent = line.text;
      shape.appendChild(title);
      boxes.appendChild(shape);
    });
  }

  function actions(d) {
    var path = d.paths && d.paths.length ? d.paths[0].path : d.path;
    // The daemon opens folders only for a request from its own computer.
    var local = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(window.location.hostname);
    var list = [
      local && h("button", { type: "button", id: "open-folder", text: "Open folder",
        title: "Show the file in this computer's file manager",
        onclick: function () {
          PX.api.post("/api/images/" + d.id + "/open-folder").then(function (r) {
            PX.app.notify("Opened " + r.opened);
          }, function (err) { PX.app.notify(err.message); });
        } }),
      h("button", { type: "button", text: "Copy path", onclick: function () {
        PX.copyText(path).then(function () { PX.app.notify("Copied " + path); },
          function () { PX.app.notify("Could not copy; the path is " + path); });
      } }),
      h("button", { type: "button", id: "detail-similar",
        text: PX.features.available("clip") ? "More like this" : "Near-duplicates",
        title: PX.features.available("clip") ? "Images that look like this one (CLIP)"
          : "Copies and near-copies of this image (perceptual hash; CLIP is unavailable)",
        onclick: function () { if (handlers.similar) handlers.similar(d.id); } }),
      h("a", { class: "button", href: PX.api.file(d.id), target: "_blank", rel: "noopener noreferrer",
        text: "Original" }),
    ];
    sourceLinks(d).forEach(function (link) {
      list.push(h("a", { class: "button source-link", href: link[1], target: "_blank",
        rel: "noopener noreferrer", text: link[0] }));
    });
    return h("div", { class: "actions" }, list);
  }

  function render(d) {
    PX.clear(info);
    var modelTags = d.tags.filter(function (t) { return t.kind === "model"; });
    var otherTags = d.tags.filter(function (t) { return t.kind !== "model"; });
    info.appendChild(h("h2", { id: "detail-title", text: d.title || PX.basename(d.path) || d.id }));
    info.appendChild(actions(d));
    info.appendChild(h("dl", { class: "fields" },
      field("size", d.width + " × " + d.height + " · " + PX.formatBytes(d.filesize) + " · " +
        d.format + (d.animated ? " · " + d.frames + " frames" : "")),
      field("source", d.source),
      field("artist", artistLink(d)),
      field("artist id", d.user_id),
      field("post", d.post_id),
      field("page", d.page === null || d.page === undefined ? null : "p" + d.page),
      field("posted", d.posted ? h("time", { datetime: d.posted, text: PX.localTime(d.posted) }) : null),
      field("modified", d.date ? h("time", { datetime: d.date, text: PX.localTime(d.date) }) : null),
      field("SHA-256", h("code", { text: d.id }))));
    info.appendChild(h("h3", { text: d.paths.length === 1 ? "Path" : d.paths.length + " paths" }));
    info.appendChild(h("ul", { class: "paths" }, d.paths.map(function (p) {
      return h("li", { class: p.state === "ok" ? "" : "offline" },
        h("code", { class: "path", text: p.path }),
        h("span", { class: "muted", text: " " + p.root + " · " + PX.formatBytes(p.size) +
          (p.state === "ok" ? "" : " · " + p.state) }),
        h("button", { type: "button", class: "link", text: "copy", onclick: function () {
          PX.copyText(p.path).then(function () { PX.app.notify("Copied " + p.path); });
        } }));
    })));
    if (d.pixiv) PX.append(info, pixivSection(d.pixiv));
    if (otherTags.length) {
      info.appendChild(h("h3", { text: "Source tags" }));
      info.appendChild(h("div", { class: "tag-list source-tags" }, otherTags.map(tagButton)));
    }
    if (modelTags.length) {
      info.appendChild(h("h3", { text: "Tagger tags" }));
      info.appendChild(tagTable(modelTags));
    }
    if (d.ocr_text) {
      info.appendChild(h("h3", null, "Text in the image ",
        h("label", { class: "muted" }, h("input", { type: "checkbox", id: "toggle-boxes",
          checked: showBoxes, onchange: function (e) { showBoxes = e.target.checked; drawBoxes(d); } }),
          " boxes")));
      info.appendChild(h("pre", { class: "ocr-text", text: d.ocr_text }));
    }
    var failed = (d.stages || []).filter(function (s) { return s.status === "failed"; });
    if (failed.length) {
      info.appendChild(h("h3", { text: "Indexing errors" }));
      info.appendChild(h("ul", null, failed.map(function (s) {
        return h("li", { text: s.stage + ": " + (s.error || "failed") });
      })));
    }
    drawBoxes(d);
  }

  // -- the pages of a multi-page work -------------------------------------------------

  function pagesOf(key) {
    if (!works[key]) {
      works[key] = PX.api.get("/api/search?" + new URLSearchParams({
        q: key, sort: "+page", limit: "500" }).toString()).then(function (page) {
        return page.items;
      }, function () { delete works[key]; return []; });
    }
    return works[key];
  }

  function showWork(d) {
    work = null;
    pager.hidden = true;
    strip.hidden = true;
    if (!d.work_key) return;
    pagesOf(d.work_key).then(function (pages) {
      if (!current || current.id !== d.id || pages.length < 2) return;
      var index = pages.findIndex(function (item) { return item.id === d.id; });
      if (index < 0) return;
      work = { key: d.work_key, pages: pages, index: index };
      pager.hidden = false;
      document.getElementById("page-of").textContent = (index + 1) + " / " + pages.length;
      document.getElementById("page-prev").disabled = index === 0;
      document.getElementById("page-next").disabled = index === pages.length - 1;
      PX.clear(strip);
      strip.hidden = false;
      pages.forEach(function (item, i) {
        strip.appendChild(h("button", { type: "button", class: "strip-page" + (i === index ? " current" : ""),
          title: "Page " + (i + 1) + " of " + pages.length, "aria-label": "Page " + (i + 1),
          "aria-current": i === index ? "true" : null,
          onclick: function () { if (handlers.openPage) handlers.openPage(item.id); } },
          h("img", { src: PX.api.thumbnail(item.id), alt: "", loading: "lazy" }),
          h("span", { text: String(i + 1) })));
      });
      var here = strip.children[index];
      if (here && here.scrollIntoView) here.scrollIntoView({ block: "nearest", inline: "nearest" });
    });
  }

  // The id of the page ``delta`` away in the current work, or null at its ends.
  function pageAway(delta) {
    if (!work) return null;
    var next = work.pages[work.index + delta];
    return next ? next.id : null;
  }

  // -- opening, closing, focus ------------------------------------------------------------

  function open(id) {
    root.hidden = false;
    document.body.classList.add("modal-open");
    if (current && current.id === id) return Promise.resolve(current);
    image.removeAttribute("src");
    image.alt = "";
    PX.clear(boxes);
    PX.clear(info).appendChild(h("p", { class: "muted", text: "Loading…" }));
    return PX.api.get("/api/images/" + id).then(function (d) {
      var wasOpen = current !== null;
      current = d;
      PX.viewer.show(d.width, d.height);
      image.src = PX.api.file(d.id);
      image.alt = PX.basename(d.path);
      render(d);
      showWork(d);
      if (!wasOpen || !root.contains(document.activeElement)) {
        document.getElementById("detail-close").focus();
      }
      return d;
    }, function (err) {
      PX.clear(info).appendChild(h("p", { class: "error-text", text: err.message }));
    });
  }

  function close() {
    root.hidden = true;
    document.body.classList.remove("modal-open");
    current = null;
    work = null;
  }

  function focusable() {
    return Array.prototype.filter.call(root.querySelectorAll(
      "button, a[href], input, select, textarea, [tabindex]:not([tabindex='-1'])"), function (el) {
      return !el.disabled && el.offsetParent !== null;
    });
  }

  // Tab and Shift+Tab go round the dialog's own controls, never behind it.
  function trapFocus(event) {
    if (event.key !== "Tab" || root.hidden) return;
    var list = focusable();
    if (!list.length) return;
    var first = list[0];
    var last = list[list.length - 1];
    var inside = root.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  }

  function toggleInfo(show) {
    infoShown = show === undefined ? !infoShown : show;
    root.classList.toggle("info-hidden", !infoShown);
    document.getElementById("detail-info-toggle").setAttribute("aria-pressed", String(infoShown));
    PX.viewer.layout();
  }

  return {
    init: function (options) {
      handlers = options;
      root = document.getElementById("detail");
      image = document.getElementById("detail-image");
      boxes = document.getElementById("ocr-boxes");
      info = document.getElementById("detail-info");
      strip = document.getElementById("work-strip");
      pager = document.getElementById("work-pager");
      PX.viewer.init({ swipe: function (delta) { options.swipe(delta); } });
      root.addEventListener("keydown", trapFocus);
      document.getElementById("page-prev").addEventListener("click", function () {
        var id = pageAway(-1);
        if (id && options.openPage) options.openPage(id);
      });
      document.getElementById("page-next").addEventListener("click", function () {
        var id = pageAway(1);
        if (id && options.openPage) options.openPage(id);
      });
      document.getElementById("detail-info-toggle").addEventListener("click", function () {
        toggleInfo();
      });
      if (window.matchMedia && window.matchMedia("(max-width: 640px)").matches) toggleInfo(true);
      image.addEventListener("error", function () {
        if (!current || !image.getAttribute("src")) return;
        image.removeAttribute("src");
        image.alt = "The file cannot be shown: it is offline, or gone since the last scan.";
      });
      document.getElementById("detail-close").addEventListener("click", options.close);
      document.getElementById("detail-prev").addEventListener("click", function () { options.step(-1); });
      document.getElementById("detail-next").addEventListener("click", function () { options.step(1); });
      root.addEventListener("click", function (event) {
        if (event.target === root) options.close();
      });
    },
    open: open,
    close: close,
    isOpen: function () { return root && !root.hidden; },
    currentId: function () { return current ? current.id : null; },
    pageAway: pageAway,
    toggleInfo: toggleInfo,
    work: function () { return work; },
  };
})();
