"""Free one-to-one slots from a coach's weekly availability: pure time arithmetic, no database.

A coach publishes weekly windows in their own timezone ("Tuesdays 09:00-12:00, Europe/London"), date exceptions
(a day off, or an extra window on one date), time off (any span of instants), a session length, a buffer kept
free around every session, a minimum notice and a booking horizon. `free_slots` turns that, and the sessions
already booked, into the bookable starts as aware UTC instants; pages show them in the member's own zone.

Slots are laid end to end from each window's start by absolute time (length + buffer), so a session lasts its
length even across a clock change. A window's wall-clock start or end that does not exist that day (spring
forward) moves forward, an ambiguous one takes the first instant, as everywhere else (`recurrence.resolve_local`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from supportnet.recurrence import resolve_local


@dataclass(frozen=True)
class Window:
    """A weekly window in the coach's zone: weekday 0 (Monday) to 6, from `starts` to `ends` (local wall times)."""

    weekday: int
    starts: time
    ends: time


@dataclass(frozen=True)
class DayChange:
    """One date's exception: `off` (no windows that day) or an extra window from `starts` to `ends`."""

    day: date
    off: bool = False
    starts: time | None = None
    ends: time | None = None


@dataclass(frozen=True)
class Span:
    """A stretch of absolute time [starts, ends): time off, or a booked session."""

    starts: datetime
    ends: datetime

    def overlaps(self, other: Span) -> bool:
        return self.starts < other.ends and other.starts < self.ends


@dataclass(frozen=True)
class Availability:
    """Everything that decides a coach's free slots."""

    zone: ZoneInfo
    windows: Sequence[Window]
    length: timedelta
    buffer: timedelta = timedelta(0)
    notice: timedelta = timedelta(0)
    horizon: timedelta = timedelta(days=28)
    changes: Sequence[DayChange] = field(default_factory=tuple)
    time_off: Sequence[Span] = field(default_factory=tuple)


def _windows_on(day: date, availability: Availability) -> list[tuple[time, time]]:
    changes = [c for c in availability.changes if c.day == day]
    if any(c.off for c in changes):
        return []
    found = [(w.starts, w.ends) for w in availability.windows if w.weekday == day.weekday()]
    found += [(c.starts, c.ends) for c in changes if c.starts is not None and c.ends is not None]
    # Windows that overlap or touch (an extra window over a weekly one) are one window: laid out apart, their
    # slots would overlap, and a member would be offered a time that booking the other one takes away.
    merged: list[tuple[time, time]] = []
    for starts, ends in sorted(found):
        if merged and starts <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], ends))
        else:
            merged.append((starts, ends))
    return merged


def free_slots(availability: Availability, booked: Iterable[Span], now: datetime) -> list[Span]:
    """The bookable slots from now + notice to now + horizon, oldest first, none overlapping a booked session
    (with the buffer on both sides of it) or time off."""
    if now.tzinfo is None:
        raise ValueError("now must be aware")
    zone, length, buffer = availability.zone, availability.length, availability.buffer
    earliest, latest = now + availability.notice, now + availability.horizon
    blocked = [Span(s.starts - buffer, s.ends + buffer) for s in booked] + list(availability.time_off)
    slots: list[Span] = []
    day, last_day = earliest.astimezone(zone).date(), latest.astimezone(zone).date()
    while day <= last_day:
        for starts, ends in _windows_on(day, availability):
            start = resolve_local(datetime.combine(day, starts), zone).astimezone(UTC)
            end = resolve_local(datetime.combine(day, ends), zone).astimezone(UTC)
            while start + length <= end:
                slot = Span(start, start + length)
                if earliest <= slot.starts and slot.ends <= latest and not any(slot.overlaps(b) for b in blocked):
                    slots.append(slot)
                start += length + buffer
        day += timedelta(days=1)
    return sorted(set(slots), key=lambda s: s.starts)
