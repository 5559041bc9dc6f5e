// The query box's text as items (chips), and the words a click on a tag adds.
// This only splits text for display; the daemon parses the query.
"use strict";
window.PX = window.PX || {};

PX.query = (function () {
  var LEGACY_ITEM = /^\|?!?(tags\.|tags1:|m;|[A-Za-z_][A-Za-z0-9_]*;)/;
  var LEGACY_BARE = /^(\|!?|!)[A-Za-z_][A-Za-z0-9_]*$/;

  // Split on a separator outside double quotes (a backslash escapes inside them).
  function splitOutsideQuotes(text, isSeparator) {
    var parts = [];
    var current = "";
    var quoted = false;
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (quoted && c === "\\" && i + 1 < text.length) {
        current += c + text[++i];
        continue;
      }
      if (c === '"') quoted = !quoted;
      if (!quoted && isSeparator(c)) {
        parts.push(current);
        current = "";
      } else {
        current += c;
      }
    }
    parts.push(current);
    return parts;
  }

  function isLegacy(text) {
    return splitOutsideQuotes(text, function (c) { return c === ","; }).some(function (item) {
      item = item.trim();
      return LEGACY_ITEM.test(item) || LEGACY_BARE.test(item);
    });
  }

  // Top-level items of a booru query: words, quoted words, (groups), and "a or b".
  function booruItems(text) {
    var words = splitOutsideQuotes(text, function (c) { return /\s/.test(c); })
      .filter(function (w) { return w.length > 0; });
    var items = [];
    var depth = 0;
    var current = [];
    words.forEach(function (word) {
      var lead = /^[-~]*(\(*)/.exec(word)[1].length;
      var rest = word.replace(/^[-~]*\(*/, "");
      var balance = 0;
      var closes = 0;
      for (var i = 0; i < rest.length; i++) {
        if (rest[i] === "(") balance++;
        else if (rest[i] === ")") { if (balance > 0) balance--; else closes++; }
      }
      depth += lead;
      current.push(word);
      depth = Math.max(0, depth - closes);
      if (depth === 0) {
        items.push(current.join(" "));
        current = [];
      }
    });
    if (current.length) items.push(current.join(" "));
    // "a or b" is one item: the OR binds its neighbours.
    var merged = [];
    for (var j = 0; j < items.length; j++) {
      var word = items[j].toLowerCase();
      if ((word === "or") && merged.length && j + 1 < items.length) {
        merged[merged.length - 1] += " " + items[j] + " " + items[++j];
      } else {
        merged.push(items[j]);
      }
    }
    return merged;
  }

  function items(text) {
    text = text || "";
    if (isLegacy(text)) {
      return splitOutsideQuotes(text, function (c) { return c === ","; })
        .map(function (s) { return s.trim(); })
        .filter(function (s) { return s.length > 0; });
    }
    return booruItems(text);
  }

  function join(list, legacy) {
    return list.join(legacy ? "," : " ");
  }

  function without(text, index) {
    var list = items(text);
    list.splice(index, 1);
    return join(list, isLegacy(text));
  }

  function quoteTag(name) {
    var bare = /^[^\s"~\-(:][^\s":]*$/.test(name) && !/^(or|and)$/i.test(name) &&
      name.split("(").length === name.split(")").length;
    return bare ? name : '"' + name.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  // The query with a tag added (or excluded), in the query's own syntax.
  function withTag(text, tag, exclude) {
    text = (text || "").trim();
    var legacy = isLegacy(text);
    var term;
    if (legacy) {
      term = (exclude ? "!" : "") + (tag.kind === "model" ? "tags." : "tags1:") + tag.name;
    } else {
      term = (exclude ? "-" : "") + quoteTag(tag.name);
    }
    var list = items(text);
    var opposite = legacy
      ? (exclude ? term.slice(1) : "!" + term)
      : (exclude ? term.slice(1) : "-" + term);
    list = list.filter(function (item) { return item !== term && item !== opposite; });
    list.push(term);
    return join(list, legacy);
  }

  // The word under the caret, for autocomplete: {start, end, word without its
  // prefix, field: "tag" or "user"}. After user: (artist:), an artist's name,
  // which may have begun with a double quote.
  function wordAt(text, caret) {
    var start = caret;
    while (start > 0 && !/[\s,]/.test(text[start - 1])) start--;
    var end = caret;
    while (end < text.length && !/[\s,]/.test(text[end])) end++;
    var word = text.slice(start, end);
    var user = /^-?(user|artist|username|user_name):"?/i.exec(word);
    if (user) {
      if (/"$/.test(word) && word.length > user[0].length) return null;
      return { start: start + user[0].length, end: end, word: word.slice(user[0].length),
               field: "user", quote: user[0].slice(-1) !== '"' };
    }
    var prefix = /^(\|?!?(tags\.|tags1:)|[-~(]*(tag:|model:|src:)?)/.exec(word)[0];
    if (word.indexOf('"') >= 0 || /^[A-Za-z_]+:[<>=!.]/.test(word.slice(prefix.length))) {
      return null;
    }
    return { start: start + prefix.length, end: end, word: word.slice(prefix.length),
             field: "tag" };
  }

  // The query's order: (or sort:) items, by index: a sort written in the query
  // beats the sort menu, so the page shows which one is in force.
  function orderIndex(text) {
    if (isLegacy(text || "")) return -1;
    return items(text).findIndex(function (item) { return /^(order|sort):/i.test(item); });
  }

  function withoutOrder(text) {
    var index = orderIndex(text);
    return index < 0 ? text : without(text, index);
  }

  // dupes:ID in the query: the near-duplicates of one image.
  function dupesOf(text) {
    var found = items(text || "").filter(function (item) {
      return /^(dupes|duplicates):[0-9a-f]{8,64}$/i.test(item);
    });
    return found.length ? found[0].split(":")[1] : "";
  }

  return {
    items: items, without: without, isLegacy: isLegacy, withTag: withTag,
    quoteTag: quoteTag, wordAt: wordAt, orderIndex: orderIndex, withoutOrder: withoutOrder,
    dupesOf: dupesOf, join: join,
  };
})();
