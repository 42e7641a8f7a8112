"""sbweb: 社保费缴纳 for urban-rural residents and flexible-employment workers."""
import logging
import os
import secrets
import traceback
from pathlib import Path

from flask import Flask
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from sbweb.config import Defaults, from_environment
from sbweb.db import db, prepare_sqlite
from sbweb.identity import redact
from sbweb.instance_files import read_or_create

csrf = CSRFProtect()
migrate = Migrate()
MIGRATIONS = str(Path(__file__).parent / "migrations")


def _install_redaction() -> None:
    """Identity numbers never reach a log line, whoever logs them and wherever it goes: each
    record is cleaned as it is made (message, arguments and traceback), before any handler."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "sbweb_redacts", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: leave it to logging's own error path
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return record

    factory.sbweb_redacts = True
    logging.setLogRecordFactory(factory)


def create_app(test_config: dict | None = None) -> Flask:
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("SBWEB_INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    app.config.from_object(Defaults)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.update(from_environment())
    else:
        app.config.update(test_config)

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'sbweb.sqlite3'}"
    app.config.setdefault("PAYMENT_KEY_DIR", str(Path(app.instance_path) / "keys"))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"], "connect_args": {"timeout": 20}}
    else:
        # A server restart or failover ends every pooled connection: test each before use, so
        # only the requests in flight fail, not the next one of every worker.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_pre_ping": True, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}

    _setup_logging(app)
    if app.config["TRUSTED_PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    db.init_app(app)
    with app.app_context():
        prepare_sqlite(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    csrf.init_app(app)
    from sbweb.htmx import htmx
    htmx.init_app(app)
    from sbweb import security
    security.init_app(app)

    from sbweb import jobs
    jobs.init_app(app)
    from sbweb import mail
    mail.init_app(app)
    from sbweb import pdf
    try:  # once per process, so a worker's first download is not 0.2 s slower than the rest
        pdf.register_font(app.config.get("PDF_FONT_PATH"))
    except pdf.FontMissing as exc:
        app.logger.warning("%s", exc)

    from sbweb import models  # noqa: F401  (registers the tables for migrations)
    from sbweb.payments.registry import init_providers
    init_providers(app)
    from sbweb.hostauth import init_host_signin
    init_host_signin(app)

    from sbweb.views import register
    register(app)

    from sbweb.cli import register_cli
    register_cli(app)
    return app


def _instance_secret(path: Path) -> str:
    """A per-installation secret, made once (by whichever worker starts first); a pilot may set
    SECRET_KEY instead."""
    return read_or_create(path, lambda: secrets.token_hex(32).encode()).decode().strip()


def _setup_logging(app: Flask) -> None:
    _install_redaction()
    if os.environ.get("SBWEB_LOG_LEVEL"):
        logging.getLogger("sbweb").setLevel(os.environ["SBWEB_LOG_LEVEL"])
