"""sbweb.htmx.one_round_trip on a small WSGI app: which 303s it follows and what it answers."""

from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from sbweb.htmx import SEE_OTHER_HOPS, one_round_trip

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/form"}


@Request.application
def site(request):
    """/post → 303 /next (setting cookies); /next shows what it got; /loop → 303 /loop."""
    if request.path == "/post":
        response = Response(status=303, headers={"Location": request.args.get("to", "/next?step=2")})
        response.set_cookie("session", "signed-in")
        response.set_cookie("old", "", max_age=0)
        if request.args.get("hx"):
            response.headers["HX-Refresh"] = "true"
        return response
    if request.path == "/loop":
        response = Response(status=303, headers={"Location": "/loop"})
        response.set_cookie("hops", request.cookies.get("hops", "") + "x")
        return response
    if request.path == "/kept":  # what a request keeps on its environ (sbweb.identity.sessions does: who is signed in)
        seen = request.environ.get("sbweb.login", "none")
        request.environ["sbweb.login"] = f"loaded by {request.method}"
        if request.method == "POST":
            return Response(status=303, headers={"Location": "/kept"})
        return Response(f"found {seen}")
    shown = (
        f"{request.method} {request.path}?{request.query_string.decode()} cookies={sorted(request.cookies.items())}"
        f" body={request.get_data(as_text=True)!r} type={request.content_type!r}"
    )
    response = Response(shown)
    if request.args.get("step") == "2":
        response.set_cookie("session", "touched")
    return response


def post(path="/post", headers=HTMX, method="POST"):
    client = Client(one_round_trip(site))
    client.set_cookie("old", "1")
    client.set_cookie("kept", "yes")
    return client.open(path, method=method, headers=headers, data={"a": "1"})


def test_an_htmx_post_gets_the_next_page_with_the_cookies_it_set():
    response = post()
    assert response.status_code == 200 and response.headers["HX-Push-Url"] == "/next?step=2"
    text = response.get_data(as_text=True)
    assert text.startswith("GET /next?step=2 ") and "body=''" in text and "type=None" in text
    # The POST's cookies went along (the removed one gone, the others kept) ...
    assert "('kept', 'yes')" in text and "('session', 'signed-in')" in text and "'old'" not in text
    # ... and both answers' Set-Cookie come back, the later one winning for the same name.
    cookies = response.headers.getlist("Set-Cookie")
    assert [c.split(";")[0] for c in cookies] == ["session=touched", "old="]


def test_plain_forms_head_boosted_and_hx_headed_answers_are_left_alone():
    assert post(headers={}).status_code == 303
    assert post(headers={**HTMX, "HX-Boosted": "true"}).status_code == 303
    assert post(headers={**HTMX, "HX-History-Restore-Request": "true"}).status_code == 303
    assert post("/post?hx=1").status_code == 303
    assert post(method="HEAD").status_code == 303
    assert post("/next", method="GET").status_code == 200


def test_a_303_that_leaves_the_app_is_left_to_the_browser():
    for away in ("https://pay.example.com/gateway", "//pay.example.com/x", "http://evil.localhost/next"):
        response = post(f"/post?to={away}")
        assert response.status_code == 303 and response.location == away
    same = post("/post?to=http://localhost/next?step=3")
    assert same.status_code == 200 and same.get_data(as_text=True).startswith("GET /next?step=3")


def test_a_redirect_chain_is_followed_a_few_hops_only():
    response = post("/post?to=/loop")
    assert response.status_code == 303 and response.location == "/loop"
    hops = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("hops="))
    assert hops.split(";")[0] == "hops=" + "x" * SEE_OTHER_HOPS  # one GET per hop, then the browser


def test_the_get_loads_its_own_request_state_not_the_posts():
    """The POST's environ is copied for the GET, but not what the POST's request kept on it: the
    person it loaded belongs to the POST's (closed) database session."""
    response = post("/kept")
    assert response.status_code == 200 and response.get_data(as_text=True) == "found none"
