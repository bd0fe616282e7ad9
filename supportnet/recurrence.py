"""Meeting recurrence: friendly specs <-> RFC 5545 RRULE strings, and expansion to UTC instants.

Meetings repeat in the LOCAL wall time of an IANA zone: a weekly 19:00 Europe/London meeting is at
19:00 London time in January and in July, so its UTC instant moves by an hour twice a year.  To get
that right every calculation here steps through naive local wall-clock datetimes (with dateutil's
rrule) and only converts to UTC at the very end, through ``resolve_local``.

Storage contract (for whoever persists a series):

* ``first_local`` / DTSTART is stored as a naive local wall time plus the zone name, never as UTC,
  because the UTC offset of the first meeting says nothing about the offset of later ones.
* Store ``first_occurrence_on_or_after(rec, first_local)`` as DTSTART, not the date the user typed.
  RFC 5545 says DTSTART is always the first instance even when it does not match the rule, while
  dateutil (and therefore ``expand``) only yields dates that match.  Storing a matching DTSTART makes
  SupportNet and every calendar client reading our feeds agree.
* Store the string from ``to_rrule``; it is byte-stable for a given spec, so feeds don't churn.

No Flask and no database in here: everything is a pure function.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from dateutil import rrule as _rr
from icalendar import vRecur, vWeekday

__all__ = [
    "Frequency",
    "Recurrence",
    "RecurrenceError",
    "describe",
    "expand",
    "first_occurrence_on_or_after",
    "from_rrule",
    "resolve_local",
    "to_rrule",
    "validate",
]


class Frequency(StrEnum):
    """How often a meeting repeats."""

    ONCE = "once"
    WEEKLY = "weekly"
    MONTHLY_WEEKDAY = "monthly_weekday"
    MONTHLY_DAY = "monthly_day"


@dataclass(frozen=True)
class Recurrence:
    """A friendly, validated-on-demand description of how a meeting repeats."""

    frequency: Frequency
    interval: int = 1  # every N weeks (weekly) or N months (monthly_*); 1..52
    weekdays: tuple[int, ...] = ()  # weekly: 0=Monday..6=Sunday, one or more, sorted, unique
    nth: int | None = None  # monthly_weekday: 1, 2, 3, 4 or -1 (last)
    weekday: int | None = None  # monthly_weekday: 0..6
    month_day: int | None = None  # monthly_day: 1..31, or -1 meaning "last day of the month"
    until: date | None = None  # ends on this LOCAL date (inclusive); mutually exclusive with count
    count: int | None = None  # ends after N meetings (1..1000)

    def __post_init__(self) -> None:
        # Normalise the harmless variations a form can produce ("weekly" as a plain string, weekdays
        # ticked in any order or as a list) so that equal schedules compare equal and serialise to
        # the same bytes.  Anything that can't be normalised is left for validate() to reject.
        with contextlib.suppress(ValueError):
            object.__setattr__(self, "frequency", Frequency(self.frequency))
        with contextlib.suppress(TypeError):
            object.__setattr__(self, "weekdays", tuple(sorted(set(self.weekdays))))


class RecurrenceError(ValueError):
    """A schedule that cannot be saved or read, with a message a person can act on."""


# --- constants -----------------------------------------------------------------------------------

MAX_INTERVAL = 52
MAX_COUNT = 1000
NTH_VALUES = (1, 2, 3, 4, -1)

_DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Spelled out here rather than strftime("%b") so output does not depend on the server's locale.
_MONTH_ABBR = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", -1: "last"}

# One day of slack around a window is more than any real UTC offset difference between the window
# edges and the local wall clock, so no occurrence near an edge is missed before the exact UTC filter.
_SLACK = timedelta(days=1)


# --- small helpers -------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    """Return True for real ints (bool is an int subclass but never a sensible count or day)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _require_naive(value: datetime, name: str) -> None:
    """Raise TypeError unless value is a naive datetime (local wall time)."""
    if not isinstance(value, datetime) or value.tzinfo is not None:
        raise TypeError(f"{name} must be a naive datetime holding local wall time")


