(function lengthCounters() {
  "use strict";
  // Long text fields carry data-max-chars instead of maxlength: a browser's
  // maxlength counts an emoji as two and cuts a long paste without a word. Here
  // the count is of characters as a person sees them, as the server counts them
  // (an emoji with its skin tone is one, a line break is one),
  // nothing is ever cut, and the writer sees how much room is left, or how much
  // to take out, as soon as it matters.
  var texts = {
    left: {{ _("{n} characters left")|tojson }},
    over: {{ _("{n} characters too many: please shorten it before sending")|tojson }}
  };
  var PAIR = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g;
  // As repair.forms.characters counts: what a person sees as one character
  // (👍🏻 is one), where the browser can tell; else each code point.
  var segmenter = window.Intl && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;
  var MARKS_PER_CHARACTER = 4;

  function count(value, max) {
    value = value.replace(/\r\n/g, "\n");
    var points = value.replace(PAIR, "_").length;
    if (!segmenter || points > max * MARKS_PER_CHARACTER) return points;
    var seen = 0, walk = segmenter.segment(value)[Symbol.iterator]();
    while (!walk.next().done) seen++;
    return seen;
  }

  function bind(field) {
    if (field.getAttribute("data-counted")) return;
    field.setAttribute("data-counted", "1");
    var max = parseInt(field.getAttribute("data-max-chars"), 10);
    var shown = document.createElement("p");
    shown.className = "char-count";
    shown.id = field.id + "-count";
    shown.setAttribute("aria-live", "polite");
    field.parentNode.insertBefore(shown, field.nextSibling);
    var described = field.getAttribute("aria-describedby");
    field.setAttribute("aria-describedby", (described ? described + " " : "") + shown.id);

    function update() {
      var used = count(field.value, max);
      var over = used > max;
      // Quiet until the last tenth, so a short report is not nagged.
      shown.hidden = !over && used < max * 0.9;
      shown.className = over ? "char-count field-error" : "char-count muted";
      shown.textContent = over ? texts.over.replace("{n}", used - max) : texts.left.replace("{n}", max - used);
    }
    field.addEventListener("input", update);
    update();
  }

  function bindAll() {
    Array.prototype.forEach.call(document.querySelectorAll("textarea[data-max-chars]"), bind);
  }
  bindAll();
  // A form sent back with messages replaces <main> (report.js).
  document.addEventListener("repairdesk:form-replaced", bindAll);
})();
