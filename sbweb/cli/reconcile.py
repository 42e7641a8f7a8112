"""`flask reconcile`: 对账 of a day, outside the daily job."""

import click
from flask.cli import with_appcontext


@click.command("reconcile")
@click.option("--day", help="the Asia/Shanghai day to reconcile, YYYY-MM-DD (default: yesterday)")
@click.option("--provider", "provider_names", multiple=True, help="a configured payment provider (default: every one)")
@with_appcontext
def reconcile(day, provider_names):
    """对账: match a day's provider bill with our orders and list the differences (the daily
    job does it at 03:00 Shanghai for yesterday); resolve them in the back office."""
    import datetime as dt

    from sbweb.clock import shanghai_today
    from sbweb.payments import ProviderError
    from sbweb.services import reconciliation

    try:
        when = dt.date.fromisoformat(day) if day else shanghai_today() - dt.timedelta(days=1)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint="--day") from None
    failed = False
    for name in provider_names or reconciliation.billed_providers():
        try:
            run = reconciliation.reconcile(when, name)
        except reconciliation.ReconError as exc:
            click.echo(f"{name} {when.isoformat()}: {exc.message}", err=True)
            failed = True
        except ProviderError as exc:
            click.echo(f"{name} {when.isoformat()}: bill not fetched: {exc}", err=True)
            failed = True
        else:
            click.echo(reconciliation.describe(run))
    if failed:
        raise SystemExit(1)
