"""The only place that reads HX-* headers: full page or fragment, from the same template."""
from urllib.parse import urlsplit

from flask import make_response, redirect, render_template, request
from flask_htmx import HTMX

htmx = HTMX()  # truthy inside an HTMX request; .boosted, .history_restore_request


def wants_fragment() -> bool:
    """An HTMX request that swaps #main (not a boosted page load, not a history restore)."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def fragment_wanted_by(environ: dict) -> bool:
    """wants_fragment() from the bare WSGI environ, for pages drawn when Flask cannot help."""
    return (environ.get("HTTP_HX_REQUEST") == "true" and environ.get("HTTP_HX_BOOSTED") != "true"
            and environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST") != "true")


def polled_by(element_id: str) -> bool:
    """An HTMX poll from the element `element_id` (it sends its own id as HX-Trigger)."""
    return wants_fragment() and htmx.trigger == element_id


def render_part(template: str, **context):
    """Only one part of a step (no layout): the answer to a poll that swaps just that part."""
    response = make_response(render_template(template, **context))
    response.headers.add("Vary", "HX-Request")
    return response


def into_main(response):
    """Have htmx swap `response` into #main whatever element asked: a poll whose answer is now
    a different page (支付中 → 缴费结果)."""
    response.headers["HX-Retarget"] = "#main"
    response.headers["HX-Reswap"] = "innerHTML show:window:top"
    return response


def render_step(template: str, status: int = 200, **context):
    """Render a step: extends base.html for a normal request, fragment.html for HTMX."""
    fragment = wants_fragment()
    layout = "fragment.html" if fragment else "base.html"
    response = make_response(render_template(template, layout=layout, **context), status)
    response.headers.add("Vary", "HX-Request")
    if fragment:
        # Keep the address bar on the step actually shown, also after a POST → 303 → GET.
        here = request.full_path.rstrip("?")
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        shown = current.path + (f"?{current.query}" if current.query else "")
        if request.method == "GET" and status == 200 and here != shown:
            response.headers["HX-Push-Url"] = here
        else:
            response.headers["HX-Push-Url"] = "false"
    return response


def leave_app(url: str):
    """Send the browser away from sbweb (the payment page): a 303, or HX-Redirect for HTMX."""
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
    else:
        response = redirect(url, code=303)
    response.headers.add("Vary", "HX-Request")
    return response
