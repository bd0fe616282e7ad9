"""Programs: a treatment centre's aftercare team, its coordinators, the groups it runs, and the referrals its
coordinators make (create, withdraw, what a coordinator may list).

Functions here change models and flush; the caller commits. Audit entries are written here.

Decisions worth knowing:

* Site admins create programs, name coordinators (by the address of an existing account) and give groups to a
  program. Being a site admin does not make anyone a coordinator: only named coordinators read referrals.
* A referral suggests 1 to 5 groups (optionally one meeting series of each): the program's own groups, whatever
  their join policy, and public groups anyone may join; never archived ones. The card lets the person in at
  once, so it never stands in for the approval of a group the program does not run.
* The link's token is random (256 bits). Its sha256 finds the referral when the link is opened; the token
  itself is also kept encrypted, so the coordinator can print the card again until the link is used.
* An address typed for the person is used once, to queue the link's email through the outbox (encrypted
  there, deleted once sent); it is stored nowhere else, never audited and never shown again.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select

from supportnet import accounts, audit, derived_access, timetable, visibility
from supportnet.errors import DomainError, Forbidden
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    Group,
    JoinPolicy,
    MeetingSeries,
    Membership,
    Program,
    ProgramCoordinator,
    Referral,
    ReferralSuggestion,
    User,
    Visibility,
)
from supportnet.notifications import hooks
from supportnet.textsafety import clean_name, has_invisible

MAX_SUGGESTIONS = 5
DEFAULT_VALID_DAYS = 30
MAX_VALID_DAYS = 90
MAX_FIRST_NAME = 40
MAX_NOTE = 500
MAX_PROGRAM_NAME = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_NOTE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # a note may have line breaks and tabs


def token_digest(token: str) -> str:
    """The sha256 a referral's token is found by."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- programs and coordinators (site admins) ---


def _require_admin(by: User) -> None:
    if not by.is_admin:
        raise Forbidden("Only site admins manage programs.")


def clean_program_name(raw: str) -> str:
    return clean_name(raw, limit=MAX_PROGRAM_NAME, empty="Enter a name for the program.")


def create_program(name: str, *, by: User, now: datetime) -> Program:
    """A new program (site admins only); names are unique whatever their case."""
    _require_admin(by)
    name = clean_program_name(name)
    taken = db.session.scalar(select(Program.id).where(func.lower(Program.name) == name.lower()).limit(1))
    if taken is not None:
        raise DomainError("A program with this name exists already.", field="name")
    program = Program(name=name, created_at=now)
    db.session.add(program)
    db.session.flush()
    audit.record(AuditAction.PROGRAM_CREATED, actor=by, now=now, program_id=program.id)
    return program


def all_programs() -> list[Program]:
    """Every program, by name (for site admins)."""
    return list(db.session.scalars(select(Program).order_by(func.lower(Program.name), Program.id)))


def coordinators_of(program: Program) -> list[User]:
    """The program's coordinators, by display name."""
    return list(db.session.scalars(
        select(User).join(ProgramCoordinator, ProgramCoordinator.user_id == User.id)
        .where(ProgramCoordinator.program_id == program.id)
        .order_by(func.lower(User.display_name), User.id)
    ))


def add_coordinator(program: Program, email: str, *, by: User, now: datetime) -> User:
    """Make the account with this address a coordinator of the program (site admins only)."""
    _require_admin(by)
    address = accounts.normalize_email(email or "")
    user = db.session.scalar(select(User).where(User.email == address, User.email_confirmed_at.is_not(None)))
    if user is None:
        raise DomainError("No confirmed account uses this address. Ask them to create an account first.",
                          field="email")
    if visibility.coordinates(user, program.id):
        raise DomainError(f"{user.display_name} is a coordinator of this program already.", field="email")
    db.session.add(ProgramCoordinator(program_id=program.id, user_id=user.id, added_at=now))
    db.session.flush()
    audit.record(AuditAction.COORDINATOR_ADDED, actor=by, now=now, subject=user, program_id=program.id)
    # Members who share measures with the program learn who can now read them, as with a new facilitator.
    hooks.program_audience_grew(program.id, user, now)
    return user


def remove_coordinator(program: Program, user: User, *, by: User, now: datetime) -> None:
    """End someone's place as a coordinator of the program (site admins only)."""
    _require_admin(by)
    row = db.session.scalar(select(ProgramCoordinator).where(ProgramCoordinator.program_id == program.id,
                                                             ProgramCoordinator.user_id == user.id))
    if row is None:
        raise DomainError(f"{user.display_name} is not a coordinator of this program.")
    db.session.delete(row)
    db.session.flush()
    audit.record(AuditAction.COORDINATOR_REMOVED, actor=by, now=now, subject=user, program_id=program.id)


