"""What the database says about the money after a load or fault run, read with plain SQL (only
reads): the provider's (sandbox's) trades beside our orders and dues.

The guarantees checked:
- no due is paid by more than one settled order;
- the dues marked paid are exactly the dues of settled orders, in count and in fen;
- every order we settled has a trade the provider took money for, of the same amount;
- every trade the provider took money for is settled here, or refunded in full (原路退回).
"""

from dataclasses import dataclass, field

import psycopg
from harness import psycopg_url


@dataclass
class Tally:
    provider_paid: int = 0  # trades the provider took money for
    provider_paid_fen: int = 0
    provider_refunded: int = 0  # of those, refunded in full
    orders: dict = field(default_factory=dict)  # state -> count
    dues_paid: int = 0
    dues_paid_fen: int = 0
    settled_items: int = 0
    settled_items_fen: int = 0
    dues_paid_twice: int = 0
    paid_without_order: int = 0  # paid dues that no settled order holds
    settled_without_money: list = field(default_factory=list)
    received_unresolved: list = field(default_factory=list)  # paid trades neither settled nor refunded
    refunds_pending: int = 0
    paid_by_app: dict = field(default_factory=dict)  # sandbox app (sandbox / unionpay) -> trades paid
    returns_by_type: dict = field(default_factory=dict)  # the 银联 side's returns: 04 退货 / 31 撤销 -> count

    @property
    def open_orders(self) -> int:
        return self.orders.get("created", 0) + self.orders.get("paying", 0)

    def problems(self) -> list[str]:
        found = []
        if self.dues_paid_twice:
            found.append(f"{self.dues_paid_twice} dues paid by more than one settled order")
        if (self.dues_paid, self.dues_paid_fen) != (self.settled_items, self.settled_items_fen):
            found.append(
                f"paid dues ({self.dues_paid}, {self.dues_paid_fen} fen) differ from settled order "
                f"items ({self.settled_items}, {self.settled_items_fen} fen)"
            )
        if self.paid_without_order:
            found.append(f"{self.paid_without_order} dues paid without a settled order")
        if self.settled_without_money:
            found.append(
                f"{len(self.settled_without_money)} orders settled without the provider's money: "
                f"{self.settled_without_money[:5]}"
            )
        if self.received_unresolved:
            found.append(
                f"{len(self.received_unresolved)} payments received but neither settled nor refunded: "
                f"{self.received_unresolved[:5]}"
            )
        return found


def read(database_url: str) -> Tally:
    t = Tally()
    with psycopg.connect(psycopg_url(database_url), connect_timeout=10) as conn:
        one = lambda sql: conn.execute(sql).fetchone()  # noqa: E731
        t.provider_paid, t.provider_paid_fen = one(
            "select count(*), coalesce(sum(total_fen), 0) from sandbox_trades where paid_at is not null"
        )
        t.provider_refunded = one(
            "select count(*) from sandbox_trades where paid_at is not null and refunded_fen = total_fen"
        )[0]
        t.orders = dict(conn.execute("select state, count(*) from orders group by state").fetchall())
        t.dues_paid, t.dues_paid_fen = one(
            "select count(*), coalesce(sum(amount_fen), 0) from dues where state = 'paid'"
        )
        t.settled_items, t.settled_items_fen = one(
            "select count(*), coalesce(sum(i.amount_fen), 0) from order_items i "
            "join orders o on o.id = i.order_id where o.state = 'settled'"
        )
        t.dues_paid_twice = one(
            "select count(*) from (select i.due_id from order_items i join orders o on o.id = i.order_id "
            "where o.state = 'settled' group by i.due_id having count(*) > 1) twice"
        )[0]
        t.paid_without_order = one(
            "select count(*) from dues d where d.state = 'paid' and not exists ("
            " select 1 from order_items i join orders o on o.id = i.order_id"
            " where i.due_id = d.id and o.state = 'settled')"
        )[0]
        t.settled_without_money = [
            r[0]
            for r in conn.execute(
                "select o.order_no from orders o left join sandbox_trades t on t.out_trade_no = o.order_no "
                "where o.state = 'settled' and (t.paid_at is null or t.total_fen <> o.total_fen)"
            )
        ]
        t.received_unresolved = [
            f"{r[0]} (order {r[1] or 'missing'}, trade {r[2]}, refunded {r[3]}/{r[4]} fen)"
            for r in conn.execute(
                "select t.out_trade_no, o.state, t.status, t.refunded_fen, t.total_fen "
                "from sandbox_trades t left join orders o on o.order_no = t.out_trade_no "
                "where t.paid_at is not null "
                "and not (o.state = 'settled' and t.refunded_fen = 0 and t.total_fen = o.total_fen) "
                "and not (o.state = 'refunded' and t.refunded_fen = t.total_fen)"
            )
        ]
        t.refunds_pending = one("select count(*) from refunds where state = 'pending'")[0]
        t.paid_by_app = dict(
            conn.execute("select app_id, count(*) from sandbox_trades where paid_at is not null group by app_id")
        )
        t.returns_by_type = dict(
            conn.execute("select coalesce(txn_type, 'alipay'), count(*) from sandbox_refunds group by 1").fetchall()
        )
    return t


