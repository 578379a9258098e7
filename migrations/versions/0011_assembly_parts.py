"""assembly parts: index the elements of a revision by the assembly they are part of

An assembly without geometry of its own (an IfcStair whose flight and railing carry the shapes)
takes its status from its parts and counts through them in progress; ingest already records
each part's ``assembly_global_id``, this index finds an assembly's parts without a scan.

Revision ID: 0011_assembly_parts
Revises: 0010_user_sessions
Create Date: 2026-12-07 19:00:00

"""
from alembic import op

revision = '0011_assembly_parts'
down_revision = '0010_user_sessions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('elements', schema=None) as batch_op:
        batch_op.create_index('ix_elements_revision_assembly', ['revision_id', 'assembly_global_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('elements', schema=None) as batch_op:
        batch_op.drop_index('ix_elements_revision_assembly')
