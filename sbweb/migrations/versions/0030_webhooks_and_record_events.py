"""webhooks and record events: the feed's other events (due.reopened / due.voided,
declaration.created / declaration.voided, document.voided: api_events gets due_event_id,
declaration_id, document_id, and ticket_id becomes optional), the webhook endpoints (one per API
client, its secret sealed) and their durable outbox of deliveries.

Existing data: every due move, declaration and voided document so far gets its event row, in
time order, without a position (numbered on the first read, as revision 0027 did), so
`flask ledger check` holds from the start.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 23:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

BACKFILL = """
insert into api_events (kind, key, due_event_id, declaration_id, document_id, tax_office_id, created_at)
select kind, key, due_event_id, declaration_id, document_id, tax_office_id, at from (
  select case when de.to_state = 'void' then 'due.voided' else 'due.reopened' end as kind,
         case when de.to_state = 'void' then 'due.voided:' else 'due.reopened:' end || de.id as key,
         de.id as due_event_id, cast(null as integer) as declaration_id, cast(null as integer) as document_id, a.tax_office_id, de.at as at,
         1 as part, de.id as sub
  from due_events de join dues d on d.id = de.due_id join enrollments e on e.id = d.enrollment_id
  join agencies a on a.id = e.agency_id
  where (de.to_state = 'void' and de.from_state <> 'void') or (de.from_state = 'paid' and de.to_state = 'open')
  union all
  select 'declaration.created', 'declaration.created:' || dc.id, cast(null as integer), dc.id, cast(null as integer), a.tax_office_id,
         dc.declared_at, 2, dc.id
  from declarations dc join enrollments e on e.id = dc.enrollment_id join agencies a on a.id = e.agency_id
  union all
  select 'declaration.voided', 'declaration.voided:' || dc.id, cast(null as integer), dc.id, cast(null as integer), a.tax_office_id,
         coalesce(dc.voided_at, dc.declared_at), 3, dc.id
  from declarations dc join enrollments e on e.id = dc.enrollment_id join agencies a on a.id = e.agency_id
  where dc.state = 'void'
  union all
  select distinct 'document.voided', 'document.voided:' || d.doc_no || ':' || tx.code, cast(null as integer), cast(null as integer), d.id,
         tx.id, d.voided_at, 4, d.id
  from documents d join document_items di on di.document_id = d.id join order_items oi on oi.id = di.item_id
  join tickets t on t.id = oi.ticket_id join tax_offices tx on tx.id = t.tax_office_id
  where d.state = 'void'
) as history
order by at, part, sub
"""


def upgrade():
    with op.batch_alter_table('api_events', schema=None) as batch_op:
        batch_op.alter_column('ticket_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('due_event_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('declaration_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('document_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_api_events_due_event_id_due_events', 'due_events', ['due_event_id'], ['id'])
        batch_op.create_foreign_key(
            'fk_api_events_declaration_id_declarations', 'declarations', ['declaration_id'], ['id']
        )
        batch_op.create_foreign_key('fk_api_events_document_id_documents', 'documents', ['document_id'], ['id'])
        batch_op.create_unique_constraint('uq_api_events_due_event_id', ['due_event_id'])
        batch_op.create_index(batch_op.f('ix_api_events_declaration_id'), ['declaration_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_events_document_id'), ['document_id'], unique=False)

    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('api_client_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=True),
        sa.Column('key_id', sa.String(length=40), nullable=False),
        sa.Column('secret_sealed', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['api_client_id'], ['api_clients.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('api_client_id'),
        sa.UniqueConstraint('key_id'),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=300), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], ),
        sa.ForeignKeyConstraint(['event_id'], ['api_events.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id', 'endpoint_id'),
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_endpoint_id'), ['endpoint_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)

    # What happened before this revision joins the feed (see the docstring).
    op.execute(BACKFILL)


def downgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_state'))
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_endpoint_id'))
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')
    op.execute("delete from api_events where ticket_id is null")
    with op.batch_alter_table('api_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_events_document_id'))
        batch_op.drop_index(batch_op.f('ix_api_events_declaration_id'))
        batch_op.drop_constraint('uq_api_events_due_event_id', type_='unique')
        batch_op.drop_constraint('fk_api_events_document_id_documents', type_='foreignkey')
        batch_op.drop_constraint('fk_api_events_declaration_id_declarations', type_='foreignkey')
        batch_op.drop_constraint('fk_api_events_due_event_id_due_events', type_='foreignkey')
        batch_op.drop_column('document_id')
        batch_op.drop_column('declaration_id')
        batch_op.drop_column('due_event_id')
        batch_op.alter_column('ticket_id', existing_type=sa.Integer(), nullable=False)
