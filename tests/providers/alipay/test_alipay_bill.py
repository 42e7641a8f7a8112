"""Reading Alipay's trade bill (业务明细) as Alipay writes it: `#` lines around the table, a
tab after codes and numbers, refunds with negative amounts and their request number, GBK
inside a zip whose member names are GBK too."""

import datetime as dt
import io
import zipfile

import pytest

from sbweb.clock import SHANGHAI
from sbweb.payments import ProviderError
from sbweb.payments.alipay import parse_bill_detail, read_bill

HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
    "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
BILL = (
    "\n".join(
        [
            "#支付宝业务明细查询",
            "#账号：[20880211096256330156]",
            "#起始日期：[2026年11月23日 00:00:00]   终止日期：[2026年11月24日 00:00:00]",
            "#-----------------------------------------业务明细列表----------------------------------------",
            HEADER,
            "2026112322001458860515315453\t,SB202611230000000001\t,交易\t,"
            "社会保险费 城乡居民医疗保险,2026-11-23 10:55:16,"
            "2026-11-23 10:55:23,\t,\t,\t,\t,*芳(188****1234)\t,352.00,352.00,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,"
            "-2.11,0.00,社会保险费",
            "2026112322001458860515315453\t,SB202611230000000001\t,退款\t,"
            "社会保险费 城乡居民医疗保险,2026-11-23 10:55:16,"
            "2026-11-23 14:15:12,\t,\t,\t,\t,*芳(188****1234)\t,-100.00,-100.00,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,"
            "SB202611230000000001F1\t,0.60,0.00,退费",
            "#-----------------------------------------业务明细列表结束------------------------------------",
            "#交易合计：1笔，商家实收共352.00元，商家优惠共0.00元",
            "#退款合计：1笔，商家实收退款共-100.00元，商家优惠退款共0.00元",
            "#导出时间：[2026年11月24日 05:46:49]",
        ]
    )
    + "\n"
)


def test_a_payment_and_its_refund_are_read_in_fen_with_beijing_times():
    pay, refund = parse_bill_detail(BILL)
    assert (pay.kind, pay.out_trade_no, pay.trade_no, pay.amount_fen, pay.out_request_no) == (
        "pay",
        "SB202611230000000001",
        "2026112322001458860515315453",
        35200,
        None,
    )
    assert pay.at == dt.datetime(2026, 11, 23, 10, 55, 23, tzinfo=SHANGHAI)
    assert (refund.kind, refund.amount_fen, refund.out_request_no) == ("refund", 10000, "SB202611230000000001F1")
    assert refund.at == dt.datetime(2026, 11, 23, 14, 15, 12, tzinfo=SHANGHAI)


def test_columns_are_found_by_name_not_position():
    lines = BILL.splitlines()
    cells = [line.split(",") for line in lines[4:7]]
    moved = [",".join(row[1:] + row[:1]) for row in cells]  # the first column last
    rows = parse_bill_detail("\n".join(lines[:4] + moved + lines[7:]))
    assert [(r.kind, r.amount_fen) for r in rows] == [("pay", 35200), ("refund", 10000)]


def test_a_day_without_trades_is_an_empty_bill():
    lines = BILL.splitlines()
    assert parse_bill_detail("\n".join(lines[:5] + lines[7:])) == []


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda text: text.replace("退款批次号/请求号", "退款号"), "no column 退款批次号/请求号"),
        (lambda text: text.replace(",退款\t,", ",冻结\t,"), "unknown 业务类型"),
        (lambda text: text.replace(",352.00,352.00,", ",3.5.2,352.00,"), "no readable 订单金额"),
        (lambda text: text.replace(",352.00,352.00,", ",352.001,352.00,"), "no readable 订单金额"),
        (lambda text: text.replace("2026-11-23 10:55:23", "昨天"), "no 商户订单号 or 完成时间"),
        (lambda text: text.replace(",0.00,社会保险费", ""), "has 23 of 25 cells"),
        (lambda text: "交易时间,公众账号ID,商户号\n2026-11-23,wx1,190\n", "not a 业务明细 file"),
    ],
)
def test_a_bill_we_cannot_read_exactly_is_a_provider_error(change, says):
    with pytest.raises(ProviderError, match=says):
        parse_bill_detail(change(BILL))


def zipped(files: dict[str, str], utf8_names=False) -> bytes:
    """A zip of GBK files. Alipay names them in GBK without the UTF-8 flag, which zipfile cannot
    write: each is written under an ASCII stand-in of the same length, swapped afterwards."""
    out, swaps = io.BytesIO(), []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (name, text) in enumerate(files.items()):
            if utf8_names:
                archive.writestr(name, text.encode("gbk"))
                continue
            gbk = name.encode("gbk")
            stand_in = f"{number}".encode().ljust(len(gbk), b"~")
            archive.writestr(stand_in.decode(), text.encode("gbk"))
            swaps.append((stand_in, gbk))
    data = out.getvalue()
    for stand_in, gbk in swaps:
        data = data.replace(stand_in, gbk)
    return data


@pytest.mark.parametrize("utf8_names", [False, True], ids=["GBK names", "UTF-8 names"])
def test_the_detail_file_is_picked_from_the_zip_beside_its_summary(utf8_names):
    data = zipped(
        {
            "20880211096256330156_20261123_业务明细.csv": BILL,
            "20880211096256330156_20261123_业务明细(汇总).csv": "#支付宝业务汇总查询\n",
        },
        utf8_names,
    )
    assert [r.kind for r in read_bill(data)] == ["pay", "refund"]


def test_anything_but_one_detail_file_in_a_zip_is_a_provider_error():
    with pytest.raises(ProviderError, match="not a readable zip"):
        read_bill(b"<html>not found</html>")
    with pytest.raises(ProviderError, match="0 files named"):
        read_bill(zipped({"20880211096256330156_20261123_业务明细(汇总).csv": "#\n"}))
    with pytest.raises(ProviderError, match="not a readable zip"):
        read_bill(zipped({"x_业务明细.csv": BILL})[:-30])
