"""The 全渠道 (ACP 5.1.0) protocol core, against a test PKI made here: signMethod 01 signing
(checked against openssl on the command line, an independent implementation), the merchant's
PFX, UnionPay's signatures taken only under the configured root and intermediate, for
UnionPay's organisation, in force; the requests' fields; the answers read."""

import base64
import datetime as dt
import hashlib
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from sbweb.payments import InvalidNotice, ProviderError, unionpay
from sbweb.payments.unionpay import Merchant, SigningKey, Trust, parse_answer, signing_string, trade_outcome
from tests.providers.unionpay.pki import NOW, ORG, PFX_PASSWORD, Authority, UnionPayPKI, pem

MER_ID = "898000000000001"
T0 = dt.datetime(2026, 12, 7, 8, 30, 5, tzinfo=dt.UTC)  # 16:30:05 in Beijing


@pytest.fixture(scope="module")
def pki():
    return UnionPayPKI.make()


@pytest.fixture(scope="module")
def merchant(pki):
    return Merchant(MER_ID, SigningKey.from_pfx(pki.merchant_pfx, PFX_PASSWORD))


def front(merchant, **changes):
    fields = dict(
        order_id="SB202612070000000042",
        amount_fen=12345,
        txn_time=T0,
        pay_timeout=T0 + dt.timedelta(minutes=15),
        front_url="https://sb.example/pay/return/unionpay",
        back_url="https://sb.example/notify/unionpay",
    )
    fields.update(changes)
    return merchant.front_form(**fields)


def test_the_signing_string_is_the_sorted_fields_without_the_signature():
    assert signing_string({"b": "2", "signature": "x", "a": "1=&", "C": ""}) == "C=&a=1=&&b=2"


def test_the_pfx_gives_the_key_and_its_certificate_whose_serial_is_the_cert_id(pki):
    key = SigningKey.from_pfx(pki.merchant_pfx, PFX_PASSWORD)
    assert key.cert_id == "69042905377" == str(pki.merchant.certificate.serial_number)
    with pytest.raises(ValueError, match="password"):
        SigningKey.from_pfx(pki.merchant_pfx, "wrong")
    with pytest.raises(ValueError, match="PKCS#12"):
        SigningKey.from_pfx(b"not a pfx", PFX_PASSWORD)


def test_the_front_form_has_the_fields_the_specification_asks_for(merchant):
    form = front(merchant)
    assert {
        k: form[k]
        for k in (
            "version",
            "encoding",
            "signMethod",
            "txnType",
            "txnSubType",
            "bizType",
            "channelType",
            "accessType",
            "currencyCode",
            "merId",
            "orderId",
            "txnTime",
            "payTimeout",
            "txnAmt",
            "certId",
        )
    } == {
        "version": "5.1.0",
        "encoding": "UTF-8",
        "signMethod": "01",
        "txnType": "01",
        "txnSubType": "01",
        "bizType": "000201",
        "channelType": "08",
        "accessType": "0",
        "currencyCode": "156",
        "merId": MER_ID,
        "orderId": "SB202612070000000042",
        "txnTime": "20261207163005",
        "payTimeout": "20261207164505",
        "txnAmt": "12345",
        "certId": "69042905377",
    }
    assert form["frontUrl"].endswith("/pay/return/unionpay") and form["backUrl"].endswith("/notify/unionpay")


@pytest.mark.parametrize("fen, text", [(1, "1"), (100, "100"), (12345, "12345"), (999999999999, "999999999999")])
def test_amounts_are_whole_fen(merchant, fen, text):
    assert front(merchant, amount_fen=fen)["txnAmt"] == text


@pytest.mark.parametrize("fen", [0, -1, 10**12, 1.5, True, "100"])
def test_an_amount_that_is_not_positive_whole_fen_is_refused(merchant, fen):
    with pytest.raises(ValueError, match="fen"):
        front(merchant, amount_fen=fen)


@pytest.mark.parametrize("order_id", ["SB-2026", "SB_20261207", "short", "X" * 33, "订单12345678"])
def test_an_order_id_unionpay_would_refuse_is_refused_here(merchant, order_id):
    with pytest.raises(ValueError, match="orderId"):
        front(merchant, order_id=order_id)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_our_signature_is_what_openssl_computes_independently(merchant, pki, tmp_path):
    form = front(merchant)
    text = "&".join(f"{k}={form[k]}" for k in sorted(form) if k != "signature")
    (tmp_path / "data").write_bytes(text.encode())
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-r", str(tmp_path / "data")], check=True, capture_output=True, text=True
    ).stdout.split()[0]
    assert digest == hashlib.sha256(text.encode()).hexdigest()
    (tmp_path / "digest").write_text(digest)
    (tmp_path / "key.pem").write_bytes(
        pki.merchant.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(tmp_path / "key.pem"), str(tmp_path / "digest")],
        check=True,
        capture_output=True,
    ).stdout
    assert form["signature"] == base64.b64encode(signature).decode()


