// The vector part of a search, held as explicit state: a description (CLIP
// text), a library image (similar) or an uploaded image. It is shown as a pill
// in the query box and is in the address (text=, similar=, image=), so a
// later search keeps it only while it is there to see; its × removes it. An
// uploaded image cannot travel in an address: the address names it by a key,
// and this tab keeps the file (in sessionStorage too when it is small, so a
// reload keeps it). Where CLIP cannot run, "similar" becomes near-duplicates by
// perceptual hash (dupes:ID), and a description or an image says why it is
// not used, in the open.
"use strict";
window.PX = window.PX || {};

PX.ranking = (function () {
  var h = PX.h;
  var uploads = {};            // key -> File
  var STORE_MAX = 3 << 20;     // bytes of an upload kept for a reload
  var DUPES_DIGITS = 16;

  function kind(state) {
    if (state.image) return "image";
    if (state.similar) return "similar";
    if (state.text) return "text";
    return "";
  }

  function newKey() {
    return Math.random().toString(36).slice(2, 10);
  }

  function hold(file) {
    var key = newKey();
    uploads[key] = file;
    if (file.size <= STORE_MAX && window.FileReader) {
      var reader = new FileReader();
      reader.onload = function () {
        try {
          window.sessionStorage.setItem("pximse-upload-" + key, JSON.stringify({
            name: file.name || "pasted image", type: file.type, data: reader.result }));
        } catch (e) { /* too large for this browser's storage: kept in memory only */ }
      };
      reader.readAsDataURL(file);
    }
    return key;
  }

  // The file an address's image= names, or null when this tab no longer has it.
  function file(key) {
    if (!key) return null;
    if (uploads[key]) return uploads[key];
    try {
      var kept = JSON.parse(window.sessionStorage.getItem("pximse-upload-" + key) || "null");
      if (kept && kept.data) {
        var bytes = atob(kept.data.split(",")[1]);
        var array = new Uint8Array(bytes.length);
        for (var i = 0; i < bytes.length; i++) array[i] = bytes.charCodeAt(i);
        uploads[key] = new File([array], kept.name, { type: kept.type });
        return uploads[key];
      }
    } catch (e) { /* unreadable: as if not kept */ }
    return null;
  }

  // The pill in the query box; returns whether one is shown.
  function renderPill(state, remove) {
    var pill = PX.clear(document.getElementById("ranking-pill"));
    var what = kind(state);
    pill.hidden = !what;
    document.getElementById("query-box").classList.toggle("ranked", !!what);
    if (!what) return false;
    var off = !PX.features.available("clip");
    pill.classList.toggle("inactive", off);
    pill.dataset.kind = what;
    var label;
    var title;
    if (what === "similar") {
      pill.appendChild(h("img", { src: PX.api.thumbnail(state.similar), alt: "" }));
      label = "like this";
      title = "Ranked by likeness to image " + state.similar;
    } else if (what === "image") {
      var f = file(state.image);
      if (f && window.URL) pill.appendChild(h("img", { src: URL.createObjectURL(f), alt: "" }));
      label = "like " + (f ? (f.name || "pasted image") : "an image");
      title = "Ranked by likeness to the image you gave";
    } else {
      label = "“" + state.text + "”";
      title = "Ranked by the description (CLIP)";
    }
    pill.appendChild(h("span", { class: "pill-text", text: label }));
    pill.title = title + (off ? " — not used: CLIP is unavailable" : "");
    if (off) {
      pill.appendChild(h("button", { type: "button", class: "pill-why", text: "?",
        "aria-label": "Why is this not used?",
        onclick: function (event) { PX.features.explain("clip", event.target); } }));
    }
    pill.appendChild(h("button", { type: "button", class: "pill-remove", text: "×",
      "aria-label": "Remove the ranking: " + label, title: "Remove", onclick: remove }));
    return true;
  }

  return {
    kind: kind,
    hold: hold,
    file: file,
    renderPill: renderPill,
    // "Similar" where CLIP cannot run: the near-duplicates by perceptual hash.
    dupesQuery: function (id) { return "dupes:" + id.slice(0, DUPES_DIGITS); },
  };
})();
