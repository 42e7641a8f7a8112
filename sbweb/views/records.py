"""缴费记录: what the payer paid — for themselves, and in a second tab for others (代缴) —
one line per paid item, newest first, filtered by 费款所属期 year and 险种, paged. Filters
and paging are plain GET links and forms; with HTMX only the results swap."""
from flask import Blueprint, request

from sbweb import auth
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


def filters() -> dict:
    insurance = request.args.get("insurance", "")
    return {"year": int_arg("year", None, 1990, 2100),
            "insurance": insurance if insurance in ("pension", "medical") else None}


@bp.get("/")
def index():
    payer = auth.person_id()
    tab = request.args.get("tab", "own")
    tab = tab if tab in TABS else "own"
    chosen = filters()
    # A manual lookup sees only what it paid in this session.
    mine_only = None if auth.is_verified() else auth.current_login().orders
    result = records.records_page(payer, others=tab == "proxy", page=int_arg("page", 1),
                                  order_nos=mine_only, **chosen)
    return render_step("records/index.html", result=result, tab=tab, tabs=TABS, chosen=chosen,
                       years=records.record_years(payer), verified=auth.is_verified())
