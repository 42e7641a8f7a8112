"""One small blueprint per journey (the back office a package of its own: sbweb.views.admin)."""

from flask import Flask


def register(app: Flask) -> None:
    from sbweb.views import (
        admin,
        auth,
        bank,
        certificates,
        codecheck,
        declare,
        errors,
        home,
        notify,
        ops,
        orders,
        proxy,
        queries,
        records,
        refunds,
        reminders,
        sandbox,
        selfpay,
    )

    for module in (
        home,
        auth,
        selfpay,
        proxy,
        declare,
        orders,
        records,
        queries,
        certificates,
        reminders,
        bank,
        refunds,
        admin,
        notify,
        codecheck,
        ops,
    ):
        app.register_blueprint(module.bp)
    from sbweb.views import api

    api.init_app(app)  # the machine API: flask-smorest's blueprints, signed requests, CSRF-exempt
    if app.config["SANDBOX_ENABLED"]:
        app.register_blueprint(sandbox.bp)
    errors.register(app)
