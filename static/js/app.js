// SupportNet's only script: progressive enhancements. Every page works without it.
(function () {
  "use strict";

  // Quick exit: replace this page in the history with a neutral site, so Back does not return here.
  function quickExit(event) {
    var link = document.getElementById("quick-exit");
    if (!link) return;
    if (event) event.preventDefault();
    document.body.style.display = "none";
    window.location.replace(link.getAttribute("data-exit-url"));
  }

  var escapes = [];
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var now = Date.now();
    escapes = escapes.filter(function (t) { return now - t < 1500; });
    escapes.push(now);
    if (escapes.length >= 3) quickExit();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var exit = document.getElementById("quick-exit");
    if (exit) exit.addEventListener("click", quickExit);

    // Pre-fill timezone selects marked data-browser-zone with the browser's own zone, while they still
    // show the default (a form re-shown after an error keeps what the person chose).
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = null; }
    if (zone) {
      document.querySelectorAll("select[data-browser-zone]").forEach(function (select) {
        if (select.value !== "UTC") return;
        for (var i = 0; i < select.options.length; i++) {
          if (select.options[i].value === zone) { select.value = zone; break; }
        }
      });
    }
  });
})();
