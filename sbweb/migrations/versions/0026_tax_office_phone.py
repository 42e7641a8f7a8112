"""tax office phone: whom a resident calls (若您在缴费过程中遇到任何问题，请联系当地税务部门) —
each 主管税务机关's phone and hours (tax_offices.phone, tax_offices.hours), edited in the back
office (/admin/tax-offices); none known → the national 12366.

Existing data: the demo regions' offices get the demo numbers of sbweb/demo/residents.toml; any
other office stays without one until staff fill it in.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

# The demo offices' made-up numbers (also in sbweb/demo/residents.toml).
DEMO_PHONES = {
    "15201020000": "0851-55501020",
    "15201150000": "0851-55501150",
    "13301060000": "0571-55501060",
    "13702020000": "0532-55502020",
    "13702120000": "0532-55502120",
}
DEMO_HOURS = "工作日 9:00-17:00"


def upgrade():
    with op.batch_alter_table('tax_offices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('hours', sa.String(length=40), nullable=True))
    bind = op.get_bind()
    for code, phone in DEMO_PHONES.items():
        bind.execute(sa.text("update tax_offices set phone = :p, hours = :h where code = :c"),
                     {"p": phone, "h": DEMO_HOURS, "c": code})


def downgrade():
    with op.batch_alter_table('tax_offices', schema=None) as batch_op:
        batch_op.drop_column('hours')
        batch_op.drop_column('phone')
