"""GET /api/v1/events: the feed of payment.settled (per ticket) and refund.completed (per item),
read from a cursor (sbweb.services.api_events)."""

import marshmallow as ma
from flask import g

from sbweb.models.api import API_EVENT_KINDS
from sbweb.services import api_events
from sbweb.views.api.auth import require
from sbweb.views.api.blueprint import SIGNED, ProblemSchema, bp
from sbweb.views.api.problems import PROBLEM

MAX_LIMIT = 1000


class EventQuery(ma.Schema):
    after = ma.fields.String(
        load_default="0",
        validate=ma.validate.Regexp(r"^\d{1,18}$"),
        metadata={"description": "游标：上一页的 next（从头读：0）"},
    )
    limit = ma.fields.Integer(
        load_default=100, validate=ma.validate.Range(1, MAX_LIMIT), metadata={"description": "每页条数（1–1000）"}
    )


class EventSchema(ma.Schema):
    id = ma.fields.String(required=True, metadata={"description": "事件 id，用于去重"})
    type = ma.fields.String(required=True, metadata={"enum": list(API_EVENT_KINDS)})
    position = ma.fields.String(required=True, metadata={"description": "该事件在事件流中的位置"})
    occurred_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    data = ma.fields.Dict(required=True)


class EventPageSchema(ma.Schema):
    events = ma.fields.List(ma.fields.Nested(EventSchema), required=True)
    next = ma.fields.String(required=True, metadata={"description": "下一次请求的 after"})
    has_more = ma.fields.Boolean(required=True)


@bp.route("/events", methods=["GET"])
@bp.arguments(EventQuery, location="query")
@bp.response(200, EventPageSchema)
@bp.alt_response(401, schema=ProblemSchema, description="签名未通过", content_type=PROBLEM)
@bp.alt_response(403, schema=ProblemSchema, description="缺少 events:read 权限", content_type=PROBLEM)
@bp.doc(security=SIGNED)
@require("events:read")
def feed(query):
    """事件流：读取游标之后的事件

    按位置排序；同一游标再读得到同一页；一个事件只出现一次。经办机构的客户端只看到其主管税务机关的事件。
    """
    api_events.sequence()
    agency = g.api_client.agency
    page = api_events.page(int(query["after"]), query["limit"], agency.tax_office_id if agency else None)
    return {
        "events": [e.wire() for e in page.events],
        "next": str(page.next_cursor),
        "has_more": page.has_more,
    }
