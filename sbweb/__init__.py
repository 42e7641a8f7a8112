"""sbweb: 社保费缴纳 for urban-rural residents and flexible-employment workers."""

import os
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

from sbweb import database, instance_files
from sbweb.config import Defaults, from_environment
from sbweb.db import db, prepare_sqlite
from sbweb.extensions import compress, csrf, migrate

MIGRATIONS = str(Path(__file__).parent / "migrations")


def _seconds(value) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def engine_options(config) -> dict:
    """SQLAlchemy's engine options with the database waits bounded (SQLITE_BUSY_TIMEOUT,
    DATABASE_*_TIMEOUT): a request behind a lock gives up and answers 503 instead of hanging until
    gunicorn kills its worker. connect_args given in SQLALCHEMY_ENGINE_OPTIONS win."""
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        # pysqlite's timeout is SQLite's busy timeout: how long a statement waits for a lock.
        ours = {"timeout": _seconds(config["SQLITE_BUSY_TIMEOUT"])}
    else:
        # A server restart or failover ends every pooled connection: test each before use, so
        # only the requests in flight fail, not the next one of every worker.
        options.setdefault("pool_pre_ping", True)
        ours = {}
        if url.get_backend_name() == "postgresql":
            waits = [
                f"-c {name}={int(_seconds(config[setting]) * 1000)}"
                for name, setting in (
                    ("lock_timeout", "DATABASE_LOCK_TIMEOUT"),
                    ("statement_timeout", "DATABASE_STATEMENT_TIMEOUT"),
                )
            ]
            ours = {"options": " ".join(waits)}
            if _seconds(config["DATABASE_CONNECT_TIMEOUT"]) > 0:  # libpq: whole seconds, at least 2
                ours["connect_timeout"] = max(2, round(_seconds(config["DATABASE_CONNECT_TIMEOUT"])))
    options["connect_args"] = {**ours, **options.get("connect_args", {})}
    return options


class App(Flask):
    def handle_exception(self, e: Exception):
        """An exception past the view and its error handlers (a response hook's, the session's
        save): Flask would log its traceback and run every response hook again, waiting on the
        database a second time. The database out of reach is passed on to the outermost layer
        instead, which answers 503 at once (sbweb.views.errors.last_resort)."""
        from sbweb.views.errors import database_unavailable

        if database_unavailable(e):
            raise e
        return super().handle_exception(e)


def create_app(test_config: dict | None = None) -> Flask:
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("SBWEB_INSTANCE_PATH")
    app = App(__name__, instance_relative_config=True, instance_path=instance_path)
    app.config.from_object(Defaults)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.update(from_environment())
    else:
        app.config.update(test_config)

    Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'sbweb.sqlite3'}"
    # A SQLite file is opened, never created, here: only `flask db upgrade` makes one (sbweb.database).
    app.config["SQLALCHEMY_DATABASE_URI"] = database.open_existing_only(
        app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path
    )
    database_file = database.sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    # Whatever this process writes from here on is its owner's only, and so is what is there.
    instance_files.keep_private(app.instance_path, *filter(None, [database_file]))
    from sbweb import secret

    secret.configure(app.config, app.instance_path)
    app.config.setdefault("PAYMENT_KEY_DIR", str(Path(app.instance_path) / "keys"))
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)

    from sbweb import logs

    logs.init_app(app)
    db.init_app(app)
    with app.app_context():
        prepare_sqlite(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    # Responses compressed (br, gzip) when the browser asks: registered first, its hook runs last,
    # on the finished response, and adds Vary: Accept-Encoding.
    compress.init_app(app)
    csrf.init_app(app)
    from sbweb import identity, metrics

    metrics.init_app(app)  # first: its clock starts before any other hook
    identity.init_app(app)  # who is signed in, then what their level may open
    from sbweb.htmx import htmx

    htmx.init_app(app)
    from sbweb import security, templating, typed

    security.init_app(app)
    typed.init_app(app)
    templating.init_app(app)

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
    from sbweb.identity import init_host_signin

    init_host_signin(app)

    from sbweb import request_checks
    from sbweb.views import register

    register(app)
    request_checks.init_app(app)
    from sbweb import limits

    limits.init_app(app)
    from sbweb.htmx import one_round_trip

    app.wsgi_app = one_round_trip(app.wsgi_app)  # an HTMX POST's 303 followed here, in one round trip
    from sbweb.views.errors import last_resort

    app.wsgi_app = last_resort(app.wsgi_app, retry_after=app.config["DATABASE_RETRY_AFTER"])
    from sbweb.views.ops import any_host

    app.wsgi_app = any_host(app.wsgi_app, app)
    from sbweb import assets

    assets.init_app(app)  # outermost: fingerprinted static files never reach Flask

    from sbweb.cli import register_cli

    register_cli(app)
    return app
