"""首页: the functions as tiles, and the 大字 (large text) switch."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, make_response, redirect, request
from markupsafe import Markup
from werkzeug.local import LocalProxy

from sbweb import identity, typed
from sbweb.clock import SHANGHAI
from sbweb.htmx import htmx, render_step
from sbweb.id_numbers import mask, mask_name
from sbweb.money import fen_display, rmb_upper
from sbweb.services import tax_offices
from sbweb.services.standards import percent

bp = Blueprint("home", __name__)

TEXT_SIZE_COOKIE = "sbweb_text"
HELP_CONTACT = "sbweb.help_contact"  # (person id, Contact) of the request, on its environ

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


def shanghai_time(value) -> str:
    return "" if value is None else value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def number_groups(value) -> Markup:
    """A long number (票证号码, 订单号) that moves whole to a line of its own and, only where it is
    wider than the line (长辈版 on a 320 px phone), breaks between its groups of six characters,
    never inside one: <wbr> between them, so a copy is still the number alone."""
    text = str(value)
    groups = Markup("<wbr>").join(text[at : at + 6] for at in range(0, len(text), 6))
    return Markup('<span class="number">{}</span>').format(groups)


def register_context(app):
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["shanghai"] = shanghai_time
    app.jinja_env.filters["yuan"] = fen_display
    app.jinja_env.filters["rmb_upper"] = rmb_upper
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["mask"] = mask
    app.jinja_env.filters["mask_name"] = mask_name
    app.jinja_env.filters["number_groups"] = number_groups

    @app.after_request
    def every_response(response):
        if response.mimetype == "text/html":
            # Pages carry payment states and personal data: never from a cache (Back included,
            # so a paid order's cashier is fetched again and refuses), never kept on a shared phone.
            response.headers["Cache-Control"] = "no-store"
        return response

    def _help_contact():
        # A LocalProxy looks again at each use ({{ help_contact.name }}, .phone, …): keep the
        # answer on the request (not on `g`: the sandbox's in-process requests share it), keyed by
        # the person, who may change within a request (signing in).
        wanted = identity.person_id()
        kept = request.environ.get(HELP_CONTACT)
        if kept is None or kept[0] != wanted:
            kept = request.environ[HELP_CONTACT] = (
                wanted,
                tax_offices.contact_for(wanted, current_app.config["DEFAULT_TAX_OFFICE"]),
            )
        return kept[1]

    @app.context_processor
    def layout_context():
        return {
            "person": LocalProxy(identity.current_person),
            "identity_level": identity.level(),
            "large_text": request.cookies.get(TEXT_SIZE_COOKIE) == "large",
            # The footer's 当地税务部门: asked only by a page that shows it, once per request.
            "help_contact": LocalProxy(_help_contact),
        }
