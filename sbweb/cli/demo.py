"""`flask demo load`: the demo residents."""

import click
from flask.cli import AppGroup, with_appcontext


@click.group(cls=AppGroup)
def demo():
    """Demo residents."""


@demo.command("load")
@with_appcontext
def demo_load():
    """Load the demo residents with dues payable today (repeatable: nothing doubles)."""
    from sbweb import demo as demo_data

    counts = demo_data.load()
    click.echo(f"demo residents loaded: {counts}")
