"""What an operator watches: is the app ready to take payments, and the figures behind it.

- The job consumer's heartbeat and the ledger check's last result live in huey's own key-value
  storage, the place every process of a pilot already shares with the consumer: Redis when
  scaled (`make serve`), instance/huey.sqlite3 when embedded (`make run`, whose consumer is the
  threads `flask serve` starts in its own process). A periodic task writes the heartbeat every
  minute and queues a probe that records how long it waited for a worker (the job lag);
  `flask ledger check` writes its result.
- `readiness()` is what GET /readyz answers (each check bounded, never a personal datum);
  `figures()` the business figures /metrics and the back office's 运行状态 show, by cheap
  counting queries.
"""

import concurrent.futures
import datetime as dt
import shutil
from functools import lru_cache

from flask import current_app
from sqlalchemy import func, select

from sbweb.clock import utcnow
from sbweb.taskqueue import huey

HEARTBEAT_KEY = "sbweb.ops.heartbeat"
LAG_KEY = "sbweb.ops.job-lag"
LEDGER_KEY = "sbweb.ops.ledger-check"
# Thresholds, shared by readyz, the alert rules (deploy/prometheus/alerts.yml) and 运行状态.
HEARTBEAT_MAX_AGE = dt.timedelta(minutes=2)
DATABASE_WAIT = 1.0  # seconds
PAYING_STALE_AFTER = dt.timedelta(minutes=10)

# The database check runs here so a database that does not answer costs the request 1 s, not
# the connect timeout; a stuck check ends on its own timeouts.
_checks = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")


# -- heartbeat and the ledger check's last result --------------------------------------------------


def beat() -> None:
    """The job consumer is alive now."""
    huey.put(HEARTBEAT_KEY, {"at": utcnow().isoformat()})


def record_lag(seconds: float) -> None:
    """How long the last lag probe waited in the queue before a worker took it."""
    huey.put(LAG_KEY, round(max(seconds, 0.0), 3))


def last_beat() -> dict | None:
    """{"at": the last heartbeat, "lag": the last probe's wait in seconds (None before the first)}."""
    found = huey.get(HEARTBEAT_KEY, peek=True)
    if not found:
        return None
    return {"at": dt.datetime.fromisoformat(found["at"]), "lag": huey.get(LAG_KEY, peek=True)}


def record_ledger_check(violations: int) -> None:
    huey.put(LEDGER_KEY, {"at": utcnow().isoformat(), "violations": violations})


def last_ledger_check() -> dict | None:
    found = huey.get(LEDGER_KEY, peek=True)
    if not found:
        return None
    return {"at": dt.datetime.fromisoformat(found["at"]), "violations": found["violations"]}


# -- readiness ---------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    from sbweb.database import MIGRATIONS

    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def _database_revisions(engine) -> frozenset[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":  # a little past the wait: the check ends soon after
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(DATABASE_WAIT * 1000) + 500}")
        revisions = frozenset(MigrationContext.configure(connection).get_current_heads())
        connection.rollback()
    return revisions


def redis_url(config) -> str | None:
    """The Redis the app uses (jobs, else the rate limits), or None."""
    for url in (config.get("HUEY_REDIS_URL"), config.get("RATELIMIT_STORAGE_URI")):
        if url and url.startswith(("redis://", "rediss://", "unix://")):
            return url
    return None


def _redis_problem(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=DATABASE_WAIT, socket_timeout=DATABASE_WAIT).ping()
    except redis.RedisError as exc:
        return f"unreachable ({type(exc).__name__})"
    return None


def readiness() -> dict[str, str]:
    """Each check's word: "ok" (or what it is, e.g. "immediate"), else what is wrong."""
    app = current_app
    config = app.config
    checks = _database_checks()

    url = redis_url(config)
    redis_ok = True
    if url:
        problem = _redis_problem(url)
        checks["redis"] = problem or "ok"
        redis_ok = problem is None

    checks["jobs"] = _jobs_check(config, redis_ok)

    providers = app.extensions.get("sbweb.providers", {})
    missing = sorted(set(config["PAYMENT_CHANNELS"].values()) - providers.keys())
    checks["providers"] = f"not loaded: {', '.join(missing)}" if missing else "ok"
    return checks