def _require_aware(value: datetime, name: str) -> None:
    """Raise TypeError unless value is a timezone-aware datetime (an instant)."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise TypeError(f"{name} must be a timezone-aware datetime")


def _fmt_date(d: date) -> str:
    """Format a date like '5 Jan 2027'."""
    return f"{d.day} {_MONTH_ABBR[d.month]} {d.year}"


def _join_names(names: list[str]) -> str:
    """Join names as 'A', 'A and B' or 'A, B and C'."""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


# --- time zone resolution ------------------------------------------------------------------------


def resolve_local(naive: datetime, tz: tzinfo) -> datetime:
    """Attach tz to a naive local wall time, moving nonexistent times forward and taking the earlier of
    ambiguous ones."""
    _require_naive(naive, "naive")
    # PEP 495 / zoneinfo with fold=0:
    # * ambiguous time (fall back, e.g. 01:30 on 2026-11-01 in New York happens twice): fold=0 is the
    #   first, earlier instant (EDT, 05:30Z).  That is our rule.
    # * nonexistent time (spring forward, e.g. 02:30 on 2027-03-14 in New York never happens): fold=0
    #   uses the offset in force *before* the gap (EST, -05:00), i.e. 07:30Z, which on the wall clock
    #   after the gap reads 03:30 EDT -- exactly "moved forward by the length of the gap".
    # RFC 5545 section 3.3.5 prescribes the same interpretation for DATE-TIME values with a TZID, so
    # calendar clients reading our feeds put the meeting at the same instant.  (The tests verify this
    # for New York, London and Lord Howe's 30-minute gap.)
    # The round trip through UTC normalises the wall time, so a nonexistent 02:30 comes back as 03:30.
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)


def _end_of_local_day_utc(day: date, tz: tzinfo) -> datetime:
    """Return the UTC instant of 23:59:59 local time on day, the RFC 5545 UNTIL for that local date."""
    return resolve_local(datetime.combine(day, time(23, 59, 59)), tz).astimezone(UTC)


# --- validation ----------------------------------------------------------------------------------


def _check_shape(rec: Recurrence) -> None:
    """Raise RecurrenceError if rec is malformed regardless of when the series starts."""
    if not isinstance(rec.frequency, Frequency):
        raise RecurrenceError("Choose how often the meeting repeats.")
    freq = rec.frequency

    if rec.until is not None and rec.count is not None:
        raise RecurrenceError("Choose either an end date or a number of meetings, not both.")
    if rec.until is not None and (not isinstance(rec.until, date) or isinstance(rec.until, datetime)):
        raise RecurrenceError("The end date must be a calendar date.")
    if rec.count is not None and (not _is_int(rec.count) or not 1 <= rec.count <= MAX_COUNT):
        raise RecurrenceError(f"The number of meetings must be between 1 and {MAX_COUNT}.")

    # Fields that don't belong to the chosen frequency must be empty: otherwise they would silently
    # vanish when the schedule is stored as an RRULE and read back for editing.
    if freq is not Frequency.WEEKLY and rec.weekdays:
        raise RecurrenceError("Weekdays can only be chosen for weekly meetings.")
    if freq is not Frequency.MONTHLY_WEEKDAY and (rec.nth is not None or rec.weekday is not None):
        raise RecurrenceError("'The 2nd Tuesday'-style days can only be chosen for monthly meetings.")
    if freq is not Frequency.MONTHLY_DAY and rec.month_day is not None:
        raise RecurrenceError("A day of the month can only be chosen for monthly meetings.")

    if freq is Frequency.ONCE:
        if rec.interval != 1:
            raise RecurrenceError("A one-off meeting can't repeat every few weeks or months.")
        if rec.until is not None or rec.count is not None:
            raise RecurrenceError("A one-off meeting can't have an end date or a number of meetings.")
        return

    if not _is_int(rec.interval) or not 1 <= rec.interval <= MAX_INTERVAL:
        unit = "weeks" if freq is Frequency.WEEKLY else "months"
        raise RecurrenceError(f"Repeat every 1 to {MAX_INTERVAL} {unit}.")

    if freq is Frequency.WEEKLY:
        if not isinstance(rec.weekdays, tuple) or not rec.weekdays:
            raise RecurrenceError("Choose at least one weekday.")
        if not all(_is_int(d) and 0 <= d <= 6 for d in rec.weekdays):
            raise RecurrenceError("Choose weekdays from Monday to Sunday.")
        if list(rec.weekdays) != sorted(set(rec.weekdays)):
            raise RecurrenceError("Choose each weekday only once.")
    elif freq is Frequency.MONTHLY_WEEKDAY:
        if rec.nth not in NTH_VALUES or not _is_int(rec.nth):
            raise RecurrenceError("Choose the 1st, 2nd, 3rd, 4th or last weekday of the month.")
        if not _is_int(rec.weekday) or not 0 <= rec.weekday <= 6:
            raise RecurrenceError("Choose a weekday from Monday to Sunday.")
    elif not _is_int(rec.month_day) or not (1 <= rec.month_day <= 31 or rec.month_day == -1):
        # MONTHLY_DAY, the only frequency left.
        raise RecurrenceError("Choose a day of the month from 1 to 31, or the last day.")


def validate(rec: Recurrence, first_local: datetime, tz: tzinfo) -> None:
    """Raise RecurrenceError unless rec, starting at naive local first_local in tz, has at least one
    meeting."""
    _require_naive(first_local, "first_local")
    if not isinstance(tz, tzinfo):
        raise TypeError("tz must be a tzinfo such as zoneinfo.ZoneInfo")
    _check_shape(rec)
    if rec.until is not None:
        if rec.until < first_local.date():
            raise RecurrenceError("The end date is before the first meeting.")
        first = first_occurrence_on_or_after(rec, first_local)
        if first.date() > rec.until:
            # e.g. weekly on Tuesdays, starting on a Wednesday and ending the following Monday.
            raise RecurrenceError(
                "This schedule has no meetings. Move the end date later or choose different days."
            )


# --- RRULE generation and parsing ----------------------------------------------------------------


def to_rrule(rec: Recurrence, first_local: datetime, tz: tzinfo) -> str | None:
    """Return the canonical RFC 5545 RRULE value (no 'RRULE:' prefix) for rec, or None for one-off
    meetings."""
    validate(rec, first_local, tz)
    if rec.frequency is Frequency.ONCE:
        return None

    # Canonical order FREQ, INTERVAL, BYDAY, BYMONTHDAY, COUNT/UNTIL and no optional noise (INTERVAL=1,
    # WKST=MO are the RFC defaults), so one spec always produces the same bytes.
    parts = ["FREQ=WEEKLY" if rec.frequency is Frequency.WEEKLY else "FREQ=MONTHLY"]
    if rec.interval != 1:
        parts.append(f"INTERVAL={rec.interval}")
    if rec.frequency is Frequency.WEEKLY:
        parts.append("BYDAY=" + ",".join(_DAY_CODES[d] for d in rec.weekdays))
    elif rec.frequency is Frequency.MONTHLY_WEEKDAY:
        parts.append(f"BYDAY={rec.nth}{_DAY_CODES[rec.weekday]}")
    else:
        # RFC 5545: months without this day (e.g. 31 in April) are skipped, not clamped.  That is what
        # every calendar client computes from this rule, so SupportNet deliberately does the same.
        parts.append(f"BYMONTHDAY={rec.month_day}")
    if rec.count is not None:
        parts.append(f"COUNT={rec.count}")
    elif rec.until is not None:
        # RFC 5545 3.3.10: with a TZID DTSTART, UNTIL MUST be UTC.  Use the end of the local end date so
        # a late-evening meeting on that date (already the next day in UTC) is still included.
        parts.append("UNTIL=" + _end_of_local_day_utc(rec.until, tz).strftime("%Y%m%dT%H%M%SZ"))
    return ";".join(parts)


@dataclass(frozen=True)
class _Parsed:
    """A parsed RRULE: the friendly spec plus the exact UNTIL instant (when there is one)."""

    rec: Recurrence
    until_utc: datetime | None


_PART_NAMES = {"INTERVAL": "interval", "COUNT": "count", "UNTIL": "end date", "BYMONTHDAY": "day of the month"}


def _read(values: dict[str, str], key: str, default: int | None = None) -> date | int | None:
    """Return RRULE part key read with icalendar's type for it (default if the rule doesn't set it)."""
    if key not in values:
        return default
    try:
        value = vRecur.types[key].from_ical(values[key])
    except ValueError:
        value = None
    # UNTIL's type (vDDDTypes) also reads times, durations and periods, none of which ends a series.
    if key == "UNTIL" and isinstance(value, date):
        return value
    if key != "UNTIL" and isinstance(value, int):
        return int(value)
    raise RecurrenceError(f"This repeat rule has an unreadable {_PART_NAMES[key]}: {values[key]!r}.")


def _until_utc(until: date | None, tz: tzinfo) -> datetime | None:
    """Return the UTC instant an UNTIL value (a UTC or floating local time, or a date) stands for."""
    if until is None:
        return None
    if not isinstance(until, datetime):
        # A DATE-only UNTIL (not what we write, but other tools do) means "through that local day".
        return _end_of_local_day_utc(until, tz)
    if until.tzinfo is None:
        # Floating local time (RFC-invalid with a TZID DTSTART, but unambiguous enough to honour).
        until = resolve_local(until, tz)
    return until.astimezone(UTC)


def _weekday(text: str, kind: str, *, ordinal: bool) -> vWeekday:
    """Read one BYDAY entry: a bare 'TU' in weekly rules, '+2TU' or '-1SU' in monthly ones."""
    try:
        day = vWeekday.from_ical(text)
    except ValueError:
        day = None
    # vWeekday reads '+TU' and '0TU' as a bare Tuesday, so a bare day must also be spelled bare.
    if day is None or (day.relative is not None) != ordinal or (not ordinal and day != day.weekday):
        raise RecurrenceError(f"This {kind} repeat rule has an unreadable weekday: {text!r}.")
    return day


# Parsed rules are immutable and few distinct texts are stored (the same weekly rule serves many series), so
# materializing thousands of series reads each text once.
@functools.lru_cache(maxsize=1024)
def _parse(text: str | None, tz: tzinfo) -> _Parsed:
    """Parse an RRULE value as written by to_rrule (tolerating order, case and an 'RRULE:' prefix)."""
    if text is None or not text.strip():
        return _Parsed(Recurrence(Frequency.ONCE), None)
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    # Split here rather than with vRecur.from_ical, which skips a part without '=' and lets a repeated
    # part overwrite the first in silence; icalendar's types then read each value.
    values: dict[str, str] = {}
    for part in body.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not sep or not value:
            raise RecurrenceError(f"This repeat rule can't be read: {text!r}.")
        if key in values:
            raise RecurrenceError(f"This repeat rule sets {key} twice.")
        values[key] = value

    unsupported = set(values) - {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "COUNT", "UNTIL", "WKST"}
    if unsupported:
        raise RecurrenceError(f"SupportNet can't edit repeat rules using {', '.join(sorted(unsupported))}.")
    # WKST only changes results for multi-day weekly rules with INTERVAL > 1; we always expand with the
    # RFC default (Monday), so any other value would make us disagree with calendar clients.
    if values.get("WKST", "MO") != "MO":
        raise RecurrenceError("SupportNet only supports weeks starting on Monday (WKST=MO).")

    freq_text = values.get("FREQ")
    interval = _read(values, "INTERVAL", 1)
    count = _read(values, "COUNT")
    until_utc = _until_utc(_read(values, "UNTIL"), tz)
    ends = {"until": until_utc and until_utc.astimezone(tz).date(), "count": count}
    byday = values.get("BYDAY")
    bymonthday = values.get("BYMONTHDAY")

    if freq_text == "WEEKLY":
        if byday is None:
            raise RecurrenceError("This weekly repeat rule doesn't say which weekdays.")
        if bymonthday is not None:
            raise RecurrenceError("SupportNet can't edit weekly rules restricted to days of the month.")
        days = [_DAY_CODES.index(_weekday(item.strip(), "weekly", ordinal=False).weekday) for item in byday.split(",")]
        rec = Recurrence(Frequency.WEEKLY, interval, tuple(days), **ends)
    elif freq_text == "MONTHLY":
        if (byday is None) == (bymonthday is None):
            raise RecurrenceError("A monthly repeat rule needs exactly one of BYDAY or BYMONTHDAY.")
        if byday is not None:
            day = _weekday(byday, "monthly", ordinal=True)
            rec = Recurrence(
                Frequency.MONTHLY_WEEKDAY, interval, nth=day.relative, weekday=_DAY_CODES.index(day.weekday), **ends
            )
        else:
            rec = Recurrence(Frequency.MONTHLY_DAY, interval, month_day=_read(values, "BYMONTHDAY"), **ends)
    else:
        raise RecurrenceError(f"SupportNet can't edit repeat rules with FREQ={freq_text}.")
    _check_shape(rec)
    return _Parsed(rec, until_utc)


def from_rrule(text: str | None, tz: tzinfo) -> Recurrence:
    """Turn a stored RRULE value (or None for a one-off meeting) back into a Recurrence for editing."""
    # UNTIL is a UTC instant; converting it to tz gives back the local end date to_rrule was given.
    return _parse(text, tz).rec


# --- expansion -----------------------------------------------------------------------------------


def _dateutil_rule(rec: Recurrence, dtstart: datetime, *, interval: int | None = None) -> _rr.rrule:
    """Build a dateutil rrule over naive local wall times (UNTIL is applied by the caller, in UTC)."""
    # Naive local datetimes make dateutil step in wall-clock time, so 19:00 stays 19:00 across DST.
    # wkst is explicit because dateutil otherwise follows calendar.firstweekday(), a process global.
    kwargs: dict = {"dtstart": dtstart, "interval": interval or rec.interval, "wkst": _rr.MO}
    if rec.count is not None:
        kwargs["count"] = rec.count
    if rec.frequency is Frequency.WEEKLY:
        return _rr.rrule(_rr.WEEKLY, byweekday=rec.weekdays, **kwargs)
    if rec.frequency is Frequency.MONTHLY_WEEKDAY:
        return _rr.rrule(_rr.MONTHLY, byweekday=_rr.weekday(rec.weekday, rec.nth), **kwargs)
    return _rr.rrule(_rr.MONTHLY, bymonthday=rec.month_day, **kwargs)


def first_occurrence_on_or_after(rec: Recurrence, first_local: datetime) -> datetime:
    """Return the first naive local datetime on or after first_local's date that matches rec, at
    first_local's wall time; callers must store this as DTSTART."""
    _require_naive(first_local, "first_local")
    _check_shape(rec)
    start = datetime.combine(first_local.date(), first_local.time().replace(microsecond=0))
    if rec.frequency is Frequency.ONCE:
        return start
    # Interval 1 on purpose: "every 2 months on the 2nd Tuesday, from 20 March" starts on the 2nd
    # Tuesday of April, and the every-other-month rhythm counts from that first meeting.  Count/until
    # are ignored too: this answers "which day is the first meeting", validate() checks the end.
    probe = Recurrence(
        rec.frequency, 1, rec.weekdays, rec.nth, rec.weekday, rec.month_day, until=None, count=None
    )
    found = _dateutil_rule(probe, start).after(start, inc=True)
    if found is None:  # unreachable for valid shapes (each matches within two months); never loop on
        raise RecurrenceError("This schedule has no meetings.")
    return found


