"""存款账户账号报告 (report, change, delete an account) and 银行缴费协议 (sign with a reported
account for an enrollment, with a 单笔扣款限额 and the 补缴 opt-in; change those; revoke). Own
person only; every rule refuses with a Chinese message for its field before anything is
written."""

import re

from sqlalchemy import select
from stdnum import luhn

from sbweb.clock import shanghai_now
from sbweb.db import db, write_transaction
from sbweb.identity.people import normalise_name
from sbweb.models import BankAccount, BankAgreement, Enrollment
from sbweb.models.bank import DEFAULT_LIMIT_FEN, LIMIT_MAX_FEN, LIMIT_MIN_FEN
from sbweb.models.base import utcnow
from sbweb.money import fen_display
from sbweb.services.numbers import issue_number

BANKS = (
    "中国工商银行",
    "中国农业银行",
    "中国银行",
    "中国建设银行",
    "交通银行",
    "中国邮政储蓄银行",
    "招商银行",
    "兴业银行",
    "中信银行",
    "浦发银行",
    "民生银行",
    "光大银行",
    "平安银行",
    "华夏银行",
    "青岛银行",
    "贵阳银行",
    "杭州银行",
    "农村商业银行",
    "农村信用合作社",
)


class BankError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def clean_account_no(kind: str, text: str) -> str:
    """Digits only (spaces people type are dropped); a card is 16–19 digits with a valid Luhn
    check digit, a passbook/account 8–30 digits."""
    number = re.sub(r"[\s-]", "", (text or "").translate(str.maketrans("０１２３４５６７８９", "0123456789")))
    if not number.isdigit():
        raise BankError("account_no", "账号只能包含数字")
    if kind == "card":
        if not 16 <= len(number) <= 19:
            raise BankError("account_no", "银行卡号应为16至19位数字")
        if not luhn.is_valid(number):
            raise BankError("account_no", "银行卡号校验不通过，请核对卡号")
    elif not 8 <= len(number) <= 30:
        raise BankError("account_no", "账号应为8至30位数字")
    return number


def accounts_of(person_id: int) -> list[BankAccount]:
    return list(
        db.session.scalars(
            select(BankAccount)
            .where(BankAccount.person_id == person_id, BankAccount.deleted_at.is_(None))
            .order_by(BankAccount.id)
        )
    )


def own_account(person_id: int, account_id: int) -> BankAccount | None:
    return db.session.scalar(
        select(BankAccount).where(
            BankAccount.id == account_id, BankAccount.person_id == person_id, BankAccount.deleted_at.is_(None)
        )
    )


def _check(person, bank_name: str, kind: str, account_no: str, account_name: str) -> tuple[str, str]:
    if bank_name not in BANKS:
        raise BankError("bank_name", "请选择开户银行")
    if kind not in ("card", "account"):
        raise BankError("kind", "请选择账户类型")
    number = clean_account_no(kind, account_no)
    if normalise_name(account_name) != normalise_name(person.name):
        raise BankError("account_name", "账户名称须与缴费人姓名一致（仅可报告本人账户）")
    return number, normalise_name(account_name)


def report(person, *, bank_name: str, kind: str, account_no: str, account_name: str) -> BankAccount:
    number, name = _check(person, bank_name, kind, account_no, account_name)
    with write_transaction():
        if any(a.account_no == number for a in accounts_of(person.id)):
            raise BankError("account_no", "该账号已报告")
        account = BankAccount(person_id=person.id, bank_name=bank_name, kind=kind, account_no=number, account_name=name)
        db.session.add(account)
    return account


def change(person, account_id: int, *, bank_name: str, kind: str, account_no: str, account_name: str) -> BankAccount:
    number, name = _check(person, bank_name, kind, account_no, account_name)
    with write_transaction():
        account = own_account(person.id, account_id)
        if account is None:
            raise BankError(None, "未找到该账户")
        if any(a.account_no == number and a.id != account_id for a in accounts_of(person.id)):
            raise BankError("account_no", "该账号已报告")
        account.bank_name, account.kind, account.account_no, account.account_name = bank_name, kind, number, name
    return account


