"""data controls: the audit log, two-factor authentication, re-authentication and check-in retention

Revision ID: 0007_data_controls
Revises: 0006_calendar_feeds

Reviewed (written by hand, then checked against the models by the empty-database test): three new tables and
two nullable columns on tables that hold rows, so existing rows need no default. audit_entry keeps no names:
actor_id and subject_id point at user and become NULL when an account is deleted ("deleted user"), group_id and
occurrence_id likewise; a group's log reads ix_audit_entry_group_at, the admins' log and retention read
ix_audit_entry_at; every user/occurrence foreign key is indexed for the deletion that follows it (group_id is
the first column of ix_audit_entry_group_at). action is VARCHAR + CHECK like every enum here. two_factor is keyed
by user_id (one authenticator per account); its secret is EncryptedText (Fernet tokens in TEXT: the DDL needs no
key). recovery_code keeps only sha256 hashes, unique. user_session.reauthenticated_at (NULL for sessions that
began before this migration: they must confirm before a sensitive action) and user.checkin_retention_months
(NULL: keep check-ins) are nullable. Batch mode rebuilds both tables on SQLite with their constraints.
Create Date: 2026-11-27 09:00:00

"""
from alembic import op
import sqlalchemy as sa

import supportnet.crypto
import supportnet.db


# revision identifiers, used by Alembic.
revision = '0007_data_controls'
down_revision = '0006_calendar_feeds'
branch_labels = None
depends_on = None

AUDIT_ACTIONS = (
    'meeting_cancelled', 'meeting_moved', 'meeting_restored', 'series_ended', 'member_approved',
    'member_declined', 'member_removed', 'role_changed', 'group_archived', 'announcement_sent',
    'site_role_changed',
)


def upgrade():
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', supportnet.db.UTCDateTime(), nullable=False),
    sa.Column('action', sa.Enum(*AUDIT_ACTIONS, name='audit_action', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('occurrence_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_audit_entry_actor_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subject_id'], ['user.id'], name=op.f('fk_audit_entry_subject_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['group.id'], name=op.f('fk_audit_entry_group_id_group'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['occurrence_id'], ['occurrence.id'], name=op.f('fk_audit_entry_occurrence_id_occurrence'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_occurrence_id'), ['occurrence_id'], unique=False)
        batch_op.create_index('ix_audit_entry_group_at', ['group_id', 'at'], unique=False)

    op.create_table('two_factor',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret', supportnet.crypto.EncryptedText(), nullable=False),
    sa.Column('created_at', supportnet.db.UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', supportnet.db.UTCDateTime(), nullable=True),
    sa.Column('last_step', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_two_factor_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_two_factor'))
    )

    op.create_table('recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', supportnet.db.UTCDateTime(), nullable=False),
    sa.Column('used_at', supportnet.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_recovery_code_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_code_code_hash'))
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reauthenticated_at', supportnet.db.UTCDateTime(), nullable=True))

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkin_retention_months', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('checkin_retention_months')

    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_column('reauthenticated_at')

    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_user_id'))

    op.drop_table('recovery_code')
    op.drop_table('two_factor')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_group_at')
        batch_op.drop_index(batch_op.f('ix_audit_entry_occurrence_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_subject_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_at'))

    op.drop_table('audit_entry')
