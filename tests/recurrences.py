"""Recurrence rules as the schedule tests write them, the zones they try, and expanding a rule the way the app
stores it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from supportnet.recurrence import (
    Frequency,
    Recurrence,
    expand,
    first_occurrence_on_or_after,
    to_rrule,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(*days: int, **kwargs) -> Recurrence:
    return Recurrence(Frequency.WEEKLY, weekdays=days, **kwargs)


def monthly_nth(nth: int, day: int, **kwargs) -> Recurrence:
    return Recurrence(Frequency.MONTHLY_WEEKDAY, nth=nth, weekday=day, **kwargs)


def monthly_day(day: int, **kwargs) -> Recurrence:
    return Recurrence(Frequency.MONTHLY_DAY, month_day=day, **kwargs)


def meetings(rec: Recurrence, first_local: datetime, tz: ZoneInfo, start: datetime, end: datetime):
    """Store the schedule the way the app does, then expand the stored string."""
    dtstart = first_occurrence_on_or_after(rec, first_local)
    return expand(to_rrule(rec, dtstart, tz), dtstart, tz, start, end)


def local_times(instants: list[datetime], tz: ZoneInfo) -> list[datetime]:
    return [i.astimezone(tz).replace(tzinfo=None) for i in instants]
