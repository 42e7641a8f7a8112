/* sbweb: 同意授权 inside 云闪付 through its JS bridge (upsdk). Loaded by the layout only where the
   user agent says 云闪付. When the app offers upsdk, 同意授权 asks it for the user's authorization
   (upsdk.appletAuth) instead of leaving for the authorization page, and takes the code to our
   callback with the state the page carries; the server checks both. Without upsdk, or when the
   bridge fails, the link does what it does without JavaScript: the plain authorization page. */
(function () {
  "use strict";

  function bridge() {
    var up = window.upsdk;
    return up && typeof up.pluginReady === "function" && typeof up.appletAuth === "function" ? up : null;
  }

  function authorize(link) {
    var up = bridge();
    var data = JSON.parse(link.getAttribute("data-unionpay-bridge"));
    var plain = link.href;
    var status = document.querySelector("[data-unionpay-status]");
    if (status) status.textContent = "正在请求云闪付授权…";
    link.setAttribute("aria-disabled", "true");
    if (typeof up.config === "function") {
      up.config({ appId: data.appId, timestamp: data.timestamp, nonceStr: data.nonceStr, signature: data.signature, debug: false });
    }
    up.pluginReady(function () {
      up.appletAuth({
        success: function (result) {
          var code = result && result.code;
          if (!code) { window.location.href = plain; return; }
          window.location.href = data.callback + "?code=" + encodeURIComponent(code) + "&state=" + encodeURIComponent(data.state);
        },
        fail: function () { window.location.href = plain; }
      });
    });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-unionpay-bridge]");
    if (!link || !bridge() || link.getAttribute("aria-disabled") === "true") return;
    event.preventDefault();
    event.stopPropagation();
    authorize(link);
  }, true);
})();
