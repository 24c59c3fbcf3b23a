(function showFormErrors() {
  "use strict";
  // A form sent back with messages (a plain post: the rating, a note) opens the
  // page at its top; when the first message is out of sight, bring it into view,
  // or the resident may think what they sent was taken (outside tester).
  var first = document.querySelector("main #form-errors, main .field-error[role=alert]");
  if (first && first.getBoundingClientRect().top > window.innerHeight * 0.8) {
    first.scrollIntoView({ block: "center" });
  }
})();
