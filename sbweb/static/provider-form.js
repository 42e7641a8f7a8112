/* sbweb: a provider whose page is reached by a form post (UnionPay's 前台交易, orders/post_form.html):
   the signed form posts itself once the page has loaded — once per order in this tab, so that
   Back from the provider's page stays here (with the button) instead of going there again.
   Without this script the button posts it. */
(function () {
  "use strict";
  function go() {
    var form = document.querySelector("form[data-provider-form]");
    if (!form || form.dataset.sent) return;
    form.dataset.sent = "1";
    var order = form.elements.orderId ? form.elements.orderId.value : "";
    var key = "sbweb.posted." + order;
    try {
      if (window.sessionStorage.getItem(key)) return;
      window.sessionStorage.setItem(key, "1");
    } catch (e) { /* no storage (private mode): post each time */ }
    var status = form.querySelector("[data-provider-form-status]");
    if (status) status.textContent = "正在前往支付页面…";
    form.submit();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
  else go();
})();
