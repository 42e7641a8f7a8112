"""login sessions kept on the server, 验证码 challenges bound to them, decoy codes

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'login_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('level', sa.String(length=10), nullable=True),
        sa.Column('host', sa.String(length=20), nullable=True),
        sa.Column('host_subject', sa.String(length=128), nullable=True),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('agent', sa.String(length=120), nullable=False),
        sa.Column('signed_in_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('end_reason', sa.String(length=10), nullable=True),
        sa.Column('orders', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_login_sessions_person_id_persons')),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_login_sessions_staff_id_staff')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_login_sessions_token_hash')),
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_login_sessions_open_person', ['person_id', 'ended_at'], unique=False)
        batch_op.create_index('ix_login_sessions_open_staff', ['staff_id', 'ended_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_sessions_signed_in_at'), ['signed_in_at'], unique=False)
    op.create_table(
        'captcha_challenges',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('nonce', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['session_id'], ['login_sessions.id'], ondelete='CASCADE',
                                name=op.f('fk_captcha_challenges_session_id_login_sessions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_captcha_challenges')),
    )
    with op.batch_alter_table('captcha_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_captcha_challenges_session_id'), ['session_id'], unique=False)


    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.alter_column('person_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM verification_codes WHERE person_id IS NULL")
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.alter_column('person_id', existing_type=sa.Integer(), nullable=False)
    op.drop_table('captcha_challenges')
    op.drop_table('login_sessions')