def set_group_program(group: Group, program: Program | None, *, by: User, now: datetime) -> None:
    """Give a group to a program, or (None) take it from its program (site admins only)."""
    _require_admin(by)
    if program is not None and group.archived_at is not None:
        raise DomainError("This group is archived: it cannot be given to a program.", field="group_id")
    if group.program_id == (program.id if program is not None else None):
        return
    old_program_id = group.program_id
    group.program_id = program.id if program is not None else None
    db.session.flush()
    if old_program_id is not None:
        # Members who were in the old program only through this group no longer share with its coordinators.
        members = db.session.scalars(select(Membership.user_id).where(Membership.group_id == group.id))
        derived_access.end_program_sharing_for(old_program_id, members, now)
    audit.record(AuditAction.PROGRAM_GROUP_CHANGED, actor=by, now=now, group=group,
                 program_id=program.id if program is not None else 0)


def groups_of(program: Program) -> list[Group]:
    """The groups the program runs (archived ones too: the admin page shows them), by name."""
    return list(db.session.scalars(
        select(Group).where(Group.program_id == program.id).order_by(func.lower(Group.name), Group.id)
    ))


def groups_to_give(program: Program) -> list[Group]:
    """Groups an admin may give to this program: not archived, not the program's already."""
    return list(db.session.scalars(
        select(Group).where(Group.archived_at.is_(None),
                            or_(Group.program_id.is_(None), Group.program_id != program.id))
        .order_by(func.lower(Group.name), Group.id)
    ))


# --- what a coordinator sees ---


def programs_for(user: User) -> list[Program]:
    """The programs this person coordinates, by name."""
    return list(db.session.scalars(
        select(Program).join(ProgramCoordinator, ProgramCoordinator.program_id == Program.id)
        .where(ProgramCoordinator.user_id == user.id)
        .order_by(func.lower(Program.name), Program.id)
    ))


def referrals_of(program: Program) -> list[Referral]:
    """The program's referrals, newest first."""
    return list(db.session.scalars(
        select(Referral).where(Referral.program_id == program.id)
        .order_by(Referral.created_at.desc(), Referral.id.desc())
    ))


@dataclass
class Suggestable:
    """A group a coordinator may suggest, and its running meeting series."""

    group: Group
    series: list[MeetingSeries] = field(default_factory=list)


def _suggestable_condition(program_id: int):
    # A referral admits the person at once (it stands for an invitation), so a program may suggest its own
    # groups whatever their join policy, but another group only if it is public and anyone may join it: a
    # coordinator never overrides the approval of a group their program does not run.
    return Group.archived_at.is_(None) & or_(
        Group.program_id == program_id,
        and_(Group.visibility == Visibility.PUBLIC, Group.join_policy == JoinPolicy.OPEN),
    )


def may_suggest(program_id: int, group: Group) -> bool:
    """Whether a referral of this program may still bring someone into the group (asked again on acceptance:
    the group may have changed its policy or left the program since the card was printed)."""
    return db.session.scalar(
        select(Group.id).where(Group.id == group.id, _suggestable_condition(program_id))
    ) is not None


def suggestable_groups(program: Program) -> list[Suggestable]:
    """What a referral of this program may suggest: its own groups and public groups anyone may join (never
    archived ones),
    its own first, each with its running series; in two queries."""
    found = list(db.session.scalars(
        select(Group).where(_suggestable_condition(program.id))
        .order_by((Group.program_id == program.id).desc(), func.lower(Group.name), Group.id)
    ))
    by_group = {g.id: Suggestable(g) for g in found}
    if by_group:
        for series in db.session.scalars(
            select(MeetingSeries).where(MeetingSeries.group_id.in_(list(by_group)), MeetingSeries.ended_at.is_(None))
            .order_by(MeetingSeries.id)
        ):
            by_group[series.group_id].series.append(series)
    return list(by_group.values())


# --- referrals ---


def clean_first_name(raw: str | None) -> str | None:
    """A first name or initials, or None when left empty."""
    name = " ".join(unicodedata.normalize("NFC", raw or "").split())
    if not name:
        return None
    if _CONTROL.search(name) or has_invisible(name):
        raise DomainError("Remove the invisible or direction-changing characters from the first name.",
                          field="first_name")
    if len(name) > MAX_FIRST_NAME:
        raise DomainError(f"Keep the first name to {MAX_FIRST_NAME} characters.", field="first_name")
    if "@" in name:
        raise DomainError("Enter a first name or initials, not an email address.", field="first_name")
    return name


