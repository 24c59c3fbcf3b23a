(function () {
  "use strict";
  // The browser asks for the location only once the contractor has read the
  // consent text and ticked the box; unticking forgets the position.
  var box = document.getElementById("location-consent-box");
  var lat = document.getElementById("latitude");
  var lng = document.getElementById("longitude");
  var status = document.getElementById("location-status");
  if (!box || !lat || !lng) return;
  var texts = {
    asking: {{ _("Asking the browser for the location…")|tojson }},
    got: {{ _("Location recorded with the arrival.")|tojson }},
    failed: {{ _("No location: you can still arrive.")|tojson }}
  };
  box.addEventListener("change", function () {
    lat.value = ""; lng.value = ""; status.textContent = "";
    if (!box.checked) return;
    if (!navigator.geolocation) { status.textContent = texts.failed; return; }
    status.textContent = texts.asking;
    navigator.geolocation.getCurrentPosition(function (position) {
      if (!box.checked) return;
      lat.value = position.coords.latitude.toFixed(6);
      lng.value = position.coords.longitude.toFixed(6);
      status.textContent = texts.got;
    }, function () { status.textContent = texts.failed; }, { enableHighAccuracy: true, timeout: 15000 });
  });
})();
