"""RSA2 (SHA256withRSA) as Alipay defines it: the sandbox's signing rules, notifications
checked by our client's verifier (python-alipay-sdk's, as AlipayClient.verified uses it), and
the sandbox's signatures checked by a verifier written here from `cryptography` alone, with
the key the sandbox publishes."""

import base64
import datetime as dt
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select

from sbweb.db import db
from sbweb.payments import signing
from sbweb.payments.alipay import AlipayClient, provider_time
from tests.support.journeys import choose, go_to_provider, pay, sign_in

NOTIFY = {
    "notify_time": "2026-01-15 10:00:00",
    "notify_type": "trade_status_sync",
    "notify_id": "ac05099524730693a8b330c5ecf72da9",
    "app_id": "2026000000000001",
    "charset": "utf-8",
    "version": "1.0",
    "trade_no": "2026011522001234567890",
    "out_trade_no": "SB202601150000000001",
    "trade_status": "TRADE_SUCCESS",
    "total_amount": "352.00",
    "seller_id": "2088000000000001",
    "subject": "社会保险费-职工基本医疗保险费（灵活就业）",
}


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def alipay_client(key):
    """Our Alipay client trusting `key` as Alipay's (it never goes on the network here)."""

    def offline(url):
        raise AssertionError("no network in these tests")

    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return AlipayClient(
        app_id="2026000000000001",
        app_private_key=pem,
        alipay_public_key=signing.public_pem(key),
        gateway="https://openapi.alipay.com/gateway.do",
        transport=offline,
    )


def signed_notify(key, **changes) -> dict:
    params = {**NOTIFY, **changes}
    params["sign"] = signing.sign(key, signing.signing_string(params, exclude=("sign", "sign_type")))
    params["sign_type"] = "RSA2"
    return params


