/* sbweb sandbox, 银联 cashier (templates/sandbox/unionpay_return.html): UnionPay sends the payer
   back to the merchant's frontUrl by a form post; this posts it once the page has loaded, as
   UnionPay's page does. Without JavaScript the 返回商户 button posts it. */
(function () {
  "use strict";
  function go() {
    var form = document.querySelector("form[data-up-return]");
    if (!form || form.dataset.sent) return;
    form.dataset.sent = "1";
    var status = form.querySelector("[data-up-return-status]");
    if (status) status.textContent = "正在返回商户…";
    form.submit();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
  else go();
})();
