"""refunds by item: what each item gave back, each application's items and staff's decision on
them, the reasons table (what a refund does to the due), the due's own events, and why a due is
owed again

Existing data is brought in line with the ledger: each due gets a first event; each application
becomes items (all of its order's, at their amounts); a payment refunded by an application has
its items' money back and its dues moved as the reason says (owed again, or void) — before, the
dues stayed paid although the money had gone back.

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-07 14:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0017'
branch_labels = None
depends_on = None

DEFAULTS = (("重复参保缴费", "void"), ("已参加职工基本养老（医疗）保险", "void"), ("参保人死亡", "void"),
            ("出国（境）定居", "void"), ("缴费档次或基数选择错误", "reopen"), ("其他原因", "reopen"))


def upgrade():
    op.create_table(
        'refund_reasons',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=30), nullable=False),
        sa.Column('effect', sa.String(length=10), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_reasons')),
        sa.UniqueConstraint('reason', name=op.f('uq_refund_reasons_reason')),
    )
    bind = op.get_bind()
    for n, (reason, effect) in enumerate(DEFAULTS):
        bind.execute(sa.text("insert into refund_reasons (reason, effect, position, active, updated_at) "
                             "values (:r, :e, :n, :yes, current_timestamp)"),
                     {"r": reason, "e": effect, "n": n, "yes": True})

    op.create_table(
        'due_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('due_id', sa.Integer(), nullable=False),
        sa.Column('from_state', sa.String(length=10), nullable=False),
        sa.Column('to_state', sa.String(length=10), nullable=False),
        sa.Column('amount_before', sa.Integer(), nullable=True),
        sa.Column('amount_after', sa.Integer(), nullable=False),
        sa.Column('cause', sa.String(length=200), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['due_id'], ['dues.id'], name=op.f('fk_due_events_due_id_dues')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_due_events')),
    )
    with op.batch_alter_table('due_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_due_events_due_id'), ['due_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_due_events_at'), ['at'], unique=False)
    op.execute("insert into due_events (due_id, from_state, to_state, amount_before, amount_after, cause, at) "
               "select id, '', state, null, amount_fen, '本版本之前的记录', created_at from dues")

    with op.batch_alter_table('dues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reopened_reason', sa.String(length=100), nullable=True))
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_fen', sa.Integer(), server_default='0', nullable=False))

    op.create_table(
        'refund_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('application_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('live_item_id', sa.Integer(), nullable=True),
        sa.Column('amount_fen', sa.Integer(), nullable=False),
        sa.Column('decision', sa.String(length=10), nullable=False),
        sa.Column('effect', sa.String(length=10), nullable=True),
        sa.Column('refund_id', sa.Integer(), nullable=True),
        sa.Column('done_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['application_id'], ['refund_applications.id'],
                                name=op.f('fk_refund_items_application_id_refund_applications')),
        sa.ForeignKeyConstraint(['item_id'], ['order_items.id'], name=op.f('fk_refund_items_item_id_order_items')),
        sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_refund_items_refund_id_refunds')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_items')),
        sa.UniqueConstraint('live_item_id', name=op.f('uq_refund_items_live_item_id')),
    )
    with op.batch_alter_table('refund_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_items_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_items_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_items_refund_id'), ['refund_id'], unique=False)
    _items_from_applications()

    with op.batch_alter_table('refund_applications', schema=None) as batch_op:
        batch_op.drop_constraint('uq_refund_applications_live_order_id', type_='unique')
        batch_op.drop_column('live_order_id')


def _items_from_applications():
    """Every application covered its whole order: one item each of the order's items."""
    bind = op.get_bind()
    effects = dict(DEFAULTS)
    rows = bind.execute(sa.text(
        "select a.id, a.state, a.method, a.reason, a.money_type, a.refunded_at, a.application_no, o.id, o.state "
        "from refund_applications a join orders o on o.id = a.order_id order by a.id")).fetchall()
    for app_id, state, method, reason, money_type, refunded_at, number, order_id, order_state in rows:
        decision = {"pending": "pending", "approved": "approved", "refunded": "approved"}.get(state, "rejected")
        effect = None if decision != "approved" else ("keep" if money_type == "多缴费款退费" else effects.get(reason, "reopen"))
        refund_id = bind.execute(sa.text("select id from refunds where out_request_no = :n"),
                                 {"n": number}).scalar()
        items = bind.execute(sa.text("select id, amount_fen, due_id from order_items where order_id = :o"),
                             {"o": order_id}).fetchall()
        done = state == "refunded" and order_state == "refunded"
        for item_id, amount, due_id in items:
            bind.execute(sa.text(
                "insert into refund_items (application_id, item_id, live_item_id, amount_fen, decision, effect, "
                "refund_id, done_at) values (:a, :i, :live, :amount, :decision, :effect, :refund, :done)"),
                {"a": app_id, "i": item_id, "live": item_id if decision != "rejected" else None, "amount": amount,
                 "decision": decision, "effect": effect, "refund": refund_id if method == "original" else None,
                 "done": refunded_at if done else None})
            if not done:
                continue
            bind.execute(sa.text("update order_items set refunded_fen = amount_fen where id = :i"), {"i": item_id})
            _follow_due(bind, due_id, effect, reason, number, refunded_at)


def _follow_due(bind, due_id, effect, reason, number, at):
    state, amount = bind.execute(sa.text("select state, amount_fen from dues where id = :d"), {"d": due_id}).one()
    if state != "paid" or effect == "keep":
        return
    bind.execute(sa.text("update declarations set state = 'void', voided_at = :at, void_reason = :why "
                         "where due_id = :d and state = 'valid'"),
                 {"at": at, "why": "退费后重新申报" if effect == "reopen" else "已退费", "d": due_id})
    to_state = "open" if effect == "reopen" else "void"
    why = f"退费申请 {number}（{reason}）：" + ("重新应缴" if effect == "reopen" else "不再应缴")
    if effect == "reopen":
        bind.execute(sa.text("update dues set state = 'open', order_id = null, revision = revision + 1, "
                             "reopened_reason = :r where id = :d"),
                     {"r": f"已退费（{reason}），请重新申报或缴纳"[:100], "d": due_id})
    else:
        bind.execute(sa.text("update dues set state = 'void', revision = revision + 1 where id = :d"), {"d": due_id})
    bind.execute(sa.text("insert into due_events (due_id, from_state, to_state, amount_before, amount_after, cause, at) "
                         "values (:d, 'paid', :to, :a, :a, :why, :at)"),
                 {"d": due_id, "to": to_state, "a": amount, "why": why[:200], "at": at})


def downgrade():
    with op.batch_alter_table('refund_applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('live_order_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint('uq_refund_applications_live_order_id', ['live_order_id'])
    # One live application per order again: the newest application that was not turned down.
    op.execute("update refund_applications set live_order_id = order_id where state != 'rejected' and id in "
               "(select max(id) from refund_applications where state != 'rejected' group by order_id)")
    op.drop_table('refund_items')
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_column('refunded_fen')
    with op.batch_alter_table('dues', schema=None) as batch_op:
        batch_op.drop_column('reopened_reason')
    op.drop_table('due_events')
    op.drop_table('refund_reasons')
