(function languageGuard() {
  "use strict";
  // The language toggle loads the page again in the other language. The report
  // form comes back with everything kept (report.js); any other form being
  // filled in would lose what was given (outside tester: a contractor's
  // completion with photos, an officer's 帮办), so the toggle asks first.
  var toggle = document.querySelector("header .lang");
  if (!toggle) return;
  var ask = {{ _("Switching the language empties this form: what you typed and the photos you chose would be lost. Switch anyway?")|tojson }};
  // A form that keeps its draft (_drafts.js) comes back with what was typed;
  // only the photos chosen in it would have to be chosen again.
  var askPhotos = {{ _("After switching the language, the photos you chose must be chosen again; what you typed is kept. Switch anyway?")|tojson }};

  function photosChosen(form) {
    var inputs = form.querySelectorAll("input[type=file]");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].files && inputs[i].files.length) return true;
    }
    return false;
  }

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
      if (form.hasAttribute("data-draft") && form.id) {
        if (photosChosen(form)) {
          if (!window.confirm(askPhotos)) event.preventDefault();
          return;
        }
        continue;
      }
      if (given(form)) {
        if (!window.confirm(ask)) event.preventDefault();
        return;
      }
    }
  });
})();
