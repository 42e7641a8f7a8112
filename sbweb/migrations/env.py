import logging
from logging.config import fileConfig

import click
from alembic import context
from flask import current_app
from sqlalchemy.exc import OperationalError

from sbweb import database

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    try:
        # this works with Flask-SQLAlchemy<3 and Alchemical
        return current_app.extensions["migrate"].db.engine
    except (TypeError, AttributeError):
        # this works with Flask-SQLAlchemy>=3
        return current_app.extensions["migrate"].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine().url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


def render_item(type_, obj, autogen_context):
    """Our UTC-aware column type is a plain DateTime in the schema: write it so."""
    if type_ == "type" and obj.__class__.__name__ == "UTCDateTime":
        return "sa.DateTime()"
    return False


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives
    conf_args.setdefault("render_item", render_item)

    connectable = get_engine()
    instance = current_app.instance_path
    # A database this instance had and lost is refused, never made afresh (sbweb/database.py).
    database.prepare_to_migrate(connectable, instance)

    with connectable.connect() as connection:
        database.refuse_emptied(connection, instance)
        live = connection.dialect.name == "postgresql"
        if live:
            _bound_waits(connection)
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        applied = []
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            # One transaction per revision: each holds its locks only as long as it runs.
            transaction_per_migration=True,
            on_version_apply=lambda **kw: applied.append(", ".join(kw["heads"]) or "base"),
            **conf_args,
        )

        try:
            with context.begin_transaction():
                context.run_migrations()
        except OperationalError as exc:
            if not live or _gave_up(exc) is None:
                raise
            raise click.ClickException(_gave_up_message(exc, applied)) from None
        finally:
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)
        database.record_migrated(connection, instance)


def _sqlite_foreign_keys(connection, *, on: bool):
    """SQLite changes a table by rebuilding it (copy, drop, rename); with the app's
    foreign_keys=ON, dropping a table other rows point at (dues, declarations) fails, so the
    checks are off while migrating (a pragma only takes effect outside a transaction, hence the
    DBAPI connection) and every reference is checked when they come back on."""
    if on:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        connection.rollback()
        if broken:
            logger.warning("foreign keys broken after migrating: %s", broken[:20])
    connection.connection.dbapi_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _bound_waits(connection):
    """On a live database a migration must not queue forever behind a long transaction (and hold
    up every query queued behind it): it waits MIGRATION_LOCK_TIMEOUT for a lock, and a
    statement may run MIGRATION_STATEMENT_TIMEOUT, then it gives up and rolls back."""
    config = current_app.config
    for setting, name in (
        ("lock_timeout", "MIGRATION_LOCK_TIMEOUT"),
        ("statement_timeout", "MIGRATION_STATEMENT_TIMEOUT"),
    ):
        milliseconds = int(config[name].total_seconds() * 1000)
        connection.exec_driver_sql(f"SET {setting} = {milliseconds}")
    connection.commit()


def _gave_up(exc):
    """'lock' or 'statement' when PostgreSQL ended a statement for one of our timeouts."""
    code = getattr(exc.orig, "sqlstate", None)
    return {"55P03": "lock", "57014": "statement"}.get(code)


def _gave_up_message(exc, applied):
    config = current_app.config
    done = f"the database is at revision {applied[-1]}" if applied else "no revision was applied"
    if _gave_up(exc) == "lock":
        why = (
            f"a table lock was not granted within {config['MIGRATION_LOCK_TIMEOUT'].total_seconds():g} s "
            "(MIGRATION_LOCK_TIMEOUT): a transaction still open holds the table (see "
            "pg_stat_activity)"
        )
    else:
        why = (
            f"a statement ran longer than {config['MIGRATION_STATEMENT_TIMEOUT'].total_seconds():g} s "
            "(MIGRATION_STATEMENT_TIMEOUT)"
        )
    return (
        f"migration gave up: {why}. {done}; the revision that gave up was rolled back. "
        "Run `flask db upgrade` again when the database is quieter."
    )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
