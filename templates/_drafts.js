(function drafts() {
  "use strict";
  // A form marked data-draft keeps what was typed in it in this tab
  // (sessionStorage) until it is sent: the page loaded again (the language
  // toggle, the contractor's "I am on site" above a completion being typed, a
  // reload) gives it back. Outside testers lost an officer's 帮办 to the toggle
  // and a contractor's repair record to the arrival. Photos cannot be kept
  // this way: the language guard still asks before they would be lost.
  var store;
  try {
    store = window.sessionStorage;
    store.setItem("repairdesk-probe", "1");
    store.removeItem("repairdesk-probe");
  } catch (error) {
    return;  // storage refused (private mode): the guard still asks
  }
  var PREFIX = "repairdesk-draft:";
  var SKIPPED = ["hidden", "file", "password", "submit", "button", "reset", "image"];

  if (document.querySelector("[data-forget-drafts]")) {
    // Signed out (the login page): nothing typed stays behind in the tab.
    for (var k = store.length - 1; k >= 0; k--) {
      var name = store.key(k);
      if (name && name.indexOf(PREFIX) === 0) store.removeItem(name);
    }
    return;
  }

  function keyOf(form) {
    return PREFIX + location.pathname + "#" + form.id;
  }

  function fieldsOf(form, name) {
    var found = [];
    for (var i = 0; i < form.elements.length; i++) {
      var field = form.elements[i];
      if (!field.name || (name && field.name !== name)) continue;
      if (field.tagName === "BUTTON" || field.tagName === "FIELDSET") continue;
      if (SKIPPED.indexOf((field.type || "").toLowerCase()) >= 0) continue;
      if (field.hasAttribute("data-no-draft")) continue;
      found.push(field);
    }
    return found;
  }

  function ticks(field) {
    var type = (field.type || "").toLowerCase();
    return type === "radio" || type === "checkbox";
  }

  function save(form) {
    var values = {};
    fieldsOf(form).forEach(function (field) {
      var value = ticks(field) ? (field.checked ? field.value : null) : field.value;
      (values[field.name] = values[field.name] || []).push(value);
    });
    try {
      store.setItem(keyOf(form), JSON.stringify(values));
    } catch (error) { /* full: the guard still asks */ }
  }

  function restore(form) {
    var saved;
    try {
      saved = JSON.parse(store.getItem(keyOf(form)) || "null");
    } catch (error) {
      saved = null;
    }
    if (!saved) return;
    // Repeated lines (materials) are added as the form's own button adds them;
    // the focus and the scroll stay where the page put them.
    var grow = form.querySelector("[data-draft-grow]");
    var active = document.activeElement, x = window.scrollX, y = window.scrollY;
    Object.keys(saved).forEach(function (name) {
      var values = saved[name] || [];
      var fields = fieldsOf(form, name);
      for (var tries = 0; grow && !grow.hidden && fields.length < values.length && tries < 50; tries++) {
        grow.click();
        fields = fieldsOf(form, name);
      }
      fields.forEach(function (field, index) {
        if (index >= values.length) return;
        if (ticks(field)) {
          field.checked = values[index] !== null;
        } else if (values[index] !== null && field.value !== values[index]) {
          field.value = values[index];
        }
      });
    });
    if (document.activeElement !== active) {
      if (active && active !== document.body && active.focus) active.focus();
      else if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
      window.scrollTo(x, y);
    }
    var changed = fieldsOf(form)[0];
    if (changed) {
      // Totals, counters and dependent parts of the page follow the values.
      changed.dispatchEvent(new Event("input", { bubbles: true }));
      changed.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function draftForm(target) {
    var form = target && target.form ? target.form : null;
    return form && form.id && form.hasAttribute("data-draft") ? form : null;
  }

  document.querySelectorAll("form[data-draft][id]").forEach(restore);
  ["input", "change"].forEach(function (kind) {
    document.addEventListener(kind, function (event) {
      var form = draftForm(event.target);
      if (form) save(form);
    }, true);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.id && form.hasAttribute("data-draft")) {
      var submitter = event.submitter;
      if (submitter && submitter.hasAttribute("formnovalidate")) return;  // add a line
      store.removeItem(keyOf(form));
    }
  }, true);
})();
