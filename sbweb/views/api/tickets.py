"""GET /api/v1/tickets/<ticket_no>: one 票证号码 as it stands now — what its payment.settled event
said, and each item's money kept or gone back since."""

import marshmallow as ma
from flask import g

from sbweb.services import api_events
from sbweb.views.api.auth import require
from sbweb.views.api.blueprint import SIGNED, ProblemSchema, bp
from sbweb.views.api.problems import PROBLEM, Problem


class TicketItemSchema(ma.Schema):
    item_id = ma.fields.Integer(required=True)
    due_id = ma.fields.Integer(required=True)
    enrollment_no = ma.fields.String(required=True)
    agency_code = ma.fields.String(required=True)
    category = ma.fields.String(required=True)
    insurance = ma.fields.String(required=True)
    due_kind = ma.fields.String(required=True)
    period_start = ma.fields.String(required=True)
    period_end = ma.fields.String(required=True)
    amount_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True)


class TaxOfficeSchema(ma.Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class TicketSchema(ma.Schema):
    ticket_no = ma.fields.String(required=True)
    order_no = ma.fields.String(required=True)
    tax_office = ma.fields.Nested(TaxOfficeSchema, required=True)
    channel = ma.fields.String(required=True)
    settled_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    total_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True)
    items = ma.fields.List(ma.fields.Nested(TicketItemSchema), required=True)


@bp.route("/tickets/<string:ticket_no>", methods=["GET"])
@bp.response(200, TicketSchema)
@bp.alt_response(401, schema=ProblemSchema, description="签名未通过", content_type=PROBLEM)
@bp.alt_response(404, schema=ProblemSchema, description="没有这个票证号码", content_type=PROBLEM)
@bp.doc(security=SIGNED)
@require("events:read")
def ticket(ticket_no):
    """按票证号码查询一笔缴费

    金额单位为分；refunded_fen 为此后已退回的部分。
    """
    agency = g.api_client.agency
    found = api_events.ticket_now(ticket_no, agency.tax_office_id if agency else None)
    if found is None:
        raise Problem(404, f"没有票证号码 {ticket_no[:18]}", "ticket-not-found")
    return found
