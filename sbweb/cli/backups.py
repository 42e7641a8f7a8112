"""`flask backup` and `flask restore`."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("backup")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(path):
    """A consistent copy of the database, safe while the app runs (default: a new file in
    instance/backups/; SQLite's online backup, or pg_dump's custom format)."""
    from sbweb import backups
    from sbweb.db import db

    try:
        click.echo(backups.backup(db.engine, current_app.instance_path, path))
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace the database that is there (it is backed up first)")
@with_appcontext
def restore(path, force):
    """Put a backup made by `flask backup` back as the app's database (PostgreSQL: waits at most
    MIGRATION_LOCK_TIMEOUT for a table an open transaction holds, then gives up)."""
    from sbweb import backups
    from sbweb.db import db

    try:
        click.echo(
            backups.restore(
                db.engine,
                current_app.instance_path,
                path,
                force=force,
                lock_timeout=current_app.config["MIGRATION_LOCK_TIMEOUT"],
            )
        )
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
