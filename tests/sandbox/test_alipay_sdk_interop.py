"""The sandbox speaks Alipay's protocol well enough for a real Alipay client library
(python-alipay-sdk, used as the library's README shows, not through our subclass) to talk to
it: the SDK verifies what the sandbox signs with the key from the documented URL, and the
sandbox accepts what the SDK signs — stamped with Beijing time, as Alipay wants."""

import datetime as dt
from urllib.parse import parse_qsl

import alipay
import pytest
from sqlalchemy import select

from sbweb.db import db
from sbweb.models import SandboxTrade
from sbweb.payments import sandbox, signing
from sbweb.payments.alipay import provider_time
from tests.support.journeys import choose, go_to_provider, sign_in


def beijing_now() -> str:
    return provider_time(dt.datetime.now(dt.UTC))


@pytest.fixture
def sdk(app, client):
    """The SDK configured as a merchant would: our private key, and the platform key fetched
    from the sandbox's documented URL."""
    platform_pem = client.get("/sandbox/alipay-public-key.pem").get_data(as_text=True)
    assert platform_pem.startswith("-----BEGIN PUBLIC KEY-----")
    with app.app_context():
        from cryptography.hazmat.primitives import serialization

        merchant_pem = (
            sandbox.merchant_key()
            .private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
            .decode()
        )
    return alipay.AliPay(
        appid=app.config["SANDBOX_APP_ID"],
        app_private_key_string=merchant_pem,
        alipay_public_key_string=platform_pem,
        sign_type="RSA2",
    )


def test_the_sdk_verifies_a_sandbox_notify_and_rejects_a_tampered_one(app, client, world, sdk):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    with app.app_context():
        trade = db.session.scalar(select(SandboxTrade))
        trade.status = "TRADE_SUCCESS"
        params = sandbox.notify_params(trade)
        db.session.rollback()
    data = dict(params)
    signature = data.pop("sign")
    assert sdk.verify(dict(data), signature)
    data["total_amount"] = "0.01"
    assert not sdk.verify(dict(data), signature)


def test_the_sdk_verifies_a_sandbox_return_and_api_answer(app, client, world, sdk):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    with app.app_context():
        trade = db.session.scalar(select(SandboxTrade))
        returned = sandbox.return_params(trade)
        out_trade_no = trade.out_trade_no
    data = dict(returned)
    assert sdk.verify(data, data.pop("sign"))
    # An API call as the SDK builds it, answered by the gateway and verified by the SDK.
    query = sdk.sign_data(sdk.build_body("alipay.trade.query", {"out_trade_no": out_trade_no}, timestamp=beijing_now()))
    # Posted as a form, or in the query string as the SDK's own server_api sends it.
    for raw in (
        client.post("/sandbox/gateway.do", data=dict(parse_qsl(query))).get_data(as_text=True),
        client.get("/sandbox/gateway.do?" + query).get_data(as_text=True),
    ):
        answer = sdk._verify_and_return_sync_response(raw, "alipay_trade_query_response")
        assert answer["code"] == "10000" and answer["out_trade_no"] == out_trade_no
        assert answer["trade_status"] == "WAIT_BUYER_PAY"


def test_the_sandbox_cashier_accepts_a_wap_pay_request_signed_by_the_sdk(app, client, world, sdk):
    def wap_pay(timestamp):
        return sdk.client_api(
            "alipay.trade.wap.pay",
            {
                "subject": "社会保险费",
                "out_trade_no": "SDK20261123000001",
                "total_amount": "400.00",
                "product_code": "QUICK_WAP_WAY",
            },
            return_url="http://localhost/pay/return/sandbox",
            notify_url="http://localhost/notify/sandbox",
            timestamp=timestamp,
        )

    query = wap_pay(beijing_now())
    page = client.page("/sandbox/gateway.do?" + query)
    assert page.status == 200 and page.h1 == "付款详情"
    assert "400.00" in page.text and "SDK20261123000001" in page.text
    tampered = query.replace("400.00", "1.00")
    refused = client.page("/sandbox/gateway.do?" + tampered)
    assert refused.status == 400 and "验签出错" in refused.text
    # Stamped with UTC (the SDK's default on a machine set to UTC) instead of Beijing time.
    utc = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    late = client.page("/sandbox/gateway.do?" + wap_pay(utc))
    assert late.status == 400 and "非法的时间戳参数" in late.text


def test_our_signing_string_matches_the_sdk(app, sdk):
    # (Alipay's spec also drops empty values; the SDK keeps them, so none are used here.)
    params = {"b": "2", "a": "1", "sign_type": "RSA2", "c": "中文", "biz_content": '{"x":"y"}'}
    ours = signing.signing_string(params, exclude=("sign", "sign_type"))
    theirs = "&".join(f"{k}={v}" for k, v in sdk._ordered_data({k: v for k, v in params.items() if k != "sign_type"}))
    assert ours == theirs
