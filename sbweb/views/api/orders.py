"""GET /api/v1/orders/<order_no>: one 缴费订单 as it stands now — each of its tickets as the ticket
look-up gives it (of the client's tax office only, for an agency's client)."""

import marshmallow as ma
from flask import g

from sbweb.services import api_events
from sbweb.views.api.auth import require
from sbweb.views.api.blueprint import SIGNED, ProblemSchema, bp
from sbweb.views.api.problems import PROBLEM, Problem
from sbweb.views.api.tickets import TicketSchema


class OrderSchema(ma.Schema):
    order_no = ma.fields.String(required=True)
    state = ma.fields.String(required=True, metadata={"description": "settled / refunded"})
    channel = ma.fields.String(required=True)
    settled_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    total_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True)
    tickets = ma.fields.List(ma.fields.Nested(TicketSchema), required=True)


@bp.route("/orders/<string:order_no>", methods=["GET"])
@bp.response(200, OrderSchema)
@bp.alt_response(401, schema=ProblemSchema, description="签名未通过", content_type=PROBLEM)
@bp.alt_response(404, schema=ProblemSchema, description="没有这个订单", content_type=PROBLEM)
@bp.doc(security=SIGNED)
@require("events:read")
def order(order_no):
    """按订单号查询一笔缴费

    金额单位为分；只含本客户端所属税务机关的票证。未支付成功的订单查不到。
    """
    agency = g.api_client.agency
    found = api_events.order_now(order_no, agency.tax_office_id if agency else None)
    if found is None:
        raise Problem(404, f"没有订单号 {order_no[:32]}", "order-not-found")
    return found
