"""`flask serve`: the embedded pilot; and what every command that serves the app does first."""

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, envvar="PORT")
@with_appcontext
def serve(host, port):
    """The embedded pilot: this app plus its job consumer in one process."""
    from werkzeug.serving import run_simple

    from sbweb.jobs import start_consumer

    refuse_unready()
    start_consumer()
    warm_documents()
    click.echo(f"sbweb on http://{host}:{port}/")
    run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)


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