def test_what_unionpay_signs_is_verified_and_every_field_counts(pki):
    trust = pki.authority.trust()
    fields = pki.unionpay_signs(
        {
            "version": "5.1.0",
            "merId": MER_ID,
            "orderId": "SB202612070000000042",
            "respCode": "00",
            "txnAmt": "12345",
            "queryId": "762612071630050012345",
        }
    )
    assert trust.verify(fields)["txnAmt"] == "12345"
    for key in ("txnAmt", "orderId", "respCode", "merId"):
        with pytest.raises(InvalidNotice, match="bad signature"):
            trust.verify({**fields, key: fields[key] + "1"})
    with pytest.raises(InvalidNotice, match="bad signature"):
        trust.verify({**fields, "extra": "1"})
    with pytest.raises(InvalidNotice, match="bad signature"):
        trust.verify({k: v for k, v in fields.items() if k != "queryId"})


def test_our_own_signature_is_not_unionpays(pki, merchant):
    """The merchant's certificate chains to the same test CA but does not name UnionPay."""
    fields = merchant.key.sign(
        {"version": "5.1.0", "respCode": "00", "signPubKeyCert": pem(merchant.key.certificate).decode()}
    )
    with pytest.raises(InvalidNotice, match=f"not {ORG}"):
        pki.authority.trust().verify(fields)


def signed_by(pki, signer):
    return pki.unionpay_signs({"version": "5.1.0", "respCode": "00", "orderId": "SB202612070000000042"}, signer)


def test_a_certificate_not_under_the_configured_root_is_refused(pki):
    stranger = Authority.make("STRANGER")
    with pytest.raises(InvalidNotice, match="not issued by a configured intermediate"):
        pki.authority.trust().verify(signed_by(pki, stranger.signer()))


def test_an_intermediate_of_another_root_is_refused(pki):
    stranger = Authority.make("STRANGER")
    # The stranger's intermediate, renamed as ours and self-consistent, still has no root of ours.
    trust = Trust(roots=(pki.authority.root,), intermediates=(pki.authority.middle, stranger.middle))
    with pytest.raises(InvalidNotice, match="not issued by a configured root"):
        trust.verify(signed_by(pki, stranger.signer()))
    with pytest.raises(ValueError, match="not issued by any configured root"):
        Trust.from_pem(pem(pki.authority.root), pem(stranger.middle))


def test_a_certificate_of_another_organisation_is_refused(pki):
    for cn in (
        "041@Z12@中国某某股份有限公司@00000001",
        f"{ORG}",
        "041@Z12@00040000:SIGN@00000001",
        f"041@{ORG}@Z12@00000001",
    ):
        with pytest.raises(InvalidNotice, match=f"not {ORG}"):
            pki.authority.trust().verify(signed_by(pki, pki.authority.signer(cn=cn)))


def test_an_expired_or_not_yet_valid_certificate_is_refused(pki):
    expired = pki.authority.signer(not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1))
    early = pki.authority.signer(not_before=NOW + dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=400))
    for signer in (expired, early):
        with pytest.raises(InvalidNotice, match="not valid now"):
            pki.authority.trust().verify(signed_by(pki, signer))
    # An intermediate past its end refuses what it issued, though the leaf is in force.
    good = signed_by(pki, pki.authority.signer(not_after=NOW + dt.timedelta(days=3000)))
    with pytest.raises(InvalidNotice, match="intermediate certificate is not valid now"):
        pki.authority.trust().verify(good, now=NOW + dt.timedelta(days=2000))


