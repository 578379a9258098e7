"""captures, frames, observations, element status

Revision ID: 0002_captures
Revises: 0001_twin
Create Date: 2026-11-28 19:40:09.555157

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0002_captures'
down_revision = '0001_twin'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('element_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('global_id', sa.String(length=22), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('probability', sa.Double(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reached_at', sa.JSON(), nullable=False),
    sa.Column('needs_review', sa.Boolean(), nullable=False),
    sa.Column('reviewed_stage', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_element_status_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_element_status')),
    sa.UniqueConstraint('project_id', 'global_id', name=op.f('uq_element_status_project_id_global_id'))
    )
    op.create_table('captures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('revision_id', sa.Integer(), nullable=True),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('device', sa.String(length=200), nullable=True),
    sa.Column('storey_global_id', sa.String(length=22), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('stats', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_captures_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['revision_id'], ['model_revisions.id'], name=op.f('fk_captures_revision_id_model_revisions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_captures')),
    sa.UniqueConstraint('project_id', 'key', name=op.f('uq_captures_project_id_key'))
    )
    op.create_table('element_status_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('global_id', sa.String(length=22), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('previous_stage', sa.Integer(), nullable=False),
    sa.Column('probability', sa.Double(), nullable=False),
    sa.Column('needs_review', sa.Boolean(), nullable=False),
    sa.Column('capture_id', sa.Integer(), nullable=True),
    sa.Column('reviewer', sa.String(length=200), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'], name=op.f('fk_element_status_history_capture_id_captures'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_element_status_history_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_element_status_history'))
    )
    with op.batch_alter_table('element_status_history', schema=None) as batch_op:
        batch_op.create_index('ix_element_status_history_project_element', ['project_id', 'global_id'], unique=False)

    op.create_table('frames',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('capture_id', sa.Integer(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('file', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('pose_prior', sa.JSON(), nullable=False),
    sa.Column('pose', sa.JSON(), nullable=True),
    sa.Column('registration', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'], name=op.f('fk_frames_capture_id_captures'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_frames')),
    sa.UniqueConstraint('capture_id', 'index', name=op.f('uq_frames_capture_id_index')),
    sa.UniqueConstraint('capture_id', 'sha256', name=op.f('uq_frames_capture_id_sha256'))
    )
    op.create_table('observations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('frame_id', sa.Integer(), nullable=False),
    sa.Column('global_id', sa.String(length=22), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('confidence', sa.Double(), nullable=False),
    sa.Column('visible_pixels', sa.Integer(), nullable=False),
    sa.Column('region', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['frame_id'], ['frames.id'], name=op.f('fk_observations_frame_id_frames'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_observations_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_observations')),
    sa.UniqueConstraint('frame_id', 'global_id', name=op.f('uq_observations_frame_id_global_id'))
    )
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.create_index('ix_observations_project_element', ['project_id', 'global_id'], unique=False)



def downgrade():
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index('ix_observations_project_element')

    op.drop_table('observations')
    op.drop_table('frames')
    with op.batch_alter_table('element_status_history', schema=None) as batch_op:
        batch_op.drop_index('ix_element_status_history_project_element')

    op.drop_table('element_status_history')
    op.drop_table('captures')
    op.drop_table('element_status')
