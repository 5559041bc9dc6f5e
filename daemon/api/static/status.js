// Library and indexing status, live: Server-Sent Events from /api/events when
// the daemon has them, else /api/status polled every few seconds.
"use strict";
window.PX = window.PX || {};

PX.status = (function () {
  var h = PX.h;
  var POLL_MS = 4000;
  var button, panel, onFiles;
  var last = null;
  var pollTimer = null;
  var source = null;

  function stageRows(status) {
    var rows = [];
    var indexing = status.indexing && status.indexing.stages;
    if (indexing) {
      Object.keys(indexing).forEach(function (name) {
        var s = indexing[name];
        rows.push({ name: name, done: s.done, total: s.total, rate: s.rate, eta: s.eta_s,
                    state: s.state });
      });
      return rows;
    }
    var queue = (status.queue && status.queue.stages) || {};
    var stages = status.stages || {};
    var names = Object.keys(stages).concat(Object.keys(queue)).filter(function (n, i, all) {
      return all.indexOf(n) === i;
    });
    names.forEach(function (name) {
      var done = 0;
      var failed = 0;
      Object.keys(stages[name] || {}).forEach(function (model) {
        done += stages[name][model].done || 0;
        failed += stages[name][model].failed || 0;
      });
      var q = queue[name] || {};
      rows.push({ name: name, done: done, failed: failed, pending: q.pending || 0,
                  rate: q.rate, eta: q.eta_s });
    });
    return rows;
  }

  function busy(status) {
    if (status.indexing) return !!status.indexing.running;
    return !!((status.scan && status.scan.running) || (status.models && status.models.running));
  }

  function summary(status) {
    var text = PX.formatCount(status.images) + " images";
    var scan = status.scan || {};
    if (scan.running) {
      var p = scan.progress || {};
      text += " · scanning" + (p.total ? " " + PX.formatCount(p.done) + "/" +
                               PX.formatCount(p.total) : "");
    } else if (busy(status)) {
      var pending = stageRows(status).reduce(function (sum, row) {
        return sum + (row.pending !== undefined ? row.pending
                      : Math.max(0, (row.total || 0) - (row.done || 0)));
      }, 0);
      text += " · indexing" + (pending ? ", " + PX.formatCount(pending) + " to go" : "");
    }
    var weights = (status.models && status.models.weights) || {};
    var fetching = Object.keys(weights).filter(function (n) {
      return weights[n].state === "downloading";
    });
    var waiting = Object.keys(weights).filter(function (n) {
      return weights[n].state === "waiting" || weights[n].state === "missing";
    });
    if (fetching.length) text += " · downloading " + fetching.join(", ") + " weights";
    else if (waiting.length) text += " · " + waiting.join(", ") + " waiting for weights";
    if (status.indexing && status.indexing.paused) text += " · paused";
    return text;
  }

  function render(status) {
    last = status;
    PX.clear(button);
    button.appendChild(h("span", { class: "status-text", text: summary(status) }));
    button.title = summary(status) + " (click for details)";
    var errors = status.errors || (status.recent_errors || []).length;
    if (errors) button.appendChild(h("span", { class: "badge", text: PX.formatCount(errors) }));
    button.classList.toggle("busy", busy(status));
    if (!panel.hidden) renderPanel(status);
  }

  function action(label, url) {
    return h("button", { type: "button", text: label, onclick: function () {
      PX.api.post(url).then(refresh, function (err) { PX.app.notify(err.message); });
    } });
  }

  function renderPanel(status) {
    PX.clear(panel);
    var rows = stageRows(status);
    var scan = status.scan || {};
    panel.appendChild(h("div", { class: "status-line" },
      h("strong", { text: summary(status) }),
      " · ", PX.formatCount(status.files), " files · ", PX.formatCount(status.tags), " tags",
      status.version ? " · PxIMSE " + status.version : ""));
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
    if (rows.length) {
      panel.appendChild(h("table", { class: "stages" },
        h("thead", null, h("tr", null, h("th", { text: "stage" }), h("th", { text: "done" }),
          h("th", { text: "to go" }), h("th", { text: "rate" }), h("th", { text: "time left" }))),
        h("tbody", null, rows.map(function (row) {
          var toGo = row.pending !== undefined ? row.pending
            : Math.max(0, (row.total || 0) - (row.done || 0));
          return h("tr", null, h("td", { text: row.name + (row.state ? " (" + row.state + ")" : "") }),
            h("td", { text: PX.formatCount(row.done) + (row.failed ? " (" + row.failed + " failed)" : "") }),
            h("td", { text: PX.formatCount(toGo) }),
            h("td", { text: row.rate ? row.rate.toFixed(1) + "/s" : "" }),
            h("td", { text: PX.formatDuration(row.eta) }));
        }))));
    }
    var roots = status.roots || [];
    if (roots.length) {
      var watch = (status.watch && status.watch.roots) || {};
      panel.appendChild(h("ul", { class: "roots" }, roots.map(function (root) {
        return h("li", null, h("strong", { text: root.name }), " ", h("code", { text: root.path }),
          " · ", PX.formatCount(root.files), " files · ",
          root.online ? (watch[root.name] || "online") : "offline");
      })));
    }
    var errors = status.recent_errors || [];
    if (errors.length) {
      panel.appendChild(h("h3", { text: "Recent errors" }));
      panel.appendChild(h("ul", { class: "errors" }, errors.slice(0, 20).map(function (e) {
        return h("li", null, h("code", { text: e.path }), " — ", e.message || e.reason || "");
      })));
    }
  }

  function refresh() {
    return PX.api.get("/api/status").then(render, function (err) {
      PX.clear(button).appendChild(document.createTextNode("daemon unreachable"));
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
      onFiles = options.onFiles;
      button.addEventListener("click", toggle);
      refresh();
      PX.api.ready.then(listen);
    },
    mode: function () { return pollTimer !== null ? "polling" : (source ? "events" : "starting"); },
    latest: function () { return last; },
  };
})();
