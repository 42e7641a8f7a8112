"""outbox: mails that hold a secret

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 13:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holds_secret', sa.Boolean(), server_default=sa.false(), nullable=False))
    # Codes mailed before this revision: their bodies are forgotten now if they were sent.
    op.execute("update outbox set body = '' where subject = '社保费缴纳验证码' and state in ('sent', 'failed')")
    op.execute("update outbox set holds_secret = true where subject = '社保费缴纳验证码'")


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('holds_secret')
