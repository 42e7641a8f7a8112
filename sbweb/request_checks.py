"""Checks on every request before a view sees it: the body's size limit (one view may raise it,
an import file being larger than a form), and NUL characters or ids out of range, which the
databases cannot hold or compare — no such record (404) or a bad request (400), never a 500."""

from flask import Flask, abort, current_app, request


def upload_limit(max_bytes: int):
    """A larger request body for one view (an import file) than MAX_CONTENT_LENGTH allows forms.
    Set before any hook reads the body (the CSRF check and the NUL check do)."""

    def decorator(view):
        view.max_content_length = max_bytes
        return view

    return decorator


def raise_upload_limit(endpoint, _values):
    # url value preprocessors run before every before_request hook.
    limit = getattr(current_app.view_functions.get(endpoint), "max_content_length", None)
    if limit:
        request.max_content_length = limit


def refuse_nul(_endpoint, values):
    # PostgreSQL text cannot hold NUL: /orders/%00 is no such record, not a 500.
    if values and any(isinstance(v, str) and "\x00" in v for v in values.values()):
        abort(404)
    # An id past the columns' 32-bit integers is no such record either (the databases
    # cannot even compare it).
    if values and any(isinstance(v, int) and not 0 <= v < 2**31 for v in values.values()):
        abort(404)


def refuse_nul_in_fields():
    # PostgreSQL text cannot hold NUL: a form or query value with one is a bad request.
    for source in (request.args, request.form):
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in source.lists()):
            abort(400)


def init_app(app: Flask) -> None:
    app.url_value_preprocessor(raise_upload_limit)
    app.url_value_preprocessor(refuse_nul)
    app.before_request(refuse_nul_in_fields)
