"""withholding consent: who made each declaration and at which level, the declaration that
priced each due, 补缴 confirmations, each agreement's per-payment limit and 补缴 opt-in, and
the dues withholding left for the resident (withholding_skips)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declared_by_id', sa.Integer(), nullable=True))
        # Existing rows: nobody can tell now at which level they were made; the old code took a
        # looked-up session, so they count as 'lookup' (their dues are not withheld).
        batch_op.add_column(sa.Column('declared_level', sa.String(length=10), server_default='lookup',
                                      nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_declarations_declared_by_id_persons'), 'persons',
                                    ['declared_by_id'], ['id'])
    op.execute("update declarations set declared_by_id = person_id")

    with op.batch_alter_table('dues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declaration_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('confirmed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('confirmed_level', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('confirmed_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_dues_declaration_id_declarations'), 'declarations',
                                    ['declaration_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_dues_confirmed_by_id_persons'), 'persons',
                                    ['confirmed_by_id'], ['id'])
    # The declaration that priced a due last is the newest one made for it.
    op.execute("update dues set declaration_id = "
               "(select max(declarations.id) from declarations where declarations.due_id = dues.id)")

    with op.batch_alter_table('bank_agreements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('limit_fen', sa.Integer(), server_default='200000', nullable=False))
        batch_op.add_column(sa.Column('withhold_backpay', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))

    op.create_table('withholding_skips',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('due_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('limit_fen', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('mail_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['bank_agreements.id'],
                            name=op.f('fk_withholding_skips_agreement_id_bank_agreements')),
    sa.ForeignKeyConstraint(['due_id'], ['dues.id'], name=op.f('fk_withholding_skips_due_id_dues')),
    sa.ForeignKeyConstraint(['mail_id'], ['outbox.id'], name=op.f('fk_withholding_skips_mail_id_outbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withholding_skips')),
    sa.UniqueConstraint('due_id', 'agreement_id', 'reason', name=op.f('uq_withholding_skips_due_id'))
    )
    with op.batch_alter_table('withholding_skips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_withholding_skips_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_withholding_skips_due_id'), ['due_id'], unique=False)


def downgrade():
    with op.batch_alter_table('withholding_skips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_withholding_skips_due_id'))
        batch_op.drop_index(batch_op.f('ix_withholding_skips_agreement_id'))
    op.drop_table('withholding_skips')

    with op.batch_alter_table('bank_agreements', schema=None) as batch_op:
        batch_op.drop_column('withhold_backpay')
        batch_op.drop_column('limit_fen')

    with op.batch_alter_table('dues', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_dues_confirmed_by_id_persons'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_dues_declaration_id_declarations'), type_='foreignkey')
        batch_op.drop_column('confirmed_at')
        batch_op.drop_column('confirmed_level')
        batch_op.drop_column('confirmed_by_id')
        batch_op.drop_column('declaration_id')

    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_declarations_declared_by_id_persons'), type_='foreignkey')
        batch_op.drop_column('declared_level')
        batch_op.drop_column('declared_by_id')
