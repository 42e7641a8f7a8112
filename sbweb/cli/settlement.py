"""`flask settlement make|list`: the daily settlement files of each tax office (每日结算文件), made
now for a day (the daily job makes yesterday's at 04:00 Shanghai)."""

import datetime as dt

import click
from flask.cli import AppGroup, with_appcontext


@click.group(cls=AppGroup)
def settlement():
    """Daily settlement files per tax office."""


def _day(text: str | None) -> dt.date:
    from sbweb.clock import shanghai_today

    if not text:
        return shanghai_today() - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("a day as YYYY-MM-DD", param_hint="--day") from None


@settlement.command("make")
@click.option("--day", "day_text", help="YYYY-MM-DD (Asia/Shanghai); default yesterday")
@with_appcontext
def make(day_text):
    """Make (or make again, where its money changed) every tax office's file of one day."""
    from sbweb.services import settlement_files

    day = _day(day_text)
    written = settlement_files.make_day(day)
    click.echo(f"{day.isoformat()}: {written} file(s) written")


@settlement.command("list")
@click.option("--day", "day_text", help="YYYY-MM-DD (Asia/Shanghai); default yesterday")
@with_appcontext
def list_files(day_text):
    """The files of one day: office, revision, tickets, items, refunds, paid and refunded fen."""
    from sbweb.services import settlement_files

    day = _day(day_text)
    for f in settlement_files.listed(day, day):
        click.echo(
            f"{f.tax_office.code}\tr{f.revision}\t{f.tickets}\t{f.items}\t{f.refunds}\t{f.paid_fen}\t{f.refunded_fen}"
        )
