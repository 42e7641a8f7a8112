"""`flask jobs run|housekeeping|reminders|autopay`: the job consumer, and the daily jobs run now."""

import click
from flask.cli import AppGroup, with_appcontext

from sbweb.cli.serve import refuse_unready


@click.group(cls=AppGroup)
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
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")

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
        f"申报未经本人验证 {counts['skipped_unverified']} 笔，补缴未经确认 {counts['skipped_unconfirmed']} 笔，"
        f"退费后重新应缴 {counts['skipped_reopened']} 笔，"
        f"基数不允许用于批扣 {counts['skipped_not_allowed']} 笔；扣款预告 {counts['announced']} 笔，"
        f"预告期内待扣 {counts['waiting']} 笔；邮件：扣款预告 {counts['mails_before']} 封，扣款结果 "
        f"{counts['mails_after']} 封，未扣款提醒 {counts['mails']} 封"
    )
