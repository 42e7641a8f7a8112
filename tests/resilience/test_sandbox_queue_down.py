"""The sandbox plays a provider, whose cashier does not depend on our job queue: a resident who
pays while Redis is down is taken back to us as usual, and the notification the sandbox could
not queue is sent later by its own resend job instead of being lost."""

import datetime as dt

import pytest
from sqlalchemy import select

from sbweb import jobs
from sbweb.db import db
from sbweb.models import Order, SandboxNotify
from sbweb.models.base import utcnow
from sbweb.payments import sandbox
from tests.ops.test_jobs import free_port
from tests.support.journeys import choose, go_to_provider, order_no_of, sandbox_pay, sign_in


@pytest.mark.parametrize("app", [{"HUEY_IMMEDIATE": False}], indirect=True)
def test_paying_while_redis_is_down_returns_the_resident_and_the_notify_is_sent_later(app, client, world):
    app.config["HUEY_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    jobs.init_app(app)
    sign_in(client, "王芳")
    cashier = go_to_provider(client, choose(client, "medical"))
    back = sandbox_pay(client, cashier)
    assert back.status == 200 and back.h1 == "缴费结果", back.text  # settled by the return's query
    with app.app_context():
        notify = db.session.scalar(select(SandboxNotify))
        assert notify.attempts == 0 and notify.delivered_at is None  # never queued
        app.config["HUEY_IMMEDIATE"] = True  # the queue is back
        jobs.init_app(app)
        assert sandbox.resend_unqueued(utcnow()) == 0  # not overdue yet: it may still be on its way
        assert sandbox.resend_unqueued(utcnow() + dt.timedelta(minutes=2)) == 1
        db.session.expire_all()
        notify = db.session.scalar(select(SandboxNotify))
        assert notify.delivered_at is not None and notify.last_response == "success"
        assert db.session.scalar(select(Order.state).filter_by(order_no=order_no_of(back))) == "settled"
        assert sandbox.resend_unqueued(utcnow() + dt.timedelta(minutes=2)) == 0
