// Library and indexing status, live: Server-Sent Events from /api/events when
// the daemon has them, else /api/status polled every few seconds.
//
// Each model stage is shown over the whole library (library_stages: done of
// total from the catalogue, not one run's counters) with what it is doing:
// ready, running, paused, unavailable and why, waiting for its weights, or
// downloading them. The header's button keeps one width whatever it says.
"use strict";
window.PX = window.PX || {};

PX.status = (function () {
  var h = PX.h;
  var POLL_MS = 4000;
  var button, panel, onFiles, onFirst, busyLine;
  var last = null;
  var pollTimer = null;
  var source = null;
  var NAMES = { tagger: "Tagger", ocr: "Text (OCR)", clip: "CLIP" };
  var PHASES = {
    idle: "ready", running: "running", starting: "starting", paused: "paused",
    unavailable: "unavailable", waiting: "waiting for weights", downloading: "downloading weights",
    off: "not run here",
  };

  // Each stage over the library. A daemon that sends no library_stages (an
  // older one) has its live rows used as they are.
  function stages(status) {
    if (status.library_stages) return status.library_stages;
    var live = (status.indexing && status.indexing.stages) || {};
    var out = {};
    Object.keys(live).forEach(function (name) {
      var s = live[name];
      var state = String(s.state || "idle");
      out[name] = { done: s.done || 0, total: s.total || 0, failed: 0, rate: s.rate,
        eta_s: s.eta_s, state: state, phase: /^unavailable/.test(state) ? "unavailable"
          : /^waiting for weights/.test(state) ? "waiting"
          : /^downloading/.test(state) ? "downloading" : /^running/.test(state) ? "running"
          : /^paused/.test(state) ? "paused" : "idle" };
    });
    return out;
  }

  function busy(status) {
    if (status.scan && status.scan.running) return true;
    if (status.indexing && status.indexing.paused) return false;
    return !!(status.indexing && status.indexing.running) ||
      Object.keys(stages(status)).some(function (name) {
        return stages(status)[name].phase === "downloading";
      });
  }

  // The one line the header shows, and how far along a bar goes (or null).
  function summary(status) {
    var text = PX.formatCount(status.images) + " images";
    var fraction = null;
    var scan = status.scan || {};
    var all = stages(status);
    var names = Object.keys(all);
    if (scan.running) {
      var p = scan.progress || {};
      text += " · scanning" + (p.total ? " " + PX.formatCount(p.done) + "/" + PX.formatCount(p.total) : "");
      fraction = p.total ? p.done / p.total : null;
    } else {
      var working = names.filter(function (n) {
        var s = all[n];
        return (s.phase === "running" || s.phase === "starting") && s.done < s.total;
      });
      var fetching = names.filter(function (n) { return all[n].phase === "downloading"; });
      if (working.length) {
        // The stage furthest behind: the one the library waits for.
        working.sort(function (a, b) {
          return all[a].done / Math.max(1, all[a].total) - all[b].done / Math.max(1, all[b].total);
        });
        var s = all[working[0]];
        text += " · " + (NAMES[working[0]] || working[0]).toLowerCase() + " " +
          PX.formatCount(s.done) + "/" + PX.formatCount(s.total);
        fraction = s.done / Math.max(1, s.total);
      } else if (fetching.length) {
        text += " · downloading " + fetching.map(function (n) { return NAMES[n] || n; }).join(", ");
        var m = /(\d+)%/.exec(all[fetching[0]].state || "");
        fraction = m ? Number(m[1]) / 100 : null;
      } else if (status.indexing && status.indexing.running && !status.indexing.paused) {
        text += " · indexing";
      }
    }
    if (status.indexing && status.indexing.paused) text += " · paused";
    if (status.data_folder) {
      // First, so that the button's fixed width never cuts it off.
      text = (status.data_folder.kind === "full" ? "disk full: work waits"
        : "data folder problem: work waits") + " · " + text;
    }
    return { text: text, fraction: fraction };
  }

  function render(status) {
    var first = last === null;
    last = status;
    var line = summary(status);
    var label = button.querySelector(".status-text");
    label.textContent = line.text;
    var errors = status.errors || (status.recent_errors || []).length;
    var badge = button.querySelector(".badge");
    if (errors) {
      if (!badge) { badge = h("span", { class: "badge" }); button.appendChild(badge); }
      badge.textContent = PX.formatCount(errors);
    } else if (badge) {
      badge.parentNode.removeChild(badge);
    }
    button.title = line.text + (errors ? " · " + PX.formatCount(errors) + " files could not be read" : "") +
      " (click for details)";
    var isBusy = busy(status);
    button.classList.toggle("busy", isBusy);
    button.classList.toggle("problem", !!status.data_folder);
    var bar = button.querySelector(".status-bar");
    bar.classList.toggle("shown", line.fraction !== null);
    bar.firstChild.style.width = line.fraction === null ? "0" : Math.round(100 * line.fraction) + "%";
    busyLine.hidden = line.fraction === null;
    busyLine.firstChild.style.width = bar.firstChild.style.width;
    var clip = stages(status).clip;
    if (PX.features) PX.features.clipStage(clip ? clip.state : "");
    if (!panel.hidden) renderPanel(status);
    if (first && onFirst) onFirst();
  }

  function action(label, url) {
    return h("button", { type: "button", text: label, onclick: function () {
      PX.api.post(url).then(refresh, function (err) { PX.app.notify(err.message); });
    } });
  }

  function stateCell(s) {
    var phase = s.phase || "idle";
    var words = String(s.state || "");
    var detail = words.replace(/^(unavailable|waiting for weights|downloading weights)\s*:?\s*/i, "");
    var cell = h("td", { class: "stage-state" },
      h("span", { class: "phase phase-" + phase, text: PHASES[phase] || phase }));
    if (detail && detail !== phase && phase !== "idle" && phase !== "running") {
      cell.appendChild(h("div", { class: "stage-why" }, PX.linkify(detail)));
    }
    if (s.other_models) {
      cell.appendChild(h("div", { class: "muted", text: PX.formatCount(s.other_models) +
        " more done by an earlier model (still searchable)" }));
    }
    return cell;
  }

  function stageRow(name, s) {
    var fraction = s.total ? s.done / s.total : 0;
    var toGo = Math.max(0, (s.total || 0) - (s.done || 0) - (s.failed || 0));
    return h("tr", { dataset: { stage: name } },
      h("th", { scope: "row", text: NAMES[name] || name }),
      stateCell(s),
      h("td", { class: "stage-done" },
        h("span", { class: "done-of", text: PX.formatCount(s.done) + " of " + PX.formatCount(s.total) }),
        h("meter", { min: 0, max: 1, value: fraction, title: Math.round(100 * fraction) + "%" }),
        s.failed ? h("div", { class: "error-text", text: PX.formatCount(s.failed) + " failed" }) : null),
      h("td", { class: "stage-togo", text: PX.formatCount(toGo) }),
      h("td", { text: s.rate && s.phase === "running" ? s.rate.toFixed(1) + "/s" : "" }),
      h("td", { text: s.phase === "running" ? PX.formatDuration(s.eta_s) : "" }));
  }

  function renderPanel(status) {
    PX.clear(panel);
    var all = stages(status);
    var scan = status.scan || {};
    panel.appendChild(h("div", { class: "status-line" },
      h("strong", { text: summary(status).text }),
      " · ", PX.formatCount(status.files), " files · ", PX.formatCount(status.tags), " tags",
      status.version ? " · PxIMSE " + status.version : ""));
    if (status.data_folder) {
      panel.appendChild(h("p", { class: "status-problem", role: "alert",
                                 text: status.data_folder.message }));
    }
    if (status.indexing) {
      panel.appendChild(h("div", { class: "status-actions" },
        status.indexing.paused ? action("Resume indexing", "/api/indexing/resume")
                               : action("Pause indexing", "/api/indexing/pause"),
        action("Rescan now", "/api/scan")));
    }
    if (scan.running && scan.progress) {
      panel.appendChild(h("p", { text: "Scan: " + (scan.progress.phase || "running") + " " +
        PX.formatCount(scan.progress.done) + " of " + PX.formatCount(scan.progress.total) }));
    }
    var names = Object.keys(all);
    if (names.length) {
      panel.appendChild(h("table", { class: "stages" },
        h("thead", null, h("tr", null, h("th", { text: "stage" }), h("th", { text: "state" }),
          h("th", { text: "done, whole library" }), h("th", { text: "to go" }),
          h("th", { text: "rate" }), h("th", { text: "time left" }))),
        h("tbody", null, names.map(function (name) { return stageRow(name, all[name]); }))));
    }
    var roots = status.roots || [];
    if (roots.length) {
      var watch = (status.watch && status.watch.roots) || {};
      panel.appendChild(h("ul", { class: "roots" }, roots.map(function (root) {
        return h("li", null, h("strong", { text: root.name }), " ", h("code", { text: root.path }),
          " · ", PX.formatCount(root.files), " files · ",
          root.online ? (watch[root.name] || "online")
                      : "offline" + (root.offline_reason ? ": " + root.offline_reason : ""));
      })));
    }
    var errors = status.recent_errors || [];
    if (errors.length) {
      panel.appendChild(h("h3", { text: "Recent errors" }));
      panel.appendChild(h("ul", { class: "errors" }, errors.slice(0, 20).map(function (e) {
        return h("li", null, h("code", { text: e.path }), " — ", PX.linkify(e.message || e.reason || ""));
      })));
    }
  }

  function refresh() {
    return PX.api.get("/api/status").then(render, function (err) {
      button.querySelector(".status-text").textContent = "daemon unreachable";
      button.title = err.message;
    });
  }

  function poll() {
    if (pollTimer !== null) return;
    refresh();
    pollTimer = window.setInterval(refresh, POLL_MS);
  }

  function listen() {
    if (!window.EventSource) { poll(); return; }
    var opened = false;
    source = new EventSource("/api/events");  // signed in by the page's cookie
    source.addEventListener("open", function () { opened = true; });
    source.addEventListener("status", function (event) {
      opened = true;
      var data = JSON.parse(event.data);
      render(data.data || data);
    });
    source.addEventListener("files", function (event) {
      var data = JSON.parse(event.data);
      if (onFiles) onFiles(data.data || data);
      refresh();  // the counts now, not at the next status event
    });
    source.addEventListener("error", function () {
      // No events endpoint (404), or the daemon went away: poll instead; the
      // browser's own reconnect is left to run while the stream had worked.
      if (!opened || source.readyState === EventSource.CLOSED) {
        source.close();
        source = null;
        poll();
      }
    });
  }

  function toggle() {
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden && last) renderPanel(last);
  }

  return {
    start: function (options) {
      button = document.getElementById("status-button");
      panel = document.getElementById("status-panel");
      busyLine = document.getElementById("busy-line");
      onFiles = options.onFiles;
      onFirst = options.onFirst;
      button.addEventListener("click", toggle);
      refresh();
      PX.api.ready.then(listen);
    },
    mode: function () { return pollTimer !== null ? "polling" : (source ? "events" : "starting"); },
    latest: function () { return last; },
    stages: stages,
  };
})();
