// Building elements. Every piece of text from the library (tags, file names,
// OCR text, titles) goes in as a text node, never as HTML: no string is ever
// parsed as markup anywhere in the page.
"use strict";
window.PX = window.PX || {};

PX.h = function (tag, attrs) {
  var el = document.createElement(tag);
  var key;
  for (key in attrs || {}) {
    var value = attrs[key];
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.slice(0, 2) === "on") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    // Styles through the CSSOM: the page's policy refuses style="" attributes.
    else if (key === "style") Object.keys(value).forEach(function (p) { el.style.setProperty(p, value[p]); });
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (var i = 2; i < arguments.length; i++) PX.append(el, arguments[i]);
  return el;
};

PX.append = function (el, child) {
  if (child === undefined || child === null || child === false) return;
  if (Array.isArray(child)) child.forEach(function (c) { PX.append(el, c); });
  else if (child instanceof Node) el.appendChild(child);
  else el.appendChild(document.createTextNode(String(child)));
};

PX.svg = function (tag, attrs) {
  var el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (var key in attrs || {}) el.setAttribute(key, String(attrs[key]));
  return el;
};

PX.clear = function (el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
};

PX.formatBytes = function (n) {
  if (n === null || n === undefined) return "";
  var units = ["B", "KB", "MB", "GB", "TB"];
  var i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
};

PX.formatCount = function (n) {
  return Number(n || 0).toLocaleString("en-US");
};

PX.formatDuration = function (seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
  seconds = Math.round(seconds);
  if (seconds < 60) return seconds + " s";
  if (seconds < 3600) return Math.round(seconds / 60) + " min";
  return (seconds / 3600).toFixed(1) + " h";
};

PX.basename = function (path) {
  if (!path) return "";
  var parts = String(path).split(/[\\/]/);
  return parts[parts.length - 1];
};

PX.copyText = function (text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  // http://127.0.0.1 is a secure context, a LAN address is not: fall back.
  var area = PX.h("textarea", { class: "offscreen", readonly: true });
  area.value = text;
  document.body.appendChild(area);
  area.select();
  var ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  document.body.removeChild(area);
  return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
};

// Text with its web addresses as links (http and https only; the text itself
// is still only ever text nodes). Messages from the daemon name download
// addresses and docs: they should be clickable.
PX.linkify = function (text) {
  var parts = [];
  var pattern = /https?:\/\/[^\s<>"'`)]+[^\s<>"'`).,;:!?]/g;
  var last = 0;
  var match;
  text = String(text || "");
  while ((match = pattern.exec(text)) !== null) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(PX.h("a", { href: match[0], target: "_blank", rel: "noopener noreferrer",
      text: match[0] }));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
};

// A time the daemon sends in UTC ("2021-03-04T10:20:30Z"), in the browser's
// own time zone and language.
PX.localTime = function (iso) {
  if (!iso) return "";
  var when = new Date(iso);
  if (isNaN(when.getTime())) return String(iso);
  return when.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit" });
};

// Settings the browser keeps (theme, density, saved searches); private
// browsing may refuse them, and the page works on without.
PX.stored = function (key, fallback) {
  try {
    var text = window.localStorage.getItem(key);
    return text === null ? fallback : JSON.parse(text);
  } catch (e) { return fallback; }
};

PX.store = function (key, value) {
  try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ }
};

// A small box next to an element: why a feature cannot run and what to do.
PX.explain = function (anchor, title, lines) {
  var box = document.getElementById("popover");
  PX.clear(box);
  box.appendChild(PX.h("strong", { text: title }));
  (lines || []).forEach(function (line) {
    if (line) box.appendChild(PX.h("p", null, PX.linkify(line)));
  });
  box.appendChild(PX.h("button", { type: "button", class: "link popover-close", text: "OK",
    onclick: function () { box.hidden = true; if (anchor) anchor.focus(); } }));
  box.hidden = false;
  var rect = anchor ? anchor.getBoundingClientRect() : { left: 16, bottom: 60 };
  var width = Math.min(420, window.innerWidth - 16);
  box.style.width = width + "px";
  box.style.left = Math.max(8, Math.min(rect.left, window.innerWidth - width - 8)) + "px";
  box.style.top = (rect.bottom + 6) + "px";
  box.querySelector(".popover-close").focus();
};
