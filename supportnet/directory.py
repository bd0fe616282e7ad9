"""The group directory: public groups filtered by what people look for, with a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import selectinload

from supportnet import timetable
from supportnet.db import LIKE_ESCAPE, contains_pattern
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    GroupTag,
    MeetingSeries,
    Membership,
    MemberStatus,
    Occurrence,
    User,
    Visibility,
)

PER_PAGE = 20

# Local start times, in the meeting's own timezone, as minutes after midnight: [start, end).
TIMES_OF_DAY = {
    "morning": (5 * 60, 12 * 60),
    "afternoon": (12 * 60, 17 * 60),
    "evening": (17 * 60, 24 * 60),
}
FORMATS = ("in_person", "online", "hybrid")


@dataclass
class Filters:
    """What a visitor asked the directory for; empty means "any"."""

    q: str = ""
    kind: GroupKind | None = None
    tags: list[str] = field(default_factory=list)
    weekday: int | None = None  # 0 = Monday, in the meeting's own timezone
    time_of_day: str | None = None
    format: str | None = None
    where: str = ""  # a venue, address or city, as typed

    @property
    def active(self) -> bool:
        return bool(
            self.q or self.where or self.kind or self.tags or self.weekday is not None or self.time_of_day
            or self.format
        )


@dataclass
class DirectoryPage:
    pagination: Pagination
    next_meetings: dict[int, Occurrence]
    mine: list[Group]


def _series_matches(filters: Filters):
    conditions = [MeetingSeries.group_id == Group.id, MeetingSeries.ended_at.is_(None)]
    if filters.weekday is not None:
        conditions.append(MeetingSeries.day_mask.op("&")(1 << filters.weekday) != 0)
    if filters.time_of_day in TIMES_OF_DAY:
        conditions.append(time_of_day_condition(filters.time_of_day))
    in_person = or_(MeetingSeries.venue != "", MeetingSeries.address != "")
    online = MeetingSeries.online_url != ""
    # A hybrid meeting is both online and in person, as in the meeting finders people already use.
    if filters.format == "in_person":
        conditions.append(in_person)
    elif filters.format == "online":
        conditions.append(online)
    elif filters.format == "hybrid":
        conditions += [online, in_person]
    return exists().where(*conditions)


def time_of_day_condition(time_of_day: str):
    """Series starting in that part of the day, in their own local time."""
    start, end = TIMES_OF_DAY[time_of_day]
    window = and_(MeetingSeries.start_minute >= start, MeetingSeries.start_minute < end)
    if time_of_day == "evening":  # a meeting after midnight belongs to the evening before
        window = or_(window, MeetingSeries.start_minute < TIMES_OF_DAY["morning"][0])
    return window


def _place_matches(typed: str):
    """The group's own place, or a running series' venue or address, contains what was typed."""
    like = contains_pattern(typed.lower())
    series_place = exists().where(
        MeetingSeries.group_id == Group.id,
        MeetingSeries.ended_at.is_(None),
        or_(
            func.lower(MeetingSeries.venue).like(like, escape=LIKE_ESCAPE),
            func.lower(MeetingSeries.address).like(like, escape=LIKE_ESCAPE),
        ),
    )
    return or_(
        func.lower(Group.venue).like(like, escape=LIKE_ESCAPE),
        func.lower(Group.address).like(like, escape=LIKE_ESCAPE),
        series_place,
    )


def public_groups_query(filters: Filters):
    """The SELECT of listed groups matching the filters, ordered by name."""
    query = select(Group).where(Group.visibility == Visibility.PUBLIC, Group.archived_at.is_(None))
    if filters.q:
        like = contains_pattern(filters.q.lower())
        query = query.where(
            or_(
                func.lower(Group.name).like(like, escape=LIKE_ESCAPE),
                func.lower(Group.description).like(like, escape=LIKE_ESCAPE),
            )
        )
    if filters.where:
        query = query.where(_place_matches(filters.where))
    if filters.kind:
        query = query.where(Group.kind == filters.kind)
    for tag in filters.tags:
        query = query.where(exists().where(GroupTag.group_id == Group.id, GroupTag.code == tag))
    if filters.weekday is not None or filters.time_of_day or filters.format:
        query = query.where(_series_matches(filters))
    return query.options(selectinload(Group.tags)).order_by(func.lower(Group.name), Group.id)


def my_groups(user: User) -> list[Group]:
    """The groups the user belongs to (active), whatever their visibility, archived ones left out."""
    return list(
        db.session.scalars(
            select(Group)
            .join(Membership, Membership.group_id == Group.id)
            .where(Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE, Group.archived_at.is_(None))
            .options(selectinload(Group.tags))
            .order_by(func.lower(Group.name))
        )
    )


def search(filters: Filters, viewer: User | None, now: datetime, page: int = 1) -> DirectoryPage:
    """One page of the directory; the number of queries does not depend on how many groups it shows."""
    pagination = db.paginate(public_groups_query(filters), page=page, per_page=PER_PAGE, error_out=False)
    mine = my_groups(viewer) if viewer is not None and page == 1 and not filters.active else []
    ids = [g.id for g in pagination.items] + [g.id for g in mine]
    next_meetings = timetable.next_occurrence_for_groups(ids, now)
    return DirectoryPage(pagination=pagination, next_meetings=next_meetings, mine=mine)
