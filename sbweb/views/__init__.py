"""One small blueprint per journey."""

from flask import Flask, abort, request


def upload_limit(max_bytes: int):
    """A larger request body for one view (an import file) than MAX_CONTENT_LENGTH allows forms.
    Set before any hook reads the body (the CSRF check and the NUL check do)."""

    def decorator(view):
        view.max_content_length = max_bytes
        return view

    return decorator


def register(app: Flask) -> None:
    from sbweb.views import (
        admin,
        admin_standards,  # noqa: F401  (adds its routes to admin.bp)
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
    if app.config["SANDBOX_ENABLED"]:
        app.register_blueprint(sandbox.bp)
    errors.register(app)
    home.register_context(app)

    @app.url_value_preprocessor
    def raise_upload_limit(endpoint, _values):
        # url value preprocessors run before every before_request hook.
        limit = getattr(app.view_functions.get(endpoint), "max_content_length", None)
        if limit:
            request.max_content_length = limit

    @app.url_value_preprocessor
    def refuse_nul(_endpoint, values):
        # PostgreSQL text cannot hold NUL: /orders/%00 is no such record, not a 500.
        if values and any(isinstance(v, str) and "\x00" in v for v in values.values()):
            abort(404)
        # An id past the columns' 32-bit integers is no such record either (the databases
        # cannot even compare it).
        if values and any(isinstance(v, int) and not 0 <= v < 2**31 for v in values.values()):
            abort(404)

    @app.before_request
    def refuse_nul_in_fields():
        # PostgreSQL text cannot hold NUL: a form or query value with one is a bad request.
        for source in (request.args, request.form):
            if any("\x00" in key or any("\x00" in v for v in values) for key, values in source.lists()):
                abort(400)
