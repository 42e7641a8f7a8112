"""Prometheus metrics (prometheus_client): requests per route and status with their latency,
payments and refused notifies as they happen, and the business figures of sbweb.ops computed at
each scrape.

Several gunicorn workers: `make serve` (deploy/serve.sh, deploy/gunicorn.conf.py) sets
PROMETHEUS_MULTIPROC_DIR to instance/metrics/ before anything imports prometheus_client, so each
process (the consumer too) writes its counters to files there and a scrape of any worker sums
them; gunicorn marks a worker that exits as dead. Without the variable (`make run`, tests) the
counters live in this process.

Labels are the endpoint's name (`orders.show`), never the path with its ids.
"""

import ipaddress
import logging
import os
import time

from flask import Flask, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event
from sqlalchemy.orm import Session

REQUESTS = Counter(
    "sbweb_http_requests", "Requests answered, by endpoint, method and status", ["endpoint", "method", "status"]
)
LATENCY = Histogram(
    "sbweb_http_request_duration_seconds",
    "Time to answer a request, by endpoint and method",
    ["endpoint", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PAYMENTS = Counter(
    "sbweb_payments", "Order state changes committed, by provider and the state reached", ["provider", "state"]
)
NOTIFY_REFUSED = Counter(
    "sbweb_notify_refused", "Provider notifications answered as refused, by reason", ["provider", "reason"]
)

log = logging.getLogger(__name__)
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # a process started before gunicorn made it
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], mode=0o700, exist_ok=True)

STARTED = "sbweb.metrics.started"
PENDING = "sbweb.metrics.payments"
METHODS = {"GET", "POST", "HEAD"}


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# -- payments: counted when the transaction that moved the order commits ---------------------------


def order_moved(session, provider: str, state: str) -> None:
    """Called by sbweb.payments.orders.transition: counted if (and when) the move commits."""
    session.info.setdefault(PENDING, []).append((provider, state))


@event.listens_for(Session, "after_commit")
def _count_committed(session):
    moves = session.info.pop(PENDING, ())
    try:
        for provider, state in moves:
            PAYMENTS.labels(provider, state).inc()
    except OSError:  # a metrics file that cannot be written never fails a payment
        log.warning("payment counters not written", exc_info=True)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session):
    session.info.pop(PENDING, None)


def notify_refused(provider: str, reason: str) -> None:
    try:
        NOTIFY_REFUSED.labels(provider, reason).inc()
    except OSError:
        log.warning("notify counter not written", exc_info=True)


# -- requests ------------------------------------------------------------------------------------------


def _before():
    request.environ[STARTED] = time.perf_counter()


def _after(response):
    started = request.environ.get(STARTED)
    if started is not None:
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "none"
        method = request.method if request.method in METHODS else "other"
        try:
            REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
            LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
        except OSError:  # never fails the request it counts
            log.warning("request counters not written", exc_info=True)
    return response


# -- the business figures, at scrape time ----------------------------------------------------------------


class BusinessCollector:
    def __init__(self, figures: dict | None):
        self.figures = figures

    def collect(self):
        f = self.figures
        up = GaugeMetricFamily("sbweb_figures_up", "1 if the business figures below could be read from the database")
        up.add_metric([], 0 if f is None else 1)
        yield up
        if f is None:
            return

        def gauge(name, text, labels=(), values=()):
            family = GaugeMetricFamily(name, text, labels=list(labels) or None)
            for label_values, value in values:
                if value is not None:
                    family.add_metric(list(label_values), value)
            return family

        from sbweb.models.order import ORDER_STATE_LABELS, REFUND_STATE_LABELS

        yield gauge(
            "sbweb_orders", "Orders by state", ["state"], [((s,), f["orders"].get(s, 0)) for s in ORDER_STATE_LABELS]
        )
        yield gauge(
            "sbweb_orders_paying_stale", "Orders in 支付中 for more than 10 minutes", (), [((), f["paying_stale"])]
        )
        yield gauge(
            "sbweb_refunds",
            "Provider refunds by state",
            ["state"],
            [((s,), f["refunds"].get(s, 0)) for s in REFUND_STATE_LABELS],
        )
        yield gauge(
            "sbweb_refunds_retrying",
            "Refunds not yet sent whose earlier tries failed",
            (),
            [((), f["refunds_retrying"])],
        )
        yield gauge(
            "sbweb_refund_applications_waiting",
            "退费申请 waiting for staff",
            (),
            [((), f["refund_applications_waiting"])],
        )
        yield gauge(
            "sbweb_outbox_mails",
            "Outbox mails by state",
            ["state"],
            [((s,), f["outbox"].get(s, 0)) for s in ("queued", "sent", "failed")],
        )
        yield gauge(
            "sbweb_reconciliation_differences_open", "对账 differences not resolved", (), [((), f["recon_open"])]
        )
        yield gauge(
            "sbweb_lookup_keys_at_limit",
            "Look-up keys (hashed numbers and clients) with at least the limit's wrong tries in the window",
            ["limit"],
            [((kind,), n) for kind, n in f["lookup_locks"].items()],
        )
        jobs = f["jobs"]
        yield gauge("sbweb_jobs_pending", "Tasks queued for the job consumer", (), [((), jobs["pending"])])
        yield gauge(
            "sbweb_jobs_lag_seconds",
            "Seconds the consumer's last lag probe waited in the queue",
            (),
            [((), jobs["lag"])],
        )
        yield gauge(
            "sbweb_jobs_heartbeat_age_seconds",
            "Seconds since the job consumer's last heartbeat",
            (),
            [((), jobs["heartbeat_age"])],
        )
        ledger = f["ledger"]
        yield gauge(
            "sbweb_ledger_check_violations",
            "Violations found by the last `flask ledger check`",
            (),
            [((), ledger["violations"] if ledger else None)],
        )
        yield gauge(
            "sbweb_ledger_check_timestamp_seconds",
            "When the last `flask ledger check` ran",
            (),
            [((), ledger["at"].timestamp() if ledger else None)],
        )
        yield gauge(
            "sbweb_instance_disk_free_bytes",
            "Free bytes on the filesystem of instance/",
            (),
            [((), f["disk_free_bytes"])],
        )


def allowed(address: str | None) -> bool:
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(
        client in ipaddress.ip_network(allowed_, strict=False) for allowed_ in current_app.config["METRICS_ALLOW"]
    )


def scrape() -> Response:
    """GET /metrics: only for the addresses in METRICS_ALLOW (client address as ProxyFix gives it)."""
    if not allowed(request.remote_addr):
        abort(403)
    from sqlalchemy.exc import SQLAlchemyError

    from sbweb import ops
    from sbweb.db import db

    try:
        figures = ops.figures()
    except SQLAlchemyError:  # the database is out of reach: the request counters still answer
        db.session.rollback()
        figures = None
    business = CollectorRegistry(auto_describe=False)
    business.register(BusinessCollector(figures))
    if directory := multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    return Response(
        text + generate_latest(business), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
