"""Command-line tools: `flask demo load`, `flask standards …`, `flask jobs run|housekeeping`,
`flask reconcile`, `flask serve`, `flask secret-key rotate`, `flask backup`, `flask restore`, `flask api-client`,
`flask settlement`.
One module per command or group of commands, all added to the app's here."""

from sbweb.cli import (
    api_client,
    backups,
    demo,
    jobs,
    ledger,
    reconcile,
    secret_key,
    serve,
    settlement,
    staff,
    standards,
)


def register_cli(app):
    for command in (
        demo.demo,
        standards.standards,
        staff.staff,
        secret_key.secret_key,
        jobs.jobs,
        reconcile.reconcile,
        ledger.ledger,
        serve.serve,
        backups.backup,
        backups.restore,
        api_client.api_client,
        settlement.settlement,
    ):
        app.cli.add_command(command)