def delete(person_id: int, account_id: int) -> None:
    with write_transaction():
        account = own_account(person_id, account_id)
        if account is None:
            raise BankError(None, "未找到该账户")
        if db.session.scalar(
            select(BankAgreement.id).where(BankAgreement.account_id == account_id, BankAgreement.state == "active")
        ):
            raise BankError(None, "该账户有生效的银行缴费协议，请先撤销协议再删除")
        account.deleted_at = utcnow()


def agreements_of(person_id: int) -> list[BankAgreement]:
    return list(
        db.session.scalars(
            select(BankAgreement)
            .where(BankAgreement.person_id == person_id)
            .order_by(BankAgreement.signed_at.desc(), BankAgreement.id.desc())
        )
    )


def agreements_active(person_id: int) -> list[BankAgreement]:
    return [a for a in agreements_of(person_id) if a.state == "active"]


def active_agreement(enrollment_id: int) -> BankAgreement | None:
    return db.session.scalar(
        select(BankAgreement).where(BankAgreement.enrollment_id == enrollment_id, BankAgreement.state == "active")
    )


def check_limit(limit_fen) -> int:
    """单笔扣款限额 in fen: 1 元 to 50,000 元."""
    if not isinstance(limit_fen, int) or isinstance(limit_fen, bool):
        raise BankError("limit", "请输入单笔扣款限额")
    if limit_fen <= 0:
        raise BankError("limit", "单笔扣款限额应大于0元")
    if not LIMIT_MIN_FEN <= limit_fen <= LIMIT_MAX_FEN:
        raise BankError("limit", f"单笔扣款限额应在{fen_display(LIMIT_MIN_FEN)}元至{fen_display(LIMIT_MAX_FEN)}元之间")
    return limit_fen


def sign(
    person_id: int,
    *,
    enrollment_no: str,
    account_id: int,
    kind: str,
    limit_fen: int = DEFAULT_LIMIT_FEN,
    withhold_backpay: bool = False,
) -> BankAgreement:
    """本人才可签约: the enrollment and the account must both be the signer's own."""
    if kind not in ("tripartite", "bipartite"):
        raise BankError("kind", "请选择协议类型")
    limit_fen = check_limit(limit_fen)
    enrollment = db.session.scalar(
        select(Enrollment).where(
            Enrollment.enrollment_no == (enrollment_no or "")[:32], Enrollment.person_id == person_id
        )
    )
    if enrollment is None:
        raise BankError("enrollment", "请选择本人的参保信息")
    with write_transaction():
        if own_account(person_id, account_id) is None:
            raise BankError("account", "请选择本人已报告的账户")
        db.session.execute(select(Enrollment.id).where(Enrollment.id == enrollment.id).with_for_update())
        if active_agreement(enrollment.id) is not None:
            raise BankError("enrollment", "该参保信息已签订银行缴费协议，如需更换账户请先撤销协议")
        agreement = BankAgreement(
            agreement_no=f"XY{shanghai_now():%Y%m%d}{issue_number('agreement'):08d}",
            person_id=person_id,
            enrollment_id=enrollment.id,
            account_id=account_id,
            kind=kind,
            state="active",
            limit_fen=limit_fen,
            withhold_backpay=bool(withhold_backpay),
        )
        db.session.add(agreement)
    return agreement


def change_settings(person_id: int, agreement_id: int, *, limit_fen: int, withhold_backpay: bool) -> BankAgreement:
    """修改扣款设置: the holder's own active agreement only."""
    limit_fen = check_limit(limit_fen)
    with write_transaction():
        agreement = _own_active(person_id, agreement_id, "该协议已撤销，不能修改")
        agreement.limit_fen, agreement.withhold_backpay = limit_fen, bool(withhold_backpay)
    return agreement


def revoke(person_id: int, agreement_id: int) -> BankAgreement:
    with write_transaction():
        agreement = _own_active(person_id, agreement_id, "该协议已撤销")
        agreement.state, agreement.revoked_at = "revoked", utcnow()
    return agreement


def _own_active(person_id: int, agreement_id: int, revoked: str) -> BankAgreement:
    """The holder's own agreement if it is active; else BankError, `revoked` the words for one revoked."""
    agreement = db.session.scalar(
        select(BankAgreement).where(BankAgreement.id == agreement_id, BankAgreement.person_id == person_id)
    )
    if agreement is None:
        raise BankError(None, "未找到该协议")
    if agreement.state != "active":
        raise BankError(None, revoked)
    return agreement
