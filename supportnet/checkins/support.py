"""What a group's facilitators see of what members share with it: support requests, shared check-ins, shared
recovery days, and group figures only from AGGREGATE_MIN or more members.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from supportnet import consent, visibility
from supportnet.checkins.sharing import level_of
from supportnet.clock import timezone_names
from supportnet.consent import Recipient
from supportnet.errors import Forbidden
from supportnet.extensions import db
from supportnet.models import (
    CheckIn,
    CheckinSharing,
    Group,
    MeetingSeries,
    Membership,
    MemberStatus,
    Occurrence,
    Scope,
    User,
)

SUPPORT_WINDOW = timedelta(days=7)
SHARED_DAYS = 30
AGGREGATE_DAYS = 7
AGGREGATE_MIN = 5


@dataclass(frozen=True)
class SharedCheckIn:
    """A check-in as a facilitator may see it: never energy, sleep or tags; a note only if shared."""

    day: date
    recorded_at: datetime
    mood: int
    craving: int
    wants_support: bool
    note: str | None
    meeting: str | None


@dataclass
class SharedMember:
    user_id: int
    display_name: str
    level: CheckinSharing
    checkins: list[SharedCheckIn]

    @property
    def support_requests(self) -> list[SharedCheckIn]:
        return [c for c in self.checkins if c.wants_support]


@dataclass(frozen=True)
class Aggregate:
    contributors: int
    mood: float
    craving: float
    asked_for_support: int


@dataclass
class SupportOverview:
    members: list[SharedMember]
    requests: list[tuple[SharedMember, SharedCheckIn]]
    aggregate: Aggregate | None
    recovery_days: list[tuple[str, int]]
    since: date


def support_overview(group: Group, viewer: User, now: datetime) -> SupportOverview:
    """What the group's facilitators may see: support requests, shared trends, and figures from 5 or more."""
    if not visibility.is_group_facilitator(group, viewer):
        raise Forbidden("Only the group's facilitators see what members share with it.")
    since = (now - timedelta(days=SHARED_DAYS - 1)).date()
    # Who shares what with this group's facilitators is the consent ledger's answer, asked on every read: a
    # revoked consent hides the member on the next request. An active place in the group is required as well.
    shared = consent.scopes_by_subject(Recipient.group_facilitators(group.id), now)
    sharing = db.session.execute(
        select(Membership.user_id, User.display_name, User.recovery_date, User.timezone)
        .join(Membership.user)
        .where(Membership.group_id == group.id, Membership.status == MemberStatus.ACTIVE,
               Membership.user_id.in_(list(shared)))
        .order_by(func.lower(User.display_name), Membership.user_id)
    ).all() if shared else []
    members = {
        row.user_id: SharedMember(row.user_id, row.display_name, sharing_level, [])
        for row in sharing
        if (sharing_level := level_of(shared[row.user_id])) != CheckinSharing.NONE
    }
    recovery_days = []
    for row in sharing:
        if Scope.RECOVERY_DATE in shared[row.user_id] and row.recovery_date is not None:
            today = now.astimezone(ZoneInfo(row.timezone if row.timezone in timezone_names() else "UTC")).date()
            recovery_days.append((row.display_name, max(0, (today - row.recovery_date).days)))
    _fill_shared_checkins(group, members, since)
    listed = list(members.values())
    requests = [
        (member, checkin)
        for member in listed
        for checkin in member.checkins
        if checkin.wants_support and checkin.recorded_at >= now - SUPPORT_WINDOW
    ]
    requests.sort(key=lambda pair: pair[1].recorded_at, reverse=True)
    return SupportOverview(listed, requests, _aggregate(listed, now), recovery_days, since)


def _fill_shared_checkins(group: Group, members: dict[int, SharedMember], since: date) -> None:
    if not members:
        return
    rows = db.session.execute(
        select(CheckIn.id, CheckIn.user_id, CheckIn.local_date, CheckIn.recorded_at, CheckIn.mood, CheckIn.craving,
               CheckIn.wants_support, CheckIn.occurrence_id, CheckIn.meeting_timing)
        .where(CheckIn.user_id.in_(list(members)), CheckIn.local_date >= since)
        .order_by(CheckIn.local_date.desc(), CheckIn.recorded_at.desc())
    ).all()
    # Notes are read only for members sharing notes, and only where that check-in's note is shared.
    note_users = [uid for uid, m in members.items() if m.level == CheckinSharing.NOTES]
    notes: dict[int, str] = {}
    if note_users:
        notes = dict(db.session.execute(
            select(CheckIn.id, CheckIn.note).where(
                CheckIn.user_id.in_(note_users), CheckIn.local_date >= since,
                CheckIn.share_note.is_(True), CheckIn.note.is_not(None),
            )
        ).all())
    meetings = _meeting_labels(group, {row.occurrence_id for row in rows if row.occurrence_id})
    for row in rows:
        label = meetings.get(row.occurrence_id)
        if label and row.meeting_timing:
            label = f"{row.meeting_timing.value} {label}"
        members[row.user_id].checkins.append(SharedCheckIn(
            row.local_date, row.recorded_at, row.mood, row.craving, row.wants_support, notes.get(row.id), label,
        ))


def _meeting_labels(group: Group, occurrence_ids: set[int]) -> dict[int, str]:
    # Only this group's meetings are named: a check-in about another group's meeting would tell this
    # group's facilitators where else the member goes.
    if not occurrence_ids:
        return {}
    rows = db.session.execute(
        select(Occurrence.id, MeetingSeries.title, Occurrence.starts_at, MeetingSeries.timezone)
        .join(Occurrence.series)
        .where(Occurrence.id.in_(occurrence_ids), MeetingSeries.group_id == group.id)
    ).all()
    return {
        occ_id: f"{title} on {starts.astimezone(ZoneInfo(tz)):%a %-d %b}" for occ_id, title, starts, tz in rows
    }


def _aggregate(members: Iterable[SharedMember], now: datetime) -> Aggregate | None:
    since = (now - timedelta(days=AGGREGATE_DAYS)).date()
    moods, cravings, contributors, asked = [], [], 0, 0
    for member in members:
        recent = [c for c in member.checkins if c.day >= since]
        if recent:
            contributors += 1
            moods.extend(c.mood for c in recent)
            cravings.extend(c.craving for c in recent)
            asked += any(c.wants_support for c in recent)
    if contributors < AGGREGATE_MIN:
        return None
    return Aggregate(contributors, fmean(moods), fmean(cravings), asked)
