"""存款账户账号报告 and 银行缴费协议: own person only, each rule refused beside its field."""

from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import BankAccount, BankAgreement
from tests.support.journeys import sign_in

CARD = "6222020200112233446"  # 19 digits, Luhn-valid
ACCOUNT = {"bank_name": "中国工商银行", "kind": "card", "account_no": CARD, "account_name": "王芳"}


def count(model, **where):
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


def report(client, **fields):
    return client.submit(client.page("/bank/accounts/new"), {**ACCOUNT, **fields})


def test_needs_a_verified_session(client, world, ctx):
    sign_in(client, "王芳")
    for url in ("/bank/", "/bank/accounts/new", "/bank/agreements/new"):
        response = client.get(url)
        assert response.status_code == 303 and response.location.startswith("/auth/"), url


def test_report_change_and_delete_an_account(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    page = report(client, account_no="6222 0202 0011 2233 446")
    assert page.h1 == "银行账户与缴费协议" and "中国工商银行 **** 3446" in page.text and CARD not in page.text
    account = db.session.scalar(select(BankAccount))
    assert account.account_no == CARD
    edit = client.page(f"/bank/accounts/{account.id}/edit")
    changed = client.submit(edit, {"bank_name": "中国建设银行", "kind": "account", "account_no": "12345678901"})
    assert "中国建设银行 **** 8901" in changed.text
    gone = client.submit(client.page(f"/bank/accounts/{account.id}/delete"))
    assert "账户已删除" in gone.text and count(BankAccount, deleted_at=None) == 0


def test_each_bad_account_is_refused_beside_its_field(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    cases = [
        ({"account_no": "6222020200112233445"}, "account_no", "银行卡号校验不通过，请核对卡号"),
        ({"account_no": "62220202"}, "account_no", "银行卡号应为16至19位数字"),
        ({"account_no": "6222abc"}, "account_no", "账号只能包含数字"),
        ({"kind": "account", "account_no": "1234"}, "account_no", "账号应为8至30位数字"),
        ({"account_name": "李明"}, "account_name", "账户名称须与缴费人姓名一致（仅可报告本人账户）"),
        ({"bank_name": ""}, "bank_name", "请选择开户银行"),
        ({"bank_name": "不存在的银行"}, "bank_name", "所选内容无效，请重新选择"),
        ({"account_no": ""}, "account_no", "请输入账号"),
    ]
    for fields, field, message in cases:
        page = report(client, **fields)
        assert page.status == 422 and page.field_error(field) == message, (fields, page.summary())
    report(client)
    again = report(client)
    assert again.field_error("account_no") == "该账号已报告"
    assert count(BankAccount) == 1


def test_sign_and_revoke_an_agreement_own_person_only(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    report(client)
    account = db.session.scalar(select(BankAccount))
    page = client.page("/bank/agreements/new")
    signed = client.submit(page, {"enrollment": "520102100000012345", "account": str(account.id), "kind": "tripartite"})
    assert "已签订银行缴费协议" in signed.text and "已签约" in signed.text
    twice = client.submit(page, {"enrollment": "520102100000012345", "account": str(account.id)})
    assert twice.field_error("enrollment").startswith("该参保信息已签订银行缴费协议")
    # Someone else's enrollment number: not offered, and refused if posted.
    other = client.submit(page, {"enrollment": "370202100000034567", "account": str(account.id)})
    assert other.status == 422 and other.field_error("enrollment")
    assert count(BankAgreement, state="active") == 1
    # An account with an active agreement cannot be deleted.
    refused = client.submit(client.page(f"/bank/accounts/{account.id}/delete"))
    assert "该账户有生效的银行缴费协议，请先撤销协议再删除" in " ".join(refused.summary())
    agreement = db.session.scalar(select(BankAgreement))
    revoked = client.submit(client.page(f"/bank/agreements/{agreement.id}/revoke"))
    assert "已撤销缴费协议" in revoked.text and count(BankAgreement, state="revoked") == 1


def test_another_persons_account_and_agreement_are_not_found(app, client, world, ctx):
    from tests.support import ResidentClient

    sign_in(client, "王芳", verified=True)
    report(client)
    account = db.session.scalar(select(BankAccount))
    app.test_client_class = ResidentClient
    li = app.test_client()
    sign_in(li, "李明", verified=True)
    for url in (f"/bank/accounts/{account.id}/edit", f"/bank/accounts/{account.id}/delete"):
        assert li.get(url).status_code == 404, url
    page = li.page("/bank/agreements/new")
    assert "请先报告本人的银行账户" in page.text


def sign_with(client, account, **fields):
    page = client.page("/bank/agreements/new")
    return client.submit(page, {"enrollment": "520102100000012345", "account": str(account.id), **fields})


BAD_LIMITS = [
    ("", "请输入单笔扣款限额"),
    ("两千", "单笔扣款限额应为金额，如 2000 或 2000.00"),
    ("2000.005", "单笔扣款限额应为金额，如 2000 或 2000.00"),
    ("NaN", "单笔扣款限额应为金额，如 2000 或 2000.00"),
    ("1" * 40, "单笔扣款限额应为金额，如 2000 或 2000.00"),
    ("0", "单笔扣款限额应大于0元"),
    ("-500", "单笔扣款限额应大于0元"),
    ("0.99", "单笔扣款限额应在1.00元至50,000.00元之间"),
    ("50000.01", "单笔扣款限额应在1.00元至50,000.00元之间"),
    ("1e12", "单笔扣款限额应在1.00元至50,000.00元之间"),
]


def test_the_limit_is_set_when_signing_and_bad_values_are_refused_in_chinese(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    report(client)
    account = db.session.scalar(select(BankAccount))
    form = client.page("/bank/agreements/new")
    assert form.soup.select_one("#limit")["value"] == "2000.00"
    assert form.soup.select_one("#withhold_backpay").get("checked") is None  # 补缴 opt-in: off
    for text, message in BAD_LIMITS:
        page = sign_with(client, account, limit=text)
        assert page.status == 422 and page.field_error("limit") == message, (text, page.summary())
        assert message in page.summary()
    assert count(BankAgreement) == 0  # nothing written
    signed = sign_with(client, account, limit="￥1,500元", withhold_backpay="y")
    assert "单笔扣款限额 ¥1,500.00 · 补缴费款也自动扣款" in signed.text
    agreement = db.session.scalar(select(BankAgreement))
    assert (agreement.limit_fen, agreement.withhold_backpay) == (150000, True)


def test_only_the_holder_changes_the_limit_of_an_active_agreement(app, client, world, ctx):
    from tests.support import ResidentClient

    sign_in(client, "王芳", verified=True)
    report(client)
    sign_with(client, db.session.scalar(select(BankAccount)), withhold_backpay="y")
    agreement = db.session.scalar(select(BankAgreement))
    settings = client.page(f"/bank/agreements/{agreement.id}/settings")
    assert settings.h1 == "修改扣款设置" and settings.soup.select_one("#withhold_backpay").get("checked") is not None
    for text, message in BAD_LIMITS:
        page = client.submit(settings, {"limit": text})
        assert page.status == 422 and page.field_error("limit") == message, (text, page.summary())
    db.session.rollback()
    assert db.session.get(BankAgreement, agreement.id).limit_fen == 200000  # unchanged
    saved = client.submit(settings, {"limit": "800", "withhold_backpay": []})  # unticked
    assert "已保存扣款设置：单笔扣款限额 ¥800.00" in saved.text and "补缴费款经补缴明细确认后扣款" in saved.text
    db.session.rollback()
    changed = db.session.get(BankAgreement, agreement.id)
    assert (changed.limit_fen, changed.withhold_backpay) == (80000, False)
    app.test_client_class = ResidentClient
    li = app.test_client()
    sign_in(li, "李明", verified=True)
    assert li.get(f"/bank/agreements/{agreement.id}/settings").status_code == 404
    looker = app.test_client()
    sign_in(looker, "王芳")  # looked up, not verified
    assert looker.get(f"/bank/agreements/{agreement.id}/settings").status_code == 303
    client.submit(client.page(f"/bank/agreements/{agreement.id}/revoke"))
    assert client.get(f"/bank/agreements/{agreement.id}/settings").status_code == 404  # revoked: sign anew
    db.session.rollback()
    assert db.session.get(BankAgreement, agreement.id).limit_fen == 80000
