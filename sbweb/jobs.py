"""Background jobs: notify retries, stuck-order queries, expiry, refunds to retry, the mail
outbox, the daily 对账 (reconciliation), the daily settlement files —
the periodic tasks, and the consumer that runs them.

The queue itself (the `huey` object, its storage, the app context tasks run in) is
sbweb.taskqueue, which imports nothing of the domain; this module sits above the domain and
wakes it up. The app factory imports it, so every process that serves or consumes has these
tasks registered with huey. `huey`, `init_app`, `in_app_context` and `run_due_tasks` are
re-exported here for the app factory, the CLI and the tests.
"""

import datetime as dt
import logging

from flask import current_app
from huey import crontab

from sbweb import mail, ops
from sbweb.clock import shanghai_today, utcnow
from sbweb.db import write_transaction
from sbweb.identity import login_sessions
from sbweb.payments import orders, sandbox
from sbweb.services import (
    api_events,
    provisional,
    reconciliation,
    refund_applications,
    reminders,
    settlement_files,
    webhooks,
    withholding,
)
from sbweb.taskqueue import huey, in_app_context, init_app, last_app, run_due_tasks

__all__ = ["huey", "in_app_context", "init_app", "run_due_tasks", "start_consumer", "beat_at_start"]

log = logging.getLogger(__name__)
_running = {"consumer": None}  # the consumer start_consumer started in this process


def start_consumer(workers: int = 2):
    """Run a consumer inside this process (what `make run` does): daemon worker threads plus
    the scheduler for periodic and delayed tasks; returns at once. Signals stay with the web
    server (Ctrl+C stops both). A scaled pilot runs `flask jobs run` instead."""
    if _running["consumer"] is not None:
        return _running["consumer"]
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True, check_worker_health=False)
    consumer._set_signal_handlers = lambda: None
    consumer.start()
    beat_at_start()
    _running["consumer"] = consumer
    return consumer


def beat_at_start() -> None:
    """A consumer that just started is alive before its first periodic heartbeat (up to a minute)."""
    with last_app().app_context():
        try:
            ops.beat()
        except Exception:  # noqa: BLE001 - the storage out of reach: the periodic beat says so later
            log.warning("job consumer: the first heartbeat could not be written", exc_info=True)


# Periodic jobs. Their bodies live with the domain; these only wake them up.


@huey.periodic_task(crontab(minute="*"), retries=0)
@in_app_context
def heartbeat() -> None:
    """The consumer is alive (GET /readyz wants a beat younger than 2 minutes); the probe it
    queues measures how long a task waits for a worker: the job lag."""
    ops.beat()
    lag_probe(utcnow().isoformat())


@huey.task(retries=0)
@in_app_context
def lag_probe(queued_at: str) -> None:
    ops.record_lag((utcnow() - dt.datetime.fromisoformat(queued_at)).total_seconds())


@huey.periodic_task(crontab(minute="*"), retries=0)
@in_app_context
def payments_housekeeping() -> None:
    counts = orders.housekeeping()
    counts["refund_applications"] = refund_applications.settle_all()
    # The API feed's positions, so that a feed nobody reads for a while is numbered all the same.
    counts["api_events"] = api_events.sequence_all()
    if any(counts.values()):
        log.info("payments housekeeping: %s", counts)


@huey.periodic_task(crontab(minute="7"), retries=0)
@in_app_context
def provisional_settle() -> None:
    """Hourly: provisional items that waited (an order or a refund in flight when their year's
    standard was published) are settled on it (sbweb/services/provisional.py)."""
    with write_transaction():
        done = provisional.settle_all()
    if done.total:
        log.info("provisional items settled: %s", done.counts())


@huey.periodic_task(crontab(minute="*"), retries=0)
@in_app_context
def sandbox_resend() -> None:
    """The sandbox provider's own retry of notifications it could not queue."""
    if not current_app.config["SANDBOX_ENABLED"]:
        return
    count = sandbox.resend_unqueued()
    if count:
        log.info("sandbox: %s notifications queued again", count)


@huey.periodic_task(crontab(minute="*"), retries=0)
@in_app_context
def mail_sweep() -> None:
    count = mail.sweep()
    if count:
        log.info("mail sweep: %s queued mails sent on again", count)


@huey.periodic_task(crontab(minute="*"), retries=0)
@in_app_context
def webhook_sweep() -> None:
    """Webhook deliveries whose task was lost or whose attempt died mid-way (sbweb.services.webhooks)."""
    count = webhooks.sweep()
    if count:
        log.info("webhook sweep: %s deliveries queued again", count)


@huey.periodic_task(crontab(minute="*/10"), retries=0)
@in_app_context
def sessions_housekeeping() -> None:
    """Sessions past their limits are closed (so lists show them ended); old ones forgotten."""
    counts = login_sessions.prune(current_app.config["SESSION_IDLE_TIMEOUT"])
    if any(counts.values()):
        log.info("sessions housekeeping: %s", counts)


@huey.periodic_task(crontab(hour="1", minute="0"), retries=0)  # 09:00 Asia/Shanghai
@in_app_context
def reminders_daily() -> None:
    counts = reminders.run_daily(shanghai_today())
    if counts["mails"]:
        log.info("reminders: %s", counts)


@huey.periodic_task(crontab(hour="2", minute="0"), retries=0)  # 10:00 Asia/Shanghai
@in_app_context
def auto_pay_daily() -> None:
    counts = withholding.run()
    if any(counts.values()):
        log.info("auto pay (bank agreements): %s", counts)


@huey.periodic_task(crontab(hour="19", minute="0"), retries=0)  # 03:00 Asia/Shanghai
@in_app_context
def reconcile_daily() -> None:
    """对账 of yesterday (Asia/Shanghai) with every provider's daily bill."""
    for run in reconciliation.run_daily():
        log.info("%s", reconciliation.describe(run))


@huey.periodic_task(crontab(hour="20", minute="0"), retries=0)  # 04:00 Asia/Shanghai, after 对账
@in_app_context
def settlement_files_daily() -> None:
    """每日结算文件 of yesterday (Asia/Shanghai) for every tax office; the week before made again
    where a late settlement changed its money (sbweb/services/settlement_files.py)."""
    written = settlement_files.run_daily()
    log.info("settlement files written: %s", {day: n for day, n in written.items() if n})
