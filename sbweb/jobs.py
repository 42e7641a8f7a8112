"""Background jobs (huey): notify retries, stuck-order queries, expiry, refunds to retry,
the mail outbox, the daily 对账 (reconciliation).

The `huey` object exists at import so tasks can be declared anywhere; `init_app` gives it its
storage: SQLite in instance/ by default, Redis when HUEY_REDIS_URL is set, in memory and
run inline when HUEY_IMMEDIATE is set (tests). Each task runs inside the app's context.
"""

import datetime as dt
import functools
import logging
from pathlib import Path

from huey import Huey, crontab
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

log = logging.getLogger(__name__)

huey = Huey("sbweb", storage_class=MemoryStorage, immediate_use_memory=False, utc=True)
_current = {"app": None, "consumer": None}


def init_app(app) -> None:
    _current["app"] = app
    config = app.config
    if config["HUEY_IMMEDIATE"]:
        huey._immediate = True
        huey.storage = MemoryStorage("sbweb")
    elif config["HUEY_REDIS_URL"]:
        huey._immediate = False
        huey.storage = RedisStorage("sbweb", url=config["HUEY_REDIS_URL"])
    else:
        huey._immediate = False
        path = Path(app.instance_path) / "huey.sqlite3"
        huey.storage = SqliteStorage("sbweb", filename=str(path))


def in_app_context(func):
    """Run a task body inside the app context of the app that was last set up."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        app = _current["app"]
        if app is None:
            raise RuntimeError("jobs.init_app() was never called")
        with app.app_context():
            return func(*args, **kwargs)

    return wrapper


def start_consumer(workers: int = 2):
    """Run a consumer inside this process (what `make run` does): daemon worker threads plus
    the scheduler for periodic and delayed tasks; returns at once. Signals stay with the web
    server (Ctrl+C stops both). A scaled pilot runs `flask jobs run` instead."""
    if _current["consumer"] is not None:
        return _current["consumer"]
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True, check_worker_health=False)
    consumer._set_signal_handlers = lambda: None
    consumer.start()
    beat_at_start()
    _current["consumer"] = consumer
    return consumer


def run_due_tasks(now=None) -> int:
    """Act as a consumer once, at time `now`: run every queued task and every scheduled task
    whose time has come (queued tasks not yet due go to the schedule). Tests drive time so."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    ran = 0
    while (task := huey.dequeue()) is not None:
        if huey.ready_to_run(task, now):
            ran += 1
        huey.execute(task, timestamp=now)
    for task in huey.read_schedule(now):
        huey.execute(task, timestamp=now)
        ran += 1
    return ran


def beat_at_start() -> None:
    """A consumer that just started is alive before its first periodic heartbeat (up to a minute)."""
    from sbweb import ops

    with _current["app"].app_context():
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
    from sbweb import ops
    from sbweb.clock import utcnow

    ops.beat()
    lag_probe(utcnow().isoformat())


@huey.task(retries=0)
@in_app_context
def lag_probe(queued_at: str) -> None:
    from sbweb import ops
    from sbweb.clock import utcnow

    ops.record_lag((utcnow() - dt.datetime.fromisoformat(queued_at)).total_seconds())


@huey.periodic_task(crontab(minute="*"), retries=0)
@in_app_context
def payments_housekeeping() -> None:
    from sbweb.payments import orders
    from sbweb.services import refund_applications

    counts = orders.housekeeping()
    counts["refund_applications"] = refund_applications.settle_all()
    if any(counts.values()):
        log.info("payments housekeeping: %s", counts)


@huey.periodic_task(crontab(minute="7"), retries=0)
@in_app_context
def provisional_settle() -> None:
    """Hourly: provisional items that waited (an order or a refund in flight when their year's
    standard was published) are settled on it (sbweb/services/provisional.py)."""
    from sbweb.db import write_transaction
    from sbweb.services import provisional

    with write_transaction():
        done = provisional.settle_all()
    if done.total:
        log.info("provisional items settled: %s", done.counts())


@huey.periodic_task(crontab(minute="*"), retries=0)
@in_app_context
def sandbox_resend() -> None:
    """The sandbox provider's own retry of notifications it could not queue."""
    from flask import current_app

    if not current_app.config["SANDBOX_ENABLED"]:
        return
    from sbweb.payments import sandbox

    count = sandbox.resend_unqueued()
    if count:
        log.info("sandbox: %s notifications queued again", count)


@huey.periodic_task(crontab(minute="*"), retries=0)
@in_app_context
def mail_sweep() -> None:
    from sbweb import mail

    count = mail.sweep()
    if count:
        log.info("mail sweep: %s queued mails sent on again", count)


@huey.periodic_task(crontab(minute="*/10"), retries=0)
@in_app_context
def sessions_housekeeping() -> None:
    """Sessions past their limits are closed (so lists show them ended); old ones forgotten."""
    from flask import current_app

    from sbweb.identity import login_sessions

    counts = login_sessions.prune(current_app.config["SESSION_IDLE_TIMEOUT"])
    if any(counts.values()):
        log.info("sessions housekeeping: %s", counts)


@huey.periodic_task(crontab(hour="1", minute="0"), retries=0)  # 09:00 Asia/Shanghai
@in_app_context
def reminders_daily() -> None:
    from sbweb.clock import shanghai_today
    from sbweb.services import reminders

    counts = reminders.run_daily(shanghai_today())
    if counts["mails"]:
        log.info("reminders: %s", counts)


@huey.periodic_task(crontab(hour="2", minute="0"), retries=0)  # 10:00 Asia/Shanghai
@in_app_context
def auto_pay_daily() -> None:
    from sbweb.services import withholding

    counts = withholding.run()
    if any(counts.values()):
        log.info("auto pay (bank agreements): %s", counts)


@huey.periodic_task(crontab(hour="19", minute="0"), retries=0)  # 03:00 Asia/Shanghai
@in_app_context
def reconcile_daily() -> None:
    """对账 of yesterday (Asia/Shanghai) with every provider's daily bill."""
    from sbweb.services import reconciliation

    for run in reconciliation.run_daily():
        log.info("%s", reconciliation.describe(run))
