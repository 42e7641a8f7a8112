"""`flask api-client create|revoke|list`: the machine API's clients (one per agency system, or the
tax bureau's). The secret is printed once, at creation; sbweb keeps it sealed. `flask api-client
webhook set|clear`: a client's webhook endpoint (sbweb.services.webhooks)."""

import click
from flask.cli import AppGroup, with_appcontext

from sbweb.models.api import API_SCOPES


@click.group("api-client", cls=AppGroup)
def api_client():
    """The machine API's clients."""


@api_client.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(API_SCOPES), help="repeatable")
@click.option("--agency", "agency_code", help="the agency's code (社保经办机构); none: the tax bureau, all offices")
@with_appcontext
def create(name, scopes, agency_code):
    """Create a client; prints its key id and secret (the secret only now)."""
    from sbweb.services import api_clients

    try:
        made = api_clients.create(name, list(scopes), agency_code)
    except api_clients.ApiClientError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"key id: {made.client.client_id}")
    click.echo(f"secret: {made.secret}")
    click.echo("The secret is shown this once: give it to the agency over a safe channel.")


@api_client.command("revoke")
@click.argument("client_id")
@with_appcontext
def revoke(client_id):
    """Revoke a client: its requests are refused from now on."""
    from sbweb.services import api_clients

    try:
        api_clients.revoke(client_id)
    except api_clients.ApiClientError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{client_id} revoked")


@api_client.command("list")
@with_appcontext
def list_clients():
    """Every client: key id, name, agency, scopes, state (never the secret)."""
    from sbweb.services import api_clients

    for c in api_clients.all_clients():
        state = f"revoked {c.revoked_at:%Y-%m-%d %H:%M}Z" if c.revoked_at else "active"
        agency = c.agency.code if c.agency else "(tax bureau: all)"
        click.echo(f"{c.client_id}\t{c.name}\t{agency}\t{c.scopes}\t{state}")


@api_client.group("webhook", cls=AppGroup)
def webhook():
    """A client's webhook endpoint: where its events are POSTed, signed with a secret of its own."""


@webhook.command("set")
@click.argument("client_id")
@click.argument("url")
@with_appcontext
def webhook_set(client_id, url):
    """Send the client's events to URL from now on; prints the endpoint's key id and secret (once)."""
    from sbweb.services import api_clients, webhooks

    try:
        made = webhooks.set_endpoint(client_id, url)
    except api_clients.ApiClientError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"webhook key id: {made.endpoint.key_id}")
    click.echo(f"webhook secret: {made.secret}")
    click.echo("The secret is shown this once: the receiver checks each delivery's signature with it.")


@webhook.command("clear")
@click.argument("client_id")
@with_appcontext
def webhook_clear(client_id):
    """Send the client nothing more; its queued deliveries are marked failed."""
    from sbweb.services import api_clients, webhooks

    try:
        dropped = webhooks.clear_endpoint(client_id)
    except api_clients.ApiClientError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{client_id}: webhook cleared ({dropped} queued deliveries not sent)")
