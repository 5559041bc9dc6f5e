// The image in the detail view: fit the screen, fit the width (tall strips
// open that way and scroll down), zoom in and out (buttons, + and -, Ctrl and
// the wheel, a double click), drag to pan, and on a touch screen a swipe to
// the next or previous image. The OCR boxes are drawn in the image's own
// frame, so they follow every size.
"use strict";
window.PX = window.PX || {};

PX.viewer = (function () {
  var viewer, frame, image, level;
  var natural = { width: 0, height: 0 };
  var mode = "fit";   // "fit", "width" or "zoom"
  var zoom = 1;       // the scale in "zoom" mode
  var handlers = {};
  var STEP = 1.25;
  var TALL = 2.5;     // taller than this many times its width: a strip, opened to fit the width

  function room() {
    return { width: Math.max(50, viewer.clientWidth - 8), height: Math.max(50, viewer.clientHeight - 8) };
  }

  function fitScale() {
    var r = room();
    return Math.min(r.width / natural.width, r.height / natural.height);
  }

  function scale() {
    if (!natural.width) return 1;
    if (mode === "fit") return Math.min(fitScale(), 2);
    if (mode === "width") return room().width / natural.width;
    return zoom;
  }

  function layout() {
    if (!natural.width || !image) return;
    var s = scale();
    var width = Math.max(1, Math.round(natural.width * s));
    var height = Math.max(1, Math.round(natural.height * s));
    image.style.width = width + "px";
    image.style.height = height + "px";
    frame.style.width = width + "px";
    frame.style.height = height + "px";
    var r = room();
    viewer.classList.toggle("overflows", width > r.width + 1 || height > r.height + 1);
    viewer.dataset.mode = mode;
    level.textContent = Math.round(100 * s) + "%";
    document.getElementById("fit-screen").setAttribute("aria-pressed", String(mode === "fit"));
    document.getElementById("fit-width").setAttribute("aria-pressed", String(mode === "width"));
  }

  function setMode(next, keepCentre) {
    var before = keepCentre ? centre() : null;
    mode = next;
    layout();
    if (before) restore(before);
    else if (next === "width") viewer.scrollTop = 0;
  }

  function centre() {
    return { x: (viewer.scrollLeft + viewer.clientWidth / 2) / Math.max(1, frame.offsetWidth),
             y: (viewer.scrollTop + viewer.clientHeight / 2) / Math.max(1, frame.offsetHeight) };
  }

  function restore(at) {
    viewer.scrollLeft = at.x * frame.offsetWidth - viewer.clientWidth / 2;
    viewer.scrollTop = at.y * frame.offsetHeight - viewer.clientHeight / 2;
  }

  function zoomBy(factor, at) {
    var before = at || centre();
    zoom = Math.max(0.05, Math.min(8, scale() * factor));
    mode = "zoom";
    layout();
    restore(before);
  }

  function actualSize() {
    zoom = scale() >= 0.999 && scale() <= 1.001 ? 2 : 1;
    setMode("zoom", true);
  }

  // Dragging the picture around when it is larger than the view; a quick
  // horizontal swipe on a touch screen, when it is not, turns the page.
  function watchPointer() {
    var drag = null;
    viewer.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, left: viewer.scrollLeft, top: viewer.scrollTop,
               at: Date.now(), touch: event.pointerType === "touch", moved: false };
      if (!drag.touch && viewer.classList.contains("overflows")) {
        viewer.setPointerCapture(event.pointerId);
        viewer.classList.add("dragging");
      }
    });
    viewer.addEventListener("pointermove", function (event) {
      if (!drag) return;
      var dx = event.clientX - drag.x;
      var dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
      if (!drag.touch && viewer.classList.contains("overflows")) {
        viewer.scrollLeft = drag.left - dx;
        viewer.scrollTop = drag.top - dy;
      }
    });
    function end(event) {
      if (!drag) return;
      var dx = event.clientX - drag.x;
      var dy = event.clientY - drag.y;
      var wide = viewer.scrollWidth > viewer.clientWidth + 1;
      if (drag.touch && !wide && Math.abs(dx) > 50 && Math.abs(dx) > 1.5 * Math.abs(dy) &&
          Date.now() - drag.at < 800 && handlers.swipe) {
        handlers.swipe(dx < 0 ? 1 : -1);
      }
      viewer.classList.remove("dragging");
      drag = null;
    }
    viewer.addEventListener("pointerup", end);
    viewer.addEventListener("pointercancel", function () { drag = null; viewer.classList.remove("dragging"); });
    viewer.addEventListener("wheel", function (event) {
      if (!event.ctrlKey) return;
      event.preventDefault();
      var box = frame.getBoundingClientRect();
      zoomBy(event.deltaY < 0 ? STEP : 1 / STEP, {
        x: (event.clientX - box.left) / Math.max(1, box.width),
        y: (event.clientY - box.top) / Math.max(1, box.height) });
    }, { passive: false });
    viewer.addEventListener("dblclick", function (event) {
      event.preventDefault();
      if (mode === "fit") actualSize();
      else setMode("fit");
    });
  }

  return {
    init: function (options) {
      handlers = options || {};
      viewer = document.getElementById("viewer");
      frame = document.getElementById("viewer-frame");
      image = document.getElementById("detail-image");
      level = document.getElementById("zoom-level");
      document.getElementById("fit-screen").addEventListener("click", function () { setMode("fit"); });
      document.getElementById("fit-width").addEventListener("click", function () { setMode("width"); });
      document.getElementById("zoom-in").addEventListener("click", function () { zoomBy(STEP); });
      document.getElementById("zoom-out").addEventListener("click", function () { zoomBy(1 / STEP); });
      window.addEventListener("resize", layout);
      if (window.ResizeObserver) {
        // The view shrinks when a work's page strip or the info panel arrives
        // after the picture: fit again to what is left.
        new ResizeObserver(function () { if (mode !== "zoom") layout(); }).observe(viewer);
      }
      watchPointer();
    },
    // A new picture of this size: fit the screen, or the width for a tall strip.
    show: function (width, height) {
      natural = { width: width || 1, height: height || 1 };
      mode = natural.height / natural.width > TALL ? "width" : "fit";
      zoom = 1;
      layout();
      viewer.scrollTop = 0;
      viewer.scrollLeft = 0;
    },
    layout: layout,
    key: function (key) {
      if (key === "+" || key === "=") zoomBy(STEP);
      else if (key === "-" || key === "_") zoomBy(1 / STEP);
      else if (key === "0") setMode("fit");
      else if (key === "w" || key === "W") setMode("width");
      else if (key === "1") actualSize();
      else return false;
      return true;
    },
    mode: function () { return mode; },
    scale: scale,
  };
})();
