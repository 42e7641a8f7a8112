"""首页: the functions as tiles, and the 大字 (large text) switch."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, make_response, redirect, request

from sbweb import identity, typed
from sbweb.htmx import htmx, render_step
from sbweb.templating import TEXT_SIZE_COOKIE

bp = Blueprint("home", __name__)

# Only functions that work are shown; later journeys add themselves here.
TILES = [
    {"endpoint": "selfpay.enrollments", "label": "我为自己缴", "icon": "wallet", "hint": "缴纳本人的养老、医疗保险费"},
    {"endpoint": "proxy.index", "label": "我帮他人缴", "icon": "wallet", "hint": "为家人代缴，一次支付多人"},
    {"endpoint": "declare.index", "label": "缴费申报", "icon": "check", "hint": "选择缴费档次、缴费基数并缴费"},
    {"endpoint": "records.index", "label": "缴费记录", "icon": "list", "hint": "查看缴费结果与票证号码"},
    {"endpoint": "certificates.index", "label": "证明开具", "icon": "check", "hint": "缴费凭证、缴费证明、完税证明"},
    {"endpoint": "bank.index", "label": "银行缴费协议", "icon": "wallet", "hint": "报告本人账户，签约自动扣缴"},
    {"endpoint": "refunds.index", "label": "退费申请", "icon": "list", "hint": "正常缴费、特殊缴费退费"},
    {"endpoint": "queries.index", "label": "涉费查询", "icon": "clock", "hint": "申报、选档记录、已缴费（含代缴）查询"},
]


@bp.get("/")
def index():
    return render_step("home/index.html", tiles=TILES)


@bp.post("/prefs/text-size")
def text_size():
    """长辈版 (大字) on or off, remembered for a year. With JavaScript the page switches where it
    is (204). Without, the page comes back (303); when the switch brought the page's form along
    (its fields posted here, the switch's own in the address) the form shows what was typed."""
    brought = "next" in request.args
    switch = request.args if brought else request.form
    large = switch.get("size") == "large"
    target = identity.safe_next(switch.get("next"), "/")
    response = make_response("", 204) if htmx else redirect(target, 303)
    if brought and not htmx:
        typed.keep(response, urlsplit(target).path, request.form)
    response.set_cookie(
        TEXT_SIZE_COOKIE,
        "large" if large else "normal",
        max_age=365 * 86400,
        samesite="Lax",
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response
