(function autoRefresh() {
  "use strict";
  // Reloads the tracking page every minute while the repair is under way, but
  // never over what the resident is giving: a photo chosen, words typed, or a
  // form being sent would be lost by a reload. Those wait for the next minute.
  function note() { return document.getElementById("auto-refresh"); }
  var first = note();
  if (!first) return;
  var seconds = parseInt(first.getAttribute("data-seconds"), 10) || 60;
  var usual = first.textContent;
  var waiting = {{ _("This page will update itself once you have sent what you are adding.")|tojson }};
  first.hidden = false;

  function giving() {
    var fields = document.querySelectorAll("main input, main textarea");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === "file" && field.files && field.files.length) return true;
      if (field.tagName === "TEXTAREA" && field.value.trim()) return true;
      if ((field.type === "radio" || field.type === "checkbox") && field.checked !== field.defaultChecked) return true;
    }
    // Photos kept from a post that came back with a message, the message itself,
    // and a form on its way (its button is disabled while it uploads).
    var kept = document.querySelectorAll("main input[name=kept_photos]");
    for (var k = 0; k < kept.length; k++) if (kept[k].value) return true;
    return !!document.querySelector("main #form-errors, main .field-error, main form button[type=submit][disabled]");
  }

  window.setInterval(function () {
    var shown = note();  // a form sent back with messages replaces <main>
    if (!shown) return;
    shown.hidden = false;
    if (giving()) {
      shown.textContent = waiting;
    } else {
      shown.textContent = usual;
      window.location.reload();
    }
  }, seconds * 1000);
})();
