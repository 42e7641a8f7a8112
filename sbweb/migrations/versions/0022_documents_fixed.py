"""documents that never change: each document's lines (document_items), holder, payer and tax
office stored as at issue; its state (有效 / 已作废, with date and reason)

Existing documents are back-filled with what they listed when they were issued: a voucher, its
order's items; a 缴费证明 / 完税证明, the holder's items in its range (代缴: only its payer's)
of payments settled by then and not yet returned in full then. A document that lists an item whose
money has gone back since is 已作废 from that refund, for its reason.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 16:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

SNAPSHOT = ('holder_name', 'holder_id_number', 'payer_name', 'payer_id_number')


def upgrade():
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holder_name', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('holder_id_number', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('payer_name', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('payer_id_number', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('tax_office', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('state', sa.String(length=10), server_default='valid', nullable=False))
        batch_op.add_column(sa.Column('voided_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('void_reason', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_documents_state'), ['state'], unique=False)

    op.create_table(
        'document_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('document_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('person_name', sa.String(length=64), nullable=False),
        sa.Column('id_number', sa.String(length=20), nullable=False),
        sa.Column('category', sa.String(length=10), nullable=False),
        sa.Column('insurance', sa.String(length=10), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('period_start', sa.String(length=7), nullable=False),
        sa.Column('period_end', sa.String(length=7), nullable=False),
        sa.Column('amount_fen', sa.Integer(), nullable=False),
        sa.Column('order_no', sa.String(length=32), nullable=False),
        sa.Column('ticket_no', sa.String(length=18), nullable=True),
        sa.Column('tax_office', sa.String(length=60), nullable=True),
        sa.Column('paid_at', sa.DateTime(), nullable=True),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_items_document_id_documents')),
        sa.ForeignKeyConstraint(['item_id'], ['order_items.id'], name=op.f('fk_document_items_item_id_order_items')),
        sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_document_items_person_id_persons')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_document_items')),
        sa.UniqueConstraint('document_id', 'item_id', name=op.f('uq_document_items_document_id')),
    )
    with op.batch_alter_table('document_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_items_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_document_items_item_id'), ['item_id'], unique=False)

    _back_fill()

    with op.batch_alter_table('documents', schema=None) as batch_op:
        for column in SNAPSHOT:
            batch_op.alter_column(column, existing_type=sa.String(length=64 if column.endswith('name') else 20),
                                  nullable=False)


LINE = ("select i.id, p.id, p.name, p.id_number, e.category, e.insurance, d.kind, d.period_start, d.period_end, "
        "i.amount_fen, o.order_no, o.ticket_no, o.settled_at, o.channel, i.refunded_fen "
        "from order_items i join orders o on o.id = i.order_id join dues d on d.id = i.due_id "
        "join enrollments e on e.id = d.enrollment_id join persons p on p.id = e.person_id ")


def _back_fill():
    bind = op.get_bind()
    docs = bind.execute(sa.text(
        "select id, kind, holder_id, requested_by, proxy, order_id, year, period_from, period_to, ticket_no, issued_at "
        "from documents order by id")).fetchall()
    for doc_id, kind, holder_id, requested_by, proxy, order_id, year, period_from, period_to, ticket_no, issued_at in docs:
        holder = bind.execute(sa.text("select name, id_number from persons where id = :p"), {"p": holder_id}).one()
        payer = bind.execute(sa.text("select name, id_number from persons where id = :p"), {"p": requested_by}).one()
        city = bind.execute(sa.text(
            "select a.city from enrollments e join agencies a on a.id = e.agency_id where e.person_id = :p "
            "order by e.id limit 1"), {"p": holder_id}).scalar()
        office = f"国家税务总局{city or ''}税务局"
        bind.execute(sa.text(
            "update documents set holder_name = :hn, holder_id_number = :hi, payer_name = :pn, payer_id_number = :pi, "
            "tax_office = :office where id = :d"),
            {"hn": holder[0], "hi": holder[1], "pn": payer[0], "pi": payer[1], "office": office, "d": doc_id})
        lines = _lines_at_issue(bind, kind, holder_id, requested_by, proxy, order_id, year, period_from, period_to,
                                ticket_no, issued_at)
        for n, line in enumerate(lines, 1):
            bind.execute(sa.text(
                "insert into document_items (document_id, item_id, position, person_id, person_name, id_number, "
                "category, insurance, kind, period_start, period_end, amount_fen, order_no, ticket_no, tax_office, "
                "paid_at, channel) values (:d, :i, :n, :p, :pn, :pi, :c, :ins, :k, :ps, :pe, :a, :o, :t, :office, "
                ":at, :ch)"),
                {"d": doc_id, "i": line[0], "n": n, "p": line[1], "pn": line[2], "pi": line[3], "c": line[4],
                 "ins": line[5], "k": line[6], "ps": line[7], "pe": line[8], "a": line[9], "o": line[10],
                 "t": line[11], "office": office, "at": line[12], "ch": line[13]})
        _void_if_returned(bind, doc_id, issued_at, [line[0] for line in lines if line[14] > 0])


def _lines_at_issue(bind, kind, holder_id, requested_by, proxy, order_id, year, period_from, period_to, ticket_no,
                    issued_at):
    if kind == "voucher":
        return bind.execute(sa.text(LINE + "where i.order_id = :o order by i.id"), {"o": order_id}).fetchall()
    where = ["p.id = :holder", "o.settled_at is not null", "o.settled_at <= :issued",
             "(o.state = 'settled' or (o.state = 'refunded' and o.refunded_at > :issued))"]
    params = {"holder": holder_id, "issued": issued_at}
    if proxy:
        where.append("o.payer_id = :payer")
        params["payer"] = requested_by
    if year:
        where += ["d.period_start >= :y0", "d.period_start <= :y1"]
        params.update(y0=f"{year:04d}-01", y1=f"{year:04d}-12")
    if ticket_no:
        where.append("o.ticket_no = :ticket")
        params["ticket"] = ticket_no
    else:
        if period_from:
            where.append("d.period_end >= :pf")
            params["pf"] = period_from
        if period_to:
            where.append("d.period_start <= :pt")
            params["pt"] = period_to
    return bind.execute(sa.text(LINE + "where " + " and ".join(where) + " order by d.period_start, i.id"),
                        params).fetchall()


def _void_if_returned(bind, doc_id, issued_at, item_ids):
    """Money of some listed item has gone back: the document is void from the latest such refund."""
    if not item_ids:
        return
    refund = None
    for item_id in item_ids:
        row = bind.execute(sa.text(
            "select r.done_at, a.application_no from refund_items r join refund_applications a on a.id = r.application_id "
            "where r.item_id = :i and r.done_at is not null order by r.done_at desc limit 1"), {"i": item_id}).first()
        if row is not None and (refund is None or str(row[0]) > str(refund[0])):
            refund = row
    if refund is not None:
        at, why = refund[0], f"费款已退费（退费申请 {refund[1]}）"
    else:
        at = bind.execute(sa.text("select max(o.refunded_at) from orders o join order_items i on i.order_id = o.id "
                                  "where i.id in (" + ", ".join(str(int(i)) for i in item_ids) + ")")).scalar()
        why = "费款已退费"
    if at is None or str(at) < str(issued_at):
        at = issued_at
    bind.execute(sa.text("update documents set state = 'void', voided_at = :at, void_reason = :why where id = :d"),
                 {"at": at, "why": why, "d": doc_id})


def downgrade():
    op.drop_table('document_items')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_state'))
        for column in ('void_reason', 'voided_at', 'state', 'tax_office') + SNAPSHOT[::-1]:
            batch_op.drop_column(column)
