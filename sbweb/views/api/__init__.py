"""The machine API for the tax bureau's and the agencies' systems, under /api/v1/: signed
requests (sbweb.views.api.auth), problem+json errors (problems.py), the OpenAPI 3.1 document
generated from the code by flask-smorest at /api/v1/openapi.json and a page of it at /api/v1/
(docs.py, our own: the library's UIs load scripts from a CDN, which our CSP forbids)."""

import http

from flask import Flask, current_app, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from sbweb.extensions import csrf
from sbweb.views.api import batches, events, orders, problems, settlements, tickets  # noqa: F401  (their routes join bp)
from sbweb.views.api.blueprint import ProblemSchema, bp
from sbweb.views.api.problems import PROBLEM


class AgencyApi(Api):
    """flask-smorest's Api without its app-wide HTTPException handler (which would answer every
    page of the app in JSON): the API's blueprint handles its own errors as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        pass

    def _register_responses(self):
        """The error responses flask-smorest documents for every operation (422 of the arguments,
        the default) in the content type they are answered in: problem+json, not JSON."""
        from flask_smorest.utils import prepare_response

        for name, status in [(s.name, s) for s in http.HTTPStatus] + [("DEFAULT_ERROR", None)]:
            response = {"description": status.phrase if status else "Default error response"}
            if status is None or not (100 <= status < 200 or status in (204, 304)):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(name, response, lazy=True)


def _unrouted(error: HTTPException):
    """A URL under /api/v1/ that no route answers (404), or not with this method (405): the
    blueprint's own handler never sees these (no rule matched), so the app's does, and answers the
    API's way; anywhere else, the app's HTML page as before."""
    if request.path.startswith(bp.url_prefix + "/"):
        answer = problems.handle(error)
        answer.headers["Cache-Control"] = "no-store"
        return answer
    return current_app.error_handler_spec[None][None][HTTPException](error)


def init_app(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "sbweb 机器接口")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = AgencyApi(
        app,
        spec_kwargs={
            "info": {"description": "签名算法、游标与事件类型见 docs/api.md。"},
            "components": {
                "securitySchemes": {
                    "sbwebHmac": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "X-SB-Signature",
                        "description": "HMAC-SHA256 over the canonical request, with X-SB-Key-Id, "
                        "X-SB-Timestamp, X-SB-Nonce and X-SB-Content-SHA256 (docs/api.md).",
                    }
                }
            },
        },
    )
    api.register_blueprint(bp)
    csrf.exempt(bp)
    for code in (404, 405):
        app.register_error_handler(code, _unrouted)
    from sbweb.views.api import docs

    app.register_blueprint(docs.bp)
    app.extensions["sbweb.api"] = api
    return api
