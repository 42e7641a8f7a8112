"""`flask secret-key rotate`: the app's SECRET_KEY."""

import click
from flask import current_app
from flask.cli import AppGroup


@click.group("secret-key", cls=AppGroup)
def secret_key():
    """The app's SECRET_KEY (sessions, CSRF tokens, staff cookies)."""


@secret_key.command("rotate")
@click.option("--keep", default=2, show_default=True, help="earlier keys that still read old cookies")
def secret_key_rotate(keep):
    """A new instance/secret_key; the old one still reads what it signed (restart every process)."""
    from pathlib import Path

    from sbweb import secret

    path = Path(current_app.instance_path) / secret.KEY_FILE
    if not path.exists() or path.read_text().strip() != current_app.config["SECRET_KEY"]:
        raise click.ClickException(
            "SECRET_KEY is set in configuration: rotate it there (the old key "
            "into SECRET_KEY_FALLBACKS, a new one as SECRET_KEY)"
        )
    secret.rotate(current_app.instance_path, keep=keep)
    click.echo(
        f"new secret key in {path}; the old one reads existing sessions until it leaves "
        f"{path.name}.old. Restart every app process."
    )