def rsa2_verified(public_pem: bytes, params: dict) -> bool:
    """A general-purpose Alipay RSA2 verifier: sort by name, leave out sign, sign_type and
    empty values, join key=value with &, check SHA256withRSA over the UTF-8 bytes."""
    public_key = serialization.load_pem_public_key(public_pem)
    message = "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type") and params[k] not in ("", None)
    )
    try:
        public_key.verify(
            base64.b64decode(params["sign"]), message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True


# -- the signing rules --------------------------------------------------------------------


def test_the_signing_string_is_sorted_key_value_pairs_joined_by_ampersands_not_url_encoded():
    params = {"subject": "社会保险费 A&B", "app_id": "2026", "sign": "xyz", "total_amount": "352.00"}
    assert signing.signing_string(params) == "app_id=2026&subject=社会保险费 A&B&total_amount=352.00"


def test_empty_values_are_left_out_of_the_signing_string():
    assert signing.signing_string({"a": "1", "b": "", "c": None, "d": "0"}) == "a=1&d=0"


def test_a_request_signs_sign_type_but_a_notify_is_verified_without_it():
    params = {"app_id": "2026", "sign_type": "RSA2", "method": "alipay.trade.query"}
    assert signing.signing_string(params) == "app_id=2026&method=alipay.trade.query&sign_type=RSA2"
    assert signing.signing_string(params, exclude=("sign", "sign_type")) == "app_id=2026&method=alipay.trade.query"


def test_a_signed_notify_verifies(key, alipay_client):
    assert alipay_client.verified(signed_notify(key))


def test_a_signed_request_verifies_over_everything_but_sign(key):
    params = {"app_id": "2026", "sign_type": "RSA2", "biz_content": '{"a":1}'}
    params["sign"] = signing.sign(key, signing.signing_string(params))
    message = signing.signing_string(params)
    assert "sign_type=RSA2" in message
    assert signing.verify(key.public_key(), message, params["sign"])


@pytest.mark.parametrize(
    "field, value",
    [
        ("total_amount", "3520.00"),
        ("out_trade_no", "SB202601150000000002"),
        ("trade_status", "TRADE_CLOSED"),
        ("subject", "社会保险费"),
    ],
)
def test_a_notify_with_a_changed_value_does_not_verify(key, alipay_client, field, value):
    params = signed_notify(key)
    params[field] = value
    assert not alipay_client.verified(params)


def test_a_notify_with_an_added_parameter_does_not_verify(key, alipay_client):
    params = signed_notify(key)
    params["refund_fee"] = "352.00"
    assert not alipay_client.verified(params)


def test_a_notify_with_a_parameter_removed_does_not_verify(key, alipay_client):
    params = signed_notify(key)
    del params["seller_id"]
    assert not alipay_client.verified(params)


def test_an_added_empty_parameter_does_not_verify_either_and_only_rsa2_is_accepted(key, alipay_client):
    params = signed_notify(key)
    params["gmt_close"] = ""  # Alipay sends no empty values; the SDK counts them, so this fails
    assert not alipay_client.verified(params)
    params = {**signed_notify(key), "sign_type": "RSA"}
    assert not alipay_client.verified(params)  # only RSA2 is accepted


def test_a_notify_signed_by_another_key_does_not_verify(key, alipay_client):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not alipay_client.verified(signed_notify(other))


@pytest.mark.parametrize("signature", ["", "not base64!", base64.b64encode(b"x" * 256).decode()])
def test_a_garbled_signature_is_a_refusal_not_an_exception(key, alipay_client, signature):
    params = signed_notify(key)
    params["sign"] = signature
    assert not alipay_client.verified(params)


def test_a_notify_without_sign_does_not_verify(key, alipay_client):
    params = signed_notify(key)
    del params["sign"]
    assert not alipay_client.verified(params)


def test_the_independent_verifier_agrees_with_the_apps_signatures(key):
    pem = signing.public_pem(key).encode()
    params = signed_notify(key)
    assert rsa2_verified(pem, params)
    params["total_amount"] = "0.01"
    assert not rsa2_verified(pem, params)


# -- what the sandbox signs, checked with the key it publishes -----------------------------


def published_key(client) -> bytes:
    response = client.get("/sandbox/alipay-public-key.pem")
    assert response.status_code == 200
    assert response.data.startswith(b"-----BEGIN PUBLIC KEY-----")
    return response.data


def test_the_sandboxs_notify_to_wang_fang_verifies_with_the_published_key(client, world):
    from sbweb.models import SandboxNotify

    sign_in(client, "王芳")
    result = pay(client, choose(client, "medical"))
    assert "缴费成功" in result.text
    with client.application.app_context():
        notifies = list(db.session.scalars(select(SandboxNotify)))
        assert len(notifies) == 1 and notifies[0].delivered_at is not None
        sent = json.loads(notifies[0].params)
    assert sent["trade_status"] == "TRADE_SUCCESS" and sent["total_amount"] == "352.00"
    pem = published_key(client)
    assert rsa2_verified(pem, sent)
    assert not rsa2_verified(pem, {**sent, "total_amount": "1.00"})


def test_the_sandboxs_signed_return_verifies_with_the_published_key(client, world):
    sign_in(client, "李明")
    cashier = go_to_provider(client, choose(client, "medical"))
    back = client.submit(cashier, button="立即付款", follow=False)
    assert back.status == 303
    params = dict(parse_qsl(urlsplit(back.response.location).query))
    assert params["out_trade_no"].startswith("SB") and params["total_amount"] == "400.00"
    assert rsa2_verified(published_key(client), params)


def test_the_sandbox_gateways_answer_verifies_with_the_published_key(client, world):
    from sbweb.payments import sandbox

    sign_in(client, "李明")
    cashier = go_to_provider(client, choose(client, "medical"))
    assert "400.00" in cashier.text
    with client.application.app_context():
        order_no = db.session.scalar(select(sandbox.SandboxTrade.out_trade_no))
        request = {
            "app_id": client.application.config["SANDBOX_APP_ID"],
            "method": "alipay.trade.query",
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": provider_time(dt.datetime.now(dt.UTC)),
            "version": "1.0",
            "biz_content": json.dumps({"out_trade_no": order_no}),
        }
        request["sign"] = signing.sign(sandbox.merchant_key(), signing.signing_string(request))
    text = client.post("/sandbox/gateway.do", data=request).get_data(as_text=True)
    body = json.loads(text)
    key = "alipay_trade_query_response"
    assert body[key]["code"] == "10000" and body[key]["trade_status"] == "WAIT_BUYER_PAY"
    # Alipay signs the response object exactly as sent: the text between the key and ,"sign".
    start = text.index(f'"{key}":') + len(key) + 3
    signed_text = text[start : text.rindex(',"sign"')]
    public_key = serialization.load_pem_public_key(published_key(client))
    public_key.verify(base64.b64decode(body["sign"]), signed_text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