def _database_checks() -> dict[str, str]:
    """The database within DATABASE_WAIT, and at this release's migrations."""
    from sbweb.db import db

    future = _checks.submit(_database_revisions, db.engine)
    try:
        revisions = future.result(timeout=DATABASE_WAIT)
    except concurrent.futures.TimeoutError:
        return {"database": f"no answer within {DATABASE_WAIT:g} s"}
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is the answer
        return {"database": f"unreachable ({type(exc).__name__})"}
    heads = migration_heads()
    if revisions == heads:
        return {"database": "ok", "migrations": "ok"}
    return {
        "database": "ok",
        "migrations": (
            f"at {','.join(sorted(revisions)) or 'none'}, release needs {','.join(sorted(heads))}: run flask db upgrade"
        ),
    }


def _jobs_check(config, redis_ok: bool) -> str:
    """The job consumer: its heartbeat fresh (HEARTBEAT_MAX_AGE), or none needed (tasks inline)."""
    if config["HUEY_IMMEDIATE"]:
        return "immediate"  # tasks run inline in the request: there is no consumer
    if config["HUEY_REDIS_URL"] and not redis_ok:
        return "heartbeat unknown (redis unreachable)"
    try:
        beat_ = last_beat()
    except Exception as exc:  # noqa: BLE001 - the job storage itself is out of reach
        return f"job storage unreachable ({type(exc).__name__})"
    if beat_ is None:
        return "no heartbeat from the job consumer"
    age = (utcnow() - beat_["at"]).total_seconds()
    limit = HEARTBEAT_MAX_AGE.total_seconds()
    return "ok" if age <= limit else f"consumer heartbeat {int(age)} s old (limit {int(limit)} s)"


def ready(checks: dict[str, str]) -> bool:
    return all(word in ("ok", "immediate") for word in checks.values())


# -- the figures an operator watches ------------------------------------------------------------------


def disk_free_bytes(instance_path) -> int:
    return shutil.disk_usage(instance_path).free


def figures(now: dt.datetime | None = None) -> dict:
    """The business figures, each by one counting query (indexes on every state column)."""
    from sbweb.db import db
    from sbweb.models import LookupFailure, Order, OutboxMail, ReconDifference, Refund, RefundApplication

    now = now or utcnow()
    config = current_app.config
    session = db.session

    def counts(column, *where) -> dict[str, int]:
        query = select(column, func.count()).group_by(column)
        for condition in where:
            query = query.where(condition)
        return {state: n for state, n in session.execute(query)}

    since = now - config["LOOKUP_WINDOW"]
    per_key = select(LookupFailure.key).where(LookupFailure.at > since).group_by(LookupFailure.key)

    def keys_at(limit: int) -> int:
        return session.scalar(select(func.count()).select_from(per_key.having(func.count() >= limit).subquery())) or 0

    found = {
        "orders": counts(Order.state),
        "paying_stale": session.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.state == "paying", Order.created_at < now - PAYING_STALE_AFTER)
        )
        or 0,
        "refunds": counts(Refund.state),
        "refunds_retrying": session.scalar(
            select(func.count())
            .select_from(Refund)
            .where(Refund.state.in_(("pending", "processing")), Refund.attempts > 0)
        )
        or 0,
        "refund_applications_waiting": session.scalar(
            select(func.count()).select_from(RefundApplication).where(RefundApplication.state == "pending")
        )
        or 0,
        "outbox": counts(OutboxMail.state),
        "recon_open": session.scalar(
            select(func.count()).select_from(ReconDifference).where(ReconDifference.state == "open")
        )
        or 0,
        "lookup_locks": {
            "number": keys_at(config["LOOKUP_FAILURES_PER_NUMBER"]),
            "client": keys_at(config["LOOKUP_FAILURES_PER_CLIENT"]),
        },
        "disk_free_bytes": disk_free_bytes(current_app.instance_path),
    }
    session.rollback()  # end the read
    jobs = {"pending": None, "lag": None, "heartbeat_age": None}
    try:
        jobs["pending"] = huey.pending_count()
        beat_ = last_beat()
        if beat_ is not None:
            jobs["lag"] = beat_["lag"]
            jobs["heartbeat_age"] = (now - beat_["at"]).total_seconds()
        ledger = last_ledger_check()
    except Exception:  # noqa: BLE001 - the job storage is out of reach: figures unknown
        ledger = None
    found["jobs"] = jobs
    found["ledger"] = ledger
    return found


# -- 运行状态: the same figures in words, each beside its threshold ------------------------------------

