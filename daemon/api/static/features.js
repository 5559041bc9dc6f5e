// What can run here (GET /api/features, GET /api/hydrus): a feature that
// cannot is shown disabled, and a click on it says why and what to do,
// instead of a request that fails after a wait.
"use strict";
window.PX = window.PX || {};

PX.features = (function () {
  var known = {};        // name -> {available, reason, what_to_do, detail}
  var listeners = [];
  var loaded = false;
  var clipState = "";    // the clip stage's live state, from the status

  var HYDRUS_OFF = {
    available: false, code: "off", reason: "no Hydrus client is configured",
    what_to_do: "set [hydrus] url and access_key in the configuration file (see docs/hydrus.md), " +
      "then restart PxIMSE",
  };

  function get(name) {
    // Until the daemon has answered, a feature counts as available: a click
    // then fails with the daemon's own message rather than being refused here.
    return known[name] || { available: !loaded || name === "dupes" };
  }

  function available(name) { return !!get(name).available; }

  // Why a feature is off, as lines for PX.explain.
  function why(name) {
    var f = get(name);
    var lines = [f.reason ? f.reason.charAt(0).toUpperCase() + f.reason.slice(1) + "." : ""];
    if (name === "clip" && clipState && /^(downloading|waiting)/.test(clipState)) {
      lines.push("Now: " + clipState + ".");
    }
    if (f.what_to_do) lines.push("What to do: " + f.what_to_do + ".");
    if (f.detail && f.detail !== f.reason) lines.push(f.detail);
    return lines;
  }

  function explain(name, anchor, title) {
    PX.explain(anchor, title || (name === "clip" ? "CLIP search is unavailable" : "Unavailable"),
      why(name));
  }

  // A button for a feature that may be off: it looks disabled and explains
  // itself when clicked (a disabled button would take no click, no focus and
  // show no reason).
  function mark(el, name, title) {
    var off = !available(name);
    el.classList.toggle("unavailable", off);
    el.setAttribute("aria-disabled", off ? "true" : "false");
    if (off) el.title = (title || "Unavailable") + ": " + get(name).reason + " (click for what to do)";
    else if (el.dataset.title) el.title = el.dataset.title;
    return off;
  }

  function changed() {
    listeners.forEach(function (listener) { listener(); });
  }

  function refresh() {
    var ask = PX.api.get("/api/features").then(function (answer) {
      Object.keys(answer || {}).forEach(function (name) { known[name] = answer[name]; });
    }, function () { /* an older daemon: everything counts as available */ });
    var hydrus = PX.api.get("/api/hydrus").then(function (answer) {
      known.hydrus = answer && answer.configured ? { available: true } : HYDRUS_OFF;
    }, function () { known.hydrus = HYDRUS_OFF; });
    return Promise.all([ask, hydrus]).then(function () {
      loaded = true;
      changed();
    });
  }

  return {
    ready: null,
    start: function () { this.ready = refresh(); return this.ready; },
    refresh: refresh,
    get: get,
    available: available,
    explain: explain,
    why: why,
    mark: mark,
    onChange: function (listener) { listeners.push(listener); },
    // The status says the clip stage changed (weights arrived, vectors saved):
    // ask again, and remember its words for the reason shown.
    clipStage: function (state) {
      var before = clipState;
      clipState = state || "";
      if (loaded && before && before !== clipState && !available("clip")) refresh();
    },
  };
})();
