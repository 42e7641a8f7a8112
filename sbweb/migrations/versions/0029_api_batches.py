"""api batches: the machine API's inbound batches as answered (api_batches: client,
Idempotency-Key, the body's SHA-256, the answer), so that a replayed batch is answered the same
and writes nothing.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 23:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0029'
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('api_client_id', sa.Integer(), nullable=False),
        sa.Column('idempotency_key', sa.String(length=80), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('body_sha256', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('answer', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['api_client_id'], ['api_clients.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('api_client_id', 'idempotency_key'),
    )
    with op.batch_alter_table('api_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_batches_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('api_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_batches_created_at'))
    op.drop_table('api_batches')
