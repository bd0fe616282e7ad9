"""What a member shares with each group's facilitators, who reads it, the one-click stop-sharing link, the
groups whose facilitators the member can reach out to, and the list of everything the member shares.

The choice is stored in the consent ledger (supportnet/consent.py), never on the membership: a level on the
sharing page is a set of scopes given to the group's facilitators, and every reader asks the ledger.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from supportnet import consent
from supportnet.consent import Recipient
from supportnet.errors import DomainError, NotFound
from supportnet.extensions import db
from supportnet.models import (
    Audience,
    CheckinSharing,
    Consent,
    EndReason,
    Group,
    Membership,
    MemberStatus,
    Program,
    Scope,
    Supporter,
    User,
)

SHARING_LABELS = {
    CheckinSharing.NONE: "Nothing",
    CheckinSharing.SUMMARIES: "Summaries: mood, craving and whether I asked for support",
    CheckinSharing.NOTES: "Summaries, and the notes I choose to share",
}

# What each level gives the group's facilitators.
LEVEL_SCOPES: dict[CheckinSharing, frozenset[Scope]] = {
    CheckinSharing.NONE: frozenset(),
    CheckinSharing.SUMMARIES: frozenset({Scope.CHECKIN_SUMMARIES}),
    CheckinSharing.NOTES: frozenset({Scope.CHECKIN_SUMMARIES, Scope.CHECKIN_NOTES}),
}
# Everything a member can give a group's facilitators from the sharing page, in the order the page lists them.
FACILITATOR_SCOPES = (Scope.CHECKIN_SUMMARIES, Scope.CHECKIN_NOTES, Scope.RECOVERY_DATE)

# The sentence the member reads for each scope, stored with the consent as the purpose they agreed to (a
# consent keeps the words of its day: changing a sentence here changes only consents given afterwards).
PURPOSES: dict[Scope, str] = {
    Scope.CHECKIN_SUMMARIES: "Its facilitators see your mood, craving, and whether you asked for support in your "
                             "recent check-ins, so that they can be there for you. Never your energy, sleep or tags.",
    Scope.CHECKIN_NOTES: "Its facilitators also see the note of each check-in where you ticked \u201cShare this "
                         "note\u201d. Other notes stay private.",
    Scope.RECOVERY_DATE: "Its facilitators see your day count, from your recovery date.",
}


@dataclass(frozen=True)
class GroupSharing:
    """What the member gives one group's facilitators now, as the sharing page's form shows it."""

    level: CheckinSharing = CheckinSharing.NONE
    recovery_date: bool = False


def level_of(scopes: Iterable[Scope]) -> CheckinSharing:
    """The level a set of standing scopes amounts to (notes are read only together with summaries)."""
    scopes = set(scopes)
    if Scope.CHECKIN_SUMMARIES not in scopes:
        return CheckinSharing.NONE
    return CheckinSharing.NOTES if Scope.CHECKIN_NOTES in scopes else CheckinSharing.SUMMARIES


def sharing_memberships(user: User) -> list[Membership]:
    """The member's active memberships with their groups, for choosing what each group's facilitators see."""
    return list(
        db.session.scalars(
            select(Membership)
            .join(Membership.group)
            .options(joinedload(Membership.group))
            .where(Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE)
            .order_by(func.lower(Group.name), Membership.id)
        )
    )


def sharing_by_group(user: User, now: datetime) -> dict[int, GroupSharing]:
    """For each group the member shares anything with, what its facilitators see now (one query)."""
    scopes: dict[int, set[Scope]] = defaultdict(set)
    for row in consent.standing_for(user.id, now):
        if row.audience == Audience.GROUP_FACILITATORS and row.group_id is not None:
            scopes[row.group_id].add(row.scope)
    return {gid: GroupSharing(level_of(s), Scope.RECOVERY_DATE in s) for gid, s in scopes.items()}


def sharing_of(membership: Membership, now: datetime) -> GroupSharing:
    """What this membership's group's facilitators see of the member now."""
    scopes = consent.scopes_for(membership.user_id, Recipient.group_facilitators(membership.group_id), now)
    return GroupSharing(level_of(scopes), Scope.RECOVERY_DATE in scopes)


def set_sharing(membership: Membership, level: CheckinSharing | str, shares_recovery_date: bool,
                now: datetime) -> None:
    """Choose what this group's facilitators see of the member's check-ins and recovery date: scopes no longer
    chosen are revoked at once, newly chosen ones granted; what stays chosen keeps its consent."""
    try:
        level = CheckinSharing(level)
    except ValueError as exc:
        raise DomainError("Choose what to share.", field="level") from exc
    if membership.status != MemberStatus.ACTIVE:
        raise DomainError("You can only share with groups you are a member of.")
    recipient = Recipient.group_facilitators(membership.group_id)
    wanted = LEVEL_SCOPES[level] | ({Scope.RECOVERY_DATE} if shares_recovery_date else frozenset())
    consent.revoke(membership.user_id, recipient, [s for s in FACILITATOR_SCOPES if s not in wanted], now)
    for scope in (s for s in FACILITATOR_SCOPES if s in wanted):
        consent.grant(membership.user_id, recipient, scope, PURPOSES[scope], now)
    db.session.flush()


def who_can_see(memberships: Sequence[Membership]) -> dict[int, list[str]]:
    """For each of these memberships' groups, the display names of everyone who can see what is shared with it
    (its active facilitators), in one query: the sharing page always says who reads what the member shares."""
    recipients = {m.group_id: Recipient.group_facilitators(m.group_id) for m in memberships}
    names = consent.readers(recipients.values())
    return {gid: names[r.key] for gid, r in recipients.items()}


def _stop_sharing_serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="supportnet.checkins.stop-sharing")


def stop_sharing_token(user_id: int, group_id: int) -> str:
    """The signed token of a one-click "stop sharing with this group" link (sent when the audience grows)."""
    return _stop_sharing_serializer().dumps({"u": user_id, "g": group_id})


def membership_for_stop_token(token: str) -> Membership | None:
    """The active membership a stop-sharing link is for, or None (tampered, or no longer a member)."""
    try:
        data = _stop_sharing_serializer().loads(token)
        user_id, group_id = int(data["u"]), int(data["g"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    return db.session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.group_id == group_id,
                                 Membership.status == MemberStatus.ACTIVE)
    )


def stop_sharing(membership: Membership, now: datetime) -> None:
    """Share nothing more with the group's facilitators: no check-ins, no recovery date, no measures."""
    consent.revoke(membership.user_id, Recipient.group_facilitators(membership.group_id),
                   (*FACILITATOR_SCOPES, *MEASURE_SCOPES), now)
    db.session.flush()


