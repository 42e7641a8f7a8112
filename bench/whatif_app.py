"""A what-if, for measuring only: sbweb with the dues-list changes suggested in bench/README.md
applied at run time, so that their effect can be measured end to end before anyone changes
the app.

    .venv/bin/python bench/fragment_bench.py --sbweb-app bench.whatif_app:app

It imports the real app (app.py) and changes, in this process only:

1. Identity from the signed session alone: `identity.current_person()` no longer loads the
   Person row on every request; it returns a stand-in carrying the session's person id that
   loads the row only if something asks for more than the id. (Safe for the dues page: its
   query is filtered on that person id anyway.)
2. The dues page (GET) reads enrollment + agency + open dues with ONE Core SELECT on a
   plain connection instead of three ORM queries plus a lazy load, into light row objects
   that reuse the models' own properties (payable, period_label, ...). POSTs go to the real
   view unchanged.
3. SESSION_REFRESH_EACH_REQUEST = False: the session cookie is not re-signed and re-sent on
   every response (see the README for a sliding-expiry variant that keeps the 30 minutes).

The template, the form and the HTML it renders are the app's own. Nothing here is imported
by the app or the tests; if the app's internals move on, this file may need following.
"""

import sys
from pathlib import Path

from flask import abort, request, session
from sqlalchemy import and_, bindparam, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import app  # noqa: E402  (the real application object)
from sbweb import identity  # noqa: E402
from sbweb.db import db  # noqa: E402
from sbweb.forms.selfpay import DuesForm  # noqa: E402
from sbweb.htmx import render_step  # noqa: E402
from sbweb.models import Agency, Due, Enrollment, Person  # noqa: E402

# 3. ---------------------------------------------------------------------------------------
app.config["SESSION_REFRESH_EACH_REQUEST"] = False


# 1. ---------------------------------------------------------------------------------------
class SessionPerson:
    """The signed-in person as far as the session knows: the id; the row only on demand."""

    __slots__ = ("id", "_row")

    def __init__(self, person_id: int):
        self.id = person_id
        self._row = None

    def __getattr__(self, name):
        row = object.__getattribute__(self, "_row")
        if row is None:
            row = db.session.get(Person, object.__getattribute__(self, "id"))
            if row is None:
                raise LookupError("the signed-in person no longer exists")
            self._row = row
        return getattr(row, name)


def current_person():
    from flask import g

    if "person" not in g:
        person_id = session.get("person_id")
        g.person = SessionPerson(person_id) if isinstance(person_id, int) else None
    return g.person


identity.current_person = current_person  # level(), identity_required and the views look it up here


# 2. ---------------------------------------------------------------------------------------
def _props(model, *names):
    return {n: property(model.__dict__[n].fget) for n in names}


DueRow = type(
    "DueRow",
    (),
    {
        "__slots__": ("id", "kind", "period_start", "period_end", "amount_fen", "state", "order_id"),
        **_props(Due, "kind_label", "period_label", "payable"),
    },
)
EnrollmentRow = type(
    "EnrollmentRow",
    (),
    {
        "__slots__": ("id", "enrollment_no", "category", "insurance", "agency"),
        **_props(Enrollment, "category_label", "insurance_label", "item_label"),
    },
)
AgencyRow = type("AgencyRow", (), {"__slots__": ("name",)})

e, a, d = Enrollment.__table__, Agency.__table__, Due.__table__
# Built once; only the two parameters change per request.
DUES_PAGE = (
    select(
        e.c.id,
        e.c.enrollment_no,
        e.c.category,
        e.c.insurance,
        a.c.name,
        d.c.id.label("due_id"),
        d.c.kind,
        d.c.period_start,
        d.c.period_end,
        d.c.amount_fen,
        d.c.state,
        d.c.order_id,
    )
    .join_from(e, a, a.c.id == e.c.agency_id)
    .outerjoin(d, and_(d.c.enrollment_id == e.c.id, d.c.state == "open"))
    .where(e.c.person_id == bindparam("person_id"), e.c.enrollment_no == bindparam("enrollment_no"))
    .order_by(d.c.period_start, d.c.id)
)


def _load(person_id: int, enrollment_no: str):
    params = {"person_id": person_id, "enrollment_no": enrollment_no}
    with db.engine.connect() as conn:
        rows = conn.execute(DUES_PAGE, params).all()
    if not rows:
        return None, []
    first = rows[0]
    enrollment = EnrollmentRow()
    enrollment.id, enrollment.enrollment_no = first[0], first[1]
    enrollment.category, enrollment.insurance = first[2], first[3]
    enrollment.agency = AgencyRow()
    enrollment.agency.name = first[4]
    dues = []
    for row in rows:
        if row[5] is None:
            continue
        due = DueRow()
        (due.id, due.kind, due.period_start, due.period_end, due.amount_fen, due.state, due.order_id) = row[5:12]
        dues.append(due)
    return enrollment, dues


_real_dues = app.view_functions["selfpay.dues"]


@identity.identity_required()
def dues(enrollment_no):
    if request.method != "GET":
        return _real_dues(enrollment_no)
    enrollment, owed = _load(identity.current_person().id, enrollment_no[:32])
    if enrollment is None:
        abort(404)
    form = DuesForm()
    form.dues.choices = [(x.id, x.id) for x in owed if x.payable]
    form.dues.data = [x.id for x in owed if x.payable]
    return render_step("selfpay/dues.html", form=form, enrollment=enrollment, dues=owed)


app.view_functions["selfpay.dues"] = dues