def test_a_ca_or_encryption_certificate_is_not_a_signing_certificate(pki):
    with pytest.raises(InvalidNotice, match="CA certificate"):
        pki.authority.trust().verify(signed_by(pki, pki.authority.signer(ca=True)))
    with pytest.raises(InvalidNotice, match="not for signing"):
        pki.authority.trust().verify(signed_by(pki, pki.authority.signer(signing=False)))


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"signMethod": "11"}, "signMethod"),
        ({"version": "5.0.0"}, "version"),
        ({"signPubKeyCert": ""}, "no signature"),
        ({"signature": ""}, "no signature"),
        ({"signPubKeyCert": "-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----"}, "unreadable"),
        ({"signature": "not base64!"}, "unreadable"),
    ],
)
def test_what_is_not_a_signed_5_1_0_message_is_refused(pki, change, reason):
    with pytest.raises(InvalidNotice, match=reason):
        pki.authority.trust().verify({**signed_by(pki, pki.unionpay), **change})


def test_answers_are_parsed_with_bracketed_values_whole():
    text = (
        "respCode=00&reserved={a=1&b=2}&x=[{c=3}&{d=4}]&signPubKeyCert=-----BEGIN CERTIFICATE-----\r\n"
        "MII+/=\r\n-----END CERTIFICATE-----&empty="
    )
    assert parse_answer(text) == {
        "respCode": "00",
        "reserved": "{a=1&b=2}",
        "x": "[{c=3}&{d=4}]",
        "signPubKeyCert": "-----BEGIN CERTIFICATE-----\r\nMII+/=\r\n-----END CERTIFICATE-----",
        "empty": "",
    }
    for bad in ("a=1&a=2", "a={1", "novalue"):
        with pytest.raises(ValueError):
            parse_answer(bad)


def test_query_and_refund_requests(merchant):
    query = merchant.query_request(order_id="SB202612070000000042", txn_time=T0)
    assert (query["txnType"], query["txnSubType"], query["bizType"], query["txnTime"]) == (
        "00",
        "00",
        "000000",
        "20261207163005",
    )
    assert "txnAmt" not in query and query["signature"]
    refund = merchant.refund_request(
        order_id="SB202612070000000042R1",
        orig_qry_id="762612071630050012345",
        amount_fen=12345,
        txn_time=T0,
        back_url="https://sb.example/notify/unionpay",
    )
    assert (refund["txnType"], refund["txnSubType"], refund["origQryId"], refund["txnAmt"]) == (
        "04",
        "00",
        "762612071630050012345",
        "12345",
    )
    with pytest.raises(ValueError, match="origQryId"):
        merchant.refund_request(
            order_id="SB202612070000000042R1",
            orig_qry_id="",
            amount_fen=1,
            txn_time=T0,
            back_url="https://sb.example/notify/unionpay",
        )


PAID = {
    "merId": MER_ID,
    "orderId": "SB202612070000000042",
    "respCode": "00",
    "txnAmt": "12345",
    "queryId": "762612071630050012345",
    "currencyCode": "156",
}


@pytest.mark.parametrize(
    "code, status", [("00", "paid"), ("A6", "paid"), ("03", "processing"), ("05", "processing"), ("51", "failed")]
)
def test_a_notification_says_how_the_trade_went(code, status):
    outcome = trade_outcome({**PAID, "respCode": code}, mer_id=MER_ID, answer=False)
    assert outcome.status == status
    if status == "paid":
        assert (outcome.amount_fen, outcome.query_id) == (12345, "762612071630050012345")


def test_a_query_answer_says_the_trade_in_orig_resp_code():
    answer = {**PAID, "respCode": "00", "origRespCode": "00"}
    assert trade_outcome(answer, mer_id=MER_ID, answer=True).status == "paid"
    assert trade_outcome({**answer, "origRespCode": "04"}, mer_id=MER_ID, answer=True).status == "processing"
    assert trade_outcome({**PAID, "respCode": "34"}, mer_id=MER_ID, answer=True).status == "missing"
    with pytest.raises(ProviderError, match="refused: 12"):
        trade_outcome({**PAID, "respCode": "12"}, mer_id=MER_ID, answer=True)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"merId": "898000000000002"}, "merId"),
        ({"txnAmt": "12.34"}, "txnAmt"),
        ({"currencyCode": "840"}, "CNY"),
        ({"queryId": ""}, "queryId"),
        ({"orderId": "x"}, "orderId"),
    ],
)
def test_a_notification_not_for_us_or_unreadable_is_refused(change, reason):
    with pytest.raises(InvalidNotice, match=reason):
        trade_outcome({**PAID, **change}, mer_id=MER_ID, answer=False)


def test_unionpay_times_are_beijing_time():
    assert unionpay.provider_time(T0) == "20261207163005"
    assert unionpay.parse_provider_time("20261207163005") == T0
