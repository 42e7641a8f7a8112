"""缴费记录: what the payer paid — for themselves, and in a second tab for others (代缴) —
one line per paid item, newest first, filtered by 费款所属期 year and 险种, paged. Filters
and paging are plain GET links and forms; with HTMX only the results swap."""

from flask import Blueprint, request

from sbweb import identity
from sbweb.clock import FIRST_DAY, LAST_DAY
from sbweb.htmx import render_step
from sbweb.services import records

bp = Blueprint("records", __name__, url_prefix="/records")

TABS = {"own": "本人缴费", "proxy": "代缴"}


def int_arg(name: str, default: int | None = None, low: int = 1, high: int = 10_000) -> int | None:
    """A number from the query string; anything else (abc, -1, huge) is the default."""
    value = request.args.get(name, "")
    if not (value.isascii() and value.isdigit() and len(value) <= 6):
        return default
    return int(value) if low <= int(value) <= high else default


def page_arg() -> int:
    """The page asked for, clamped: 0 (or not a number) is the first, and any page past the end
    — 2**63 too — the last (records_page clamps to the pages there are)."""
    value = request.args.get("page", "")
    if not (value.isascii() and value.isdigit()):
        return 1
    digits = value.lstrip("0")
    if not digits:
        return 1
    return int(digits) if len(digits) <= 6 else 10**6


def filters() -> dict:
    insurance = request.args.get("insurance", "")
    return {
        "year": int_arg("year", None, FIRST_DAY.year, LAST_DAY.year),
        "insurance": insurance if insurance in ("pension", "medical") else None,
    }


@bp.get("/")
def index():
    payer = identity.person_id()
    tab = request.args.get("tab", "own")
    tab = tab if tab in TABS else "own"
    chosen = filters()
    # A manual lookup sees only what it paid in this session.
    mine_only = None if identity.is_verified() else identity.current_login().orders
    result = records.records_page(payer, others=tab == "proxy", page=page_arg(), order_nos=mine_only, **chosen)
    return render_step(
        "records/index.html",
        result=result,
        tab=tab,
        tabs=TABS,
        chosen=chosen,
        years=records.record_years(payer),
        verified=identity.is_verified(),
    )
