"""Our 云闪付 sign-in (sbweb.identity.hosts.unionpay) against a local fake of UnionPay's open
platform over HTTP: the authorization URL, the signed backendToken, code → token → user.auth,
the 实名 fields decrypted, and each way the platform can say no. Then a resident inside 云闪付,
with a live-style configuration, signing in through it."""

import hashlib
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from sbweb.identity import hosts
from tests.auth.test_unionpay_signin import UNIONPAY_UA
from tests.support import identity_of
from tests.support.unionpay_open_fake import APP_ID, SECRET, SYMMETRIC_KEY, FakeUnionPayOpen

WANG_FANG = "520102198503151246"


@pytest.fixture
def unionpay_open():
    fake = FakeUnionPayOpen().start()
    yield fake
    fake.stop()


def settings(url: str) -> dict:
    return {
        "kind": "unionpay",
        "app_id": APP_ID,
        "secret_file": "unionpay/open_secret.txt",
        "symmetric_key_file": "unionpay/open_symmetric_key.txt",
        "authorize_url": f"{url}/s/open/html/oauth.html",
        "api_url": f"{url}/open/access/1.0",
        "timeout": 3,
    }


@pytest.fixture
def app_config(tmp_path, unionpay_open):
    folder = tmp_path / "instance" / "unionpay"
    folder.mkdir(parents=True)
    (folder / "open_secret.txt").write_text(SECRET + "\n")
    (folder / "open_symmetric_key.txt").write_text(SYMMETRIC_KEY + "\n")
    return {"HOST_SIGNIN": {"unionpay": settings(unionpay_open.url)}}


def signin(app):
    with app.app_context():
        return hosts.providers()["unionpay"]


def test_a_configured_unionpay_signin_replaces_the_sandboxs(app):
    with app.app_context():
        assert "sandbox-unionpay" not in hosts.providers()
        assert hosts.for_host("unionpay").name == "unionpay"


def test_the_authorize_url_is_unionpays_oauth_page_with_our_callback(app, unionpay_open):
    url = signin(app).authorize_url("https://sb.example/auth/host/unionpay/callback", "ab12")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{unionpay_open.url}/s/open/html/oauth.html?")
    assert query == {
        "appId": [APP_ID],
        "redirectUri": ["https://sb.example/auth/host/unionpay/callback"],
        "responseType": ["code"],
        "scope": ["upapi_auth"],
        "state": ["ab12"],
    }


def test_a_code_gives_the_openid_and_the_decrypted_real_name_once(app, unionpay_open):
    open_id = unionpay_open.new_user("王芳", WANG_FANG)
    code = unionpay_open.a_code(open_id)
    identity = signin(app).identify({"code": code, "state": "s"})
    assert (identity.subject, identity.id_type, identity.id_number, identity.name) == (
        open_id,
        "201",
        WANG_FANG,
        "王芳",
    )
    assert WANG_FANG not in repr(identity)
    backend = [body for call, body in unionpay_open.calls if call == "backendToken"]
    assert len(backend) == 1 and "secret" not in backend[0]  # signed with it, never sent
    with pytest.raises(hosts.HostSignInError, match="token: resp 13"):
        signin(app).identify({"code": code})
    assert [call for call, _ in unionpay_open.calls].count("backendToken") == 1  # kept, not asked again


def test_the_signature_is_sha256_of_the_sorted_fields_with_the_secret(app, unionpay_open):
    signin(app).identify({"code": unionpay_open.a_code(unionpay_open.new_user("王芳", WANG_FANG))})
    body = next(body for call, body in unionpay_open.calls if call == "backendToken")
    text = f"appId={APP_ID}&nonceStr={body['nonceStr']}&secret={SECRET}&timestamp={body['timestamp']}"
    assert body["signature"] == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    "spoil, says",
    [
        (lambda fake, code: "bm90LWEtY29kZQ==", "token: resp 13"),
        (lambda fake, code: "", "no code"),
        (lambda fake, code: (setattr(fake, "down", True), code)[1], "HTTP 502"),
        (lambda fake, code: (setattr(fake, "key", "0" * 48), code)[1], "does not decrypt"),
    ],
    ids=["unknown-code", "no-code", "platform-down", "other-key"],
)
def test_the_platform_saying_no_signs_no_one_in(app, unionpay_open, spoil, says):
    code = unionpay_open.a_code(unionpay_open.new_user("王芳", WANG_FANG))
    with pytest.raises(hosts.HostSignInError, match=says):
        signin(app).identify({"code": spoil(unionpay_open, code)})


def test_without_real_name_or_with_another_paper_the_openid_alone(app, unionpay_open):
    foreign = unionpay_open.new_user("JOHN SMITH", "E12345678", cert_type="02")
    identity = signin(app).identify({"code": unionpay_open.a_code(foreign)})
    assert identity.subject == foreign and not identity.names_person
    unionpay_open.scope_given = "upapi_base"
    unionpay_open.calls.clear()
    identity = signin(app).identify({"code": unionpay_open.a_code(unionpay_open.new_user("王芳", WANG_FANG))})
    assert not identity.names_person and [c for c, _ in unionpay_open.calls] == ["token"]


def test_wang_fang_inside_unionpay_signs_in_through_the_open_platform(client, world, unionpay_open):
    client.environ_base["HTTP_USER_AGENT"] = UNIONPAY_UA
    unionpay_open.user = unionpay_open.new_user("王芳", WANG_FANG)
    page = client.page("/auth/?" + urlencode({"next": "/records/"}))
    link = page.soup.find("a", string="同意授权")
    assert link["href"].startswith("/auth/host/unionpay?")
    to_unionpay = client.get(link["href"])
    back = requests.get(to_unionpay.location, allow_redirects=False, timeout=3)  # the 云闪付 page, over HTTP
    done = client.get(back.headers["Location"])
    assert done.status_code == 303 and done.location == "/records/"
    session = identity_of(client)
    assert (session["person_id"], session["level"], session["host"]) == (world.people["王芳"], "verified", "unionpay")


@pytest.mark.parametrize(
    "change, says",
    [
        ({"app_id": "not-an-appid"}, "app_id"),
        ({"secret_file": None}, "missing secret_file"),
        ({"symmetric_key_file": "unionpay/missing.txt"}, "cannot read"),
        ({"api_url": "http://open.example/open/access/1.0"}, "https"),
        ({"colour": "red"}, "unknown settings"),
    ],
)
def test_a_configuration_missing_its_keys_stops_the_app(tmp_path, unionpay_open, change, says):
    from sbweb.identity.hosts.unionpay import from_settings

    class App:
        instance_path = str(tmp_path)

    (tmp_path / "unionpay").mkdir()
    (tmp_path / "unionpay" / "open_secret.txt").write_text(SECRET)
    (tmp_path / "unionpay" / "open_symmetric_key.txt").write_text(SYMMETRIC_KEY)
    config = {k: v for k, v in {**settings(unionpay_open.url), **change}.items() if v is not None}
    with pytest.raises(RuntimeError, match=says):
        from_settings("unionpay", config, App())
