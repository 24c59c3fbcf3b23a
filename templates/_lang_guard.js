(function languageGuard() {
  "use strict";
  // The language toggle loads the page again in the other language. The report
  // form comes back with everything kept (report.js); any other form being
  // filled in would lose what was given (outside tester: a contractor's
  // completion with photos, an officer's 帮办), so the toggle asks first.
  var toggle = document.querySelector("header .lang");
  if (!toggle) return;
  var ask = {{ _("Switching the language empties this form: what you typed and the photos you chose would be lost. Switch anyway?")|tojson }};

  function given(form) {
    var fields = form.elements;
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      var type = (field.type || "").toLowerCase();
      if (type === "hidden" || type === "submit" || type === "button") continue;
      if (type === "file") { if (field.files && field.files.length) return true; continue; }
      if (type === "radio" || type === "checkbox") { if (field.checked !== field.defaultChecked) return true; continue; }
      if (field.tagName === "SELECT") {
        // Without a selected attribute the first option is the default.
        var first = 0;
        for (var j = 0; j < field.options.length; j++) {
          if (field.options[j].defaultSelected) { first = j; break; }
        }
        if (field.selectedIndex !== first) return true;
        continue;
      }
      if ("defaultValue" in field && field.value !== field.defaultValue) return true;
    }
    return false;
  }

  toggle.addEventListener("click", function (event) {
    if (event.defaultPrevented) return;  // the report form switches with all kept
    var forms = document.querySelectorAll("main form");
    for (var i = 0; i < forms.length; i++) {
      var form = forms[i];
      if ((form.getAttribute("method") || "get").toLowerCase() !== "post") continue;  // a search
      if (form.hasAttribute("data-relabel")) continue;
      if (given(form)) {
        if (!window.confirm(ask)) event.preventDefault();
        return;
      }
    }
  });
})();
