// orch dashboard: live updates, and nothing else. Every few seconds the
// page's own URL is fetched again and its <main> replaced, unless the user
// is typing in a form. The pages work without this script.
(function () {
  "use strict";
  var EVERY_MS = 5000;
  var badge = document.getElementById("live");
  function busy() {
    var el = document.activeElement;
    return el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA");
  }
  function refresh() {
    if (busy() || document.hidden) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main && !busy()) { main.replaceWith(fresh); }
        if (badge) { badge.textContent = "live " + new Date().toLocaleTimeString(); badge.className = "live"; }
      })
      .catch(function () { if (badge) { badge.textContent = "not updating"; badge.className = "live stale"; } });
  }
  setInterval(refresh, EVERY_MS);
}());