def shared_groups(user: User, now: datetime) -> list[tuple[Membership, CheckinSharing]]:
    """The member's groups whose facilitators see their check-ins now, with the level, by group name."""
    levels = sharing_by_group(user, now)
    return [
        (m, levels[m.group_id].level) for m in sharing_memberships(user)
        if m.group_id in levels and levels[m.group_id].level != CheckinSharing.NONE
    ]


@dataclass(frozen=True)
class ReachOut:
    """A group whose facilitators the member can turn to, because the member shares with it."""

    group: Group
    facilitators: list[str]


def reach_out_options(user: User, now: datetime) -> list[ReachOut]:
    """Groups whose facilitators see this member's check-ins, with the facilitators' names."""
    shared = [m for m, _ in shared_groups(user, now)]
    if not shared:
        return []
    names = consent.readers([Recipient.group_facilitators(m.group_id) for m in shared], exclude_user_id=user.id)
    return [ReachOut(m.group, names[Recipient.group_facilitators(m.group_id).key]) for m in shared]


# --- everything the member shares ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedItem:
    """One standing (or, in the export, past) consent as the member reads it."""

    consent: Consent
    recipient: str  # "Thursday Circle's facilitators"
    what: str  # what the recipient may see, in one sentence
    readers: list[str]  # who can see under it today (empty in the export)


SUPPORTER_WHAT = {
    Scope.ALERT_MISSED_MEETINGS: "that you missed meetings you usually go to, by your alert rule",
    Scope.ALERT_NO_CHECKIN: "that you haven't checked in for a while, by your alert rule",
    Scope.ALERT_BAM_RISK: "that your BAM risk score went above the line you chose, by your alert rule",
}


