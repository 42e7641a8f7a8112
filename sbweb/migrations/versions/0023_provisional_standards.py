"""provisional standards: a year collected before its standard is published (暂按上年度标准)

A declaration and its due record the year whose standard priced them provisionally
(`provisional_on`, NULL when priced on their own year's). When the year's standard is loaded,
a paid provisional due owed more gets the difference as a due of its own (`difference_of_id`,
按{year}年度标准补缴差额); one owed less gets the overpayment back through a refund application
the system makes (原路退回, so it has no bank account: `account_id` becomes optional).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 16:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provisional_on', sa.Integer(), nullable=True))
    with op.batch_alter_table('dues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provisional_on', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('difference_of_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_dues_difference_of_id_dues'), 'dues', ['difference_of_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_dues_provisional_on'), ['provisional_on'], unique=False)
    with op.batch_alter_table('refund_applications', schema=None) as batch_op:
        batch_op.alter_column('account_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    bind = op.get_bind()
    # A system-made application (no account) cannot be written before this revision, and dropping
    # it would leave money back that no application explains: refuse rather than lose the books.
    if bind.execute(sa.text("select count(*) from refund_applications where account_id is null")).scalar():
        raise RuntimeError("refund applications made by the re-pricing (no bank account) exist: "
                           "cannot downgrade below 0023 without losing them")
    with op.batch_alter_table('refund_applications', schema=None) as batch_op:
        batch_op.alter_column('account_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('dues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dues_provisional_on'))
        batch_op.drop_constraint(batch_op.f('fk_dues_difference_of_id_dues'), type_='foreignkey')
        batch_op.drop_column('difference_of_id')
        batch_op.drop_column('provisional_on')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_column('provisional_on')
