// The detail view: the full image with its OCR boxes, every path, the tags
// (click adds to the query, shift-click excludes), source fields and links.
"use strict";
window.PX = window.PX || {};

PX.detail = (function () {
  var h = PX.h;
  var root, image, boxes, info;
  var current = null;
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
        field("created", p.created),
        field("AI-generated", yesNo(p.ai)),
        field("R-18", yesNo(p.r18)),
        field("fetched", p.fetched_at ? p.fetched_at + (p.via ? " (" + p.via + ")" : "") : null)),
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
      h("button", { type: "button", id: "detail-similar", text: "More like this",
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
      field("artist", d.user_name),
      field("artist id", d.user_id),
      field("post", d.post_id),
      field("page", d.page === null || d.page === undefined ? null : String(d.page)),
      field("posted", d.posted),
      field("modified", d.date),
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

  function open(id) {
    root.hidden = false;
    document.body.classList.add("modal-open");
    if (current && current.id === id) return Promise.resolve(current);
    image.removeAttribute("src");
    image.alt = "";
    PX.clear(boxes);
    PX.clear(info).appendChild(h("p", { class: "muted", text: "Loading…" }));
    return PX.api.get("/api/images/" + id).then(function (d) {
      current = d;
      image.src = PX.api.file(d.id);
      image.alt = PX.basename(d.path);
      render(d);
      document.getElementById("detail-close").focus();
      return d;
    }, function (err) {
      PX.clear(info).appendChild(h("p", { class: "error-text", text: err.message }));
    });
  }

  function close() {
    root.hidden = true;
    document.body.classList.remove("modal-open");
    current = null;
  }

  return {
    init: function (options) {
      handlers = options;
      root = document.getElementById("detail");
      image = document.getElementById("detail-image");
      boxes = document.getElementById("ocr-boxes");
      info = document.getElementById("detail-info");
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
  };
})();
