(function setup() {
  "use strict";
  var form = document.querySelector("form[data-upload]");
  if (!form || !window.FormData || !window.XMLHttpRequest || !window.DOMParser) return;
  // The server's display size: a photo sent at it (upright, as the canvas draws
  // it) keeps its pixels there, and only its metadata is dropped.
  var MAX_SIDE = 1600, QUALITY = 0.85;
  var inputs = form.querySelectorAll('input[type="file"]');
  var previews = document.getElementById("previews");
  var button = document.getElementById("submit");
  var bar = document.getElementById("progress");
  var barText = document.getElementById("progress-text");
  var texts = {
    resizing: {{ _("Preparing photos…")|tojson }},
    uploading: {{ _("Uploading… {pct}")|tojson }},
    sending: {{ _("Sending your report…")|tojson }},
    failed: {{ _("The upload failed. Check your connection and press Send again; your text is kept.")|tojson }}
  };

  function selectedFiles() {
    // Each file with the name of its field ("photos", or "before_photos" …).
    var files = [];
    inputs.forEach(function (input) {
      Array.prototype.forEach.call(input.files || [], function (f) {
        files.push({ field: input.name, file: f });
      });
    });
    return files;
  }

  function showPreviews() {
    previews.innerHTML = "";
    selectedFiles().forEach(function (item) {
      var file = item.file;
      var img = document.createElement("img");
      img.alt = file.name;
      img.width = 88; img.height = 88;
      img.src = URL.createObjectURL(file);
      img.onerror = function () { img.removeAttribute("src"); };
      previews.appendChild(img);
    });
  }
  inputs.forEach(function (input) { input.addEventListener("change", showPreviews); });

  function given(form) {
    // Whether the resident has given anything a plain page change would lose.
    var fields = form.querySelectorAll("input, textarea");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === "file" ? field.files && field.files.length
          : field.type === "radio" || field.type === "checkbox" ? field.checked
          : field.type !== "hidden" && field.value.trim()) return true;
    }
    var kept = form.querySelector("input[name=kept_photos]");
    return !!(kept && kept.value);
  }

  // The language toggle on a filled-in report sends the form to come back in
  // the other language with all of it kept (photos too); nothing is filed.
  var toggle = document.querySelector("header .lang");
  if (toggle && form.hasAttribute("data-relabel") && !toggle.getAttribute("data-relabel")) {
    toggle.setAttribute("data-relabel", "1");
    toggle.addEventListener("click", function (event) {
      // The form now on the page: one sent back with messages replaces the first.
      var current = document.querySelector("form[data-relabel]");
      var sending = current && current.querySelector("button[type=submit][disabled]");
      if (!current || sending || !given(current)) return;
      event.preventDefault();
      var flag = document.createElement("input");
      flag.type = "hidden"; flag.name = "relabel"; flag.value = "1";
      current.appendChild(flag);
      current.action = toggle.href;
      HTMLFormElement.prototype.submit.call(current);  // a plain post: no upload script
    });
  }

  function downscale(file) {
    // Phones take 12-megapixel photos; a weak network should not carry all of them.
    // HEIC too, where the browser can decode it (Safari); where it cannot, the
    // photo goes as it is and the server converts it in the background.
    var heic = /^image\/hei[cf]$/.test(file.type) || /\.hei[cf]$/i.test(file.name);
    if (!window.createImageBitmap || !(heic || /^image\/(jpeg|png|webp)$/.test(file.type))) {
      return Promise.resolve(file);
    }
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      if (scale === 1 && !heic && file.size < 1500000) return file;
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          resolve(blob ? new File([blob], file.name.replace(/\.\w+$/, "") + ".jpg", { type: "image/jpeg" }) : file);
        }, "image/jpeg", QUALITY);
      });
    }).catch(function () { return file; });
  }

  function progress(pct, text, failed) {
    bar.hidden = false; barText.hidden = false;
    bar.value = pct; barText.textContent = text;
    // A failure is said as an error, where the resident looks (outside tester:
    // the small grey line under the button was missed).
    barText.className = failed ? "field-error center" : "muted center";
    if (failed) barText.setAttribute("role", "alert"); else barText.removeAttribute("role");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    var chosen = selectedFiles();
    // Without a photo there is nothing to prepare or upload: say it is being sent.
    progress(0, chosen.length ? texts.resizing : texts.sending);
    Promise.all(chosen.map(function (item) { return downscale(item.file); })).then(function (files) {
      var data = new FormData(form);
      inputs.forEach(function (input) { data.delete(input.name); });
      files.forEach(function (file, i) { data.append(chosen[i].field, file, file.name); });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.setRequestHeader("X-Requested-With", "fetch");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          var pct = Math.round(100 * e.loaded / e.total);
          progress(pct, chosen.length ? texts.uploading.replace("{pct}", pct + "%") : texts.sending);
        }
      };
      xhr.onload = function () {
        var type = xhr.getResponseHeader("Content-Type") || "";
        if (xhr.status === 200 && type.indexOf("application/json") === 0) {
          window.location.assign(JSON.parse(xhr.responseText).redirect);
        } else if (type.indexOf("text/html") === 0) {
          // The form came back with messages: show them in this page (whose styles
          // the CSP nonce allows) and bind the new form again.
          var fresh = new DOMParser().parseFromString(xhr.responseText, "text/html");
          var main = fresh.querySelector("main");
          if (!main) { fail(); return; }
          document.querySelector("main").replaceWith(document.adoptNode(main));
          // its messages, or what the page says instead (a "not fixed" after
          // the repair was confirmed elsewhere: the note at the top)
          var errors = document.getElementById("form-errors") || document.querySelector("main [role=alert]");
          if (errors) errors.scrollIntoView();
          setup();
          document.dispatchEvent(new Event("repairdesk:form-replaced"));
        } else {
          fail();
        }
      };
      xhr.onerror = fail;
      xhr.send(data);
    });
  });

  function fail() {
    button.disabled = false;
    progress(0, texts.failed, true);
  }
})();
