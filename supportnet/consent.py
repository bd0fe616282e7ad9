"""The consent ledger: who may see what of a member's data, for what purpose, since when, until when.

Every read of shared data asks here: what a group's facilitators see of check-ins, what a program's
coordinators see of a referral's progress, whether a group's greeters may know a newcomer's first name. A
consent names a recipient by role and place (the facilitators of group 12, the coordinators of the program that
made referral 9), never a person, so the people who can read under it change as roles change; `readers` names
them for the member today.

Revoking is immediate (the next read asks again) and leaves the row as a record; choosing again writes a new
row. A consent ends with what it was given to: leaving a group ends what its facilitators and greeters could see
(`end_for_group`, from supportnet/derived_access.py), a deleted referral, group, program or account deletes its
rows (foreign keys). What a member gave a program's coordinators as a member of its groups ends when they are
active in none of them any more (`end_for_program`).

Functions here change the session and flush; the caller commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update

from supportnet.extensions import db
from supportnet.models import (
    Audience,
    Consent,
    EndReason,
    MemberRole,
    Membership,
    MemberStatus,
    ProgramCoordinator,
    Scope,
    Supporter,
    User,
)

# What depends on each kind of consent: every place that reads data under it, or sends something because of
# it. Each asks this module when it reads, composes or sends (never a copy made when the consent was given), so
# revoking, expiring or ending a consent takes effect at the next read, and a notice already written is
# re-checked before it goes. A new scope, or a new reader of one, gets a line here (tests/test_consent_readers.py
# checks that every scope has one and that each named module asks this module).
_ALERT_READERS = ("supportnet.supporters.alerts", "supportnet.notifications.dispatch", "supportnet.checkins.sharing")
_AUDIENCE_NOTICE = ("supportnet.notifications.hooks", "supportnet.notifications.dispatch")
READERS: dict[Scope, tuple[str, ...]] = {
    Scope.CHECKIN_SUMMARIES: (
        "supportnet.checkins.support",  # a group's support page and its figures
        "supportnet.notifications.hooks",  # "who can see what you share" when a facilitator is named
        "supportnet.notifications.dispatch",  # the facilitators' digest, re-checked when sent
        "supportnet.checkins.sharing",  # the member's sharing page, "reach out"
    ),
    # "Who can see what you share" goes to whoever shares anything with a group's facilitators or a program's
    # coordinators when one is named (hooks), re-checked when sent (dispatch).
    Scope.CHECKIN_NOTES: ("supportnet.checkins.support", "supportnet.checkins.sharing", *_AUDIENCE_NOTICE),
    Scope.RECOVERY_DATE: ("supportnet.checkins.support", "supportnet.checkins.sharing", *_AUDIENCE_NOTICE),
    Scope.REFERRAL_PROGRESS: (
        "supportnet.followup",  # a referral's page, the coordinators' nudges (planned and re-checked), outcomes
        "supportnet.notifications.dispatch",  # asks followup before a nudge goes
    ),
    Scope.NEWCOMER_NAME: ("supportnet.notifications.compose",),  # the greeters' notice, composed when sent
    # A facilitator's or coordinator's pages of shared measures and the monthly summaries; the sharing page.
    Scope.MEASURE_SCORES: ("supportnet.checkins.shared_measures", "supportnet.checkins.sharing", *_AUDIENCE_NOTICE),
    Scope.MEASURE_ANSWERS: ("supportnet.checkins.shared_measures", "supportnet.checkins.sharing", *_AUDIENCE_NOTICE),
    # What a supporter is told when the member's alert rule fires: planned and re-checked when sent; listed (and
    # ended) on the sharing page.
    Scope.ALERT_MISSED_MEETINGS: _ALERT_READERS,
    Scope.ALERT_NO_CHECKIN: _ALERT_READERS,
    Scope.ALERT_BAM_RISK: _ALERT_READERS,
}


@dataclass(frozen=True)
class Recipient:
    """Whom a consent is given to: a role in one place."""

    audience: Audience
    group_id: int | None = None
    program_id: int | None = None
    referral_id: int | None = None
    supporter_id: int | None = None

    @classmethod
    def supporter(cls, supporter_id: int) -> Recipient:
        """One person the member named as a supporter; what they may be told ends when their place does."""
        return cls(Audience.SUPPORTER, supporter_id=supporter_id)

    @classmethod
    def group_facilitators(cls, group_id: int) -> Recipient:
        return cls(Audience.GROUP_FACILITATORS, group_id=group_id)

    @classmethod
    def group_greeters(cls, group_id: int, referral_id: int | None = None) -> Recipient:
        """The greeters of a group; given through a referral, the consent ends with the referral (it is about
        the first name written on it)."""
        return cls(Audience.GROUP_GREETERS, group_id=group_id, referral_id=referral_id)

    @classmethod
    def program_coordinators(cls, program_id: int, referral_id: int | None = None) -> Recipient:
        """A program's coordinators: about one referral it made (the consent ends with the referral), or, with
        no referral, about what a member of one of its groups shares with the program (measures)."""
        return cls(Audience.PROGRAM_COORDINATORS, program_id=program_id, referral_id=referral_id)

    @property
    def key(self) -> str:
        if self.audience == Audience.SUPPORTER:
            return f"{self.audience.value}:{self.supporter_id}"
        if self.audience == Audience.PROGRAM_COORDINATORS:
            if self.referral_id is None:
                return f"{self.audience.value}:{self.program_id}"
            return f"{self.audience.value}:{self.program_id}:referral:{self.referral_id}"
        return f"{self.audience.value}:{self.group_id}"

    @classmethod
    def of(cls, row: Consent) -> Recipient:
        return cls(row.audience, group_id=row.group_id, program_id=row.program_id, referral_id=row.referral_id,
                   supporter_id=row.supporter_id)


def standing(now: datetime) -> ColumnElement[bool]:
    """The condition on Consent rows that still hold at `now`: not revoked, not expired."""
    return and_(Consent.revoked_at.is_(None), or_(Consent.expires_at.is_(None), Consent.expires_at > now))


def _current(subject_id: int, recipient: Recipient, scope: Scope) -> Consent | None:
    """The one unrevoked row for this member, recipient and scope (it may have expired)."""
    return db.session.scalar(
        select(Consent).where(Consent.subject_id == subject_id, Consent.recipient_key == recipient.key,
                              Consent.scope == scope, Consent.revoked_at.is_(None))
    )


def grant(
    subject_id: int, recipient: Recipient, scope: Scope, purpose: str, now: datetime,
    *, expires_at: datetime | None = None,
) -> Consent:
    """Record that the member lets `recipient` see `scope`, for the purpose they read. Granting what already
    stands changes nothing; an expired grant is closed and a new one written."""
    row = _current(subject_id, recipient, scope)
    if row is not None:
        if row.expires_at is None or row.expires_at > now:
            return row
        row.revoked_at, row.end_reason = now, EndReason.REPLACED
        db.session.flush()
    row = Consent(
        subject_id=subject_id, audience=recipient.audience, group_id=recipient.group_id,
        program_id=recipient.program_id, referral_id=recipient.referral_id, supporter_id=recipient.supporter_id,
        recipient_key=recipient.key,
        scope=scope, purpose=purpose, granted_at=now, expires_at=expires_at,
    )
    db.session.add(row)
    db.session.flush()
    return row


def revoke(
    subject_id: int, recipient: Recipient, scopes: Iterable[Scope], now: datetime,
    reason: EndReason = EndReason.MEMBER,
) -> int:
    """End the member's consents to `recipient` for these scopes at once; returns how many ended."""
    scopes = list(scopes)
    if not scopes:
        return 0
    result = db.session.execute(
        update(Consent)
        .where(Consent.subject_id == subject_id, Consent.recipient_key == recipient.key,
               Consent.scope.in_(scopes), Consent.revoked_at.is_(None))
        .values(revoked_at=now, end_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount


def end_for_group(group_id: int, subject_ids: Iterable[int] | None, now: datetime) -> int:
    """End what these members (None: everyone) gave the facilitators and greeters of a group: their place in
    it has ended, or the group has closed."""
    condition = [Consent.group_id == group_id, Consent.revoked_at.is_(None)]
    if subject_ids is not None:
        subject_ids = list(subject_ids)
        if not subject_ids:
            return 0
        condition.append(Consent.subject_id.in_(subject_ids))
    result = db.session.execute(
        update(Consent).where(*condition).values(revoked_at=now, end_reason=EndReason.MEMBERSHIP_ENDED)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount


def end_for_program(program_id: int, subject_ids: Iterable[int], now: datetime) -> int:
    """End what these members gave a program's coordinators as members of its groups (not what was given
    about a referral, which ends with the referral): they no longer belong to any of the program's groups."""
    subject_ids = list(subject_ids)
    if not subject_ids:
        return 0
    result = db.session.execute(
        update(Consent)
        .where(Consent.recipient_key == Recipient.program_coordinators(program_id).key,
               Consent.subject_id.in_(subject_ids), Consent.revoked_at.is_(None))
        .values(revoked_at=now, end_reason=EndReason.MEMBERSHIP_ENDED)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount


def allows(subject_id: int, recipient: Recipient, scope: Scope, now: datetime) -> bool:
    """Whether the member's consent lets `recipient` see `scope` now."""
    return db.session.scalar(
        select(Consent.id).where(Consent.subject_id == subject_id, Consent.recipient_key == recipient.key,
                                 Consent.scope == scope, standing(now)).limit(1)
    ) is not None


def standing_among(subject_ids: Iterable[int], audience: Audience, now: datetime) -> set[tuple[int, str, Scope]]:
    """(member, recipient key, scope) of every consent these members give to this kind of audience now, in one
    query: a pass over many members (the alert planner) asks once instead of once per rule."""
    ids = list(set(subject_ids))
    if not ids:
        return set()
    return {tuple(row) for row in db.session.execute(
        select(Consent.subject_id, Consent.recipient_key, Consent.scope)
        .where(Consent.subject_id.in_(ids), Consent.audience == audience, standing(now))
    )}


def scopes_for(subject_id: int, recipient: Recipient, now: datetime) -> set[Scope]:
    """Everything the member lets `recipient` see now."""
    return set(db.session.scalars(
        select(Consent.scope).where(Consent.subject_id == subject_id, Consent.recipient_key == recipient.key,
                                    standing(now))
    ))


def subjects(recipient: Recipient, scope: Scope, now: datetime) -> Select:
    """A query of the ids of members who let `recipient` see `scope` now (for `IN (...)` in a read model)."""
    return select(Consent.subject_id).where(
        Consent.recipient_key == recipient.key, Consent.scope == scope, standing(now)
    )


def sharers(recipient: Recipient, now: datetime) -> Select:
    """A query of the ids of members who let `recipient` see anything now (for "who can see what you share")."""
    return select(Consent.subject_id).where(Consent.recipient_key == recipient.key, standing(now)).distinct()


def scopes_by_subject(recipient: Recipient, now: datetime) -> dict[int, set[Scope]]:
    """For one recipient, each member who shares anything with it and what, in one query."""
    found: dict[int, set[Scope]] = defaultdict(set)
    for subject_id, scope in db.session.execute(
        select(Consent.subject_id, Consent.scope).where(Consent.recipient_key == recipient.key, standing(now))
    ):
        found[subject_id].add(scope)
    return dict(found)


def standing_for(subject_id: int, now: datetime) -> list[Consent]:
    """The member's consents that hold now, oldest first: what their sharing page lists."""
    return list(db.session.scalars(
        select(Consent).where(Consent.subject_id == subject_id, standing(now)).order_by(Consent.granted_at, Consent.id)
    ))


def history_for(subject_id: int) -> list[Consent]:
    """Every consent the member gave, including revoked and expired ones (their export)."""
    return list(db.session.scalars(
        select(Consent).where(Consent.subject_id == subject_id).order_by(Consent.granted_at, Consent.id)
    ))


def readers(recipients: Iterable[Recipient], *, exclude_user_id: int | None = None) -> dict[str, list[str]]:
    """For each recipient, the display names of the people who can read under it today, in at most one query
    per kind of audience: a sharing page always says who sees what the member shares."""
    by_kind: dict[Audience, set[Recipient]] = defaultdict(set)
    for recipient in recipients:
        by_kind[recipient.audience].add(recipient)
    found: dict[str, list[str]] = {r.key: [] for rs in by_kind.values() for r in rs}
    for audience, rs in by_kind.items():
        if audience == Audience.SUPPORTER:
            # The supporter as the member calls them, while their place stands.
            standing_names = dict(db.session.execute(
                select(Supporter.id, Supporter.name)
                .where(Supporter.id.in_({r.supporter_id for r in rs}), Supporter.ended_at.is_(None))
            ).all())
            for r in rs:
                found[r.key] = [standing_names[r.supporter_id]] if r.supporter_id in standing_names else []
            continue
        if audience == Audience.PROGRAM_COORDINATORS:
            program_ids = {r.program_id for r in rs}
            rows = db.session.execute(
                select(ProgramCoordinator.program_id, User.display_name, User.id)
                .join(User, User.id == ProgramCoordinator.user_id)
                .where(ProgramCoordinator.program_id.in_(program_ids))
                .order_by(func.lower(User.display_name), User.id)
            )
            names: dict[int, list[tuple[str, int]]] = defaultdict(list)
            for program_id, name, user_id in rows:
                names[program_id].append((name, user_id))
            for r in rs:
                found[r.key] = [n for n, uid in names[r.program_id] if uid != exclude_user_id]
            continue
        group_ids = {r.group_id for r in rs}
        who = (
            Membership.role == MemberRole.FACILITATOR if audience == Audience.GROUP_FACILITATORS
            else Membership.greets_newcomers.is_(True)
        )
        rows = db.session.execute(
            select(Membership.group_id, User.display_name, User.id)
            .join(User, User.id == Membership.user_id)
            .where(Membership.group_id.in_(group_ids), Membership.status == MemberStatus.ACTIVE, who)
            .order_by(func.lower(User.display_name), User.id)
        )
        names = defaultdict(list)
        for group_id, name, user_id in rows:
            names[group_id].append((name, user_id))
        for r in rs:
            found[r.key] = [n for n, uid in names[r.group_id] if uid != exclude_user_id]
    return found
