"""What every template can use: the filters (times in Shanghai, 元, 人民币大写, masked ID numbers
and names, long numbers in groups) and the layout's context (the resident signed in, the 大字
switch, the footer's 当地税务部门). App-wide, so apart from any one journey's view."""

from flask import Flask, current_app, request
from markupsafe import Markup
from werkzeug.local import LocalProxy

from sbweb import identity
from sbweb.clock import SHANGHAI
from sbweb.id_numbers import mask, mask_name
from sbweb.money import fen_display, rmb_upper
from sbweb.services import tax_offices
from sbweb.services.standards import percent

TEXT_SIZE_COOKIE = "sbweb_text"  # 长辈版 (大字): set by the home page's switch, read by the layout
HELP_CONTACT = "sbweb.help_contact"  # (person id, Contact) of the request, on its environ


def shanghai_time(value) -> str:
    return "" if value is None else value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def number_groups(value) -> Markup:
    """A long number (票证号码, 订单号) that moves whole to a line of its own and, only where it is
    wider than the line (长辈版 on a 320 px phone), breaks between its groups of six characters,
    never inside one: <wbr> between them, so a copy is still the number alone."""
    text = str(value)
    groups = Markup("<wbr>").join(text[at : at + 6] for at in range(0, len(text), 6))
    return Markup('<span class="number">{}</span>').format(groups)


def _help_contact():
    # Kept on the request (not on `g`: the sandbox's in-process requests share it), keyed by the
    # person, who may change within a request (signing in).
    wanted = identity.person_id()
    kept = request.environ.get(HELP_CONTACT)
    if kept is None or kept[0] != wanted:
        kept = request.environ[HELP_CONTACT] = (
            wanted,
            tax_offices.contact_for(wanted, current_app.config["DEFAULT_TAX_OFFICE"]),
        )
    return kept[1]


class _OnFirstUse:
    """A value for one render, found on first use and kept for the rest of it: the footer reads
    the contact five times (.name, .phone twice, .hours twice), and a LocalProxy would look it up
    again at each. A page that does not show it never asks."""

    __slots__ = ("_find", "_value")

    def __init__(self, find):
        self._find, self._value = find, None

    def __getattr__(self, name):
        if self._value is None:
            self._value = self._find()
        return getattr(self._value, name)


def layout_context() -> dict:
    return {
        "person": LocalProxy(identity.current_person),
        "identity_level": identity.level(),
        "large_text": request.cookies.get(TEXT_SIZE_COOKIE) == "large",
        # Inside 云闪付 the layout loads static/unionpay-bridge.js (its JS bridge, upsdk).
        "in_unionpay": identity.detect_host(request.user_agent.string) == "unionpay",
        # The footer's 当地税务部门: asked only by a page that shows it, once per request.
        "help_contact": _OnFirstUse(_help_contact),
    }


def init_app(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["shanghai"] = shanghai_time
    app.jinja_env.filters["yuan"] = fen_display
    app.jinja_env.globals["host_label"] = identity.host_label  # 支付宝, 微信, 贵州税务 …
    app.jinja_env.filters["rmb_upper"] = rmb_upper
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["mask"] = mask
    app.jinja_env.filters["mask_name"] = mask_name
    app.jinja_env.filters["number_groups"] = number_groups
    app.context_processor(layout_context)
