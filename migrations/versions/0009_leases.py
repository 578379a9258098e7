"""capture leases: owner, expiry and attempts per capture, chunks with their own lease

Revision ID: 0009_leases
Revises: 0008_api_token_role
Create Date: 2026-12-07 15:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0009_leases'
down_revision = '0008_api_token_role'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('captures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
    op.create_table('capture_chunks',
    sa.Column('capture_id', sa.Integer(), nullable=False),
    sa.Column('first_index', sa.Integer(), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sa.String(length=120), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'],
                            name=op.f('fk_capture_chunks_capture_id_captures'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('capture_id', 'first_index', name=op.f('pk_capture_chunks'))
    )


def downgrade():
    op.drop_table('capture_chunks')
    with op.batch_alter_table('captures', schema=None) as batch_op:
        batch_op.drop_column('attempts')
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_owner')
