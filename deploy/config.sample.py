# instance/config.py for a scaled pilot: copy this file there (`cp deploy/config.sample.py
# instance/config.py`) and fill it in. Anything here may instead come from the environment as
# SBWEB_NAME (typed like the default in sbweb/config.py); DATABASE_URL and REDIS_URL keep their
# own names and win over the values below.
import os
from datetime import timedelta

# PostgreSQL and Redis (huey's jobs: notify delivery and retries, stuck orders, mail, 对账).
SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "postgresql+psycopg://sbweb@127.0.0.1:5432/sbweb")
HUEY_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Each gunicorn worker keeps up to pool_size + max_overflow connections: keep
# workers × (pool_size + max_overflow) + the job consumer's below PostgreSQL's max_connections.
SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 3, "max_overflow": 2, "pool_timeout": 10}

# One secret for every process and machine (sessions, CSRF, the lookup limits' keys). Without
# it each machine makes its own in instance/secret_key, which only works on one machine.
SECRET_KEY = os.environ.get("SBWEB_SECRET_KEY")

# Behind nginx or another proxy: believe one hop of X-Forwarded-For and X-Forwarded-Proto.
PROXY_FIX_X_FOR = 1
PROXY_FIX_X_PROTO = 1
# GET /metrics answers only these addresses (after PROXY_FIX_X_FOR): Prometheus on this machine;
# add its address or network if it scrapes from elsewhere (deploy/prometheus/prometheus.yml).
METRICS_ALLOW = ("127.0.0.1", "::1")
PUBLIC_BASE_URL = "https://pay.example.gov.cn"  # your host: notify and return URLs are built on it
TRUSTED_HOSTS = ["pay.example.gov.cn"]  # requests for any other host are refused
SESSION_COOKIE_SECURE = True

# `flask db upgrade` on the live database: give up rather than queue behind a long transaction.
MIGRATION_LOCK_TIMEOUT = timedelta(seconds=5)
MIGRATION_STATEMENT_TIMEOUT = timedelta(minutes=10)

# The sandbox and the host-app sandbox take no real money and sign in as demo residents: a
# pilot with real residents turns both off and configures a real provider (the app refuses to
# start with either beside a provider that takes real money).
SANDBOX_ENABLED = True
HOST_SANDBOX_ENABLED = True
# The sandbox delivers its notifications through the app itself, in the process that sends
# them (a web worker or the job consumer): nothing to configure for several processes.
SANDBOX_TRANSPORT = "wsgi"

# Mail through your relay; else mails are written to instance/outbox/ and nobody receives them.
# MAIL_SERVER = "smtp.example.gov.cn"
# MAIL_PORT = 587
# MAIL_USE_TLS = True
# MAIL_USERNAME = "sbweb"
# MAIL_PASSWORD = os.environ.get("SBWEB_MAIL_PASSWORD")
# MAIL_DEFAULT_SENDER = "社保费缴纳 <noreply@example.gov.cn>"

# A live provider's gateway, which 去支付 posts and redirects to.
# CSP_FORM_ACTION = ("https://openapi.alipay.com",)
