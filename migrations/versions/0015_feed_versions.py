"""feed versions: one counter per group, per member and for everything, that every write a feed shows moves

Revision ID: 0015
Revises: 0014_coaching

Reviewed (written by hand, checked against the models by the empty-database test). One new table with no foreign
key; nothing to backfill: a missing row reads as version 0 and the first write that concerns it inserts version 1.
Create Date: 2026-12-02

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_feed_versions'
down_revision = '0014_coaching'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('feed_version',
    sa.Column('kind', sa.String(length=1), nullable=False),
    sa.Column('ref_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind in ('g', 'u', '*')", name=op.f('ck_feed_version_kind')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_feed_version_version_positive')),
    sa.PrimaryKeyConstraint('kind', 'ref_id', name=op.f('pk_feed_version'))
    )


def downgrade():
    op.drop_table('feed_version')
