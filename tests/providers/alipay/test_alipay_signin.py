"""Our Alipay sign-in (HOST_SIGNIN, kind alipay), configured as a live app, against the
sandbox's authorization page and gateway over HTTP: the authorize URL, the auth_code
exchanged for a token, the 实名 data, and every way Alipay can fail to vouch for someone —
each a HostSignInError, which the resident sees as the callback's message."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from sbweb.db import db
from sbweb.identity import hosts
from sbweb.identity.hosts import HostSignInError
from sbweb.identity.hosts.alipay import from_settings
from sbweb.models import HostAccount
from sbweb.payments import sandbox_users
from tests.providers.alipay.conftest import free_port, refusal, signed_answer, stalled, tampered
from tests.support import form_values, identity_of

ALIPAY_APP = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AlipayClient/10.5.90"
WANG_FANG = "520102198503151246"


def signin(fake):
    return fake.app.extensions["sbweb.host_signin"]["alipay"]


def callback_args(fake, id_number=WANG_FANG, state="s1") -> dict:
    """What Alipay's authorization page sends the browser back with, for a demo user."""
    url = signin(fake).authorize_url(f"{fake.base}/auth/host/alipay/callback", state)
    back = requests.get(
        url + "&sandbox_user=" + sandbox_users.user_id_for(id_number), allow_redirects=False, timeout=10
    )
    assert back.status_code == 303, back.text
    return {k: v[0] for k, v in parse_qs(urlsplit(back.headers["Location"]).query).items()}


