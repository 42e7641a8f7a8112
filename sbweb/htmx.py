"""The only place that reads HX-* headers: full page or fragment, from the same template."""

import logging
from io import BytesIO
from urllib.parse import unquote_to_bytes, urlsplit

from flask import make_response, redirect, render_template, request
from flask_htmx import HTMX

log = logging.getLogger(__name__)
htmx = HTMX()  # truthy inside an HTMX request; .boosted, .history_restore_request


def wants_fragment() -> bool:
    """An HTMX request that swaps #main (not a boosted page load, not a history restore)."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def fragment_wanted_by(environ: dict) -> bool:
    """wants_fragment() from the bare WSGI environ, for pages drawn when Flask cannot help."""
    return (
        environ.get("HTTP_HX_REQUEST") == "true"
        and environ.get("HTTP_HX_BOOSTED") != "true"
        and environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST") != "true"
    )


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


# environ keys a POST hands on to the GET run in its place (the rest of "sbweb.*" is dropped).
CARRY_PREFIX = "sbweb.carry."
SEE_OTHER_HOPS = 3  # a 303 whose GET answers 303 again is followed this many times at most


def one_round_trip(wsgi_app):
    """An HTMX POST that succeeds answers with the next step itself: where its view answers 303
    (post/redirect/get), the GET of that Location runs here, in the same process, and its answer
    goes back with HX-Push-Url naming the step, so the tap costs one round trip instead of two
    (the browser's XHR would follow the 303 with the same request headers). Without HTMX, and for
    a 303 that leaves the app or carries HX-* headers of its own (HX-Refresh), nothing changes."""

    def app(environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or not fragment_wanted_by(environ):
            return wsgi_app(environ, start_response)
        answer = _Answer.of(wsgi_app, environ)
        posted, cookies = answer, []
        for _ in range(SEE_OTHER_HOPS):
            location = answer.see_other(environ)
            if location is None:
                break
            answer.close()
            cookies = _newer_cookies(cookies, answer.set_cookies())
            answer = _Answer.of(wsgi_app, _get_environ(environ, location, cookies))
            answer.location_shown = location
        if answer is not posted:
            log.info(
                "%s %s answered with the GET of %s in place: %s (request %s, then %s)",
                environ["REQUEST_METHOD"],
                environ.get("PATH_INFO"),
                answer.location_shown,
                answer.status,
                posted.header("X-Request-ID"),
                answer.header("X-Request-ID"),
            )
            answer.merge(cookies)
        start_response(answer.status, answer.headers, answer.exc_info)
        return answer.body

    return app


class _Answer:
    """One response of the wrapped app, held until it is known whether to send it on."""

    location_shown = None

    def __init__(self):
        self.status, self.headers, self.exc_info, self.body = "", [], None, []

    @classmethod
    def of(cls, wsgi_app, environ):
        answer = cls()

        def start_response(status, headers, exc_info=None):
            answer.status, answer.headers, answer.exc_info = status, list(headers), exc_info
            return answer.write

        answer.body = wsgi_app(environ, start_response)
        return answer

    @staticmethod
    def write(data):
        raise RuntimeError("a body given to write() cannot be held back; return it instead")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def see_other(self, environ) -> str | None:
        """The Location of a 303 within this app that can be followed here, or None."""
        if not self.status.startswith("303") or any(k.lower().startswith("hx-") for k, _ in self.headers):
            return None
        location = urlsplit(self.header("Location") or "")
        here = (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"))
        if (location.scheme or location.netloc) and (location.scheme, location.netloc) != here:
            return None
        script = environ.get("SCRIPT_NAME", "")
        if not location.path.startswith(script + "/") or location.path.startswith("//"):
            return None
        return location.path + (f"?{location.query}" if location.query else "")

    def set_cookies(self) -> list[tuple[str, str]]:
        """(name, whole header) of each Set-Cookie, in order."""
        return [(v.split("=", 1)[0].strip(), v) for k, v in self.headers if k.lower() == "set-cookie"]

    def merge(self, cookies: list[tuple[str, str]]) -> None:
        """The earlier answers' Set-Cookie headers joined to this one's (its own win), and the
        address bar set to the step shown unless the step said otherwise."""
        own = {name for name, _ in self.set_cookies()}
        self.headers += [("Set-Cookie", header) for name, header in cookies if name not in own]
        if self.status.startswith("200") and self.header("HX-Push-Url") is None:
            self.headers.append(("HX-Push-Url", self.location_shown))

    def close(self) -> None:
        if hasattr(self.body, "close"):
            self.body.close()


def _newer_cookies(cookies, newer):
    names = {name for name, _ in newer}
    return [c for c in cookies if c[0] not in names] + newer


def _get_environ(environ: dict, location: str, cookies) -> dict:
    """The POST's environ turned into the GET of location (as an XHR follows a 303: the same
    request headers, no body), with the cookies the answers so far set or removed."""
    path, _, query = location.partition("?")
    script = environ.get("SCRIPT_NAME", "")
    dropped = ("CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_X_REQUEST_ID", "werkzeug.request")
    # Nor what the POST's own request kept on its environ ("sbweb.*", loaded in the POST's
    # database session, now closed): the GET is a request of its own — but for what the POST
    # hands on explicitly ("sbweb.carry.*": the sign-in as the POST left it, see
    # sbweb.identity.sessions.CARRIED), which the GET still checks as any request does.
    get = {
        k: v
        for k, v in environ.items()
        if k not in dropped and (not k.startswith("sbweb.") or k.startswith(CARRY_PREFIX))
    }
    get.update(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": unquote_to_bytes(path[len(script) :]).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": location,
            "REQUEST_URI": location,
            "wsgi.input": BytesIO(b""),
        }
    )
    jar = {}
    for pair in environ.get("HTTP_COOKIE", "").split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep:
            jar[name] = value
    for name, header in cookies:
        value = header.split(";", 1)[0].split("=", 1)[1]
        attributes = header.lower().replace(" ", "").split(";")[1:]
        if "max-age=0" in attributes or any(a.startswith("expires=thu,01jan1970") for a in attributes):
            jar.pop(name, None)
        else:
            jar[name] = value
    get["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    if not get["HTTP_COOKIE"]:
        del get["HTTP_COOKIE"]
    return get
