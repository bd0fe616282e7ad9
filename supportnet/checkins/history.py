"""The member's history: filtered pages of check-ins, the chart's daily points, and the streak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from supportnet.checkins.records import COMMON_TAGS, OWN_TAG_PREFIX, local_today
from supportnet.extensions import db
from supportnet.models import CheckIn, CheckInTag, Occurrence, User

CHART_PERIODS = (30, 90, 365)


@dataclass(frozen=True)
class HistoryFilter:
    days: int | None = 30  # None: everything
    tag: str | None = None  # a common code or "own:<id>"
    support_only: bool = False
    meetings_only: bool = False


@dataclass
class Page:
    items: list[CheckIn]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def period_start(user: User, now: datetime, days: int | None) -> date | None:
    """The first local day of a period that ends today (None for "everything")."""
    return None if days is None else local_today(user, now) - timedelta(days=days - 1)


def history(user: User, filters: HistoryFilter, now: datetime, page: int = 1, per_page: int = 50) -> Page:
    """The member's check-ins, newest first, filtered; a fixed number of queries per page."""
    query = select(CheckIn).where(CheckIn.user_id == user.id)
    start = period_start(user, now, filters.days)
    if start is not None:
        query = query.where(CheckIn.local_date >= start)
    if filters.support_only:
        query = query.where(CheckIn.wants_support.is_(True))
    if filters.meetings_only:
        query = query.where(CheckIn.occurrence_id.is_not(None))
    if filters.tag in COMMON_TAGS:
        query = query.where(CheckIn.tags.any(CheckInTag.code == filters.tag))
    elif filters.tag and filters.tag.startswith(OWN_TAG_PREFIX) and filters.tag[len(OWN_TAG_PREFIX):].isdigit():
        query = query.where(CheckIn.tags.any(CheckInTag.own_tag_id == int(filters.tag[len(OWN_TAG_PREFIX):])))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = db.session.scalars(
        query.options(
            selectinload(CheckIn.tags).joinedload(CheckInTag.own_tag),
            joinedload(CheckIn.occurrence).joinedload(Occurrence.series),
        )
        .order_by(CheckIn.local_date.desc(), CheckIn.recorded_at.desc(), CheckIn.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), total=total, page=page, per_page=per_page)


@dataclass(frozen=True)
class DayPoint:
    """One local day of the chart: the day's average mood and craving over its check-ins."""

    day: date
    mood: float
    craving: float
    count: int


def daily_points(user: User, start: date, end: date) -> list[DayPoint]:
    """Per-day averages of mood and craving between two local days (inclusive), oldest first."""
    rows = db.session.execute(
        select(CheckIn.local_date, func.avg(CheckIn.mood), func.avg(CheckIn.craving), func.count())
        .where(CheckIn.user_id == user.id, CheckIn.local_date >= start, CheckIn.local_date <= end)
        .group_by(CheckIn.local_date)
        .order_by(CheckIn.local_date)
    ).all()
    return [DayPoint(day, float(mood), float(craving), count) for day, mood, craving, count in rows]


@dataclass(frozen=True)
class Streak:
    current: int  # consecutive days with a check-in, ending today or yesterday
    longest: int
    checked_in_today: bool


def streak(user: User, now: datetime) -> Streak:
    """The member's streak of days with a check-in, in their own calendar days."""
    days = db.session.scalars(
        select(CheckIn.local_date).where(CheckIn.user_id == user.id).distinct().order_by(CheckIn.local_date.desc())
    ).all()
    return streak_of(days, local_today(user, now))


def streak_of(days: Sequence[date], today: date) -> Streak:
    """Streaks from distinct days, newest first. After a move west, the newest day can be "tomorrow" here."""
    if not days:
        return Streak(0, 0, False)
    longest = run = 1
    for newer, older in pairwise(days):
        run = run + 1 if (newer - older).days == 1 else 1
        longest = max(longest, run)
    current = 0
    if days[0] >= today - timedelta(days=1):
        current = 1
        for newer, older in pairwise(days):
            if (newer - older).days != 1:
                break
            current += 1
    return Streak(current, longest, days[0] >= today)
