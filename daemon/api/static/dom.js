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