def clean_note(raw: str | None) -> str | None:
    note = unicodedata.normalize("NFC", (raw or "").replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not note:
        return None
    if _CONTROL_IN_NOTE.search(note) or has_invisible(note):
        raise DomainError("Remove the invisible or direction-changing characters from the note.", field="note")
    if len(note) > MAX_NOTE:
        raise DomainError(f"Keep the note to {MAX_NOTE} characters.", field="note")
    return note


def _clean_suggestions(program: Program, suggestions: Sequence[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    chosen = list(dict.fromkeys((int(g), int(s) if s is not None else None) for g, s in suggestions))
    if not chosen:
        raise DomainError("Choose at least one group or meeting to suggest.", field="suggestions")
    if len(chosen) > MAX_SUGGESTIONS:
        raise DomainError(f"Choose at most {MAX_SUGGESTIONS} groups or meetings: a short list is easier to act on.",
                          field="suggestions")
    group_ids = {g for g, _ in chosen}
    allowed = set(db.session.scalars(
        select(Group.id).where(Group.id.in_(group_ids), _suggestable_condition(program.id))
    ))
    if group_ids - allowed:
        raise DomainError("Suggest only groups from the list: this program's groups and public groups.",
                          field="suggestions")
    series_ids = {s for _, s in chosen if s is not None}
    running = {
        (row.id, row.group_id) for row in db.session.execute(
            select(MeetingSeries.id, MeetingSeries.group_id)
            .where(MeetingSeries.id.in_(series_ids), MeetingSeries.ended_at.is_(None))
        )
    } if series_ids else set()
    if any(s is not None and (s, g) not in running for g, s in chosen):
        raise DomainError("Suggest only meetings from the list: one of them no longer runs.", field="suggestions")
    return chosen


def clean_valid_days(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_VALID_DAYS:
        raise DomainError(f"Choose how many days the link works: from 1 to {MAX_VALID_DAYS}.", field="valid_days")
    return value


def create_referral(
    program: Program,
    *,
    by: User,
    suggestions: Sequence[tuple[int, int | None]],
    now: datetime,
    first_name: str | None = None,
    note: str | None = None,
    valid_days: int = DEFAULT_VALID_DAYS,
    email: str | None = None,
    link_for: Callable[[str], str] | None = None,
) -> tuple[Referral, str]:
    """A referral of the program by one of its coordinators; returns it and its token (the link's secret).

    With `email`, the link (`link_for(token)`) is queued in the outbox for that address.
    """
    if not visibility.coordinates(by, program.id):
        raise Forbidden("Only the program's coordinators make its referrals.")
    first_name = clean_first_name(first_name)
    note = clean_note(note)
    valid_days = clean_valid_days(valid_days)
    chosen = _clean_suggestions(program, suggestions)
    address = accounts.normalize_email(email) if (email or "").strip() else None
    if address is not None and link_for is None:
        raise ValueError("a referral emailed to the person needs link_for to build its link")
    token = secrets.token_urlsafe(32)
    referral = Referral(
        program_id=program.id, created_by_id=by.id, token_hash=token_digest(token), token=token,
        first_name=first_name, note=note, created_at=now, expires_at=now + timedelta(days=valid_days),
        suggestions=[ReferralSuggestion(group_id=g, series_id=s) for g, s in chosen],
    )
    db.session.add(referral)
    db.session.flush()
    audit.record(AuditAction.REFERRAL_CREATED, actor=by, now=now, program_id=program.id, referral_id=referral.id)
    if address is not None:
        hooks.referral_link_email(referral.id, address, link_for(token), now, referral.expires_at)
    return referral, token


class ReferralState(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


def referral_state(referral, now: datetime) -> ReferralState:
    """Where a referral's link stands, from its row (or a row of its key columns): accepted, withdrawn, expired
    or open, in that order."""
    if referral.accepted_at is not None:
        return ReferralState.ACCEPTED
    if referral.withdrawn_at is not None:
        return ReferralState.WITHDRAWN
    if referral.expires_at <= now:
        return ReferralState.EXPIRED
    return ReferralState.OPEN


def is_usable(referral: Referral, now: datetime) -> bool:
    """Whether the referral's link still works (and can be printed: its token is still kept)."""
    return referral_state(referral, now) == ReferralState.OPEN and referral.token is not None


def withdraw_referral(referral: Referral, *, by: User, now: datetime) -> None:
    """Stop a referral's link from working (a coordinator of its program); its email, if not sent, is
    cancelled."""
    if not visibility.coordinates(by, referral.program_id):
        raise Forbidden("Only the program's coordinators withdraw its referrals.")
    if referral.accepted_at is not None:
        raise DomainError("This referral was already used: there is no link left to withdraw.")
    if referral.withdrawn_at is not None:
        raise DomainError("This referral was withdrawn already.")
    referral.withdrawn_at = now
    referral.token = None
    db.session.flush()
    hooks.referral_link_withdrawn(referral.id)
    audit.record(AuditAction.REFERRAL_WITHDRAWN, actor=by, now=now, program_id=referral.program_id,
                 referral_id=referral.id)


@dataclass(frozen=True)
class SuggestedMeeting:
    """One suggestion as a card prints it: the group, the meeting's title if one was chosen, and the next
    meeting times in the group's timezone."""

    group: Group
    title: str | None
    times: list[datetime]  # aware, in the group's timezone
    timezone: str


def card_meetings(referral: Referral, now: datetime, per_suggestion: int = 3) -> list[SuggestedMeeting]:
    """The referral's suggestions with their next few meetings one can still answer for (at most 5
    suggestions, one query each), in the group's timezone."""
    found = []
    for s in referral.suggestions:
        zone = timetable.zone_of(s.group)
        meetings = timetable.next_to_answer(s.group, now, s.series_id, per_suggestion)
        found.append(SuggestedMeeting(s.group, s.series.title if s.series else None,
                                      [occ.starts_at.astimezone(zone) for occ in meetings], s.group.timezone))
    return found
