"""Command-line tools: `flask demo load`, `flask standards …`, `flask jobs run|housekeeping`,
`flask reconcile`, `flask serve`, `flask secret-key rotate`, `flask backup`, `flask restore`."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


def register_cli(app):
    @app.cli.group()
    def demo():
        """Demo residents."""

    @demo.command("load")
    @with_appcontext
    def demo_load():
        """Load the demo residents with dues payable today (repeatable: nothing doubles)."""
        from sbweb import demo as demo_data

        counts = demo_data.load()
        click.echo(f"demo residents loaded: {counts}")

    @app.cli.group()
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

    @app.cli.group()
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

    @app.cli.group("secret-key")
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

    @app.cli.group()
    def jobs():
        """Background jobs."""

    @jobs.command("run")
    @click.option("--workers", default=2, show_default=True)
    def jobs_run(workers):
        """Run the job consumer in the foreground (for a scaled pilot). SIGINT stops it after the
        tasks in hand; SIGTERM at once."""
        import logging

        from sbweb.jobs import beat_at_start, huey

        refuse_unready()
        beat_at_start()
        # The consumer's own lines (tasks run, storage unreachable) go to stderr like gunicorn's.
        logging.basicConfig(
            level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
        )

        huey.create_consumer(workers=workers, worker_type="thread", periodic=True).run()

    @jobs.command("housekeeping")
    @with_appcontext
    def jobs_housekeeping():
        """Resolve stuck orders, expire unpaid ones and retry refunds once, now."""
        from sbweb.payments import orders

        click.echo(orders.housekeeping())

    @jobs.command("reminders")
    @with_appcontext
    def jobs_reminders():
        """Send today's 缴费提醒 now (the daily job does it at 09:00 Shanghai)."""
        from sbweb.clock import shanghai_today
        from sbweb.services import reminders

        click.echo(reminders.run_daily(shanghai_today()))

    @jobs.command("autopay")
    @with_appcontext
    def jobs_autopay():
        """自动缴 / 批扣 through bank agreements now (the daily job runs at 10:00 Shanghai). Dues
        left for residents (above the limit, not declared or confirmed by them) are counted, and
        each holder is mailed once about them; holders are mailed before (扣款预告, taken a
        WITHHOLD_NOTICE later) and after (扣款结果)."""
        from sbweb.services import withholding

        counts = withholding.run()
        click.echo(" ".join(f"{name}={counts[name]}" for name in withholding.COUNTS))
        click.echo(
            f"扣款 {counts['attempted']} 笔（成功 {counts['settled']}，失败 {counts['failed']}）；"
            f"对账时段暂缓 {counts['paused']} 笔；未扣款：超过单笔扣款限额 {counts['skipped_over_limit']} 笔，"
            f"申报未经本人验证 {counts['skipped_unverified']} 笔，补缴未经确认 {counts['skipped_unconfirmed']} 笔，退费后重新应缴 {counts['skipped_reopened']} 笔，"
            f"基数不允许用于批扣 {counts['skipped_not_allowed']} 笔；扣款预告 {counts['announced']} 笔，"
            f"预告期内待扣 {counts['waiting']} 笔；邮件：扣款预告 {counts['mails_before']} 封，扣款结果 "
            f"{counts['mails_after']} 封，未扣款提醒 {counts['mails']} 封"
        )

    @app.cli.command("reconcile")
    @click.option("--day", help="the Asia/Shanghai day to reconcile, YYYY-MM-DD (default: yesterday)")
    @click.option(
        "--provider", "provider_names", multiple=True, help="a configured payment provider (default: every one)"
    )
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

    @app.cli.group()
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

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True, envvar="PORT")
    def serve(host, port):
        """The embedded pilot: this app plus its job consumer in one process."""
        from werkzeug.serving import run_simple

        from sbweb.jobs import start_consumer

        refuse_unready()
        start_consumer()
        warm_documents()
        click.echo(f"sbweb on http://{host}:{port}/")
        run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)

    @app.cli.command("backup")
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

    @app.cli.command("restore")
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


def warm_documents():
    """The first download should not pay for the PDF templates' compilation and xhtml2pdf's first
    use, nor meet Python's first full garbage collection (deploy/gunicorn.conf.py's
    post_worker_init does the same in each worker): ~0.5 s before serving."""
    import gc

    from sbweb.services import documents

    try:
        documents.warm(current_app.config.get("PDF_FONT_PATH"))
    except Exception as exc:  # noqa: BLE001 - a cold first download is better than no server
        current_app.logger.warning("PDF warm-up failed (%s: %s)", type(exc).__name__, exc)
    gc.collect()
    gc.freeze()


def refuse_unready():
    """Stop a command that serves the app, with one line, when the database is missing or not at
    this release's revision (sbweb.database.start_problem)."""
    from sbweb.database import start_problem

    if problem := start_problem(current_app._get_current_object()):
        raise click.ClickException(f"sbweb will not start: {problem}")
