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
    always = (
        ("Content-Security-Policy", header),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
    )
    hsts = f"max-age={app.config['HSTS_SECONDS']}" if app.config["HSTS_SECONDS"] else None

    @app.after_request
    def security_headers(response):
        headers = response.headers
        # What a view set itself stays. (Not Headers.setdefault: for a header that is missing it
        # raises and catches a werkzeug HTTP exception, ~8 µs each on every response.)
        present = {key.lower() for key, _ in headers.items()}
        for key, value in always:
            if key.lower() not in present:
                headers.add(key, value)
        if hsts and request.is_secure and "strict-transport-security" not in present:
            headers.add("Strict-Transport-Security", hsts)
        if response.mimetype == "text/html":
            # Pages carry payment states and personal data: never from a cache (Back included,
            # so a paid order's cashier is fetched again and refuses), never kept on a shared phone.
            headers["Cache-Control"] = "no-store"
        return response
