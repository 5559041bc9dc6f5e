// Autocomplete for the query box: the word under the caret, completed from
// /api/suggest (tags that start with it, then tags that hold it: "miku" finds
// hatsune_miku; after user:, artists' names), most used first. Arrows move;
// Enter takes the highlighted one, Tab the highlighted one or else the first.
"use strict";
window.PX = window.PX || {};

PX.suggest = (function () {
  var h = PX.h;
  var input, box;
  var suggest = { list: [], active: -1, timer: null, word: null, asked: 0 };

  function hideList() {
    box.hidden = true;
    input.setAttribute("aria-expanded", "false");
    suggest.list = [];
    suggest.active = -1;
  }

  function closeSuggestions() {
    window.clearTimeout(suggest.timer);
    suggest.asked++;  // an answer still on its way is not shown
    hideList();
  }

  function showSuggestions(found, word) {
    PX.clear(box);
    suggest.list = found;
    suggest.word = word;
    suggest.active = -1;
    if (!found.length) { closeSuggestions(); return; }
    found.forEach(function (tag, index) {
      box.appendChild(h("li", { role: "option", id: "suggestion-" + index,
        onmousedown: function (event) { event.preventDefault(); accept(index); } },
        h("span", { text: tag.name }), h("span", { class: "muted", text: PX.formatCount(tag.count) })));
    });
    box.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function markActive() {
    Array.prototype.forEach.call(box.children, function (li, index) {
      li.classList.toggle("active", index === suggest.active);
      li.setAttribute("aria-selected", String(index === suggest.active));
    });
  }

  function accept(index) {
    var tag = suggest.list[index];
    var word = suggest.word;
    if (!tag || !word) return;
    var text;
    if (word.field === "user") {
      text = word.quote && /^[^\s"()]+$/.test(tag.name) ? tag.name
        : (word.quote ? '"' : "") + tag.name.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
    } else {
      text = PX.query.isLegacy(input.value) ? tag.name : PX.query.quoteTag(tag.name);
    }
    var value = input.value.slice(0, word.start) + text + input.value.slice(word.end);
    var caret = word.start + text.length;
    if (value[caret] !== " ") { value = value.slice(0, caret) + " " + value.slice(caret); }
    input.value = value;
    input.setSelectionRange(caret + 1, caret + 1);
    closeSuggestions();
  }

  function onQueryInput() {
    window.clearTimeout(suggest.timer);
    // The list shown was for the word as it was: Tab must not put it in place of
    // what was typed since. The answer for the word as it is now shows a new one.
    hideList();
    var word = PX.query.wordAt(input.value, input.selectionStart || 0);
    if (!word || (!word.word && word.field !== "user")) { closeSuggestions(); return; }
    var value = input.value;
    var asked = ++suggest.asked;
    suggest.timer = window.setTimeout(function () {
      PX.api.get("/api/suggest?" + new URLSearchParams({ word: word.word, field: word.field,
                                                         limit: "10" }).toString())
        .then(function (found) {
          if (asked === suggest.asked && document.activeElement === input && input.value === value) {
            showSuggestions(found, word);
          }
        }, closeSuggestions);
    }, 120);
  }

  function onQueryKey(event) {
    var open = !box.hidden && suggest.list.length;
    if (!open) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var n = suggest.list.length;
      if (suggest.active < 0) suggest.active = event.key === "ArrowDown" ? 0 : n - 1;
      else suggest.active = (suggest.active + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      markActive();
    } else if (event.key === "Enter" && suggest.active >= 0) {
      event.preventDefault();
      accept(suggest.active);
    } else if (event.key === "Tab" && !event.shiftKey) {
      // Tab completes: the highlighted suggestion, or else the first one.
      event.preventDefault();
      accept(suggest.active >= 0 ? suggest.active : 0);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closeSuggestions();
    }
  }

  return {
    init: function (queryInput, list) {
      input = queryInput;
      box = list;
      input.addEventListener("input", onQueryInput);
      input.addEventListener("keydown", onQueryKey);
      input.addEventListener("blur", function () { window.setTimeout(closeSuggestions, 100); });
    },
    close: closeSuggestions,
  };
})();
