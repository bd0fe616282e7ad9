"""check-in sharing moves onto the consent ledger: the two membership columns become consents, then go

membership.checkin_sharing and membership.shares_recovery_date become consent rows given to the group's
facilitators.

Revision ID: 0011
Revises: 0010_programs_and_consent

Reviewed (written by hand; the empty-database test checks the result against the models). Every active
membership's choice becomes consents with the same meaning: "summaries" is check-in summaries, "notes" is
summaries and notes, a shared recovery date is the recovery date, each given to the facilitators of that group.
Memberships that are not active hold no sharing anyone can read (only active members are shown to facilitators,
and every ending resets it), so nothing of theirs is copied. Batch mode rebuilds `membership` on SQLite;
`sqlite_autoincrement` keeps its ids from ever being reused. The downgrade writes the standing consents back
into the columns and deletes the check-in consents given to facilitators (the old schema has no place for them,
and an upgrade copies them again).
Create Date: 2026-12-02 10:45:00

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

import supportnet.db


# revision identifiers, used by Alembic.
revision = '0011_sharing_on_consent'
down_revision = '0010_programs_and_consent'
branch_labels = None
depends_on = None

KEEP_IDS = {'sqlite_autoincrement': True}
AUDIENCE = 'group_facilitators'
SUMMARIES, NOTES, RECOVERY = 'checkin_summaries', 'checkin_notes', 'recovery_date'
# The sentences the sharing page shows for each scope on the day of this migration, stored as the purpose the
# member agreed to. A migration keeps its own copy: it must write the same words whenever it runs, whatever
# supportnet/checkins/sharing.py says later.
PURPOSES = {
    SUMMARIES: "Its facilitators see your mood, craving, and whether you asked for support in your recent "
               "check-ins, so that they can be there for you. Never your energy, sleep or tags.",
    NOTES: "Its facilitators also see the note of each check-in where you ticked \u201cShare this note\u201d. "
           "Other notes stay private.",
    RECOVERY: "Its facilitators see your day count, from your recovery date.",
}
LEVEL_SCOPES = {'none': (), 'summaries': (SUMMARIES,), 'notes': (SUMMARIES, NOTES)}

membership = sa.table(
    'membership', sa.column('id', sa.Integer), sa.column('group_id', sa.Integer), sa.column('user_id', sa.Integer),
    sa.column('status', sa.String), sa.column('checkin_sharing', sa.String),
    sa.column('shares_recovery_date', sa.Boolean),
)
consent = sa.table(
    'consent', sa.column('subject_id', sa.Integer), sa.column('audience', sa.String),
    sa.column('group_id', sa.Integer), sa.column('recipient_key', sa.String), sa.column('scope', sa.String),
    sa.column('purpose', sa.String), sa.column('granted_at', supportnet.db.UTCDateTime()),
    sa.column('expires_at', supportnet.db.UTCDateTime()), sa.column('revoked_at', supportnet.db.UTCDateTime()),
)


def upgrade():
    # The columns never recorded when a member chose to share; the ledger's granted_at is the time this
    # migration ran, the earliest moment the ledger can vouch for (the member's choice was standing then).
    now = datetime.now(UTC)
    rows = op.get_bind().execute(
        sa.select(membership.c.user_id, membership.c.group_id, membership.c.checkin_sharing,
                  membership.c.shares_recovery_date)
        .where(membership.c.status == 'active',
               sa.or_(membership.c.checkin_sharing != 'none', membership.c.shares_recovery_date == sa.true()))
        .order_by(membership.c.id)
    ).all()
    consents = []
    for user_id, group_id, level, recovery in rows:
        scopes = [*LEVEL_SCOPES.get(level, ()), *((RECOVERY,) if recovery else ())]
        consents += [
            {'subject_id': user_id, 'audience': AUDIENCE, 'group_id': group_id,
             'recipient_key': f'{AUDIENCE}:{group_id}', 'scope': scope, 'purpose': PURPOSES[scope],
             'granted_at': now}
            for scope in scopes
        ]
    if consents:
        op.bulk_insert(consent, consents)

    with op.batch_alter_table('membership', schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.drop_column('shares_recovery_date')
        # The enum's named CHECK constraint mentions the column: it goes first, or SQLite's rebuild fails.
        batch_op.drop_constraint(batch_op.f('ck_membership_checkin_sharing'), type_='check')
        batch_op.drop_column('checkin_sharing')


def downgrade():
    with op.batch_alter_table('membership', schema=None, table_kwargs=KEEP_IDS) as batch_op:
        batch_op.add_column(sa.Column('checkin_sharing', sa.Enum('none', 'summaries', 'notes', name='checkin_sharing', native_enum=False, create_constraint=True, length=32), server_default='none', nullable=False))
        batch_op.add_column(sa.Column('shares_recovery_date', sa.Boolean(), server_default=sa.false(), nullable=False))

    bind = op.get_bind()
    now = datetime.now(UTC)
    standing = bind.execute(
        sa.select(consent.c.subject_id, consent.c.group_id, consent.c.scope)
        .where(consent.c.audience == AUDIENCE, consent.c.revoked_at.is_(None),
               sa.or_(consent.c.expires_at.is_(None), consent.c.expires_at > now))
    ).all()
    chosen: dict[tuple[int, int], set[str]] = {}
    for subject_id, group_id, scope in standing:
        chosen.setdefault((subject_id, group_id), set()).add(scope)
    for (user_id, group_id), scopes in chosen.items():
        level = 'notes' if {SUMMARIES, NOTES} <= scopes else 'summaries' if SUMMARIES in scopes else 'none'
        bind.execute(
            membership.update()
            .where(membership.c.user_id == user_id, membership.c.group_id == group_id,
                   membership.c.status == 'active')
            .values(checkin_sharing=level, shares_recovery_date=RECOVERY in scopes)
        )
    bind.execute(consent.delete().where(consent.c.audience == AUDIENCE,
                                        consent.c.scope.in_((SUMMARIES, NOTES, RECOVERY))))
