"""`flask ledger check`: the books balance."""

import click
from flask.cli import AppGroup, with_appcontext


@click.group(cls=AppGroup)
def ledger():
    """The books: money, dues, tickets and certificates agree."""


@ledger.command("check")
@with_appcontext
def ledger_check():
    """Print every place where the books do not balance; exit 1 if there is one. The result
    and its time are kept for GET /metrics and 运行状态."""
    from sbweb import ops
    from sbweb.services import ledger as service

    found = service.check()
    try:
        ops.record_ledger_check(len(found))
    except Exception as exc:  # noqa: BLE001 - the job storage out of reach: the check still reports
        click.echo(f"ledger check: result not recorded for monitoring ({type(exc).__name__})", err=True)
    for violation in found:
        click.echo(str(violation))
    click.echo(f"ledger check: {len(found)} violation(s)")
    if found:
        raise SystemExit(1)
