"""What a resident does with WeChat, in the test client: open us inside WeChat, 同意授权
through the (fake) OAuth, bind with the code from the outbox, pay by JSAPI or H5."""

import email
import re
from pathlib import Path
from urllib.parse import urlsplit

import requests
from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Person
from tests.support.wechat_fixtures import WECHAT_UA


def resident(app, *, wechat=False):
    """A browser of its own (cookies and all), inside WeChat if asked."""
    from tests.support import ResidentClient

    app.test_client_class = ResidentClient
    client = app.test_client()
    return inside_wechat(client) if wechat else client


def inside_wechat(client):
    client.environ_base["HTTP_USER_AGENT"] = WECHAT_UA
    return client


def through_wechat_oauth(client, start_location: str):
    """Follow 同意授权 from our host_start URL through the fake's authorize page back to our
    callback; the page the callback leads to (redirects followed)."""
    leave = client.get(start_location)
    assert leave.status_code == 303, leave.status_code
    authorize = requests.get(leave.location, allow_redirects=False, timeout=10)
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(authorize.headers["Location"])
    return client.page(f"{back.path}?{back.query}")


def agree(client, next_url="/", need=None):
    """授权 inside WeChat: the 同意授权 link goes to WeChat's OAuth and back."""
    query = f"?next={next_url}" + (f"&need={need}" if need else "")
    page = client.page(f"/auth/{query}")
    assert page.h1 == "授权"
    link = page.soup.find("a", string="同意授权")
    assert link is not None, page.text
    return through_wechat_oauth(client, link["href"])


def type_identity(client, page, name: str):
    with client.application.app_context():
        person = db.session.scalar(select(Person).filter_by(name=name))
        data = {"id_type": person.id_type, "id_number": person.id_number, "name": name}
    return client.submit(page, data)


def sent_codes(app) -> list[str]:
    """The codes in the mails written to the outbox, oldest first."""
    folder = Path(app.instance_path) / "outbox"
    found = []
    for path in sorted(folder.glob("*.eml"), key=lambda p: int(p.name.split("-")[0])) if folder.exists() else []:
        message = email.message_from_bytes(path.read_bytes())
        body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
        match = re.search(r"验证码是 (\d{6})", body)
        if match:
            found.append(match.group(1))
    return found


def mails_to(app) -> list[str]:
    folder = Path(app.instance_path) / "outbox"
    return [email.message_from_bytes(p.read_bytes())["To"] for p in folder.glob("*.eml")] if folder.exists() else []


def get_code(client, page):
    """获取验证码 on the code page: the page after it, and the code from the outbox."""
    after = client.submit(page, selector="main form[action$='/send']")
    return after, sent_codes(client.application)[-1]


def enter_code(client, page, code: str):
    return client.submit(page, {"code": code}, selector="main form[action$='/auth/verify/code']")


def bind(client, name: str, next_url="/"):
    """First time inside WeChat: 同意授权 → 身份验证 → 获取验证码 → the code: bound, verified."""
    page = agree(client, next_url)
    assert page.h1 == "身份验证", page.text
    page = type_identity(client, page, name)
    assert page.h1 == "获取验证码", page.text
    page, code = get_code(client, page)
    assert page.h1 == "输入验证码", page.text
    return enter_code(client, page, code)


def method_page(client, confirm_page):
    page = client.submit(confirm_page)
    assert page.h1 == "选择缴款方式", page.text
    return page


def go_pay(client, method, channel="wechat"):
    """去支付 with `channel`: the response (not followed)."""
    return client.submit(method, {"channel": channel}, follow=False).response


def bridge_params(page) -> dict:
    import json

    box = page.soup.select_one("main [data-wechat-pay]")
    assert box is not None, page.text
    return json.loads(box["data-params"])


def confirm_in_wechat(wechat_pay, params: dict) -> str:
    """What WeixinJSBridge does on 确认支付: WeChat checks paySign, pays, notifies."""
    return requests.post(f"{wechat_pay.url}/fake/jsapi-pay", json=params, timeout=10).json()["err_msg"]


def post_notify(client, wechat_pay, out_trade_no: str, **wrong):
    """WeChat Pay's notify about a trade, posted to our endpoint (the flow app has no port)."""
    headers, body = wechat_pay.notify(wechat_pay.trades[out_trade_no], **wrong)
    return client.post("/notify/wechat", data=body, headers=headers)


def bound_and_signed_in(client, wechat_oauth, name: str, next_url="/"):
    """A resident whose WeChat user was bound before (as sbweb.identity.hosts records it), signed in
    inside WeChat through the OAuth: verified, her openid in the session."""
    from sbweb.identity import hosts

    openid = wechat_oauth.user = wechat_oauth.new_user(f"{name}的微信")
    with client.application.app_context():
        person = db.session.scalar(select(Person).filter_by(name=name))
        hosts.bind(hosts.HostIdentity(provider="wechat", subject=openid), person)
    page = agree(inside_wechat(client), next_url)
    assert page.status == 200 and "身份验证" not in page.h1
    return openid


def token(client) -> str:
    """The session's CSRF token, as any page's forms carry it."""
    from tests.support import form_values

    return form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]
