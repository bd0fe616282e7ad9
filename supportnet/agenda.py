"""Meetings by time: the coming week's meetings of public groups and of the viewer's own groups, soonest first.

Like the meeting finders people in recovery already use, the list answers "what can I go to tonight?": what is in
progress now (online, so one can still join), later today, tomorrow, and on each of the next days, with days
counted in the viewer's timezone. The page runs a fixed number of queries however many meetings it lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import contains_eager

from supportnet import directory
from supportnet.db import LIKE_ESCAPE, contains_pattern
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupTag,
    MeetingSeries,
    Membership,
    MemberStatus,
    Occurrence,
    OccurrenceStatus,
    User,
    Visibility,
)

PER_PAGE = 30
DAYS_AHEAD = 7


Filters = directory.Filters


@dataclass
class Section:
    """One heading of the list ("In progress now", "Later today", "Tomorrow", or a day) and its meetings."""

    key: str
    heading: str
    meetings: list[Occurrence] = field(default_factory=list)


@dataclass
class AgendaPage:
    pagination: Pagination
    sections: list[Section]
    zone: ZoneInfo


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day begins (a day starting inside a DST gap begins when the clock jumps)."""
    return datetime.combine(day, time(0), zone).astimezone(ZoneInfo("UTC"))


def window_end(now: datetime, zone: ZoneInfo) -> datetime:
    """The end of the list: local midnight after today and the next seven days."""
    return _local_midnight(now.astimezone(zone).date() + timedelta(days=DAYS_AHEAD + 1), zone)


def _online():
    return MeetingSeries.online_url != ""


def _in_person():
    venue = func.coalesce(Occurrence.venue, MeetingSeries.venue)
    address = func.coalesce(Occurrence.address, MeetingSeries.address)
    return or_(venue != "", address != "")


def _visible_to(viewer: User | None):
    public = Group.visibility == Visibility.PUBLIC
    if viewer is None:
        return public
    mine = select(Membership.group_id).where(
        Membership.user_id == viewer.id, Membership.status == MemberStatus.ACTIVE
    )
    return or_(public, Group.id.in_(mine))


def _weekday_ranges(weekday: int, now: datetime, zone: ZoneInfo):
    """The instants of the window that fall on this weekday in the viewer's timezone."""
    today = now.astimezone(zone).date()
    days = [today + timedelta(days=n) for n in range(DAYS_AHEAD + 1)]
    return or_(
        *[
            and_(
                Occurrence.starts_at >= _local_midnight(day, zone),
                Occurrence.starts_at < _local_midnight(day + timedelta(days=1), zone),
            )
            for day in days
            if day.weekday() == weekday
        ]
    )


def query(filters: Filters, viewer: User | None, now: datetime, zone: ZoneInfo):
    """The SELECT of the meetings the list shows, soonest first, with their series and groups loaded."""
    started_online = and_(Occurrence.starts_at <= now, Occurrence.ends_at > now, _online())
    stmt = (
        select(Occurrence)
        .join(Occurrence.series)
        .join(MeetingSeries.group)
        .options(contains_eager(Occurrence.series).contains_eager(MeetingSeries.group))
        .where(
            Group.archived_at.is_(None),
            _visible_to(viewer),
            Occurrence.status != OccurrenceStatus.CANCELLED,
            Occurrence.superseded.is_(False),
            # In-person meetings that have begun are left out: nobody can still join them from this list.
            or_(Occurrence.starts_at > now, started_online),
            Occurrence.starts_at < window_end(now, zone),
        )
    )
    if filters.q:
        like = contains_pattern(filters.q.lower())
        stmt = stmt.where(
            or_(
                func.lower(Group.name).like(like, escape=LIKE_ESCAPE),
                func.lower(Group.description).like(like, escape=LIKE_ESCAPE),
                func.lower(MeetingSeries.title).like(like, escape=LIKE_ESCAPE),
            )
        )
    if filters.where:
        stmt = stmt.where(place_matches(filters.where))
    if filters.kind:
        stmt = stmt.where(Group.kind == filters.kind)
    for tag in filters.tags:
        stmt = stmt.where(exists().where(GroupTag.group_id == Group.id, GroupTag.code == tag))
    if filters.weekday is not None:
        stmt = stmt.where(_weekday_ranges(filters.weekday, now, zone))
    if filters.time_of_day in directory.TIMES_OF_DAY:
        stmt = stmt.where(directory.time_of_day_condition(filters.time_of_day))
    # Hybrid meetings are both online and in person, as in the meeting finders people know.
    if filters.format == "in_person":
        stmt = stmt.where(_in_person())
    elif filters.format == "online":
        stmt = stmt.where(_online())
    elif filters.format == "hybrid":
        stmt = stmt.where(_in_person(), _online())
    return stmt.order_by(Occurrence.starts_at, Occurrence.id)


def place_matches(typed: str):
    """A meeting whose venue, address (either its own for this week or the series') or group's place matches."""
    like = contains_pattern(typed.lower())
    columns = (
        func.coalesce(Occurrence.venue, MeetingSeries.venue),
        func.coalesce(Occurrence.address, MeetingSeries.address),
        Group.venue,
        Group.address,
    )
    return or_(*[func.lower(column).like(like, escape=LIKE_ESCAPE) for column in columns])


def sections(meetings: list[Occurrence], now: datetime, zone: ZoneInfo) -> list[Section]:
    """Put one page of meetings under their headings, days counted in the viewer's timezone."""
    today = now.astimezone(zone).date()
    tomorrow = today + timedelta(days=1)
    result: list[Section] = []
    for occ in meetings:
        day = occ.starts_at.astimezone(zone).date()
        if occ.starts_at <= now:
            key, heading = "now", "In progress now"
        elif day == today:
            key, heading = "today", "Later today"
        elif day == tomorrow:
            key, heading = "tomorrow", "Tomorrow"
        else:
            key, heading = day.isoformat(), f"{day:%A} {day.day} {day:%B}"
        if not result or result[-1].key != key:
            result.append(Section(key, heading))
        result[-1].meetings.append(occ)
    return result


def listing(filters: Filters, viewer: User | None, now: datetime, zone: ZoneInfo, page: int = 1) -> AgendaPage:
    """One page of meetings by time: two queries (the count and the rows) however many it lists."""
    pagination = db.paginate(query(filters, viewer, now, zone), page=page, per_page=PER_PAGE, error_out=False)
    return AgendaPage(pagination=pagination, sections=sections(list(pagination.items), now, zone), zone=zone)


def meeting_format(occ: Occurrence) -> str:
    """"in_person", "online" or "hybrid" for one meeting ("" when no place is given yet)."""
    online = bool(occ.series.online_url)
    in_person = bool(occ.effective_venue or occ.effective_address)
    if online and in_person:
        return "hybrid"
    return "online" if online else "in_person" if in_person else ""


def city_of(occ: Occurrence) -> str:
    """Where an in-person meeting is, in a word or two: the last part of its address, else its venue."""
    parts = [part.strip() for part in occ.effective_address.split(",") if part.strip()]
    if len(parts) > 1:
        return parts[-1]
    return occ.effective_venue or (parts[0] if parts else "")
