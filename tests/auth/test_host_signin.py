"""授权 through the host's OAuth (/auth/host/<name> and its callback), with the sandbox's
Alipay-style authorization: 同意授权 in the sandbox box, the callback's checks (its state, a
refusal, someone we do not know), the verified session with the host's id for its user, the
binding remembered, and `next` kept — but only inside this app."""

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import HostAccount
from sbweb.payments import sandbox_users
from tests.support import form_values, identity_of

HOST_FAILED = "未能完成授权，请重新授权，或选择「拒绝授权」后手动输入证件信息"
HOST_UNKNOWN = "未查询到您的参保信息。如已参保，请选择「拒绝授权」后手动输入证件信息，或联系参保地经办机构"
WANG_FANG = "520102198503151246"


def agree(client, person_id, *, next_url="/records/", host="alipay"):
    """同意授权 in the sandbox box: the first hop, to the host's authorization page."""
    page = client.page(f"/auth/?{urlencode({'next': next_url})}")
    values = {k: v[0] for k, v in form_values(page.form()).items()}
    response = client.post("/auth/consent", data={**values, "person": str(person_id), "host": host})
    assert response.status_code == 303 and urlsplit(response.location).path == "/sandbox/oauth2/publicAppAuthorize.htm"
    return response


def follow(client, response, limit=5):
    """Follow the 303s; the last response and the paths passed through."""
    paths = []
    while response.status_code == 303 and len(paths) < limit:
        paths.append(urlsplit(response.location).path)
        response = client.get(response.location)
    return response, paths


def callback_of(client, response) -> str:
    """The host's answer: where its authorization page sends the browser back to."""
    back = client.get(response.location)
    assert back.status_code == 303 and urlsplit(back.location).path == "/auth/host/sandbox/callback"
    return back.location


def session_of(client) -> dict:
    return identity_of(client)


def test_wang_fang_agrees_and_is_verified_with_her_alipay_id_and_the_binding_remembered(client, world, ctx):
    landed, paths = follow(client, agree(client, world.people["王芳"]))
    assert paths == ["/sandbox/oauth2/publicAppAuthorize.htm", "/auth/host/sandbox/callback", "/records/"]
    assert landed.status_code == 200
    session = session_of(client)
    user_id = sandbox_users.user_id_for(WANG_FANG)
    assert (session["person_id"], session["level"], session["host"], session["host_subject"]) == (
        world.people["王芳"],
        "verified",
        "alipay",
        user_id,
    )
    bound = db.session.scalar(select(HostAccount).filter_by(provider="sandbox", subject=user_id))
    assert bound.person_id == world.people["王芳"]
    first_use = bound.last_used_at
    # Signing in again uses the same binding.
    follow(client, agree(client, world.people["王芳"]))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(HostAccount)) == 1
    assert db.session.get(HostAccount, bound.id).last_used_at >= first_use


def test_chosen_to_be_inside_wechat_the_session_carries_no_alipay_id(client, world):
    follow(client, agree(client, world.people["李明"], host="wechat"))
    session = session_of(client)
    assert (session["level"], session["host"]) == ("verified", "wechat")
    assert "host_subject" not in session


@pytest.mark.parametrize(
    "next_url, lands",
    [
        ("/selfpay/", "/selfpay/"),
        ("https://evil.example/phish", "/"),
        ("//evil.example/phish", "/"),
    ],
)
def test_next_is_kept_when_it_is_ours_and_dropped_when_it_is_not(client, world, next_url, lands):
    _landed, paths = follow(client, agree(client, world.people["王芳"], next_url=next_url))
    assert paths[-1] == lands


def test_a_callback_without_the_state_we_sent_signs_no_one_in(client, world):
    callback = callback_of(client, agree(client, world.people["王芳"]))
    query = parse_qs(urlsplit(callback).query)
    for state in ("", "forged-state", None):
        args = {k: v[0] for k, v in query.items() if k != "state"}
        if state is not None:
            args["state"] = state
        agree(client, world.people["王芳"])  # a fresh pending sign-in each time
        page = client.page(f"/auth/host/sandbox/callback?{urlencode(args)}")
        assert page.status == 400 and page.h1 == "授权" and HOST_FAILED in page.summary()
        assert "person_id" not in session_of(client)


def test_a_callback_in_a_browser_that_never_started_one_signs_no_one_in(app, world):
    from tests.support import ResidentClient

    app.test_client_class = ResidentClient
    starter, stranger = app.test_client(), app.test_client()
    callback = callback_of(starter, agree(starter, world.people["王芳"]))
    page = stranger.page(callback)  # someone else's code, brought by another browser
    assert page.status == 400 and HOST_FAILED in page.summary()
    assert "person_id" not in session_of(stranger)


def test_a_callback_used_twice_works_once(client, world):
    callback = callback_of(client, agree(client, world.people["王芳"]))
    assert client.get(callback).status_code == 303
    again = client.page(callback)  # its state was used up, and so was its auth_code
    assert again.status == 400 and HOST_FAILED in again.summary()


def test_the_resident_declines_at_the_host_and_is_not_signed_in(client, world):
    start = client.get("/auth/host/sandbox?next=/records/")
    assert start.status_code == 303
    shown = client.page(start.location)
    assert shown.status == 200 and shown.h1 == "支付宝授权"
    form = shown.soup.select_one("main form")
    values = {k: v[0] for k, v in form_values(form).items()}
    back = client.get(f"{form['action']}?{urlencode({**values, 'decision': 'refuse'})}")
    assert back.status_code == 303 and "auth_code" not in parse_qs(urlsplit(back.location).query)
    page = client.page(back.location)
    assert page.status == 400 and HOST_FAILED in page.summary()
    assert "person_id" not in session_of(client)


def test_a_callback_with_no_code_is_a_refusal(client, world):
    callback = callback_of(client, agree(client, world.people["王芳"]))
    args = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items() if k != "auth_code"}
    page = client.page(f"/auth/host/sandbox/callback?{urlencode(args)}")
    assert page.status == 400 and HOST_FAILED in page.summary()


def test_the_host_vouches_for_someone_not_in_our_records(client, ctx):
    """No demo residents loaded here: the host's 王芳 is unknown to us."""
    start = client.get("/auth/host/sandbox?next=/records/")
    back = client.get(start.location + "&" + urlencode({"sandbox_user": sandbox_users.user_id_for(WANG_FANG)}))
    page = client.page(back.location)
    assert page.status == 200 and page.h1 == "授权" and HOST_UNKNOWN in page.summary()
    assert "person_id" not in session_of(client)
    assert db.session.scalar(select(func.count()).select_from(HostAccount)) == 0


def test_the_sandbox_vouches_for_demo_residents_only(client, world):
    start = client.get("/auth/host/sandbox?next=/records/")
    refused = client.page(start.location + "&sandbox_user=2088000000000001")
    assert refused.status == 400 and refused.h1 == "授权失败"
    elsewhere = start.location.replace("redirect_uri=http%3A%2F%2Flocalhost", "redirect_uri=https%3A%2F%2Fevil.example")
    assert client.page(elsewhere + "&sandbox_user=" + sandbox_users.user_id_for(WANG_FANG)).status == 400
