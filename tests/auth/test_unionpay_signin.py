"""同意授权 inside 云闪付, through the sandbox's 云闪付 open platform: our real 云闪付 sign-in
(sbweb.identity.hosts.unionpay) sends the browser to the sandbox's oauth.html, the tester picks
who is signed in to 云闪付, and our server exchanges the code (backendToken, token, user.auth,
the 实名 fields decrypted) for a verified session — without JavaScript. The bridge (upsdk)
route: the page's signed upsdk.config, the sandbox app's appletAuth, our callback."""

import json
from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy import select

from sbweb.db import db
from sbweb.models import HostAccount
from sbweb.payments import sandbox_unionpay_users
from tests.support import identity_of

UNIONPAY_UA = (
    "Mozilla/5.0 (Linux; Android 13; V2183A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0 Mobile Safari/537.36"
    " (com.unionpay.chsp) (cordova 7.0.0) (updebug 0) (version 1010) (UnionPay/1.0 CloudPay)"
)
WANG_FANG = "520102198503151246"
HOST_FAILED = "未能完成授权，请重新授权，或选择「拒绝授权」后手动输入证件信息"


def in_unionpay(client):
    client.environ_base["HTTP_USER_AGENT"] = UNIONPAY_UA
    return client


def to_unionpay_authorization(client, next_url="/records/"):
    """同意授权 on our page: a link (no form, nothing posted) to 云闪付's authorization page."""
    page = client.page(f"/auth/?{urlencode({'next': next_url})}")
    link = page.soup.find("a", string="同意授权")
    assert link is not None and link["href"].startswith("/auth/host/sandbox-unionpay?"), page.text
    response = client.get(link["href"])
    target = urlsplit(response.location)
    assert response.status_code in (302, 303) and target.path == "/sandbox/unionpay/open/html/oauth.html"
    return response.location


def test_wang_fang_agrees_in_unionpay_and_is_verified_with_her_unionpay_openid(client, world):
    in_unionpay(client)
    authorization = to_unionpay_authorization(client)
    query = parse_qs(urlsplit(authorization).query)
    assert query["scope"] == ["upapi_auth"] and query["responseType"] == ["code"] and query["state"][0].isalnum()
    page = client.page(authorization)
    assert page.h1 == "云闪付授权" and "王芳（5201**********1246）" in page.text and WANG_FANG not in page.text
    open_id = sandbox_unionpay_users.open_id_for(WANG_FANG)
    back = client.get(authorization + "&" + urlencode({"sandbox_user": open_id}))
    assert back.status_code == 303 and urlsplit(back.location).path == "/auth/host/sandbox-unionpay/callback"
    done = client.get(back.location)
    assert done.status_code == 303 and done.location == "/records/"
    session = identity_of(client)
    assert (session["person_id"], session["level"], session["host"]) == (world.people["王芳"], "verified", "unionpay")
    assert session["host_subject"] == open_id
    with client.application.app_context():
        account = db.session.scalar(select(HostAccount).filter_by(provider="sandbox-unionpay", subject=open_id))
        assert account is not None


def test_the_code_works_once(client, world):
    in_unionpay(client)
    authorization = to_unionpay_authorization(client)
    back = client.get(authorization + "&" + urlencode({"sandbox_user": sandbox_unionpay_users.open_id_for(WANG_FANG)}))
    assert client.get(back.location).status_code == 303
    # Another phone that started a sign-in of its own, handed the used code with its own state:
    again = in_unionpay(client.application.test_client())
    started = again.get("/auth/host/sandbox-unionpay?next=/records/")
    state = parse_qs(urlsplit(started.location).query)["state"][0]
    code = parse_qs(urlsplit(back.location).query)["code"][0]
    replay = again.get("/auth/host/sandbox-unionpay/callback?" + urlencode({"code": code, "state": state}))
    assert replay.status_code == 400 and HOST_FAILED in replay.get_data(as_text=True)
    assert identity_of(again) == {}


def test_declining_in_unionpay_signs_no_one_in(client, world):
    in_unionpay(client)
    authorization = to_unionpay_authorization(client)
    back = client.get(authorization + "&decision=refuse")
    assert "errorcode=" in back.location and "code=" not in back.location.replace("errorcode=", "")
    page = client.get(back.location)
    assert page.status_code == 400 and HOST_FAILED in page.get_data(as_text=True)
    assert identity_of(client).get("level") is None


def test_the_authorization_page_refuses_a_callback_off_our_hosts(client, world):
    url = "/sandbox/unionpay/open/html/oauth.html?" + urlencode(
        {
            "appId": sandbox_unionpay_users.APP_ID,
            "redirectUri": "https://evil.example/cb",
            "responseType": "code",
            "scope": "upapi_auth",
            "state": "abc",
        }  # fmt: skip
    )
    response = client.get(url)
    assert response.status_code == 400 and "授权回调地址与应用配置不一致" in response.get_data(as_text=True)


def test_through_the_bridge_the_signed_config_gets_a_code_for_our_callback(client, world):
    in_unionpay(client)
    page = client.page("/auth/?next=/records/")
    assert page.soup.select_one("script[src*=unionpay-bridge]") is not None
    link = page.soup.find("a", string="同意授权")
    bridge = json.loads(link["data-unionpay-bridge"])
    assert bridge["appId"] == sandbox_unionpay_users.APP_ID and bridge["callback"].endswith(
        "/auth/host/sandbox-unionpay/callback"
    )
    open_id = sandbox_unionpay_users.open_id_for(WANG_FANG)
    config = {k: bridge[k] for k in ("appId", "nonceStr", "timestamp", "signature")}
    forged = client.post(
        "/sandbox/unionpay/open/appletAuth", json={**config, "url": "http://localhost/other", "openId": open_id}
    )
    assert forged.status_code == 400 and forged.json["errorcode"] == "E13"
    granted = client.post(
        "/sandbox/unionpay/open/appletAuth",
        json={**config, "url": "http://localhost/auth/?next=/records/", "openId": open_id},
    )
    assert granted.status_code == 200, granted.json
    done = client.get(f"{urlsplit(bridge['callback']).path}?code={granted.json['code']}&state={bridge['state']}")
    assert done.status_code == 303 and done.location == "/records/"
    assert identity_of(client)["level"] == "verified"


def test_outside_unionpay_no_bridge_script_is_loaded(client, world):
    page = client.page("/auth/")
    assert page.soup.select_one("script[src*=unionpay-bridge]") is None
