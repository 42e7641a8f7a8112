"""sbweb: 社保费缴纳 for urban-rural residents and flexible-employment workers."""
import os
from pathlib import Path

from flask import Flask
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from sbweb import database, instance_files
from sbweb.config import Defaults, from_environment
from sbweb.db import db, prepare_sqlite

csrf = CSRFProtect()
migrate = Migrate()
MIGRATIONS = str(Path(__file__).parent / "migrations")


def create_app(test_config: dict | None = None) -> Flask:
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("SBWEB_INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
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
        app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path)
    database_file = database.sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    # Whatever this process writes from here on is its owner's only, and so is what is there.
    instance_files.keep_private(app.instance_path, *filter(None, [database_file]))
    from sbweb import secret
    secret.configure(app.config, app.instance_path)
    app.config.setdefault("PAYMENT_KEY_DIR", str(Path(app.instance_path) / "keys"))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"], "connect_args": {"timeout": 20}}
    else:
        # A server restart or failover ends every pooled connection: test each before use, so
        # only the requests in flight fail, not the next one of every worker.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_pre_ping": True, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}

    from sbweb import logs
    logs.init_app(app)
    db.init_app(app)
    with app.app_context():
        prepare_sqlite(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    csrf.init_app(app)
    from sbweb import auth
    auth.init_app(app)
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
    from sbweb import limits
    limits.init_app(app)
    from sbweb.views.errors import last_resort
    app.wsgi_app = last_resort(app.wsgi_app)

    from sbweb.cli import register_cli
    register_cli(app)
    return app
