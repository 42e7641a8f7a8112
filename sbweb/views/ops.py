"""The doors an operator's tools knock on: /healthz (the process answers), /readyz (it can take
payments: database, migrations, Redis, job consumer, providers) and /metrics (Prometheus, for
the addresses in METRICS_ALLOW). None loads a session or touches a resident's data; /healthz
does not touch the database."""

from flask import Blueprint, current_app, jsonify

from sbweb import metrics, ops

bp = Blueprint("ops", __name__)
# Answered whatever the Host header (a load balancer asks by address), without a session.
PATHS = ("/healthz", "/readyz", "/metrics")


@bp.get("/healthz")
def healthz():
    return _json({"status": "ok"}, 200)


@bp.get("/readyz")
def readyz():
    checks = ops.readiness()
    ok = ops.ready(checks)
    response = _json({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)
    if not ok:
        response.headers["Retry-After"] = str(current_app.config["DATABASE_RETRY_AFTER"])
    return response


@bp.get("/metrics")
def scrape():
    return metrics.scrape()


def _json(body: dict, status: int):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def any_host(wsgi_app, app):
    """TRUSTED_HOSTS refuses a request for another host before any view runs; a load balancer or
    Prometheus asks by address. For these three paths only, the Host header is replaced by the
    first trusted host (they build no URL from it)."""

    def middleware(environ, start_response):
        trusted = app.config.get("TRUSTED_HOSTS")
        if trusted and environ.get("PATH_INFO") in PATHS:
            environ["HTTP_HOST"] = next((h for h in trusted if not h.startswith(".")), trusted[0].lstrip("."))
        return wsgi_app(environ, start_response)

    return middleware
