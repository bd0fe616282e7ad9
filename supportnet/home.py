"""A signed-in member's home: their week at a glance, read in a fixed number of queries.

Everything here is the member's own (their answers, their check-in, their notices) or, for facilitators, the
counts and requests of the groups they run; nothing names another member.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from supportnet import directory, rsvps, timetable
from supportnet.checkins import records as checkins_records
from supportnet.checkins import rhythms as checkins_rhythms
from supportnet.extensions import db
from supportnet.models import (
    CheckIn,
    Group,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Notification,
    Occurrence,
    Rsvp,
    User,
)
from supportnet.notifications import inbox, preferences

NEXT_MEETINGS = 5
UNREAD_SHOWN = 5


@dataclass
class CheckInToday:
    """Whether the member checked in today (their local day), and the time they asked to be prompted, if today."""

    done: bool
    prompt_at: time | None


@dataclass
class FacilitatedGroup:
    """A group the member runs: its next meeting (with the seat counts) and how many ask to join."""

    group: Group
    next_meeting: Occurrence | None
    pending_requests: int


@dataclass
class Home:
    zone: ZoneInfo
    upcoming: list[tuple[Rsvp, Occurrence]]
    positions: dict[int, int]
    today: list[Occurrence]
    today_answers: dict[int, Rsvp]
    checkin: CheckInToday
    unread: list[Notification]
    unread_total: int
    groups: list[Group]
    facilitated: list[FacilitatedGroup] = field(default_factory=list)
    # Measures whose latest due day has come and that the member has not taken since: one line each in one
    # small card (a measure missed for weeks is still one line, never a pile).
    measures_due: list[checkins_rhythms.Due] = field(default_factory=list)
    # Rhythms the member's groups or programs suggest and the member has not answered yet.
    measure_suggestions: int = 0


def _today_window(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), zone).astimezone(ZoneInfo("UTC"))
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(ZoneInfo("UTC"))
    return start, end


def todays_meetings(user: User, now: datetime, zone: ZoneInfo) -> list[Occurrence]:
    """The meetings of the member's groups that have not ended and start today in their timezone."""
    start, end = _today_window(now, zone)
    mine = select(Membership.group_id).where(Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE)
    return list(
        db.session.scalars(
            select(Occurrence)
            .join(Occurrence.series)
            .join(MeetingSeries.group)
            .options(contains_eager(Occurrence.series).contains_eager(MeetingSeries.group))
            .where(
                MeetingSeries.group_id.in_(mine),
                Group.archived_at.is_(None),
                Occurrence.superseded.is_(False),
                Occurrence.starts_at >= start,
                Occurrence.starts_at < end,
                Occurrence.ends_at > now,
            )
            .order_by(Occurrence.starts_at, Occurrence.id)
        )
    )


def checkin_today(user: User, now: datetime) -> CheckInToday:
    """Whether the member has a check-in for their local today, and their prompt time if today is a prompt day."""
    today = checkins_records.local_today(user, now)
    done = db.session.scalar(
        select(func.count()).select_from(CheckIn).where(CheckIn.user_id == user.id, CheckIn.local_date == today)
    )
    prefs = preferences.preferences(user)
    prompt_at = prefs.prompt_time if today.weekday() in prefs.prompt_days else None
    return CheckInToday(done=bool(done), prompt_at=prompt_at)


def unread_notices(user: User) -> tuple[list[Notification], int]:
    """The newest unread in-app notices the member may still see (with their meetings) and how many in all."""
    rows = inbox.unread(user)
    return rows[:UNREAD_SHOWN], len(rows)


def facilitated(user: User, now: datetime) -> list[FacilitatedGroup]:
    """The groups the member facilitates, each with its next meeting and its number of requests to join."""
    groups = list(
        db.session.scalars(
            select(Group)
            .join(Membership, Membership.group_id == Group.id)
            .where(
                Membership.user_id == user.id,
                Membership.status == MemberStatus.ACTIVE,
                Membership.role == MemberRole.FACILITATOR,
                Group.archived_at.is_(None),
            )
            .order_by(func.lower(Group.name), Group.id)
        )
    )
    if not groups:
        return []
    ids = [g.id for g in groups]
    next_meetings = timetable.next_occurrence_for_groups(ids, now)
    pending = dict(
        db.session.execute(
            select(Membership.group_id, func.count())
            .where(Membership.group_id.in_(ids), Membership.status == MemberStatus.PENDING)
            .group_by(Membership.group_id)
        ).all()
    )
    return [FacilitatedGroup(g, next_meetings.get(g.id), pending.get(g.id, 0)) for g in groups]


def home_for(user: User, now: datetime) -> Home:
    """Everything the member's home shows, in a fixed number of queries."""
    zone = checkins_records.member_zone(user)
    upcoming = rsvps.my_upcoming(user, now)[:NEXT_MEETINGS]
    today = todays_meetings(user, now, zone)
    unread, unread_total = unread_notices(user)
    return Home(
        zone=zone,
        upcoming=upcoming,
        positions=rsvps.positions_for([r for r, _ in upcoming]),
        today=today,
        today_answers=rsvps.rsvps_for_user(user, [o.id for o in today]),
        checkin=checkin_today(user, now),
        unread=unread,
        unread_total=unread_total,
        groups=directory.my_groups(user),
        facilitated=facilitated(user, now),
        measures_due=checkins_rhythms.due_now(user, now),
        measure_suggestions=len(checkins_rhythms.open_suggestions(user, now)),
    )
