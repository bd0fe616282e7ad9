"""account safety: sign-up choices on the confirmation token, new token purpose, notification kinds, audit action

Revision ID: 0008
Revises: 0007_data_controls

Reviewed (written by hand, then checked against the models by the empty-database test): account_token gets three
nullable columns (a pending sign-up's password hash, display name and timezone, applied when its link is opened),
so existing rows need no default. Three enums stored as VARCHAR + CHECK gain values: token_purpose
(revert_email_change), notification_kind (sharing_audience, account) and audit_action (two_factor_reset). Only
their CHECK constraints change; batch mode rebuilds the tables on SQLite with the new constraint and alters them in
place on PostgreSQL. The downgrade first deletes rows that use the new values, which the old CHECKs would refuse.
Create Date: 2026-12-02 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_account_safety'
down_revision = '0007_data_controls'
branch_labels = None
depends_on = None

OLD_PURPOSES = ('confirm_email', 'reset_password', 'change_email')
NEW_PURPOSES = (*OLD_PURPOSES, 'revert_email_change')
OLD_KINDS = ('reminder', 'starting_now', 'change', 'seat', 'join_answer', 'join_request', 'digest', 'announcement',
             'checkin_prompt', 'missed_you')
NEW_KINDS = (*OLD_KINDS, 'sharing_audience', 'account')
OLD_ACTIONS = (
    'meeting_cancelled', 'meeting_moved', 'meeting_restored', 'series_ended', 'member_approved',
    'member_declined', 'member_removed', 'role_changed', 'group_archived', 'announcement_sent',
    'site_role_changed',
)
NEW_ACTIONS = (*OLD_ACTIONS, 'two_factor_reset')

# (table, column, enum name, old values, new values)
ENUMS = (
    ('account_token', 'purpose', 'token_purpose', OLD_PURPOSES, NEW_PURPOSES),
    ('notification', 'kind', 'notification_kind', OLD_KINDS, NEW_KINDS),
    ('audit_entry', 'action', 'audit_action', OLD_ACTIONS, NEW_ACTIONS),
)


def _enum(name, values):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _swap(table, column, name, before, after):
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(column, existing_type=_enum(name, before), type_=_enum(name, after),
                              existing_nullable=False)


def upgrade():
    with op.batch_alter_table('account_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('display_name', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
    for table, column, name, old, new in ENUMS:
        _swap(table, column, name, old, new)


def downgrade():
    for table, column, name, old, new in ENUMS:
        gone = [value for value in new if value not in old]
        op.execute(sa.table(table, sa.column(column)).delete().where(sa.column(column).in_(gone)))
        _swap(table, column, name, new, old)
    with op.batch_alter_table('account_token', schema=None) as batch_op:
        batch_op.drop_column('timezone')
        batch_op.drop_column('display_name')
        batch_op.drop_column('password_hash')
