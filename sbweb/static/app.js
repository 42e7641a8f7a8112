/* sbweb: the little script the pages need. Everything works without it; it only moves focus
   after HTMX swaps, says where the resident is, and stops a double tap on 去支付. */
(function () {
  "use strict";
  var lastHeading = null;

  function focusMain() {
    var main = document.getElementById("main");
    if (!main) return;
    var summary = main.querySelector("[data-error-summary]");
    var heading = main.querySelector("h1");
    var text = heading ? heading.textContent.trim() : "";
    if (summary) {
      summary.focus();
    } else if (heading && text !== lastHeading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
    if (text !== lastHeading) {
      var status = document.getElementById("status");
      if (status) status.textContent = text;
    }
    lastHeading = text;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var heading = document.querySelector("#main h1");
    lastHeading = heading ? heading.textContent.trim() : null;
    var summary = document.querySelector("#main [data-error-summary]");
    if (summary) summary.focus();
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target && event.detail.target.id === "main") focusMain();
  });

  document.addEventListener("htmx:sendError", function () {
    var status = document.getElementById("status");
    if (status) status.textContent = "网络异常，请检查网络后重试";
  });

  /* One tap is one submit: the server is idempotent anyway, this spares the wait. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("[data-textsize]")) {
      form.querySelector("input[name=next]").value = location.pathname + location.search;
    }
    var once = form.querySelector("[data-once]");
    if (once) {
      if (once.dataset.busy) { event.preventDefault(); return; }
      once.dataset.busy = "1";
      once.setAttribute("aria-disabled", "true");
      setTimeout(function () { delete once.dataset.busy; once.removeAttribute("aria-disabled"); }, 5000);
    }
  }, true);
})();
