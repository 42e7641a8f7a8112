"""缴费记录: what the payer paid — for themselves, and in a second tab for others (代缴) —
one line per paid item, newest first, filtered by 费款所属期 year and 险种, paged. Filters
and paging are plain GET links and forms; with HTMX only the results swap."""

from flask import Blueprint, request

from sbweb import identity
from sbweb.forms.records import TABS, RecordsFilterForm
from sbweb.htmx import render_step
from sbweb.services import records

bp = Blueprint("records", __name__, url_prefix="/records")


@bp.get("/")
def index():
    payer = identity.person_id()
    form = RecordsFilterForm(request.args)
    tab, chosen = form.tab.data, form.chosen()
    # A manual lookup sees only what it paid in this session.
    mine_only = None if identity.is_verified() else identity.current_login().orders
    result = records.records_page(payer, others=tab == "proxy", page=form.page.data, order_nos=mine_only, **chosen)
    return render_step(
        "records/index.html",
        result=result,
        tab=tab,
        tabs=TABS,
        chosen=chosen,
        years=records.record_years(payer),
        verified=identity.is_verified(),
    )
