// Runs before the page is drawn, so a dark theme never flashes light first.
(function () {
  "use strict";
  var saved = null;
  try { saved = window.localStorage.getItem("pximse-theme"); } catch (e) { /* private mode */ }
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = saved === "light" || saved === "dark"
    ? saved : (dark ? "dark" : "light");
})();
