function setupMaterials() {
  "use strict";
  // Material lines added and removed in the page, and the total worked out as the
  // contractor types: in whole fen, rounded half up as the server does.
  var lines = document.getElementById("material-lines");
  var template = document.getElementById("line-template");
  var total = document.getElementById("total");
  if (!lines || !template || !total) return;
  var form = lines.closest("form");
  var maxLines = parseInt(total.getAttribute("data-max-lines"), 10) || 20;
  var addButton = document.getElementById("add-line");
  var parts = {{ _("materials ¥%(materials)s + labour ¥%(labour)s", materials="{materials}", labour="{labour}")|tojson }};

  function units(text, perUnit) {
    // "12.5" → 1250 (perUnit 100); full-width digits and "。" as on Chinese keyboards.
    var clean = (text || "").trim().replace(/[０-９]/g, function (d) {
      return String.fromCharCode(d.charCodeAt(0) - 0xFEE0);
    }).replace(/[．。，,]/g, ".").replace(/^¥/, "").trim();
    var match = /^(\d{1,12})(?:\.(\d{0,2}))?$/.exec(clean);
    if (!match) return null;
    var fraction = ((match[2] || "") + "00").slice(0, 2);
    return parseInt(match[1], 10) * perUnit + parseInt(fraction, 10) * perUnit / 100;
  }

  function yuan(fen) {
    var whole = Math.floor(fen / 100), part = fen % 100;
    return whole + "." + (part < 10 ? "0" : "") + part;
  }

  function recount() {
    var materials = 0;
    lines.querySelectorAll("[data-line]").forEach(function (line, index) {
      line.querySelector(".line-number").textContent = index + 1;
      line.querySelector("[data-remove]").value = index;
      var quantity = units(line.querySelector("[data-quantity]").value, 100);
      var price = units(line.querySelector("[data-price]").value, 100);
      var amount = line.querySelector("[data-amount]");
      if (quantity !== null && price !== null && quantity > 0) {
        var fen = Math.floor((quantity * price + 50) / 100);
        materials += fen;
        amount.textContent = "¥" + yuan(fen);
      } else {
        amount.textContent = "";
      }
    });
    var labour = units(document.getElementById("labour-cost").value || "0", 100) || 0;
    document.getElementById("total-cost").textContent = "¥" + yuan(materials + labour);
    document.getElementById("total-parts").textContent = parts
      .replace("{materials}", yuan(materials)).replace("{labour}", yuan(labour));
    if (addButton) addButton.hidden = lines.querySelectorAll("[data-line]").length >= maxLines;
  }

  var counter = 1000;
  function addLine() {
    var line = template.content.firstElementChild.cloneNode(true);
    counter += 1;
    line.querySelectorAll("input").forEach(function (input) {
      var id = input.id.replace(/-\d+$/, "-" + counter);
      var label = line.querySelector('label[for="' + input.id + '"]');
      input.id = id;
      if (label) label.setAttribute("for", id);
    });
    lines.appendChild(line);
    recount();
    line.querySelector("input").focus();
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    if (button.id === "add-line") {
      event.preventDefault();
      addLine();
    } else if (button.hasAttribute("data-remove")) {
      event.preventDefault();
      var line = button.closest("[data-line]");
      if (lines.querySelectorAll("[data-line]").length > 1) {
        line.remove();
      } else {
        line.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      }
      recount();
    }
  });
  form.addEventListener("input", recount);
  recount();
}
setupMaterials();
// The upload script puts a form that came back with messages in the page.
document.addEventListener("repairdesk:form-replaced", setupMaterials);
