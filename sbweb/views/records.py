"""缴费记录: the payer's payments, newest first, with 票证号码 and state."""
from flask import Blueprint, session
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from sbweb import auth
from sbweb.db import db
from sbweb.htmx import render_step
from sbweb.models import Due, Order, OrderItem

bp = Blueprint("records", __name__, url_prefix="/records")


@bp.get("/")
@auth.identity_required()
def index():
    person = auth.current_person()
    query = (select(Order).where(Order.payer_id == person.id, Order.state != "created")
             .options(selectinload(Order.items).selectinload(OrderItem.due).selectinload(Due.enrollment))
             .order_by(Order.created_at.desc(), Order.id.desc()).limit(50))
    if not auth.is_verified():
        # A manual lookup sees only what it paid in this session.
        query = query.where(Order.order_no.in_(session.get("orders", [])))
    return render_step("records/index.html", orders=list(db.session.scalars(query)),
                       verified=auth.is_verified())
