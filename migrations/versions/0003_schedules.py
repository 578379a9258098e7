"""schedules

Revision ID: 0003_schedules
Revises: 0002_captures
Create Date: 2026-11-28 19:47:06.835822

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003_schedules'
down_revision = '0002_captures'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('schedule_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('source_format', sa.String(length=16), nullable=False),
    sa.Column('source_name', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data_date', sa.Date(), nullable=True),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_schedule_versions_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_versions')),
    sa.UniqueConstraint('project_id', 'number', name=op.f('uq_schedule_versions_project_id_number'))
    )
    op.create_table('tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('parent_key', sa.String(length=200), nullable=True),
    sa.Column('planned_start', sa.Date(), nullable=False),
    sa.Column('planned_finish', sa.Date(), nullable=False),
    sa.Column('actual_start', sa.Date(), nullable=True),
    sa.Column('actual_finish', sa.Date(), nullable=True),
    sa.Column('trade', sa.String(length=200), nullable=True),
    sa.Column('weight_basis', sa.String(length=16), nullable=False),
    sa.Column('predecessors', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedule_versions.id'], name=op.f('fk_tasks_schedule_id_schedule_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks')),
    sa.UniqueConstraint('schedule_id', 'key', name=op.f('uq_tasks_schedule_id_key'))
    )
    op.create_table('task_elements',
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('global_id', sa.String(length=22), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_elements_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'global_id', name=op.f('pk_task_elements'))
    )
    with op.batch_alter_table('task_elements', schema=None) as batch_op:
        batch_op.create_index('ix_task_elements_global_id', ['global_id'], unique=False)



def downgrade():
    with op.batch_alter_table('task_elements', schema=None) as batch_op:
        batch_op.drop_index('ix_task_elements_global_id')

    op.drop_table('task_elements')
    op.drop_table('tasks')
    op.drop_table('schedule_versions')
