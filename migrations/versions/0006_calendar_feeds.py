"""calendar feeds: members' private feed address and choices; a group's "show cancellations in calendars"

Revision ID: 0006_calendar_feeds
Revises: 0005_notifications

Reviewed (written by hand, then checked against the models by the empty-database test): three columns on user
and one on group, all added to tables that hold rows. calendar_token_hash is nullable (no feed until the member
makes one) and unique (a token finds one account; only the sha256 is stored, like invite and session tokens).
The booleans are NOT NULL with server defaults so existing rows get the safe choices: discreet titles on
(sa.true()), RSVP'd meetings only and no cancelled events in calendars (sa.false(); PostgreSQL gets TRUE/FALSE,
not 1/0). Batch mode rebuilds both tables on SQLite with their constraints.
Create Date: 2026-11-26 22:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_calendar_feeds'
down_revision = '0005_notifications'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('calendar_discreet', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(
            sa.Column('calendar_all_meetings', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_unique_constraint(batch_op.f('uq_user_calendar_token_hash'), ['calendar_token_hash'])

    with op.batch_alter_table('group', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('calendar_shows_cancellations', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('group', schema=None) as batch_op:
        batch_op.drop_column('calendar_shows_cancellations')

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_user_calendar_token_hash'), type_='unique')
        batch_op.drop_column('calendar_all_meetings')
        batch_op.drop_column('calendar_discreet')
        batch_op.drop_column('calendar_token_hash')