def _describe(row: Consent, groups: dict[int, str], programs: dict[int, str],
              supporters: dict[int, str]) -> tuple[str, str]:
    if row.audience == Audience.SUPPORTER:
        name = supporters.get(row.supporter_id or 0, "A supporter")
        return name, f"{name} may be told {SUPPORTER_WHAT.get(row.scope, 'what your alert rule says')}."
    group = groups.get(row.group_id or 0, "A group")
    if row.scope in MEASURE_SCOPES:
        who = (f"{programs.get(row.program_id or 0, 'A program')}'s coordinators"
               if row.audience == Audience.PROGRAM_COORDINATORS else f"{group}'s facilitators")
        what = ("your answers to the standard measures, item by item" if row.scope == Scope.MEASURE_ANSWERS
                else "your scores on the standard measures (PHQ-9, GAD-7, BAM) and when you took them")
        return who, f"{who} can see {what}."
    if row.audience == Audience.PROGRAM_COORDINATORS:
        program = programs.get(row.program_id or 0, "A program")
        return (f"{program}'s coordinators",
                f"{program} can see whether you joined, answered and attended a first meeting of the groups it "
                "suggested.")
    if row.audience == Audience.GROUP_GREETERS:
        return f"{group}'s greeters", f"{group}'s greeters may know your first name."
    what = {
        Scope.CHECKIN_SUMMARIES: "your check-in summaries: mood, craving, and whether you asked for support",
        Scope.CHECKIN_NOTES: "the notes of the check-ins where you ticked \u201cShare this note\u201d",
        Scope.RECOVERY_DATE: "your day count, from your recovery date",
    }.get(row.scope, row.scope.value.replace("_", " "))
    return f"{group}'s facilitators", f"{group}'s facilitators can see {what}."


def describe(rows: Sequence[Consent], *, with_readers: bool) -> list[SharedItem]:
    """The member's consents in words, with who can read under each today if asked (a few queries in all)."""
    group_ids = {r.group_id for r in rows if r.group_id is not None}
    program_ids = {r.program_id for r in rows if r.program_id is not None}
    groups: dict[int, str] = dict(
        db.session.execute(select(Group.id, Group.name).where(Group.id.in_(group_ids))).all()
    ) if group_ids else {}
    programs: dict[int, str] = dict(
        db.session.execute(select(Program.id, Program.name).where(Program.id.in_(program_ids))).all()
    ) if program_ids else {}
    supporter_ids = {r.supporter_id for r in rows if r.supporter_id is not None}
    supporters: dict[int, str] = dict(
        db.session.execute(select(Supporter.id, Supporter.name).where(Supporter.id.in_(supporter_ids))).all()
    ) if supporter_ids else {}
    names = consent.readers([Recipient.of(r) for r in rows]) if with_readers and rows else {}
    items = []
    for row in rows:
        recipient, what = _describe(row, groups, programs, supporters)
        items.append(SharedItem(row, recipient, what, names.get(row.recipient_key, [])))
    return items


def everything_shared(user: User, now: datetime) -> list[SharedItem]:
    """Every consent of the member that holds now, whoever it is given to: the sharing page's full list."""
    return describe(consent.standing_for(user.id, now), with_readers=True)


def revoke_consent(user: User, consent_id: int, now: datetime) -> Consent | None:
    """End one of the member's consents at once. Another member's consent is not found; one that has already
    ended returns None (a second click changes nothing). Ending check-in summaries ends shared notes with them,
    as notes are read only beside summaries; ending measure scores ends measure answers the same way."""
    row = db.session.get(Consent, consent_id)
    if row is None or row.subject_id != user.id:
        raise NotFound("No such consent.")
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    scopes = {row.scope}
    if row.audience == Audience.GROUP_FACILITATORS and row.scope == Scope.CHECKIN_SUMMARIES:
        scopes.add(Scope.CHECKIN_NOTES)
    if row.scope == Scope.MEASURE_SCORES:  # answers are read only beside scores
        scopes.add(Scope.MEASURE_ANSWERS)
    consent.revoke(user.id, Recipient.of(row), sorted(scopes), now, EndReason.MEMBER)
    db.session.flush()
    return row


# --- measures: what a group's facilitators or a program's coordinators see --------------------------------------


class MeasureLevel(enum.StrEnum):
    NONE = "none"
    SCORES = "scores"
    ANSWERS = "answers"  # scores and answers


