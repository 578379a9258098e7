"""api token role

Revision ID: 0008_api_token_role
Revises: 0007_progress_reports
Create Date: 2026-11-28 22:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0008_api_token_role'
down_revision = '0007_progress_reports'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), server_default='camera', nullable=False))


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('role')
