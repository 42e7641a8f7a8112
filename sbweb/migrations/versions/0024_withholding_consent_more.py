"""withholding consent, more: whether a declared 缴费基数 may be used for 批扣 (the Qingdao seed
asks it), the mails before and after each withholding (withholding_notices), and mails the
service sends on its own, which MAIL_RATE_LIMIT neither refuses nor counts (outbox.service_notice)

Existing declarations allow withholding (the question was not asked; they were withheld as
before); existing mails are not service notices.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 16:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allow_withholding', sa.Boolean(), server_default=sa.true(),
                                      nullable=False))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_notice', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.create_table(
        'withholding_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('due_id', sa.Integer(), nullable=False),
        sa.Column('agreement_id', sa.Integer(), nullable=False),
        sa.Column('stage', sa.String(length=8), nullable=False),
        sa.Column('amount_fen', sa.Integer(), nullable=False),
        sa.Column('due_revision', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('mail_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['agreement_id'], ['bank_agreements.id'],
                                name=op.f('fk_withholding_notices_agreement_id_bank_agreements')),
        sa.ForeignKeyConstraint(['due_id'], ['dues.id'], name=op.f('fk_withholding_notices_due_id_dues')),
        sa.ForeignKeyConstraint(['mail_id'], ['outbox.id'], name=op.f('fk_withholding_notices_mail_id_outbox')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_withholding_notices')),
        sa.UniqueConstraint('due_id', 'agreement_id', 'stage', name=op.f('uq_withholding_notices_due_id')),
    )
    with op.batch_alter_table('withholding_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_withholding_notices_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_withholding_notices_due_id'), ['due_id'], unique=False)


def downgrade():
    with op.batch_alter_table('withholding_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_withholding_notices_due_id'))
        batch_op.drop_index(batch_op.f('ix_withholding_notices_agreement_id'))
    op.drop_table('withholding_notices')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('service_notice')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_column('allow_withholding')
