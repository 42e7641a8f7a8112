"""Embedded defaults. A pilot overrides them in instance/config.py or with SBWEB_* environment
variables; tests pass a mapping to create_app()."""

import json
import os
from datetime import timedelta


class Defaults:
    # SQLite in instance/ unless DATABASE_URL says otherwise (set in create_app).
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # How long a request waits for the database before the resident is told 系统繁忙，请稍后再试
    # (503 with Retry-After) — well inside gunicorn's 30 s, so no worker is killed for waiting.
    # SQLite: the wait for a lock another process holds (a writer, a backup). PostgreSQL: for a
    # row or table lock (lock_timeout), for one statement (statement_timeout), and to connect.
    # A timedelta (or seconds); 0 turns a PostgreSQL limit off.
    SQLITE_BUSY_TIMEOUT = timedelta(seconds=10)
    DATABASE_LOCK_TIMEOUT = timedelta(seconds=10)
    DATABASE_STATEMENT_TIMEOUT = timedelta(seconds=20)
    DATABASE_CONNECT_TIMEOUT = timedelta(seconds=5)
    # The Retry-After of that 503 (seconds): about what a database restart takes.
    DATABASE_RETRY_AFTER = 10

    # Sessions: who is signed in lives on the server (sbweb.identity.sessions, table
    # login_sessions); the signed cookie holds its random token and page state only. Secure (HTTPS
    # only) is off because `make run` serves plain http on 127.0.0.1; a live pilot turns it on.
    SESSION_COOKIE_NAME = "sbweb_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    # Earlier SECRET_KEYs that still read (never sign) sessions, CSRF tokens and staff cookies,
    # so a rotated key signs nobody out: newest last, dropped once the cookie lifetime has passed.
    SECRET_KEY_FALLBACKS = ()
    # Content-Security-Policy: origins a form may post (and be redirected) to besides our own —
    # a live provider's gateway, e.g. ["https://openapi.alipay.com"] — and who may frame us.
    CSP_FORM_ACTION = ()
    FRAME_ANCESTORS = ("'self'",)
    # Strict-Transport-Security on requests that arrived over TLS (0 = never).
    HSTS_SECONDS = 31536000
    # A signed-in resident or staff member who makes no request for this long must sign in again
    # (sliding, checked on the server), and nobody stays signed in longer than the absolute limit.
    SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
    SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=12)
    STAFF_SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=8)
    # The cookie outlives the identity in it, so that the next visit can say the session ended
    # (您已较长时间未操作…) instead of silently showing the sign-in page; it holds no identity then.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # The cookie is re-sent only when its content changes (the idle limit slides on the server).
    SESSION_REFRESH_EACH_REQUEST = False

    # Static files: each version written once, with its Brotli and gzip copies, to this directory
    # (None: instance/assets) and served under a URL with its content hash, cached for a year.
    ASSET_DIR = None
    # Pages and fragments compressed (Flask-Compress) when the browser accepts it. Streamed
    # responses (downloads) are left as they are.
    COMPRESS_ALGORITHM = ("br", "gzip")
    COMPRESS_BR_LEVEL = 4
    COMPRESS_LEVEL = 6
    COMPRESS_STREAMS = False

    # Forms: nothing a resident types comes near this; a garbled 10 MB post is refused early.
    MAX_CONTENT_LENGTH = 64 * 1024
    WTF_CSRF_TIME_LIMIT = 4 * 3600
    # WTForms' own Chinese messages (Meta.locales = ["zh"]) for the validators that name none:
    # Flask-WTF's i18n would need Flask-Babel, and without it gives the English ones.
    WTF_I18N_ENABLED = False
    WTF_CSRF_SSL_STRICT = False

    # The 主管税务机关 (its 11-digit code) a resident is told to call when theirs is unknown (not
    # signed in, or no phone on file for their agency's office); None: the national 12366.
    DEFAULT_TAX_OFFICE: str | None = None

    # Payments. Every channel a host may allow is served by a provider; the embedded default
    # routes all three to the sandbox: 支付宝 and 微信支付 to `sandbox`, which speaks Alipay's
    # mobile web payment protocol, and 云闪付 to `unionpay`, our UnionPay client, which the
    # sandbox adds pointed at its own 银联 gateway (sbweb.payments.sandbox_unionpay) unless
    # PAYMENT_PROVIDERS configures a real one under that name.
    PAYMENT_CHANNELS = {"alipay": "sandbox", "wechat": "sandbox", "unionpay": "unionpay"}
    # Real providers, by the name PAYMENT_CHANNELS uses: {"alipay": {"kind": "alipay", …}}.
    # Each kind's settings are described in its module (sbweb.payments.registry lists them).
    PAYMENT_PROVIDERS: dict = {}
    ORDER_TIMEOUT = timedelta(minutes=15)
    # 银行缴费协议 withholding (自动缴, 批扣) goes through this provider; None: not offered (a pilot
    # whose providers cannot withhold: no agreement is signed, the daily job does nothing).
    WITHHOLD_PROVIDER: str | None = "sandbox"
    # 扣款预告: a holder with a mail address is told what will be taken this long before it is
    # (the daily run announces a due, the next day's run takes it); 0 takes it in the same run,
    # right after the mail.
    WITHHOLD_NOTICE = timedelta(hours=20)
    # The 支付中 page asks the provider at most this often per order.
    ORDER_QUERY_INTERVAL = timedelta(seconds=3)
    # The stuck-order job queries orders in 支付中 for longer than this.
    STUCK_ORDER_AFTER = timedelta(minutes=1)
    # Absolute base for notify/return URLs when the app sits behind a proxy; else the request's.
    PUBLIC_BASE_URL = None
    # A CJK font file to embed in PDFs (default: the first of sbweb.pdf.FONT_CANDIDATES found).
    PDF_FONT_PATH = None
    # Rendered PDFs kept in each process's memory (each gunicorn worker its own), least recently
    # downloaded dropped first; 0 keeps none. An entry is keyed by the document's state, so a
    # voided document is never served from it (sbweb.services.documents.download).
    PDF_CACHE_BYTES = 8_000_000
    # The program that reads the 验证码 aloud (听语音验证码, a WAV): Debian's espeak-ng. Where it is
    # not installed (or this is None) the audio is not offered; the question in words still is.
    CAPTCHA_SPEECH: str | None = "espeak-ng"

    # The sandbox provider (a faithful simulation of Alipay mobile web payment). It takes no real
    # money: a pilot that goes live sets SANDBOX_ENABLED = False and configures a real provider.
    SANDBOX_ENABLED = True
    SANDBOX_APP_ID = "2026000000000001"
    SANDBOX_SELLER_ID = "2088000000000001"
    # "wsgi" delivers notifications through the app in-process; "http" posts to notify_url.
    SANDBOX_TRANSPORT = "wsgi"
    SANDBOX_LATE_NOTIFY = timedelta(seconds=20)
    # 协议扣款 in the sandbox: a withholding above this (fen) is refused with 余额不足.
    SANDBOX_WITHHOLD_BALANCE = 500_000
    # Alipay's retry schedule for an unanswered notify (seconds after the first attempt).
    SANDBOX_NOTIFY_RETRIES = (4 * 60, 10 * 60, 10 * 60, 3600, 2 * 3600, 6 * 3600, 15 * 3600)

    # Jobs: huey on SQLite in instance/ unless HUEY_REDIS_URL is set.
    HUEY_REDIS_URL = None
    HUEY_IMMEDIATE = False
    # `make run` starts a consumer in the app process; a scaled pilot runs `flask jobs run`.
    HUEY_IN_PROCESS = False

    # The manual 证件号码 + 姓名 lookup: failures allowed per number and per client address in the
    # window before it refuses (a pilot behind a proxy must pass the client address on: ProxyFix).
    LOOKUP_FAILURES_PER_NUMBER = 5
    LOOKUP_FAILURES_PER_CLIENT = 20
    LOOKUP_WINDOW = timedelta(minutes=15)

    # One-time codes (验证码) mailed to the address on file make a session verified (and bind a
    # WeChat user to its person): how long a code lives, wrong tries per code, codes per person
    # in the window.
    VERIFY_CODE_TTL = timedelta(minutes=10)
    VERIFY_CODE_ATTEMPTS = 5
    VERIFY_CODE_SENDS = 3
    VERIFY_CODE_SEND_WINDOW = timedelta(hours=1)
    # Rate limits per client address (flask-limiter syntax, "N per minute; M per hour"): the
    # lookups by 证件号码 + 姓名 (on top of the throttle above), 验证码 images and answers, whatever
    # sends mail, the staff sign-in, 证明核验 by code. Mobile carriers put many phones behind one
    # address, so these stop scripts, not residents. See sbweb/limits.py for the endpoints.
    RATE_LIMIT_LOOKUP = "20 per minute; 200 per hour"
    RATE_LIMIT_CAPTCHA = "30 per minute; 300 per hour"
    RATE_LIMIT_MAIL = "10 per 10 minutes; 30 per hour"
    RATE_LIMIT_STAFF_LOGIN = "10 per 5 minutes"
    RATE_LIMIT_VERIFY = "60 per minute"
    # 获取验证码 and the code typed, per address (each code and person has limits of its own too).
    RATE_LIMIT_CODE = "20 per 10 minutes; 60 per hour"
    # The machine API (/api/v1/), per client (its key id), not per address: an agency's batch job
    # and the tax bureau's poller each have their own counter.
    RATE_LIMIT_API = "600 per minute"
    # The API's seen nonces (the replay check): in Redis when set (REDIS_URL sets it too), shared by
    # every process, kept for twice the replay window; else in the database (notify_nonces), which
    # every process shares as well. Redis out of reach: the database, never a 500.
    API_NONCE_REDIS_URL = None
    # How far a signed request's X-SB-Timestamp may be from our clock, either way (seconds).
    API_REPLAY_WINDOW = 300
    # Webhooks (sbweb.services.webhooks): the wait after the n-th failed attempt is
    # BASE × 2^(n−1) seconds, at most CAP; after MAX_ATTEMPTS the delivery is failed (shown in the
    # back office, 重新发送). A receiver has TIMEOUT seconds to answer.
    WEBHOOK_RETRY_BASE = 30
    WEBHOOK_RETRY_CAP = 6 * 3600
    WEBHOOK_MAX_ATTEMPTS = 12
    WEBHOOK_TIMEOUT = 10
    # Where the counters live: this process's memory, or Redis shared by every process (REDIS_URL
    # sets it too), e.g. "redis://127.0.0.1:6379/1". If Redis cannot be reached, each process
    # counts in its own memory until it can again: never a 500, never unlimited.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_STORAGE_OPTIONS: dict = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_KEY_PREFIX = "sbweb"
    # Behind a reverse proxy: how many proxies' X-Forwarded-For (and -Proto) entries to trust for
    # the client address (rate limits, lookup throttle) and for https (HSTS). 0: the direct peer.
    PROXY_FIX_X_FOR = 0
    PROXY_FIX_X_PROTO = 0

    # GET /metrics answers only these client addresses or networks (as ProxyFix gives the
    # address); Prometheus on the same machine by default.
    METRICS_ALLOW = ("127.0.0.1", "::1")

    # Logs: "text", or "json" (one object a line: time in UTC, level, logger, message,
    # request_id); identity numbers are masked in both.
    LOG_FORMAT = "text"

    # Host-app identity sandbox: 同意授权 signs in as a demo resident of the tester's choice (only
    # the residents of sbweb/demo/residents.toml, never a real person). Off when live.
    HOST_SANDBOX_ENABLED = True
    # Real host-app sign-in (the host's OAuth), by name: {"alipay": {"kind": "alipay", …}}.
    # Inside that host app, 同意授权 goes through it (sbweb.identity.hosts lists the kinds).
    HOST_SIGNIN: dict = {}
    # The tax bureau's own apps as hosts (sbweb.identity.hosts.apps): recognised by a regular
    # expression searched in the user agent, shown by name (no logo), no 授权 there (residents
    # type 证件信息: the lookup level, enough to pay 城乡居民 and 灵活就业), and only `channels`
    # offered, in that order. The tokens below are placeholders: the real ones come from the
    # bureau's app team and are set here (instance/config.py, or SBWEB_TAX_APP_HOSTS as JSON).
    TAX_APP_HOSTS: list = [
        {"key": "gztax", "name": "贵州税务", "user_agent": r"GZTaxApp/", "channels": ["unionpay", "alipay"]},
        {"key": "sst", "name": "税税通", "user_agent": r"SSTApp/", "channels": ["unionpay", "alipay"]},
    ]

    # Mail (发送至邮箱), through the durable outbox in sbweb/mail.py. No MAIL_SERVER: the embedded
    # default writes each mail as an .eml file into instance/outbox/; set it to send by SMTP.
    MAIL_SERVER = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "社保费缴纳 <noreply@sbweb.invalid>"
    # Seconds an SMTP connect or reply may take before the attempt counts as failed.
    MAIL_TIMEOUT = 10
    # Mails one person may have queued in the window (a retry of a failed one is not a new mail).
    MAIL_RATE_LIMIT = 5
    MAIL_RATE_WINDOW = timedelta(hours=1)
    # Seconds to wait before each retry of a mail the server refused or never took; after the
    # last one fails too, the mail is `failed` and the resident sees 发送失败 with a retry button.
    MAIL_RETRY_DELAYS = (30, 120, 600, 1800, 3600)

    # `flask db upgrade` on a live PostgreSQL database: how long a migration waits for a table
    # lock (the app's queries queue behind it meanwhile), and how long one statement may run.
    MIGRATION_LOCK_TIMEOUT = timedelta(seconds=5)
    MIGRATION_STATEMENT_TIMEOUT = timedelta(minutes=10)

    DEMO_DATA = True


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _typed(name: str, value: str):
    """An environment string as the type of the setting's default: true/false/1/0 for booleans,
    a number for numbers, seconds for durations, comma-separated seconds for schedules, JSON
    for lists and mappings."""
    default = getattr(Defaults, name, None)
    text = value.strip()
    try:
        if isinstance(default, bool):
            return _BOOLEANS.get(text.lower(), value)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, timedelta):
            return timedelta(seconds=float(text))
        if isinstance(default, tuple) and all(isinstance(v, str) for v in default):
            return tuple(v for v in text.replace(",", " ").split() if v)  # origins, space/comma separated
        if isinstance(default, (list, dict)):
            return json.loads(text)  # structured settings (TAX_APP_HOSTS) as JSON
        if isinstance(default, tuple) and all(isinstance(v, (int, float)) for v in default):
            parts = [v for v in text.replace(" ", "").split(",") if v]
            return tuple(float(v) if "." in v else int(v) for v in parts)
    except ValueError:
        raise ValueError(f"SBWEB_{name}={value!r}: expected {type(default).__name__}") from None
    return value


def from_environment() -> dict:
    """SBWEB_FOO=bar becomes FOO='bar', typed like the default: true/false/1/0 for booleans,
    numbers, seconds for durations (SBWEB_MAIL_RATE_WINDOW=3600), comma-separated seconds for
    schedules (SBWEB_MAIL_RETRY_DELAYS=30,120,600). DATABASE_URL and REDIS_URL keep their
    usual names (REDIS_URL: jobs, and rate limits unless SBWEB_RATELIMIT_STORAGE_URI says)."""
    found = {}
    for key, value in os.environ.items():
        if not key.startswith("SBWEB_"):
            continue
        name = key[len("SBWEB_") :]
        found[name] = _typed(name, value)
    if os.environ.get("DATABASE_URL"):
        found["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if os.environ.get("REDIS_URL"):
        found["HUEY_REDIS_URL"] = os.environ["REDIS_URL"]
        found.setdefault("RATELIMIT_STORAGE_URI", os.environ["REDIS_URL"])
        found.setdefault("API_NONCE_REDIS_URL", os.environ["REDIS_URL"])
    return found
