"""UnionPay's 对账文件 (文件传输, txnType 76) read by our client: the ZM file's fixed-width
lines as BillRows (fen, Beijing times, a 退货 under the paid trade's number); the real client
over HTTP against the fake gateway, whose signed answer carries the zip deflated and base64;
a tampered file or signature refused; the daily 对账 of UnionPay finding each kind of
difference. The fake writes the file from UnionPay's published field widths, not from ours."""

import base64
import datetime as dt
import io
import zipfile
import zlib

import pytest
from sqlalchemy import select

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import ReconDifference
from sbweb.payments import ProviderError
from sbweb.payments import unionpay as up
from sbweb.payments.unionpay import parse_zm, read_bill_zip
from sbweb.services import reconciliation
from tests.providers.unionpay.fakes import MER_ID, Trade, zm_line
from tests.providers.unionpay.test_unionpay_payments import notify, to_unionpay

DAY = dt.date(2026, 11, 23)
PAY = {1: "S22", 5: "1123105523", 7: "000000035200", 10: "512311231055230000001", 12: "SB202611230000000001"}
PAY |= {20: "01", 21: "01", 22: "000201", 28: MER_ID, 31: "社保缴费中心"}
REFUND = {1: "S30", 5: "1123141512", 7: "000000010000", 10: "512311231415120000002", 12: "SB202611230000000001R1"}
REFUND |= {20: "04", 21: "00", 27: "512311231055230000001", 28: MER_ID, 41: "SB202611230000000001"}


def zm(*lines: dict) -> bytes:
    return b"".join(zm_line(values) + b"\r\n" for values in lines)


def test_a_payment_and_its_refund_are_read_in_fen_with_beijing_times():
    pay, refund = parse_zm(zm(PAY, REFUND), mer_id=MER_ID, day=DAY)
    assert (pay.kind, pay.out_trade_no, pay.trade_no, pay.amount_fen, pay.out_request_no) == (
        "pay",
        "SB202611230000000001",
        "512311231055230000001",
        35200,
        None,
    )
    assert pay.at == dt.datetime(2026, 11, 23, 10, 55, 23, tzinfo=SHANGHAI)
    # A 退货 is listed under the paid trade's orderId and queryId; its own orderId is the request.
    assert (refund.kind, refund.out_trade_no, refund.trade_no, refund.amount_fen, refund.out_request_no) == (
        "refund",
        "SB202611230000000001",
        "512311231055230000001",
        10000,
        "SB202611230000000001R1",
    )
    assert refund.at == dt.datetime(2026, 11, 23, 14, 15, 12, tzinfo=SHANGHAI)


def test_the_file_of_new_year_lists_the_last_evening_of_the_old_year():
    (row,) = parse_zm(zm({**PAY, 5: "1231233000"}), mer_id=MER_ID, day=dt.date(2027, 1, 1))
    assert row.at == dt.datetime(2026, 12, 31, 23, 30, tzinfo=SHANGHAI)


def test_a_day_without_trades_is_an_empty_bill_and_a_cut_reserved_tail_is_fine():
    assert parse_zm(b"", mer_id=MER_ID, day=DAY) == []
    cut = zm_line(PAY).rstrip(b" ")  # the reserved fields at the end, spaces trimmed by a writer
    assert [r.amount_fen for r in parse_zm(cut + b"\n", mer_id=MER_ID, day=DAY)] == [35200]


@pytest.mark.parametrize(
    "line, says",
    [
        (zm_line(PAY)[1:], "ZM line 1: not the ZM layout"),
        (zm_line({**PAY, 20: "02"}), "unknown 交易类型 '02'"),
        (zm_line({**PAY, 28: "898000000000002"}), "another merchant's trade"),
        (zm_line({**PAY, 7: "0000000352.0"}), "no readable 交易金额"),
        (zm_line({**PAY, 7: "000000000000"}), "no readable 交易金额"),
        (zm_line({**PAY, 5: "1332105523"}), "no readable 交易传输时间"),
        (zm_line({**REFUND, 41: ""}), "no readable 商户订单号"),
        (zm_line(PAY)[:200], "unknown 交易类型 ''"),  # cut before 交易类型
    ],
)
def test_a_line_we_cannot_read_exactly_is_a_provider_error(line, says):
    with pytest.raises(ProviderError, match=says):
        parse_zm(zm(REFUND) + line + b"\r\n" if "line 1" not in says else line, mer_id=MER_ID, day=DAY)


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_the_zm_file_of_our_merchant_is_picked_from_the_zip():
    data = zipped(
        {
            f"INN26112301ZME_{MER_ID}": b"",
            f"INN26112301ZM_{MER_ID}": zm(PAY),
            "INN26112301ZM_898000000000009": zm({**PAY, 28: "898000000000009"}),
            f"RD26112301_{MER_ID}": b"summary",
        }
    )
    assert [r.out_trade_no for r in read_bill_zip(data, mer_id=MER_ID, day=DAY)] == ["SB202611230000000001"]
    with pytest.raises(ProviderError, match="0 ZM files for merId"):
        read_bill_zip(zipped({f"INN26112301ZME_{MER_ID}": b""}), mer_id=MER_ID, day=DAY)
    with pytest.raises(ProviderError, match="not a readable zip"):
        read_bill_zip(b"<html>busy</html>", mer_id=MER_ID, day=DAY)


# -- the real client over HTTP against the fake gateway -------------------------------------


@pytest.fixture
def provider(app):
    with app.app_context():
        yield app.extensions["sbweb.providers"]["unionpay"]


