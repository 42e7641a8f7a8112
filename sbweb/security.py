"""Security headers on every response: a Content-Security-Policy with no inline or eval'd script
(htmx runs with allowEval off), the host apps allowed to frame us, no MIME sniffing, referrers
kept inside, and HSTS once we are served over TLS. Styles may be inline: htmx sets style
attributes while it swaps, and a style cannot run code. And no page from a cache."""

from flask import Flask, request


def policy(config) -> str:
    form_action = " ".join(["'self'", *config["CSP_FORM_ACTION"]])
    frame_ancestors = " ".join(config["FRAME_ANCESTORS"]) or "'none'"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        f"form-action {form_action}; frame-ancestors {frame_ancestors}"
    )


def init_app(app: Flask) -> None:
    header = policy(app.config)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", header)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure and app.config["HSTS_SECONDS"]:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={app.config['HSTS_SECONDS']}")
        if response.mimetype == "text/html":
            # Pages carry payment states and personal data: never from a cache (Back included,
            # so a paid order's cashier is fetched again and refuses), never kept on a shared phone.
            response.headers["Cache-Control"] = "no-store"
        return response
