"""progress report cache

Revision ID: 0007_progress_reports
Revises: 0005_accounts
Create Date: 2026-11-28 22:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0007_progress_reports'
down_revision = '0005_accounts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('progress_reports',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_progress_reports_project_id_projects'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_progress_reports'))
    )


def downgrade():
    op.drop_table('progress_reports')
