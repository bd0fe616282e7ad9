"""notification links index: a partial index on the finished-email scrub's kinds

Revision ID: 0016_links_due_index
Revises: 0015_feed_versions

Reviewed (written by hand, checked against the models by the empty-database test). Every dispatch tick looks for
finished account and referral emails whose link (and address) must be deleted; through (status, due_at) that meant
reading every reminder finished in the last few days. The partial index holds only those two kinds, so the lookup
reads only them and reminders never write to it.
Create Date: 2026-12-02

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_links_due_index'
down_revision = '0015_feed_versions'
branch_labels = None
depends_on = None

LINK_KINDS = "kind IN ('account', 'referral_link')"
WHERE = {'sqlite_where': sa.text(LINK_KINDS), 'postgresql_where': sa.text(LINK_KINDS)}


def upgrade():
    op.create_index('ix_notification_links_due', 'notification', ['due_at'], **WHERE)


def downgrade():
    op.drop_index('ix_notification_links_due', table_name='notification', **WHERE)