MEASURE_LABELS = {
    MeasureLevel.NONE: "Nothing",
    MeasureLevel.SCORES: "My scores and when I took each measure",
    MeasureLevel.ANSWERS: "My scores, and my answers item by item",
}
MEASURE_SCOPES = (Scope.MEASURE_SCORES, Scope.MEASURE_ANSWERS)
MEASURE_LEVEL_SCOPES: dict[MeasureLevel, frozenset[Scope]] = {
    MeasureLevel.NONE: frozenset(),
    MeasureLevel.SCORES: frozenset({Scope.MEASURE_SCORES}),
    MeasureLevel.ANSWERS: frozenset({Scope.MEASURE_SCORES, Scope.MEASURE_ANSWERS}),
}
# The sentence stored with each consent, by who receives it (see PURPOSES).
MEASURE_PURPOSES: dict[tuple[Audience, Scope], str] = {
    (Audience.GROUP_FACILITATORS, Scope.MEASURE_SCORES):
        "Its facilitators see your scores on the standard measures (PHQ-9, GAD-7, BAM) and the dates you took "
        "them, and count them in monthly summaries when at least 5 members share. Not your answers.",
    (Audience.GROUP_FACILITATORS, Scope.MEASURE_ANSWERS):
        "Its facilitators also see your answer to each question of the measures you take.",
    (Audience.PROGRAM_COORDINATORS, Scope.MEASURE_SCORES):
        "The program's coordinators see your scores on the standard measures (PHQ-9, GAD-7, BAM) and the dates "
        "you took them, and count them in monthly summaries when at least 5 members share. Not your answers.",
    (Audience.PROGRAM_COORDINATORS, Scope.MEASURE_ANSWERS):
        "The program's coordinators also see your answer to each question of the measures you take.",
}


def measure_level_of(scopes: Iterable[Scope]) -> MeasureLevel:
    """The level a set of standing scopes amounts to (answers are read only beside scores)."""
    scopes = set(scopes)
    if Scope.MEASURE_SCORES not in scopes:
        return MeasureLevel.NONE
    return MeasureLevel.ANSWERS if Scope.MEASURE_ANSWERS in scopes else MeasureLevel.SCORES


@dataclass(frozen=True)
class MeasurePlace:
    """A recipient the member may share measures with: one of their groups, or a program running one."""

    recipient: Recipient
    name: str  # "Thursday Circle's facilitators", "Harbour Program's coordinators"
    level: MeasureLevel
    readers: list[str]

    @property
    def key(self) -> str:
        return self.recipient.key


def measure_places(user: User, now: datetime) -> list[MeasurePlace]:
    """The groups the member is active in (not archived) and the programs running them, with what each sees of
    the member's measures now and who reads under it today."""
    memberships = [m for m in sharing_memberships(user) if m.group.archived_at is None]
    recipients: list[tuple[Recipient, str]] = [
        (Recipient.group_facilitators(m.group_id), f"{m.group.name}'s facilitators") for m in memberships
    ]
    program_ids = sorted({m.group.program_id for m in memberships if m.group.program_id is not None})
    if program_ids:
        for program_id, name in db.session.execute(
            select(Program.id, Program.name).where(Program.id.in_(program_ids)).order_by(func.lower(Program.name))
        ):
            recipients.append((Recipient.program_coordinators(program_id), f"{name}'s coordinators"))
    scopes: dict[str, set[Scope]] = defaultdict(set)
    for row in consent.standing_for(user.id, now):
        scopes[row.recipient_key].add(row.scope)
    names = consent.readers([r for r, _ in recipients], exclude_user_id=user.id) if recipients else {}
    return [MeasurePlace(r, name, measure_level_of(scopes[r.key]), names.get(r.key, [])) for r, name in recipients]


def set_measure_sharing(user: User, key: str, level: MeasureLevel | str, now: datetime) -> MeasurePlace:
    """Choose what one recipient sees of the member's measures: scopes no longer chosen are revoked at once,
    newly chosen ones granted. Only the member's own groups and their programs can be chosen."""
    try:
        level = MeasureLevel(level)
    except ValueError as exc:
        raise DomainError("Choose what to share.", field="level") from exc
    place = next((p for p in measure_places(user, now) if p.key == key), None)
    if place is None:
        raise DomainError("You can only share with your groups and the programs that run them.")
    wanted = MEASURE_LEVEL_SCOPES[level]
    consent.revoke(user.id, place.recipient, [s for s in MEASURE_SCOPES if s not in wanted], now)
    for scope in (s for s in MEASURE_SCOPES if s in wanted):
        consent.grant(user.id, place.recipient, scope, MEASURE_PURPOSES[(place.recipient.audience, scope)], now)
    db.session.flush()
    return place
