"""UnionPay's 消费撤销: how a refund was sent (refunds.sent_as: "cancel" for 撤销, "return" for
退货, none for providers with one way), which the ledger check reads (a 撤销 returns a whole trade,
alone); and the sandbox's 银联 side keeps the transaction type of each return
(sandbox_refunds.txn_type: 04 or 31). Existing rows stay without either: they were 退货 or Alipay's.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 23:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_as', sa.String(length=8), nullable=True))
    with op.batch_alter_table('sandbox_refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('txn_type', sa.String(length=2), nullable=True))


def downgrade():
    with op.batch_alter_table('sandbox_refunds', schema=None) as batch_op:
        batch_op.drop_column('txn_type')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_column('sent_as')
