"""我帮他人缴: a payer's list of 被代缴人. Only people with an enrollment can be added, never
the payer themself, never twice."""

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from sbweb.db import db, write_transaction
from sbweb.models import Enrollment, Payee, Person


class PayeeError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def payees_of(payer_id: int) -> list[Payee]:
    return list(db.session.scalars(select(Payee).where(Payee.payer_id == payer_id).order_by(Payee.added_at, Payee.id)))


def payee(payer_id: int, payee_id: int) -> Payee | None:
    return db.session.scalar(select(Payee).where(Payee.id == payee_id, Payee.payer_id == payer_id))


def is_payee(payer_id: int, person_id: int) -> bool:
    return (
        db.session.scalar(select(Payee.id).where(Payee.payer_id == payer_id, Payee.person_id == person_id)) is not None
    )


def check_payable_for(payer_id: int, person: Person, *, adding: bool = True) -> None:
    """Whether this payer may pay for this person (add them, or pay once): someone else, with an
    enrollment. PayeeError otherwise."""
    if person.id == payer_id:
        raise PayeeError("id_number", f"不能{'添加' if adding else '代缴'}本人，为自己缴费请使用“我为自己缴”")
    if db.session.scalar(select(Enrollment.id).where(Enrollment.person_id == person.id).limit(1)) is None:
        raise PayeeError(
            None,
            "未查询到参保登记信息：该人员暂无城乡居民或灵活就业人员参保登记，请其先到参保地社保经办机构办理参保登记",
        )


def paid_for_once(payer_id: int, order) -> list[Person]:
    """The people an order of this payer paid for who are not on the payer's list (代缴 once):
    those the result page offers to 加入被代缴人列表."""
    if order.payer_id != payer_id:
        return []
    people = {item.due.enrollment.person for item in order.items}
    return sorted((p for p in people if p.id != payer_id and not is_payee(payer_id, p.id)), key=lambda p: p.id)


def add(payer_id: int, person: Person) -> Payee:
    check_payable_for(payer_id, person)
    try:
        with write_transaction():
            if is_payee(payer_id, person.id):
                raise PayeeError("id_number", "该被代缴人已在您的列表中")
            row = Payee(payer_id=payer_id, person_id=person.id, auto_pay=False)
            db.session.add(row)
    except IntegrityError:  # added meanwhile by a second tap
        raise PayeeError("id_number", "该被代缴人已在您的列表中") from None
    return row


def remove(payer_id: int, payee_id: int) -> bool:
    with write_transaction():
        gone = db.session.execute(
            delete(Payee)
            .where(Payee.id == payee_id, Payee.payer_id == payer_id)
            .execution_options(synchronize_session=False)
        ).rowcount
    return gone == 1


def set_auto_pay(payer_id: int, payee_id: int, on: bool) -> bool:
    with write_transaction():
        changed = db.session.execute(
            update(Payee)
            .where(Payee.id == payee_id, Payee.payer_id == payer_id)
            .values(auto_pay=on)
            .execution_options(synchronize_session=False)
        ).rowcount
    return changed == 1
