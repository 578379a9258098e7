"""twin: projects, model revisions, storeys, elements

Revision ID: 0001_twin
Revises:
Create Date: 2026-11-28 18:48:16.915323

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0001_twin'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name'))
    )
    op.create_table('model_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('schema', sa.String(length=32), nullable=False),
    sa.Column('source_name', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('element_count', sa.Integer(), nullable=False),
    sa.Column('with_geometry', sa.Integer(), nullable=False),
    sa.Column('triangles', sa.Integer(), nullable=False),
    sa.Column('twin_path', sa.String(length=500), nullable=False),
    sa.Column('diff', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_model_revisions_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_revisions')),
    sa.UniqueConstraint('project_id', 'number', name=op.f('uq_model_revisions_project_id_number')),
    sa.UniqueConstraint('project_id', 'sha256', name=op.f('uq_model_revisions_project_id_sha256'))
    )
    op.create_table('storeys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revision_id', sa.Integer(), nullable=False),
    sa.Column('global_id', sa.String(length=22), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('elevation', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['revision_id'], ['model_revisions.id'], name=op.f('fk_storeys_revision_id_model_revisions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_storeys')),
    sa.UniqueConstraint('revision_id', 'global_id', name=op.f('uq_storeys_revision_id_global_id'))
    )
    op.create_table('elements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revision_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('global_id', sa.String(length=22), nullable=False),
    sa.Column('ifc_class', sa.String(length=64), nullable=False),
    sa.Column('predefined_type', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('type_name', sa.Text(), nullable=True),
    sa.Column('storey_id', sa.Integer(), nullable=True),
    sa.Column('tracked_class', sa.String(length=32), nullable=True),
    sa.Column('physical', sa.Boolean(), nullable=False),
    sa.Column('assembly_global_id', sa.String(length=22), nullable=True),
    sa.Column('materials', sa.JSON(), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('has_shape', sa.Boolean(), nullable=False),
    sa.Column('triangles', sa.Integer(), nullable=False),
    sa.Column('min_x', sa.Double(), nullable=True),
    sa.Column('min_y', sa.Double(), nullable=True),
    sa.Column('min_z', sa.Double(), nullable=True),
    sa.Column('max_x', sa.Double(), nullable=True),
    sa.Column('max_y', sa.Double(), nullable=True),
    sa.Column('max_z', sa.Double(), nullable=True),
    sa.Column('content_hash', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['revision_id'], ['model_revisions.id'], name=op.f('fk_elements_revision_id_model_revisions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['storey_id'], ['storeys.id'], name=op.f('fk_elements_storey_id_storeys'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elements')),
    sa.UniqueConstraint('revision_id', 'global_id', name=op.f('uq_elements_revision_id_global_id'))
    )
    with op.batch_alter_table('elements', schema=None) as batch_op:
        batch_op.create_index('ix_elements_revision_class', ['revision_id', 'tracked_class'], unique=False)
        batch_op.create_index('ix_elements_revision_storey', ['revision_id', 'storey_id'], unique=False)



def downgrade():
    with op.batch_alter_table('elements', schema=None) as batch_op:
        batch_op.drop_index('ix_elements_revision_storey')
        batch_op.drop_index('ix_elements_revision_class')

    op.drop_table('elements')
    op.drop_table('storeys')
    op.drop_table('model_revisions')
    op.drop_table('projects')
