"""The member's recovery date: the day count and its milestones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from dateutil.relativedelta import relativedelta

from supportnet.checkins.records import local_today
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import User


@dataclass(frozen=True)
class Milestone:
    label: str
    day: date


@dataclass(frozen=True)
class Recovery:
    start: date
    days: int
    reached: list[Milestone]
    next: Milestone | None


def milestones(start: date, until: date) -> list[Milestone]:
    """Milestones from the start day up to and including the first one after `until`."""
    steps: list[tuple[str, relativedelta]] = [
        ("1 day", relativedelta(days=1)), ("1 week", relativedelta(weeks=1)), ("30 days", relativedelta(days=30)),
        ("60 days", relativedelta(days=60)), ("90 days", relativedelta(days=90)),
        ("6 months", relativedelta(months=6)), ("9 months", relativedelta(months=9)),
        ("1 year", relativedelta(years=1)), ("18 months", relativedelta(months=18)),
    ]
    result = []
    for label, step in steps:
        result.append(Milestone(label, start + step))
        if result[-1].day > until:
            return result
    years = 2
    while True:
        result.append(Milestone(f"{years} years", start + relativedelta(years=years)))
        if result[-1].day > until:
            return result
        years += 1


def recovery(user: User, now: datetime) -> Recovery | None:
    """The member's day count and milestones, if they keep a recovery date."""
    if user.recovery_date is None:
        return None
    today = local_today(user, now)
    start = min(user.recovery_date, today)
    marks = milestones(start, today)
    return Recovery(
        start=start,
        days=(today - start).days,
        reached=[m for m in marks if m.day <= today],
        next=next((m for m in marks if m.day > today), None),
    )


def set_recovery_date(user: User, day: date | None, now: datetime) -> None:
    """Set, change or (with None) remove the member's recovery date."""
    if day is not None:
        today = local_today(user, now)
        if day > today:
            raise DomainError("Choose today or a day in the past.", field="recovery_date")
        if day.year < 1900:
            raise DomainError("Check the year.", field="recovery_date")
    user.recovery_date = day
    db.session.flush()