CHECK_WORDS = {
    "database": "数据库",
    "migrations": "数据库结构版本",
    "redis": "Redis",
    "jobs": "后台任务",
    "providers": "支付渠道密钥",
}
CHECK_THRESHOLDS = {
    "database": "1 秒内应答",
    "migrations": "与本版本一致",
    "redis": "1 秒内应答",
    "jobs": "心跳不超过 2 分钟",
    "providers": "每个支付渠道的服务商都已加载",
}
DISK_LOW = 2 * 1024**3  # bytes free under instance/ below which 运行状态 and the alert warn


def _age_words(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} 秒前"
    if seconds < 7200:
        return f"{seconds // 60} 分钟前"
    return f"{seconds // 3600} 小时前"


def status_rows(checks: dict[str, str], f: dict | None) -> list[dict]:
    """(名称, 现状, 阈值, ok) for the back office: the readiness checks, then the business figures."""
    from sbweb.models.order import ORDER_STATE_LABELS

    rows = [
        {
            "name": CHECK_WORDS.get(name, name),
            "value": "正常"
            if word == "ok"
            else ("即时执行（测试设置，无独立任务进程）" if word == "immediate" else f"异常：{word}"),
            "threshold": CHECK_THRESHOLDS.get(name, "—"),
            "ok": word in ("ok", "immediate"),
        }
        for name, word in checks.items()
    ]
    if f is None:
        rows.append({"name": "业务数据", "value": "无法读取（数据库不可用）", "threshold": "—", "ok": False})
        return rows
    orders = "，".join(f"{ORDER_STATE_LABELS[s]} {f['orders'].get(s, 0)} 笔" for s in ORDER_STATE_LABELS)
    jobs, ledger = f["jobs"], f["ledger"]
    outbox_failed = f["outbox"].get("failed", 0)
    rows += [
        {"name": "订单", "value": orders, "threshold": "—", "ok": True},
        {
            "name": "支付中超过 10 分钟的订单",
            "value": f"{f['paying_stale']} 笔",
            "threshold": "应为 0 笔；超过 10 笔告警",
            "ok": f["paying_stale"] == 0,
        },
        {
            "name": "退款（原路退回）",
            "value": f"待发送或处理中 {f['refunds'].get('pending', 0) + f['refunds'].get('processing', 0)} 笔"
            f"（其中曾失败 {f['refunds_retrying']} 笔），退款异常 {f['refunds'].get('failed', 0)} 笔",
            "threshold": "退款异常应为 0 笔",
            "ok": f["refunds"].get("failed", 0) == 0 and f["refunds_retrying"] == 0,
        },
        {"name": "待审核的退费申请", "value": f"{f['refund_applications_waiting']} 笔", "threshold": "—", "ok": True},
        {
            "name": "邮件",
            "value": f"待发送 {f['outbox'].get('queued', 0)} 封，发送失败 {outbox_failed} 封",
            "threshold": "发送失败应为 0 封",
            "ok": outbox_failed == 0,
        },
        {
            "name": "后台任务排队",
            "value": ("任务存储不可用" if jobs["pending"] is None else f"排队 {jobs['pending']} 个")
            + (
                ""
                if jobs["heartbeat_age"] is None
                else f"；最近心跳 {_age_words(jobs['heartbeat_age'])}"
                + ("" if jobs["lag"] is None else f"，任务等待 {jobs['lag']:.0f} 秒")
            ),
            "threshold": "—",
            "ok": jobs["pending"] is not None,
        },
        {
            "name": "未处理的对账差异",
            "value": f"{f['recon_open']} 条",
            "threshold": "应为 0 条",
            "ok": f["recon_open"] == 0,
        },
        {
            "name": "证件查询锁定",
            "value": f"达到失败上限的证件号码或来源地址 {f['lookup_locks']['number']} 个"
            f"（其中来源地址至多 {f['lookup_locks']['client']} 个）",
            "threshold": "—",
            "ok": True,
        },
        {
            "name": "账目核对（flask ledger check）",
            "value": "从未运行"
            if ledger is None
            else (
                f"{_age_words((utcnow() - ledger['at']).total_seconds())}："
                + ("账目一致" if ledger["violations"] == 0 else f"发现 {ledger['violations']} 处不一致")
            ),
            "threshold": "每天运行，结果一致",
            "ok": ledger is not None
            and ledger["violations"] == 0
            and utcnow() - ledger["at"] <= dt.timedelta(days=1, hours=1),
        },
        {
            "name": "instance/ 所在磁盘剩余空间",
            "value": f"{f['disk_free_bytes'] / 1024**3:.1f} GB",
            "threshold": f"不少于 {DISK_LOW // 1024**3} GB",
            "ok": f["disk_free_bytes"] >= DISK_LOW,
        },
    ]
    return rows
