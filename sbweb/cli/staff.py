"""`flask staff create`: back-office staff accounts."""

import click
from flask.cli import AppGroup, with_appcontext


@click.group(cls=AppGroup)
def staff():
    """Back-office staff accounts."""


@staff.command("create")
@click.argument("username")
@click.option("--name", required=True, help="the name shown in the audit log")
@click.option("--role", type=click.Choice(["reviewer", "admin"]), default="reviewer", show_default=True)
@click.password_option(envvar="SBWEB_STAFF_PASSWORD", help="asked for when not given")
@with_appcontext
def staff_create(username, name, role, password):
    """Create a staff account (审核员 reviewer / 管理员 admin)."""
    from sbweb.services import staff as staff_service

    try:
        staff_service.create(username, name, password, role)
    except staff_service.StaffError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"staff {username} ({role}) created")
