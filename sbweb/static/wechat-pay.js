/* sbweb: 微信支付 inside WeChat. Hands the prepay on our page (orders/bridge.html) to WeChat's
   JS bridge, then goes to 支付中, which asks WeChat Pay how it went: the bridge's "ok" is not
   proof of payment. Without this script the page says what to do instead. */
(function () {
  "use strict";
  var OK = "get_brand_wcpay_request:ok", CANCEL = "get_brand_wcpay_request:cancel";

  function start(box) {
    if (box.dataset.started) return;
    box.dataset.started = "1";
    var params = JSON.parse(box.dataset.params);
    var status = box.querySelector("[data-wechat-pay-status]");
    // The button only makes sense with this script running: it is made here, not in the page.
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button primary";
    button.textContent = "确认支付";
    var pending = false;

    function say(text) { status.textContent = text; }

    function invoke() {
      if (pending) return;
      if (typeof window.WeixinJSBridge === "undefined") {
        say("未检测到微信：请在微信中打开本页面完成支付，或返回上一页选择其他缴款方式。");
        return;
      }
      pending = true;
      say("正在调起微信支付…");
      window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (result) {
        pending = false;
        var said = result && result.err_msg;
        if (said === OK) {
          say("付款完成，正在确认支付结果…");
          window.location.assign(box.dataset.done);
        } else if (said === CANCEL) {
          say("已取消支付。可点击“确认支付”重新支付。");
        } else {
          say("微信支付未完成，请稍后点击“确认支付”重试，或查看支付结果。");
        }
      });
    }

    var actions = box.querySelector("[data-wechat-pay-actions]");
    actions.insertBefore(button, actions.firstChild);
    button.addEventListener("click", invoke);
    if (typeof window.WeixinJSBridge === "undefined") {
      say("正在连接微信…");
      document.addEventListener("WeixinJSBridgeReady", invoke, { once: true });
      // Outside WeChat the bridge never comes: say so rather than wait for ever.
      setTimeout(function () { if (typeof window.WeixinJSBridge === "undefined") invoke(); }, 3000);
    } else {
      invoke();
    }
  }

  function look() {
    var box = document.querySelector("#main [data-wechat-pay]");
    if (box) start(box);
  }

  document.addEventListener("DOMContentLoaded", look);
  document.addEventListener("htmx:afterSettle", look);
})();