def trades(unionpay):
    """A paid trade and a 退货 of part of it, as UnionPay has them."""
    paid = Trade("SB202611230000000001", "20261123105516", 35200, "https://sb.example/notify/unionpay")
    unionpay.settle(paid)
    refund = Trade("SB202611230000000001R1", "20261123141500", 10000, "", kind="refund", orig_qry_id=paid.query_id)
    unionpay.settle(refund)
    unionpay.trades.update({(t.order_id, t.txn_time): t for t in (paid, refund)})
    return paid, refund


def test_the_days_file_is_asked_for_signed_and_read(provider, unionpay):
    assert provider.reads_bills and provider.file_gateway == f"{unionpay.url}/filedownload"
    paid, refund = trades(unionpay)
    rows = provider.bill(DAY)
    assert [(r.kind, r.out_trade_no, r.trade_no, r.amount_fen, r.out_request_no) for r in rows] == [
        ("pay", paid.order_id, paid.query_id, 35200, None),
        ("refund", paid.order_id, paid.query_id, 10000, refund.order_id),
    ]
    assert rows[0].at == dt.datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI)
    (asked,) = [f for f in unionpay.received if f.get("txnType") == "76"]
    assert (asked["txnSubType"], asked["bizType"], asked["settleDate"], asked["fileType"]) == (
        "01",
        "000000",
        "1123",
        "00",
    )
    assert asked["merId"] == MER_ID and asked["certId"] and "orderId" not in asked


def test_a_tampered_file_or_signature_is_refused(provider, unionpay):
    paid, _ = trades(unionpay)
    unionpay.bill_amounts[paid.order_id] = 3520  # the file as someone on the way would have it
    tampered = base64.b64encode(zlib.compress(unionpay.bill_file("1123"))).decode()
    unionpay.bill_amounts.clear()
    unionpay.file_answer = {"after": {"fileContent": tampered}}  # put in after UnionPay signed
    with pytest.raises(ProviderError, match="bill: answer refused: bad signature"):
        provider.bill(DAY)
    # The file as sent, under a signature UnionPay made over other fields.
    unionpay.file_answer = {"after": {"signature": unionpay.signed({"version": "5.1.0"})["signature"]}}
    with pytest.raises(ProviderError, match="bad signature"):
        provider.bill(DAY)
    unionpay.file_answer = {}
    assert [r.amount_fen for r in provider.bill(DAY)] == [35200, 10000]


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"respCode": "98", "respMsg": "文件不存在", "fileContent": ""}, "no 对账文件 for 1123 .*98"),
        ({"respCode": "99", "respMsg": "系统繁忙"}, "bill refused: 99 系统繁忙"),
        ({"fileContent": base64.b64encode(b"not deflated").decode()}, "not base64 of deflated data"),
        ({"fileContent": base64.b64encode(zlib.compress(b"PK not a zip")).decode()}, "not a readable zip"),
        ({"fileContent": "%%%"}, "not base64 of deflated data"),
        ({"settleDate": "1124"}, "another settleDate"),
        ({"merId": "898000000000002"}, "another merchant"),
    ],
)
def test_an_answer_without_a_readable_file_of_that_day_is_a_provider_error(provider, unionpay, changes, says):
    unionpay.file_answer = changes  # signed by UnionPay: the content, not the signature, is wrong
    with pytest.raises(ProviderError, match=says):
        provider.bill(DAY)


def test_a_file_signed_by_unionpays_test_environment_is_refused_in_production(provider, unionpay):
    assert up.TEST_OWNER == "00040000:SIGN"  # as UnionPay's SDKs spell it
    test_signer = unionpay.pki.authority.signer(cn="041@Z12@00040000:SIGN@00000062")
    unionpay.pki.unionpay, kept = test_signer, unionpay.pki.unionpay
    try:
        with pytest.raises(ProviderError, match='test environment\'s .*environment "test"'):
            provider.bill(DAY)
    finally:
        unionpay.pki.unionpay = kept


# -- the daily 对账 of UnionPay --------------------------------------------------------------


def open_differences(run) -> list[tuple]:
    found = db.session.scalars(select(ReconDifference).filter_by(run_id=run.id, state="open"))
    return sorted((d.kind, d.out_trade_no, d.provider_fen, d.our_fen) for d in found)


@pytest.fixture
def settled(client, world, unionpay):
    from tests.support.journeys import sign_in

    sign_in(client, "王芳")
    number, fields = to_unionpay(client, unionpay)
    unionpay.pay(number)
    assert notify(client, unionpay.notification(number)).status_code == 200
    return number, int(fields["txnAmt"])


def test_the_daily_reconciliation_reads_unionpays_file_and_finds_each_difference(app, settled, unionpay):
    number, fen = settled
    today = dt.datetime.now(SHANGHAI).date()
    with app.app_context():
        assert "unionpay" in reconciliation.billed_providers()
        run = reconciliation.reconcile(today, "unionpay")
        assert (run.matched, run.differences) == (1, 0)
        assert run.summary["bill_pays"] == 1 and run.summary["bill_pay_fen"] == fen

        unionpay.bill_amounts[number] = fen + 100  # UnionPay says otherwise
        stranger = {1: "S22", 7: "000000005000", 10: "712311231200000000099", 12: "SB209912310000000099"}
        unionpay.bill_extra.append({**stranger, 20: "01", 21: "01"})  # a payment we never saw
        run = reconciliation.reconcile(today, "unionpay")
        assert open_differences(run) == [
            ("amount_differs", number, fen + 100, fen),
            ("unknown_here", "SB209912310000000099", 5000, None),
        ]

        unionpay.bill_amounts.clear()
        unionpay.bill_extra.clear()
        unionpay.bill_left_out.add(number)  # settled here, absent there
        run = reconciliation.reconcile(today, "unionpay")
        assert open_differences(run) == [("absent_there", number, None, fen)]
