"""Command-line tools: `flask demo load`, `flask jobs run|housekeeping`, `flask serve`."""
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
    def jobs():
        """Background jobs."""

    @jobs.command("run")
    @click.option("--workers", default=2, show_default=True)
    def jobs_run(workers):
        """Run the job consumer in the foreground (for a scaled pilot)."""
        from sbweb.jobs import huey

        huey.create_consumer(workers=workers, worker_type="thread", periodic=True).run()

    @jobs.command("housekeeping")
    @with_appcontext
    def jobs_housekeeping():
        """Resolve stuck orders, expire unpaid ones and retry refunds once, now."""
        from sbweb.payments import orders

        click.echo(orders.housekeeping())

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True, envvar="PORT")
    def serve(host, port):
        """The embedded pilot: this app plus its job consumer in one process."""
        from werkzeug.serving import run_simple

        from sbweb.jobs import start_consumer

        start_consumer()
        click.echo(f"sbweb on http://{host}:{port}/")
        run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)
