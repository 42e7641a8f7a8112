/* sbweb: the little script the pages need. Everything works without it; it moves focus after
   HTMX swaps and says what changed, switches 长辈版 in place, stops a double tap on 去支付, and
   reloads a page whose address Back/Forward changed before htmx was there to follow.
   Loaded before htmx and not deferred: the Back/Forward guard must be in place from the start. */
(function () {
  "use strict";

  /* -- Back/Forward before htmx has started -----------------------------------------------
     With no history cache, htmx reloads the page on Back (refreshOnHistoryMiss). A Forward
     pressed while that reload is still loading moves to an entry htmx pushed, and only the
     address changes: htmx follows popstate from DOMContentLoaded on, and the popstate may even
     come before this script has run. Until htmx is there, a page whose address is no longer
     the one it was loaded from is loaded again. */
  var htmxListening = false;
  function addressMoved() {
    var loaded = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    var here = location.href.split("#")[0];
    return history.state && history.state.htmx && loaded && loaded.name.split("#")[0] !== here;
  }
  window.addEventListener("popstate", function (event) {
    if (!htmxListening && event.state && event.state.htmx) location.reload();
  });
  document.addEventListener("DOMContentLoaded", function () {
    htmxListening = true;
    if (addressMoved()) location.reload();
  });

  /* -- Saying what changed ---------------------------------------------------------------- */
  function announce(text) {
    var status = document.getElementById("status");
    if (!status || !text) return;
    // Emptied first and filled a moment later: the same words twice are spoken twice.
    status.textContent = "";
    setTimeout(function () { status.textContent = text; }, 100);
  }

  function words(el) {
    return el ? el.textContent.replace(/\s+/g, " ").trim() : "";
  }

  function texts(root, selector) {
    return Array.prototype.map.call(root.querySelectorAll(selector), function (el) {
      return el.getAttribute("data-announce") || words(el);  // data-announce="…": say this instead
    }).filter(Boolean);
  }

  function focusOn(el) {
    if (!el.matches("a[href], button, input, select, textarea, [tabindex]")) el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: el.tagName === "H1" });
  }

  /* What the new content says about itself: the current tab or filter, the result count and
     the notices it carries ([data-announce]). */
  function news(root) {
    return texts(root, "[aria-current=page], [data-announce]");
  }

  function errorsIn(root) {
    var summary = root.querySelector("[data-error-summary]");
    if (!summary) return null;
    return { el: summary, text: "请修改以下内容（" + summary.querySelectorAll("li").length + " 项）" };
  }

  /* A whole step swapped into #main: the error summary if there is one, else the heading (or
     the control the pressed button named with aria-controls, e.g. 验证码 after 改用文字题). */
  function settleMain(main, submitter) {
    var heading = main.querySelector("h1");
    var errors = errorsIn(main);
    var controlled = submitter && submitter.getAttribute("aria-controls");
    var control = controlled && document.getElementById(controlled);
    var parts = [words(heading)];
    if (errors) {
      focusOn(errors.el);
      parts.push(errors.text);
    } else if (control) {
      focusOn(control);
      var label = control.labels && control.labels[0];
      parts.push("已更新：" + (label ? words(label) : ""),
                 texts(main, "#" + CSS.escape(controlled) + "-hint").join(""));
    } else {
      if (heading) focusOn(heading);
      parts = parts.concat(news(main));
    }
    announce(parts.filter(Boolean).join("，"));
  }

  /* A region of the page (缴费记录's results, the declare form, the live price): focus goes to
     it unless the resident is typing or choosing in a field that asked for it. A region that
     is a live region itself speaks for itself. */
  function settleRegion(region, trigger) {
    var errors = errorsIn(region);
    var editing = trigger && trigger.matches("input, select, textarea") && document.activeElement
      && document.activeElement !== document.body;
    if (errors) focusOn(errors.el);
    else if (!editing) focusOn(region);
    if (region.hasAttribute("aria-live")) return;
    var name = region.getAttribute("aria-label") || region.getAttribute("data-region") || "";
    announce("已更新：" + [name].concat(errors ? [errors.text] : news(region)).filter(Boolean).join("，"));
  }

  /* A poll answered with an error page (the order gone from this session, say): the page
     shows it, not the status line. */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.xhr.status >= 400 && elt && elt.matches("[data-poll]")) {
      event.detail.target = document.getElementById("main");
      event.detail.swapOverride = "innerHTML show:window:top";
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.target;
    var request = event.detail.requestConfig || {};
    var trigger = request.elt || null;
    var submitter = request.triggeringEvent ? request.triggeringEvent.submitter : null;
    // Nothing to say for 支付中's status line, the 大字 switch's token in the title bar, nor what
    // rides a fragment out of band to stay current ([data-quiet]: the footer's tax office).
    if (!target || !target.isConnected || target.closest("[data-poll], .titlebar, [data-quiet]")) return;
    if (target.id === "main") settleMain(target, submitter);
    else settleRegion(target, trigger);
  });

  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("#main [data-error-summary]");
    if (summary) summary.focus();
  });

  document.addEventListener("htmx:sendError", function () {
    announce("网络异常，请检查网络后重试");
  });

  /* -- 长辈版 (大字) in place --------------------------------------------------------------
     Without JavaScript the button posts (bringing the page's form along, so nothing typed is
     lost) and the page comes back; with it, the choice is posted in the background and the
     page changes where it is, focus staying on the button. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-textsize] button");
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    if (button.dataset.busy) return;
    var form = button.closest("[data-textsize]");
    var size = form.querySelector("input[name=size]");
    var body = new URLSearchParams();
    body.set("csrf_token", form.querySelector("input[name=csrf_token]").value);
    body.set("size", size.value);
    button.dataset.busy = "1";
    fetch(form.getAttribute("action"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "HX-Request": "true" },
    }).then(function (response) {
      if (!response.ok) { announce("操作未成功，请刷新页面后重试"); return; }
      var large = size.value === "large";
      document.documentElement.classList.toggle("large-text", large);
      button.setAttribute("aria-pressed", large ? "true" : "false");
      size.value = large ? "normal" : "large";
      announce(large ? "已开启长辈版" : "已关闭长辈版");
    }).catch(function () {
      announce("网络异常，请检查网络后重试");
    }).then(function () { delete button.dataset.busy; });
  }, true);

  /* One tap is one submit: the server is idempotent anyway, this spares the wait. */
  document.addEventListener("submit", function (event) {
    var once = event.target.querySelector("[data-once]");
    if (once) {
      if (once.dataset.busy) { event.preventDefault(); return; }
      once.dataset.busy = "1";
      once.setAttribute("aria-disabled", "true");
      setTimeout(function () { delete once.dataset.busy; once.removeAttribute("aria-disabled"); }, 5000);
    }
  }, true);
})();
