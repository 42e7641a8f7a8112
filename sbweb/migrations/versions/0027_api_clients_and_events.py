"""api clients and events: the machine API's clients (api_clients: a key id, the agency, scopes,
the HMAC secret sealed with the app's key) and the event feed's outbox (api_events).

Existing data: every ticket of a settled order gets its payment.settled row, and every item
refund already done its refund.completed row, in ticket / refund order, without a position: the
sequencer (sbweb.services.api_events.sequence) numbers them and freezes their payload the first
time the feed is read or housekeeping runs, so `flask ledger check` holds from the start.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 23:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_clients',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=True),
        sa.Column('scopes', sa.String(length=200), nullable=False),
        sa.Column('secret_sealed', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('client_id'),
    )
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_clients_agency_id'), ['agency_id'], unique=False)

    op.create_table(
        'api_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('tax_office_id', sa.Integer(), nullable=False),
        sa.Column('refund_item_id', sa.Integer(), nullable=True),
        sa.Column('position', sa.BigInteger(), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sequenced_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['refund_item_id'], ['refund_items.id'], ),
        sa.ForeignKeyConstraint(['tax_office_id'], ['tax_offices.id'], ),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
        sa.UniqueConstraint('position'),
        sa.UniqueConstraint('refund_item_id'),
    )
    with op.batch_alter_table('api_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_events_tax_office_id'), ['tax_office_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_events_ticket_id'), ['ticket_id'], unique=False)

    # What was settled and refunded before this revision joins the feed (see the docstring).
    op.execute(
        "insert into api_events (kind, key, ticket_id, tax_office_id, created_at) "
        "select 'payment.settled', 'payment.settled:' || t.ticket_no, t.id, t.tax_office_id, t.issued_at "
        "from tickets t join orders o on o.id = t.order_id where o.settled_at is not null order by t.id"
    )
    op.execute(
        "insert into api_events (kind, key, ticket_id, tax_office_id, refund_item_id, created_at) "
        "select 'refund.completed', 'refund.completed:' || ri.id, t.id, t.tax_office_id, ri.id, ri.done_at "
        "from refund_items ri join order_items oi on oi.id = ri.item_id join tickets t on t.id = oi.ticket_id "
        "where ri.done_at is not null and ri.decision = 'approved' order by ri.done_at, ri.id"
    )


def downgrade():
    with op.batch_alter_table('api_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_events_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_api_events_tax_office_id'))
    op.drop_table('api_events')
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_clients_agency_id'))
    op.drop_table('api_clients')