def test_the_authorize_url_asks_alipay_for_auth_user_with_our_callback_and_state(fake_alipay):
    url = urlsplit(signin(fake_alipay).authorize_url("https://sb.example/auth/host/alipay/callback", "xyz"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{fake_alipay.base}/sandbox/oauth2/publicAppAuthorize.htm"
    assert parse_qs(url.query) == {
        "app_id": [fake_alipay.app.config["SANDBOX_APP_ID"]],
        "scope": ["auth_user"],
        "redirect_uri": ["https://sb.example/auth/host/alipay/callback"],
        "state": ["xyz"],
    }
    default = from_settings(
        "live",
        {k: v for k, v in fake_alipay.app.config["HOST_SIGNIN"]["alipay"].items() if k != "authorize_url"},
        fake_alipay.app,
    )
    assert default.authorize_url("https://x/cb", "s").startswith(
        "https://openauth.alipay.com/oauth2/publicAppAuthorize.htm?app_id="
    )


def test_an_auth_code_becomes_wang_fangs_real_name_identity_once(fake_alipay):
    args = callback_args(fake_alipay)
    assert set(args) == {"app_id", "source", "scope", "auth_code", "state"} and args["state"] == "s1"
    who = signin(fake_alipay).identify(args)
    assert (who.provider, who.subject) == ("alipay", sandbox_users.user_id_for(WANG_FANG))
    assert (who.id_type, who.id_number, who.name) == ("201", WANG_FANG, "王芳")
    assert WANG_FANG not in repr(who)
    with pytest.raises(HostSignInError, match="isv.code-invalid"):  # a code is good once
        signin(fake_alipay).identify(args)
    with pytest.raises(HostSignInError, match="isv.code-invalid"):
        signin(fake_alipay).identify({**args, "auth_code": "0" * 32})


@pytest.mark.parametrize(
    "args, why",
    [
        ({"state": "s1"}, "did not agree"),
        ({"state": "s1", "app_id": "2026000000000001", "error": "access_denied"}, "did not agree"),
        ({"state": "s1", "auth_code": "abc", "app_id": "2026000000009999"}, "another app"),
    ],
)
def test_a_callback_without_a_code_of_ours_is_refused_without_asking_alipay(fake_alipay, args, why):
    with pytest.raises(HostSignInError, match=why):
        signin(fake_alipay).identify(args)


FAULTS = {
    "token: error_response isv.code-invalid": (
        "alipay.system.oauth.token",
        refusal("isv.code-invalid", "授权码code无效", code="40002"),
    ),
    "token: tampered user id": ("alipay.system.oauth.token", tampered('"user_id":"2088', '"user_id":"3088')),
    "token: no answer in time": ("alipay.system.oauth.token", stalled),
    "user info: token refused": (
        "alipay.user.info.share",
        refusal("aop.invalid-auth-token", "无效的访问令牌", code="20001"),
    ),
    "user info: not 实名 (is_certified F)": (
        "alipay.user.info.share",
        signed_answer({"code": "10000", "msg": "Success", "is_certified": "F", "nick_name": "王*"}),
    ),
    "user info: no 实名 data shared": (
        "alipay.user.info.share",
        signed_answer({"code": "10000", "msg": "Success", "nick_name": "王*"}),
    ),
    "user info: another user": (
        "alipay.user.info.share",
        signed_answer(
            {
                "code": "10000",
                "msg": "Success",
                "user_id": "2088000000000007",
                "cert_type": "0",
                "cert_no": WANG_FANG,
                "user_name": "王芳",
            }
        ),
    ),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_when_alipay_does_not_vouch_for_the_user_it_is_a_host_signin_error(fake_alipay, fault):
    args = callback_args(fake_alipay)
    fake_alipay.faults.plan(*FAULTS[fault])
    with pytest.raises(HostSignInError):
        signin(fake_alipay).identify(args)


def test_an_unreachable_gateway_is_a_host_signin_error(fake_alipay):
    settings = {
        **fake_alipay.app.config["HOST_SIGNIN"]["alipay"],
        "gateway": f"http://127.0.0.1:{free_port()}/gateway.do",
    }
    with pytest.raises(HostSignInError, match="no answer from the gateway"):
        from_settings("offline", settings, fake_alipay.app).identify({"auth_code": "abc", "state": "s"})


def test_papers_we_do_not_take_give_the_alipay_user_id_alone(fake_alipay):
    args = callback_args(fake_alipay)
    fake_alipay.faults.plan(
        "alipay.user.info.share",
        signed_answer(
            {
                "code": "10000",
                "msg": "Success",
                "user_id": sandbox_users.user_id_for(WANG_FANG),
                "cert_type": "1",
                "cert_no": "E12345678",
                "user_name": "WANG FANG",
            }
        ),
    )  # 护照
    who = signin(fake_alipay).identify(args)
    assert who.subject == sandbox_users.user_id_for(WANG_FANG) and not who.names_person


# -- through our routes, inside the Alipay app --------------------------------------------------


def test_inside_alipay_agree_goes_through_alipays_oauth_to_a_verified_session(fake_alipay, client):
    page = client.page("/auth/?next=/records/", headers={"User-Agent": ALIPAY_APP})
    agree = page.soup.select_one("main a.button.primary")
    assert agree.get_text(strip=True) == "同意授权"
    assert agree["href"] == "/auth/host/alipay?next=/records/"
    assert page.soup.select_one(".sandbox-box") is None  # the host's own sign-in, not the sandbox box
    to_alipay = client.get(agree["href"], headers={"User-Agent": ALIPAY_APP})
    assert to_alipay.status_code == 303 and to_alipay.location.startswith(
        f"{fake_alipay.base}/sandbox/oauth2/publicAppAuthorize.htm?"
    )
    # The browser at Alipay: the signed-in user (王芳) agrees.
    shown = requests.get(to_alipay.location, timeout=10)
    assert shown.status_code == 200 and "支付宝授权" in shown.text
    back = requests.get(
        to_alipay.location + "&sandbox_user=" + sandbox_users.user_id_for(WANG_FANG), allow_redirects=False, timeout=10
    )
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/auth/host/alipay/callback"
    landed = client.get(f"{callback.path}?{callback.query}", headers={"User-Agent": ALIPAY_APP})
    assert landed.status_code == 303 and landed.location == "/records/"
    session = identity_of(client)
    assert (session["level"], session["host"], session["host_subject"]) == (
        "verified",
        "alipay",
        sandbox_users.user_id_for(WANG_FANG),
    )
    with fake_alipay.app.app_context():
        bound = db.session.scalar(select(HostAccount).filter_by(provider="alipay"))
        assert bound.subject == sandbox_users.user_id_for(WANG_FANG)
        assert bound.person_id == fake_alipay.world.people["王芳"]


def test_when_alipay_will_not_say_who_it_is_the_resident_reads_why_and_is_not_signed_in(fake_alipay, client):
    start = client.get("/auth/host/alipay?next=/records/", headers={"User-Agent": ALIPAY_APP})
    back = requests.get(
        start.location + "&sandbox_user=" + sandbox_users.user_id_for(WANG_FANG), allow_redirects=False, timeout=10
    )
    fake_alipay.faults.plan("alipay.user.info.share", signed_answer({"code": "10000", "msg": "Success"}))
    callback = urlsplit(back.headers["Location"])
    page = client.page(f"{callback.path}?{callback.query}", headers={"User-Agent": ALIPAY_APP})
    assert page.status == 400 and page.h1 == "授权"
    assert "未能完成授权，请重新授权，或选择「拒绝授权」后手动输入证件信息" in page.summary()
    assert "person_id" not in identity_of(client)


def test_declining_on_alipays_page_comes_back_as_not_signed_in(fake_alipay, client):
    start = client.get("/auth/host/alipay?next=/records/", headers={"User-Agent": ALIPAY_APP})
    shown = requests.get(start.location, timeout=10)
    from bs4 import BeautifulSoup

    form = BeautifulSoup(shown.text, "html.parser").select_one("main form")
    values = {k: v[0] for k, v in form_values(form).items()}
    back = requests.get(
        f"{fake_alipay.base}{form['action']}",
        params={**values, "decision": "refuse"},
        allow_redirects=False,
        timeout=10,
    )
    callback = urlsplit(back.headers["Location"])
    assert "auth_code" not in parse_qs(callback.query)
    page = client.page(f"{callback.path}?{callback.query}", headers={"User-Agent": ALIPAY_APP})
    assert page.status == 400 and "未能完成授权" in page.text
    assert hosts.SANDBOX in fake_alipay.app.extensions["sbweb.host_signin"]  # beside the live one
