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

  // RSVP buttons answer in place: the server sends back the updated RSVP box (the forms work without this).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("rsvp-form") || !window.fetch) return;
    event.preventDefault();
    var box = form.closest(".rsvp");
    var buttons = box ? box.querySelectorAll("button") : [];
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin"
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("text/html") === -1) throw new Error("unexpected answer");
      return response.text();
    }).then(function (html) {
      if (!box) return;
      var holder = document.createElement("div");
      holder.innerHTML = html.trim();
      var fresh = holder.firstElementChild;
      if (fresh && fresh.classList.contains("rsvp")) {
        box.replaceWith(fresh);
        var state = fresh.querySelector(".rsvp-state, .error");
        if (state) { state.setAttribute("tabindex", "-1"); state.focus(); }
      } else {
        form.submit();
      }
    }).catch(function () {
      form.submit();  // fall back to the plain form post
    });
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

    // Recovery codes: "Copy" puts the text of the element named by data-copy on the clipboard; "Print" prints.
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source || !navigator.clipboard) return;
        var text = Array.prototype.map.call(source.querySelectorAll("code"), function (c) {
          return c.textContent;
        }).join("\n");
        navigator.clipboard.writeText(text).then(function () { button.textContent = "Copied"; });
      });
    });
    document.querySelectorAll("button[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  });
})();
