"""The sandbox's 银联 对账文件: our real UnionPay client asks the sandbox's file host for a day's
file (文件传输, txnType 76) — in process, and over HTTP on a live server — and the daily 对账
reads it: the sandbox's payments and 退货 of that day, signed as UnionPay signs, matched with
our books; a difference when UnionPay's record differs; a tampered answer or request refused."""

import base64
import zlib

import pytest
from sqlalchemy import select

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import ReconDifference, Refund, SandboxTrade
from sbweb.payments import ProviderError, sandbox_unionpay
from sbweb.payments.unionpay import file_request, parse_answer
from sbweb.services import reconciliation
from tests.sandbox.test_unionpay_sandbox import confirm, order, provider, to_cashier
from tests.support.journeys import sign_in


@pytest.fixture
def signed_in(client, world, ctx):
    sign_in(client, "王芳")
    return client


def paid_today(client) -> tuple[str, object]:
    """An order paid through the 银联 cashier; its number and the day UnionPay settled it."""
    cashier, number = to_cashier(client)
    assert confirm(client, cashier).h1 == "支付成功"
    db.session.expire_all()
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=number))
    return number, trade.paid_at.astimezone(SHANGHAI).date()


def open_differences(run) -> list[tuple]:
    found = db.session.scalars(select(ReconDifference).filter_by(run_id=run.id, state="open"))
    return sorted((d.kind, d.out_trade_no, d.provider_fen, d.our_fen) for d in found)


def test_the_days_file_lists_the_payment_and_its_refund(signed_in, app):
    number, day = paid_today(signed_in)
    paid = order(number)
    client = provider(app)
    with app.test_request_context():
        refund = Refund(
            order_id=paid.id, out_request_no=f"{number}R1", amount_fen=100, reason="测试退货", state="pending"
        )
        db.session.add(refund)
        db.session.commit()
        assert client.refund(number, 100, refund.out_request_no, "测试退货", total_fen=paid.total_fen) == "processing"
        rows = client.bill(day)
    # (in time order; the 退货's txnTime has whole seconds, so it may sort before the payment)
    assert sorted((r.kind, r.out_trade_no, r.trade_no, r.amount_fen, r.out_request_no) for r in rows) == [
        ("pay", number, paid.provider_trade_no, paid.total_fen, None),
        ("refund", number, paid.provider_trade_no, 100, f"{number}R1"),
    ]
    assert rows[0].at.date() == day


def test_the_daily_reconciliation_includes_unionpay_and_finds_a_difference(signed_in, app):
    number, day = paid_today(signed_in)
    fen = order(number).total_fen
    with app.test_request_context():
        assert "unionpay" in reconciliation.billed_providers()
        run = reconciliation.reconcile(day, "unionpay")
        assert (run.matched, run.differences) == (1, 0) and run.summary["bill_pay_fen"] == fen
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=number))
    trade.total_fen = fen + 1  # UnionPay's record of the trade says one fen more
    db.session.commit()
    with app.test_request_context():
        run = reconciliation.reconcile(day, "unionpay")
        assert open_differences(run) == [("amount_differs", number, fen + 1, fen)]


def test_the_client_over_http_reads_the_sandboxs_file(signed_in, app, request):
    number, day = paid_today(signed_in)
    live_server = request.getfixturevalue("live_server")  # from here on the client talks HTTP
    client = provider(app)  # built again by live_server for its address
    assert client.file_gateway == live_server("/sandbox/unionpay/filedownload")
    with app.test_request_context():
        assert [(r.kind, r.out_trade_no) for r in client.bill(day)] == [("pay", number)]


def test_a_tampered_answer_or_request_is_refused(signed_in, app, monkeypatch):
    number, day = paid_today(signed_in)
    client = provider(app)
    real_post = client.post_file

    def tamper(url, sent):
        answer = parse_answer(real_post(url, sent).decode())
        answer["fileContent"] = base64.b64encode(zlib.compress(b"PK")).decode()
        return "&".join(f"{k}={v}" for k, v in answer.items()).encode()

    monkeypatch.setattr(client, "post_file", tamper)
    with app.test_request_context(), pytest.raises(ProviderError, match="answer refused: bad signature"):
        client.bill(day)
    # Our request with settleDate changed after we signed it: refused (11), in a signed answer.
    fields = file_request(client.merchant, settle_date=day, txn_time=order(number).created_at)
    answer = parse_answer(signed_in.post("/sandbox/unionpay/filedownload/", data=fields).text)
    assert answer["respCode"] == "00" and answer["fileContent"]
    refused = parse_answer(
        signed_in.post("/sandbox/unionpay/filedownload/", data={**fields, "settleDate": "0101"}).text
    )
    assert refused["respCode"] == "11" and "签名" in refused["respMsg"] and "fileContent" not in refused
    assert signed_in.post("/sandbox/unionpay/filedownload/", data={}).status_code == 200  # a refusal, not a 500
    with app.test_request_context():
        assert sandbox_unionpay.settle_day("1123", day.replace(month=11, day=22)).year == day.year - 1
