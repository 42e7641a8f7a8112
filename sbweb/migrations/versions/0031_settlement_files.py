"""settlement files: the daily 结算文件 of each tax office (CSV and XLSX, their totals), made by
the daily job and downloaded in the back office and through the API.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 23:45:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0031'
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'settlement_files',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tax_office_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('generated_at', sa.DateTime(), nullable=False),
        sa.Column('tickets', sa.Integer(), nullable=False),
        sa.Column('items', sa.Integer(), nullable=False),
        sa.Column('refunds', sa.Integer(), nullable=False),
        sa.Column('paid_fen', sa.Integer(), nullable=False),
        sa.Column('refunded_fen', sa.Integer(), nullable=False),
        sa.Column('csv', sa.LargeBinary(), nullable=False),
        sa.Column('xlsx', sa.LargeBinary(), nullable=False),
        sa.Column('csv_sha256', sa.String(length=64), nullable=False),
        sa.Column('xlsx_sha256', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['tax_office_id'], ['tax_offices.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tax_office_id', 'day'),
    )
    with op.batch_alter_table('settlement_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_files_day'), ['day'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_files_tax_office_id'), ['tax_office_id'], unique=False)


def downgrade():
    with op.batch_alter_table('settlement_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlement_files_tax_office_id'))
        batch_op.drop_index(batch_op.f('ix_settlement_files_day'))
    op.drop_table('settlement_files')
