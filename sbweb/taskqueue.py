"""The job queue itself (huey): the `huey` object, where it keeps its queue, and the app context
tasks run in. It imports nothing of the domain, so any module can declare or queue a task
(sbweb.mail, sbweb.payments.sandbox) without a cycle; the periodic jobs, which call into the
domain, live above it in sbweb.jobs, loaded by the app factory in every process.

The `huey` object exists at import so tasks can be declared anywhere; `init_app` gives it its
storage: SQLite in instance/ by default, Redis when HUEY_REDIS_URL is set, in memory and
run inline when HUEY_IMMEDIATE is set (tests). Each task runs inside the app's context.
"""

import datetime as dt
import functools
from pathlib import Path

from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

huey = Huey("sbweb", storage_class=MemoryStorage, immediate_use_memory=False, utc=True)
_current = {"app": None}


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


def last_app():
    """The app that was last set up (init_app), whose context tasks run in."""
    app = _current["app"]
    if app is None:
        raise RuntimeError("jobs.init_app() was never called")
    return app


def in_app_context(func):
    """Run a task body inside the app context of the app that was last set up."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with last_app().app_context():
            return func(*args, **kwargs)

    return wrapper


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