def describe(t: Tally, out=print) -> None:
    states = ", ".join(f"{k} {v}" for k, v in sorted(t.orders.items())) or "none"
    out(
        f"  provider (sandbox) took money for {t.provider_paid} trades ({t.provider_paid_fen / 100:,.2f} 元), "
        f"{t.provider_refunded} of them refunded in full"
    )
    out(f"  orders: {states}; refunds still to send: {t.refunds_pending}")
    named = {("银联 (云闪付)" if app == "unionpay" else "Alipay-style"): n for app, n in t.paid_by_app.items()}
    by_app = ", ".join(f"{k} {v}" for k, v in sorted(named.items())) or "none"
    returns = ", ".join(f"{k} {v}" for k, v in sorted(t.returns_by_type.items())) or "none"
    out(f"  paid trades by gateway: {by_app}; returns by kind (04 退货, 31 撤销): {returns}")
    out(
        f"  dues paid: {t.dues_paid} ({t.dues_paid_fen / 100:,.2f} 元); items of settled orders: "
        f"{t.settled_items} ({t.settled_items_fen / 100:,.2f} 元)"
    )
    out(f"  dues paid by more than one settled order: {t.dues_paid_twice}")
    out(f"  paid dues without a settled order: {t.paid_without_order}")
    out(f"  settled orders without the provider's money: {len(t.settled_without_money)}")
    out(f"  payments received, neither settled nor refunded: {len(t.received_unresolved)}")


def app_check(env) -> list[str]:
    """The app's own ledger check (`flask ledger check`: every due's money in minus money back,
    items and tickets, certificates of refunded items) over the run's database: its violations,
    or [] when the books balance."""
    import subprocess

    from harness import BIN, ROOT

    done = subprocess.run(
        [str(BIN / "flask"), "ledger", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode == 0:
        return []
    return lines or [f"flask ledger check failed ({done.returncode}): {done.stderr.strip()[-500:]}"]


def payment_counters(base: str, database_url: str) -> tuple[dict, dict]:
    """What /metrics counted of order state changes (sbweb_payments_total, summed over providers
    and processes, the job consumer's too) and what the database's order_events hold, by the state
    reached."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    counted: dict[str, int] = {}
    text = requests.get(f"{base}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "sbweb_payments_total":
                counted[sample.labels["state"]] = counted.get(sample.labels["state"], 0) + int(sample.value)
    with psycopg.connect(psycopg_url(database_url), connect_timeout=10) as conn:
        # An order's first event records its making (to 'created'); the counter counts the moves.
        held = dict(
            conn.execute(
                "select to_state, count(*) from order_events where to_state <> 'created' group by to_state"
            ).fetchall()
        )
    return counted, held
