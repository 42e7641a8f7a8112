"""tickets per tax office: each agency's 主管税务机关 (tax_offices, agencies.tax_office_id); a
settled order's 票证号码 are tickets, one per tax office of its items (tickets,
order_items.ticket_id) instead of orders.ticket_no; 首开 once per ticket and holder

Existing data: each agency gets the tax office of its region (the demo regions by their real
names; another region keeps the name the certificates printed before, 国家税务总局{city}税务局,
for staff to correct). A settled order's number becomes the ticket of the office of its first
item; an order whose items fell under other offices too gets a new ticket for each of them,
numbered like any ticket (it printed one number for two tax bureaus before).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 08:00:00

"""
import datetime as dt

from alembic import op
import sqlalchemy as sa


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

# The demo regions' tax offices (also in sbweb/demo/residents.toml).
KNOWN = {
    "520102": ("15201020000", "国家税务总局贵阳市南明区税务局"),
    "520115": ("15201150000", "国家税务总局贵阳市观山湖区税务局"),
    "330106": ("13301060000", "国家税务总局杭州市西湖区税务局"),
    "370202": ("13702020000", "国家税务总局青岛市市南区税务局"),
    "370212": ("13702120000", "国家税务总局青岛市崂山区税务局"),
}
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def upgrade():
    op.create_table(
        'tax_offices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=11), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('region_code', sa.String(length=6), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tax_offices')),
        sa.UniqueConstraint('code', name=op.f('uq_tax_offices_code')),
    )
    with op.batch_alter_table('tax_offices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tax_offices_region_code'), ['region_code'], unique=False)
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_office_id', sa.Integer(), nullable=True))
    bind = op.get_bind()
    for agency_id, region, city in bind.execute(sa.text("select id, region_code, city from agencies")).fetchall():
        code, name = KNOWN.get(region, (f"1{region}0000", f"国家税务总局{city or ''}税务局"))
        office = bind.execute(sa.text("select id from tax_offices where code = :c"), {"c": code}).scalar()
        if office is None:
            bind.execute(sa.text("insert into tax_offices (code, name, region_code) values (:c, :n, :r)"),
                         {"c": code, "n": name, "r": region})
            office = bind.execute(sa.text("select id from tax_offices where code = :c"), {"c": code}).scalar()
        bind.execute(sa.text("update agencies set tax_office_id = :o where id = :a"), {"o": office, "a": agency_id})
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.alter_column('tax_office_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_agencies_tax_office_id'), ['tax_office_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_agencies_tax_office_id_tax_offices'), 'tax_offices',
                                    ['tax_office_id'], ['id'])

    op.create_table(
        'tickets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_no', sa.String(length=18), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('tax_office_id', sa.Integer(), nullable=False),
        sa.Column('issued_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_tickets_order_id_orders')),
        sa.ForeignKeyConstraint(['tax_office_id'], ['tax_offices.id'], name=op.f('fk_tickets_tax_office_id_tax_offices')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
        sa.UniqueConstraint('ticket_no', name=op.f('uq_tickets_ticket_no')),
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tickets_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_tax_office_id'), ['tax_office_id'], unique=False)
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ticket_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_order_items_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_order_items_ticket_id_tickets'), 'tickets', ['ticket_id'], ['id'])
    _tickets_from_orders(bind)
    _documents_name_their_tax_office(bind)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint('uq_orders_ticket_no', type_='unique')
        batch_op.drop_column('ticket_no')

    with op.batch_alter_table('first_issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holder_id', sa.Integer(), nullable=True))
    op.execute("update first_issues set holder_id = (select holder_id from documents where documents.id = "
               "first_issues.document_id)")
    with op.batch_alter_table('first_issues', schema=None) as batch_op:
        batch_op.alter_column('holder_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint('uq_first_issues_ticket_no', type_='unique')
        batch_op.create_unique_constraint('uq_first_issues_ticket_holder', ['ticket_no', 'holder_id'])
        batch_op.create_index(batch_op.f('ix_first_issues_ticket_no'), ['ticket_no'], unique=False)
        batch_op.create_index(batch_op.f('ix_first_issues_holder_id'), ['holder_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_first_issues_holder_id_persons'), 'persons', ['holder_id'], ['id'])


def _tickets_from_orders(bind):
    orders = bind.execute(sa.text("select id, ticket_no, settled_at from orders where ticket_no is not null "
                                  "order by id")).fetchall()
    for order_id, number, settled_at in orders:
        items = bind.execute(sa.text(
            "select i.id, a.tax_office_id, t.region_code from order_items i join dues d on d.id = i.due_id "
            "join enrollments e on e.id = d.enrollment_id join agencies a on a.id = e.agency_id "
            "join tax_offices t on t.id = a.tax_office_id where i.order_id = :o order by i.id"),
            {"o": order_id}).fetchall()
        ticket_of = {}
        for item_id, office, region in items:
            if office not in ticket_of:
                ticket_no = number if not ticket_of else _new_number(bind, region, settled_at)
                bind.execute(sa.text("insert into tickets (ticket_no, order_id, tax_office_id, issued_at) "
                                     "values (:n, :o, :t, :at)"),
                             {"n": ticket_no, "o": order_id, "t": office, "at": settled_at})
                ticket_of[office] = bind.execute(sa.text("select id from tickets where ticket_no = :n"),
                                                 {"n": ticket_no}).scalar()
            bind.execute(sa.text("update order_items set ticket_id = :t where id = :i"),
                         {"t": ticket_of[office], "i": item_id})


def _documents_name_their_tax_office(bind):
    """What 0022 stored as a document's 税务机关 was the invented 国家税务总局{city}税务局: each
    line names its ticket's office; a 完税证明 its ticket's; any other the office of the holder's
    first enrollment (as documents issued from now on do)."""
    if not sa.inspect(bind).has_table("document_items"):
        return
    office_of_ticket = ("(select o.name from tax_offices o join tickets t on t.tax_office_id = o.id "
                        "where t.ticket_no = {}.ticket_no)")
    op.execute("update document_items set tax_office = coalesce(" + office_of_ticket.format("document_items")
               + ", tax_office) where ticket_no is not null")
    op.execute("update documents set tax_office = coalesce((select o.name from tax_offices o join agencies a on "
               "a.tax_office_id = o.id join enrollments e on e.agency_id = a.id where e.person_id = "
               "documents.holder_id order by e.id limit 1), tax_office)")
    op.execute("update documents set tax_office = coalesce(" + office_of_ticket.format("documents")
               + ", tax_office) where kind = 'tax' and ticket_no is not null")


def _new_number(bind, region, settled_at) -> str:
    bind.execute(sa.text("insert into issued_numbers (kind, issued_at) values ('ticket', current_timestamp)"))
    sequence = bind.execute(sa.text("select max(id) from issued_numbers")).scalar()
    when = settled_at if isinstance(settled_at, dt.datetime) else dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return f"4{region}{when.astimezone(SHANGHAI):%y}{sequence:09d}"


def downgrade():
    with op.batch_alter_table('first_issues', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_first_issues_holder_id_persons'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_first_issues_holder_id'))
        batch_op.drop_index(batch_op.f('ix_first_issues_ticket_no'))
        batch_op.drop_constraint('uq_first_issues_ticket_holder', type_='unique')
    # One 首开 per ticket again: the earliest of each.
    op.execute("delete from first_issues where id not in (select min(id) from first_issues group by ticket_no)")
    with op.batch_alter_table('first_issues', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_first_issues_ticket_no', ['ticket_no'])
        batch_op.drop_column('holder_id')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ticket_no', sa.String(length=18), nullable=True))
    # An order keeps its first ticket's number (the others had none before).
    op.execute("update orders set ticket_no = (select t.ticket_no from tickets t where t.order_id = orders.id "
               "and t.id = (select min(id) from tickets where order_id = orders.id))")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_orders_ticket_no', ['ticket_no'])
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_order_items_ticket_id_tickets'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_order_items_ticket_id'))
        batch_op.drop_column('ticket_id')
    op.drop_table('tickets')
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_agencies_tax_office_id_tax_offices'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_agencies_tax_office_id'))
        batch_op.drop_column('tax_office_id')
    op.drop_table('tax_offices')
