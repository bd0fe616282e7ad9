// SupportNet's only script: progressive enhancements. Every page works without it.
(function () {
  "use strict";

  // Quick exit, as domestic-abuse support sites do it: hide the page at once, sign out, forget what this site
  // keeps in the browser, open a neutral site in a new tab (which has no Back history) and replace this page
  // with it too. Browser history cannot be wiped from a page: the privacy page says so and explains how.
  function quickExit(event) {
    var link = document.getElementById("quick-exit");
    if (!link) return;
    if (event) event.preventDefault();
    var url = link.getAttribute("data-exit-url");
    document.body.style.display = "none";
    document.title = "";
    var signOut = link.getAttribute("data-sign-out");
    var token = document.querySelector('meta[name="csrf-token"]');
    if (signOut && token && navigator.sendBeacon) {
      var form = new FormData();
      form.append("csrf_token", token.getAttribute("content"));
      navigator.sendBeacon(signOut, form);
    }
    try { window.sessionStorage.clear(); window.localStorage.clear(); } catch (e) { /* storage may be off */ }
    document.cookie = "supportnet_tz=; path=/; max-age=0; SameSite=Lax";
    try { window.open(url, "_blank", "noopener"); } catch (e) { /* a blocked pop-up must not stop the exit */ }
    window.location.replace(url);
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

  // Visitors who are not signed in see times in their own timezone: the browser says which, once, in a cookie
  // (nothing else is in it), and the page is shown again with it. Without this, pages show each meeting's own time.
  function rememberVisitorZone() {
    var body = document.body;
    if (!body || !body.hasAttribute("data-visitor-zone") || !window.Intl) return;
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone || !/^[A-Za-z0-9_+\/-]+$/.test(zone) || zone === body.getAttribute("data-visitor-zone")) return;
    document.cookie = "supportnet_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    var asked = "supportnet_tz_reloaded";
    var stored = document.cookie.indexOf("supportnet_tz=" + zone) !== -1;
    // Only pages that show meeting times are shown again (never a form being filled in), and once per tab at
    // most: a zone the server does not know must not make the page reload forever.
    if (stored && body.hasAttribute("data-shows-times") && window.sessionStorage && !sessionStorage.getItem(asked)) {
      sessionStorage.setItem(asked, "1");
      window.location.reload();
    }
  }

  // Forms show only the controls that apply to the choice made (e.g. weekdays for a weekly meeting). Every
  // control is in the page and works without this script; hidden ones are still sent and simply not used.
  function showWhatApplies(form) {
    form.querySelectorAll("[data-show-when]").forEach(function (block) {
      var rule = block.getAttribute("data-show-when").split("=");
      var checked = form.querySelector('input[name="' + rule[0] + '"]:checked');
      var values = rule[1].split(",");
      block.hidden = !checked || values.indexOf(checked.value) === -1;
    });
  }

  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.querySelector("[data-show-when]")) showWhatApplies(form);
  });

  document.addEventListener("DOMContentLoaded", function () {
    rememberVisitorZone();
    document.querySelectorAll("form").forEach(function (form) {
      if (form.querySelector("[data-show-when]")) showWhatApplies(form);
    });
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
