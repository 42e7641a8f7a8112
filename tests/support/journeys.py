"""The journeys as a resident walks them, for tests to read like the seeds:
`sign_in(client, "王芳")`, `choose(client, "王芳", "pension")`, `pay(client, confirm_page)`."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select, update

from sbweb import demo
from sbweb.clock import shanghai_today
from sbweb.db import db
from sbweb.models import Due, Enrollment, Order, Person, Region
from tests.support import form_values, snapshots


@dataclass
class World:
    people: dict[str, int]

    @classmethod
    def load(cls):
        """The demo residents, dated today by the app's clock: loaded by the demo loader, or, in an
        app of the `app` fixture, copied from this worker's first load of the day (tests/support/snapshots.py)."""
        today = shanghai_today()
        copies = current_app.config.get("TEST_WORLD_COPIES")
        if not (copies and snapshots.restore(today)):
            before = snapshots.row_counts() if copies else None
            demo.load()
            # The data file's nightly reconciliation windows would make a test's outcome depend on
            # the hour it runs; tests of the pause set a window and a clock themselves.
            db.session.execute(update(Region).values(pause_from=None, pause_until=None))
            db.session.commit()
            if copies:
                snapshots.keep(today, before)
        people = {p.name: p.id for p in db.session.scalars(select(Person))}
        return cls(people)

    def person(self, name) -> Person:
        return db.session.get(Person, self.people[name])

    def enrollment(self, name, insurance) -> Enrollment:
        return db.session.scalar(select(Enrollment).filter_by(person_id=self.people[name], insurance=insurance))

    def dues(self, name, insurance, state="open") -> list[Due]:
        enrollment = self.enrollment(name, insurance)
        return list(
            db.session.scalars(
                select(Due).filter_by(enrollment_id=enrollment.id, state=state).order_by(Due.period_start)
            )
        )


def sign_in(client, name, *, verified=False, next_url="/selfpay/", host="browser"):
    """拒绝授权 → 授权信息确认 (a lookup session), or 同意授权 as the host's user."""
    with client.application.app_context():
        person = db.session.scalar(select(Person).filter_by(name=name))
        person_id, id_number, id_type = person.id, person.id_number, person.id_type
    if verified:
        page = client.page(f"/auth/?next={next_url}")
        return client.submit(page, {"person": str(person_id), "host": host})
    page = client.page(f"/auth/manual?next={next_url}")
    return client.submit(page, {"id_type": id_type, "id_number": id_number, "name": name})


def post_manual_sign_in(client, page, **fields):
    """POST 授权信息确认 on `page` as 王芳 by her ID card (with `fields` too, e.g. next): the response
    itself, not followed."""
    return client.post(
        "/auth/manual",
        data={
            **{k: v[0] for k, v in form_values(page.form()).items()},
            "id_type": "201",
            "id_number": "520102198503151246",
            "name": "王芳",
            **fields,
        },
    )


def choose(client, insurance=None, *, enrollment_no=None, due_ids=None):
    """From 我为自己缴 pick an enrollment (by insurance) and dues (default: all) → confirm page."""
    page = client.page("/selfpay/")
    if enrollment_no is None:
        label = {"pension": "养老保险", "medical": "医疗保险"}[insurance]
        link = next(a for a in page.soup.select("main a.cell-link") if label in a.get_text())
        page = client.page(link["href"])
    else:
        page = client.page(f"/selfpay/{enrollment_no}/dues")
    data = {"dues": [str(i) for i in due_ids]} if due_ids is not None else None
    return client.submit(page, data)


def go_to_provider(client, confirm_page, channel="alipay"):
    """下一步 on 缴费信息确认, then 去支付: returns the provider (sandbox cashier) page."""
    method_page = client.submit(confirm_page)
    assert method_page.h1 == "选择缴款方式", method_page.text
    response = client.post(method_page.url, data=_form_data(method_page, {"channel": channel}))
    assert response.status_code == 303, response.status_code
    page = client.page(response.location, follow=False)
    if page.soup.select_one("main form[data-provider-form]") is not None:
        # UnionPay: our page with the signed form, posted (as the browser does) to the gateway.
        page = client.submit(page, selector="main form[data-provider-form]")
    return page


def sandbox_pay(client, cashier_page, **switches):
    """立即付款 on the sandbox cashier with test switches (fail, late, twice, silent);
    follows the browser back to our 支付中 / 缴费结果 page."""
    data = {k: "on" for k, v in switches.items() if v}
    if "银联在线支付" not in cashier_page.text:
        return client.submit(cashier_page, data, button="立即付款")
    # The sandbox's 银联 cashier: 确认付款, then its return page posts the browser back to us.
    page = client.submit(cashier_page, data, button="确认付款")
    if page.soup.select_one("main form[data-up-return]") is None:
        return page
    return client.submit(page, selector="main form[data-up-return]")


def pay(client, confirm_page, channel="alipay", **switches):
    return sandbox_pay(client, go_to_provider(client, confirm_page, channel), **switches)


def submit_declaration(client, form_page, data=None, **options):
    """下一步 on a 缴费申报 form, then 确定 on 再次确认经办机构信息 (a refused form stays as it is)."""
    page = client.submit(form_page, data, **options)
    if page.h1 == "再次确认经办机构信息":
        page = client.submit(page, button="确定")
    return page


def order_no_of(page) -> str:
    return urlsplit(page.url).path.rsplit("/", 1)[-1]


def order(order_no) -> Order:
    return db.session.scalar(select(Order).filter_by(order_no=order_no))


def _form_data(page, data):
    from tests.support import form_values

    values = form_values(page.form())
    values.update({k: [v] for k, v in data.items()})
    from werkzeug.datastructures import MultiDict

    return MultiDict([(k, v) for k, vs in values.items() for v in vs])


def paid_history(
    payer_id: int,
    enrollment: Enrollment,
    count: int,
    *,
    start_year: int = 2000,
    amount_fen: int = 10000,
    state: str = "settled",
) -> list[str]:
    """`count` past payments by `payer_id` of one-month dues of `enrollment`, made the way the
    app makes them (the agency's due, an order, the provider's answer), one day apart and
    ending before today; returns their order numbers."""
    import datetime as dt

    from sbweb.db import write_transaction
    from sbweb.payments import TradeState, orders
    from sbweb.services import registry

    numbers = []
    last = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n in range(count):
        period = f"{start_year + n // 12}-{n % 12 + 1:02d}"
        with write_transaction():
            due = registry.add_due(
                enrollment, kind="normal", period_start=period, period_end=period, amount_fen=amount_fen
            )
        order = orders.create_order(
            payer_id=payer_id,
            person_ids={enrollment.person_id},
            due_ids=[due.id],
            shown=orders.fingerprint([due]),
            channel="alipay",
            idempotency_key=f"history-{due.id}",
        ).order
        with write_transaction():
            orders.transition(order, "paying", "历史缴费")
        paid_at = last - dt.timedelta(days=count - n)
        answer = (
            TradeState(order.order_no, "closed")
            if state == "failed"
            else TradeState(order.order_no, "success", amount_fen=amount_fen, paid_at=paid_at)
        )
        orders.apply_trade_state(answer, provider=order.provider, source="历史缴费")
        if state == "refunded":
            with write_transaction():
                order = db.session.get(Order, order.id, populate_existing=True)
                orders.transition(order, "refunded", "历史退款", refunded_at=paid_at)
        numbers.append(order.order_no)
    return numbers
