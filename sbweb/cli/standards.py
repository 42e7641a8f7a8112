"""`flask standards load|list|set|pause`: the contribution standards per region and year (缴费标准)
and each region's daily reconciliation window."""

import click
from flask.cli import AppGroup, with_appcontext


@click.group(cls=AppGroup)
def standards():
    """Contribution standards per region and year (缴费标准) and reconciliation windows."""


@standards.command("load")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def standards_load(path):
    """Load or update standards from a data file (default: the project's own)."""
    from sbweb.db import write_transaction
    from sbweb.services import standards as service
    from sbweb.services.provisional import Settlement

    settlement = Settlement()
    try:
        with write_transaction():
            counts = service.load_file(path or service.DATA, settlement)
    except service.StandardError as exc:
        raise click.ClickException("nothing loaded:\n" + "\n".join(exc.problems)) from None
    click.echo(f"standards loaded: {counts}")
    if settlement.total:
        click.echo(settlement.message)


@standards.command("list")
@click.option("--region", help="6-digit region code")
@click.option("--year", type=int)
@with_appcontext
def standards_list(region, year):
    """Every standard (with its revision), and each region's pause."""
    from sqlalchemy import select

    from sbweb.db import db
    from sbweb.models import Region, Standard
    from sbweb.services import standards as service

    query = select(Standard).order_by(Standard.region_code, Standard.year, Standard.category)
    if region:
        query = query.where(Standard.region_code == region)
    if year:
        query = query.where(Standard.year == year)
    for standard in db.session.scalars(query):
        click.echo(service.describe(standard))
    for r in db.session.scalars(select(Region).order_by(Region.code)):
        pause = f"{r.pause_from}-{r.pause_until}" if r.pause_from else "none"
        click.echo(f"region {r.code} {r.name} pause {pause}")


@standards.command("set")
@click.argument("region")
@click.argument("year", type=int)
@click.argument("category", type=click.Choice(["flexible", "resident"]))
@click.option("--base-min", help="yuan, e.g. 4504.00")
@click.option("--base-max", help="yuan")
@click.option("--pension-rate", help="percent of the base, e.g. 20")
@click.option("--medical-rate", help="percent of the base, e.g. 9.5")
@click.option("--grades", help="yuan, comma-separated, e.g. 100,200,300")
@click.option("--medical", help="residents' medical amount in yuan, e.g. 400.00")
@click.option("--late-fee", help="滞纳金 percent per day, e.g. 0.05 (0 = none)")
@click.option("--opens", help="first day of the collection window, YYYY-MM-DD")
@click.option("--closes", help="last day of the collection window, YYYY-MM-DD")
@with_appcontext
def standards_set(region, year, category, **options):
    """Create a year's standard or change one; options not given keep their value.
    A change re-prices the open dues it priced that no order is paying."""
    from sqlalchemy import select

    from sbweb.db import db, write_transaction
    from sbweb.models import Standard
    from sbweb.money import fen_to_yuan
    from sbweb.services import standards as service
    from sbweb.services.provisional import Settlement

    current = db.session.scalar(select(Standard).filter_by(region_code=region, year=year, category=category))
    spec = {"region": region, "year": year, "category": category}
    if current is not None:
        spec.update(
            {
                "base_min": current.base_min_fen and fen_to_yuan(current.base_min_fen),
                "base_max": current.base_max_fen and fen_to_yuan(current.base_max_fen),
                "pension_rate": current.pension_rate_bp and service.percent(current.pension_rate_bp),
                "medical_rate": current.medical_rate_bp and service.percent(current.medical_rate_bp),
                "grades": [fen_to_yuan(g) for g in current.grades_fen or []],
                "medical": current.medical_fen and fen_to_yuan(current.medical_fen),
                "late_fee": service.percent(current.late_fee_bp_per_day) if current.late_fee_bp_per_day else "0",
                "opens": current.opens,
                "closes": current.closes,
            }
        )
    spec.update({k: v for k, v in options.items() if v is not None})
    settlement = Settlement()
    try:
        values = service.parse_standard(spec)
        with write_transaction():
            standard, changed = service.save_standard(values, settlement)
            click.echo(("saved: " if changed else "unchanged: ") + service.describe(standard))
        if settlement.total:
            click.echo(settlement.message)
    except service.StandardError as exc:
        raise click.ClickException("nothing changed:\n" + "\n".join(exc.problems)) from None


@standards.command("pause")
@click.argument("region")
@click.argument("name")
@click.option("--window", help="HH:MM-HH:MM Asia/Shanghai, e.g. 22:50-00:10; omit for none")
@with_appcontext
def standards_pause(region, name, window):
    """Set a region's daily reconciliation window (payments pause in it)."""
    from sbweb.db import write_transaction
    from sbweb.services import standards as service

    try:
        with write_transaction():
            service.save_region(region, name, window)
    except service.StandardError as exc:
        raise click.ClickException("nothing changed:\n" + "\n".join(exc.problems)) from None
    click.echo(f"region {region} {name} pause {window or 'none'}")