def _fast_forward(rec: Recurrence, dtstart: datetime, lo_local: datetime) -> datetime:
    """Return a later DTSTART that yields the same occurrences from lo_local on, to skip dead years."""
    # Only valid without COUNT (COUNT must be counted from the real DTSTART).  The new anchor is the
    # Monday of a week (or the 1st of a month) that is a whole number of intervals after DTSTART's
    # week (month), at the same wall time, so the every-N rhythm is unchanged.
    if rec.count is not None or lo_local <= dtstart:
        return dtstart
    if rec.frequency is Frequency.WEEKLY:
        week0 = dtstart.date() - timedelta(days=dtstart.weekday())
        steps = ((lo_local.date() - week0).days // 7) // rec.interval
        if steps <= 0:
            return dtstart
        return datetime.combine(week0 + timedelta(weeks=steps * rec.interval), dtstart.time())
    month0 = dtstart.year * 12 + dtstart.month - 1
    steps = (lo_local.year * 12 + lo_local.month - 1 - month0) // rec.interval
    if steps <= 0:
        return dtstart
    month = month0 + steps * rec.interval
    return datetime.combine(date(month // 12, month % 12 + 1, 1), dtstart.time())


def expand(
    rrule: str | None, first_local: datetime, tz: tzinfo, start: datetime, end: datetime
) -> list[datetime]:
    """Return the sorted UTC start instants of the series' meetings with start <= instant < end."""
    # first_local is the stored DTSTART.  Like dateutil, only dates matching the rule are yielded, so
    # a DTSTART that doesn't match is silently skipped here while RFC 5545 clients would show it:
    # store first_occurrence_on_or_after() to keep the two in agreement.
    _require_naive(first_local, "first_local")
    _require_aware(start, "start")
    _require_aware(end, "end")
    parsed = _parse(rrule, tz)
    rec = parsed.rec
    dtstart = first_local.replace(microsecond=0)  # dateutil drops microseconds; do the same for ONCE
    if end <= start:
        return []
    if rec.frequency is Frequency.ONCE:
        instant = resolve_local(dtstart, tz).astimezone(UTC)
        return [instant] if start <= instant < end else []
    if parsed.until_utc is not None and parsed.until_utc < start:
        return []  # the series ended before the window; don't walk it at all

    # Search in local wall time with slack, then filter exactly in UTC: around DST changes the wall
    # clock and UTC disagree about which occurrences are "inside" the window edges.
    lo_local = start.astimezone(tz).replace(tzinfo=None) - _SLACK
    hi_local = end.astimezone(tz).replace(tzinfo=None) + _SLACK
    rule = _dateutil_rule(rec, _fast_forward(rec, dtstart, lo_local))
    instants = []
    for local in rule.between(lo_local, hi_local, inc=True):
        # resolve_local's instant, without its round trip back to local time.
        instant = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
        # UNTIL is compared as an instant, as RFC 5545 does (it is inclusive).
        if start <= instant < end and (parsed.until_utc is None or instant <= parsed.until_utc):
            instants.append(instant)
    # Sorting matters: a time pushed forward out of a DST gap can overtake a later wall time.
    return sorted(instants)


# --- description ---------------------------------------------------------------------------------


def describe(rec: Recurrence, first_local: datetime) -> str:
    """Return a short English description such as 'Every 2 weeks on Monday, until 5 Jan 2027'."""
    _check_shape(rec)
    if rec.frequency is Frequency.ONCE:
        d = first_local.date()
        return f"Once on {_DAY_ABBR[d.weekday()]} {d.day} {_MONTH_ABBR[d.month]} {d.year}"

    if rec.frequency is Frequency.WEEKLY:
        lead = "Weekly" if rec.interval == 1 else f"Every {rec.interval} weeks"
        text = f"{lead} on {_join_names([_DAY_NAMES[d] for d in rec.weekdays])}"
    else:
        lead = "Monthly" if rec.interval == 1 else f"Every {rec.interval} months"
        if rec.frequency is Frequency.MONTHLY_WEEKDAY:
            text = f"{lead} on the {_ORDINALS[rec.nth]} {_DAY_NAMES[rec.weekday]}"
        elif rec.month_day == -1:
            text = f"{lead} on the last day"
        else:
            text = f"{lead} on day {rec.month_day}"
            if rec.month_day > 28:
                # Say so explicitly: people often expect "31st" to mean "last day" in short months.
                text += " (months without it are skipped)"

    if rec.until is not None:
        text += f", until {_fmt_date(rec.until)}"
    elif rec.count is not None:
        text += f", {rec.count} time" + ("" if rec.count == 1 else "s")
    return text
