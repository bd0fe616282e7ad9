"""VTIMEZONE components built from the IANA data, for the calendar feeds (supportnet/feeds.py).

Each zone gets one STANDARD and one DAYLIGHT part per stretch of years with the same yearly rule, written as a
yearly RRULE (Outlook does not read RDATE lists, which is what icalendar generates). Pure: no Flask, no database.
"""

from __future__ import annotations

import calendar as _gregorian
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

_ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

@dataclass(frozen=True)
class _Transition:
    at: datetime  # UTC instant of the change
    before: timedelta
    after: timedelta
    daylight: bool
    name: str

    @property
    def onset(self) -> datetime:
        """The local wall time of the change, on the clock in force before it (RFC 5545 DTSTART of an onset)."""
        return (self.at + self.before).replace(tzinfo=None)


def _state(zone: ZoneInfo, instant: datetime) -> tuple[timedelta, bool, str]:
    local = instant.astimezone(zone)
    dst = local.dst()
    return local.utcoffset(), bool(dst and dst > timedelta(0)), local.tzname() or ""


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[_Transition]:
    """Every change of offset, daylight flag or name between start and end, to the second."""
    found = []
    step = timedelta(days=1)
    here, state = start, _state(zone, start)
    while here < end:
        there = here + step
        new_state = _state(zone, there)
        if new_state != state:
            lo, hi = here, there
            while hi - lo > timedelta(seconds=1):
                mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
                lo, hi = (mid, hi) if _state(zone, mid) == state else (lo, mid)
            found.append(_Transition(hi, state[0], new_state[0], new_state[1], new_state[2]))
        here, state = there, new_state
    return found


def _byday_options(onset: datetime) -> set[str]:
    """The yearly BYDAY values that match this onset: "2SU" (second Sunday) and/or "-1SU" (last Sunday)."""
    code = _ICAL_DAYS[onset.weekday()]
    options = {f"{(onset.day - 1) // 7 + 1}{code}"}
    if onset.day > _gregorian.monthrange(onset.year, onset.month)[1] - 7:
        options.add(f"-1{code}")
    return options


def _byday_preference(option: str) -> tuple[int, str]:
    nth = int(option[:-2])
    return (0 if 1 <= nth <= 4 else 1 if nth == -1 else 2), option


@dataclass
class _Run:
    """Consecutive years in which the zone changes the same way (a yearly rule)."""

    transitions: list[_Transition]
    options: set[str]


@dataclass(frozen=True)
class _Onset:
    """One STANDARD or DAYLIGHT part of a VTIMEZONE."""

    daylight: bool
    dtstart: datetime  # local wall time, naive
    rrule: str | None
    offset_from: timedelta
    offset_to: timedelta
    name: str


@lru_cache(maxsize=256)
def _zone_onsets(zone_name: str, first_year: int, last_year: int) -> tuple[_Onset, ...]:
    """The STANDARD/DAYLIGHT parts of a zone, right from first_year through last_year (and on while rules last)."""
    zone = ZoneInfo(zone_name)
    # A year of margin on each side: every instant of the data falls after the first onset listed, and the
    # year after the data tells whether a yearly rule is still in force.
    start = datetime(first_year - 1, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 2, 1, 1, tzinfo=UTC)
    changes = transitions(zone, start, end)
    if not changes:
        offset, daylight, name = _state(zone, start)
        return (_Onset(daylight, datetime(1970, 1, 1), None, offset, offset, name),)

    # Group the changes into runs of consecutive years with the same month, weekday, wall time, offsets and
    # name, whose day fits one BYDAY (the 2nd Sunday, the last Sunday...). Each run is one yearly RRULE.
    open_runs: dict[tuple, _Run] = {}
    runs: list[_Run] = []
    for change in changes:
        onset = change.onset
        key = (change.daylight, change.before, change.after, change.name, onset.month, onset.weekday(), onset.time())
        run = open_runs.get(key)
        options = _byday_options(onset)
        if run is not None and run.transitions[-1].onset.year == onset.year - 1 and run.options & options:
            run.transitions.append(change)
            run.options &= options
            continue
        run = _Run([change], options)
        open_runs[key] = run
        runs.append(run)

    onsets = []
    for run in runs:
        first, last = run.transitions[0], run.transitions[-1]
        # Still changing this way in the last year looked at: the rule is in force, with no end.
        ongoing = last.onset.year == end.year - 1
        rrule = None
        if len(run.transitions) > 1 or ongoing:
            # "The 2nd Sunday" rather than "the last Sunday" when both fit every year seen, but "the last"
            # rather than "the 5th", which most months do not have.
            byday = min(run.options, key=_byday_preference)
            rrule = f"FREQ=YEARLY;BYMONTH={first.onset.month};BYDAY={byday}"
            if not ongoing:
                rrule += ";UNTIL=" + last.at.strftime("%Y%m%dT%H%M%SZ")
        onsets.append(_Onset(first.daylight, first.onset, rrule, first.before, first.after, first.name))
    return tuple(onsets)


def vtimezone(zone_name: str, first_year: int, last_year: int) -> icalendar.Timezone:
    """A VTIMEZONE for the zone that is right from `first_year` to `last_year` and, while its rules last, after."""
    tz = icalendar.Timezone()
    tz.add("tzid", zone_name)
    for onset in _zone_onsets(zone_name, first_year, last_year):
        part = icalendar.TimezoneDaylight() if onset.daylight else icalendar.TimezoneStandard()
        part.add("dtstart", onset.dtstart)
        if onset.rrule:
            part.add("rrule", icalendar.vRecur.from_ical(onset.rrule))
        part.add("tzoffsetfrom", onset.offset_from)
        part.add("tzoffsetto", onset.offset_to)
        part.add("tzname", onset.name)
        tz.add_component(part)
    return tz
