// Refreshes the overview: fetches its fragment every few seconds and puts it in place, with
// no reload of the page. A file of its own: the Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  var region = document.getElementById("overview");
  if (!region) {
    return;
  }
  var url = region.getAttribute("data-refresh-url");
  var seconds = parseInt(region.getAttribute("data-refresh-seconds"), 10) || 15;
  var status = document.getElementById(region.getAttribute("data-status"));
  var busy = false;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function refresh() {
    if (busy) {
      return;
    }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) {
        // Signed out meanwhile (the session ended): the page itself goes to the sign-in.
        if (answer.redirected || answer.status === 401) {
          window.location.reload();
          return null;
        }
        if (!answer.ok) {
          throw new Error("HTTP " + answer.status);
        }
        return answer.text();
      })
      .then(function (html) {
        if (html !== null) {
          region.innerHTML = html;
          say("Refreshes itself every " + seconds + " s.");
        }
      })
      .catch(function () {
        say("Could not refresh; trying again in " + seconds + " s. The figures below may be old.");
      })
      .then(function () {
        busy = false;
      });
  }

  window.setInterval(refresh, seconds * 1000);
})();
