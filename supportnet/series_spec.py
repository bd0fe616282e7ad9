"""What a facilitator says about a meeting series (SeriesSpec), how it is checked, and its stored schedule.

Pure checks and conversions: nothing here touches the database. A series is a rule in local wall time; its
stored form (`Schedule`) is DTSTART as local wall time, its zone, the RRULE and the duration. Creating and
changing series from a cleaned spec is supportnet/scheduling.py; `timetable.spec_for` turns a stored series back
into a spec for an edit form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from supportnet.clock import timezone_names
from supportnet.errors import DomainError
from supportnet.models import OnlineVisibility
from supportnet.recurrence import (
    Frequency,
    Recurrence,
    RecurrenceError,
    expand,
    first_occurrence_on_or_after,
    from_rrule,
    resolve_local,
    to_rrule,
)
from supportnet.textsafety import has_invisible, safe_meeting_url

# Longer than the longest gap a rule can have (every 52 months), for "when is the next meeting" searches.
LONGEST_GAP = timedelta(days=366 * 5)
MAX_CAPACITY = 10_000
# Dates further ahead are typing mistakes, and near the end of the calendar (9999-12-31) the arithmetic of
# expanding a rule or converting to UTC would run off it.
MAX_YEARS_AHEAD = 10
EARLIEST_DATE = date(1970, 1, 1)



_ONCE = Recurrence(Frequency.ONCE)


@dataclass(frozen=True, kw_only=True)
class SeriesSpec:
    """What a facilitator says about a meeting series, in the words of the form."""

    title: str
    description: str = ""
    first_date: date
    start_time: time
    duration_minutes: int
    timezone: str
    recurrence: Recurrence = _ONCE
    venue: str = ""
    address: str = ""
    location_notes: str = ""
    online_url: str = ""
    online_phone: str = ""
    online_notes: str = ""
    online_visibility: OnlineVisibility = OnlineVisibility.MEMBERS
    capacity: int | None = None


@dataclass(frozen=True)
class Schedule:
    """The stored form of a schedule: DTSTART as local wall time, its zone, the RRULE and the duration."""

    dtstart_local: datetime
    timezone: str
    rrule: str | None
    duration_minutes: int

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def first_start(self) -> datetime:
        return resolve_local(self.dtstart_local, self.tz).astimezone(UTC)


# --- validation ---


def check_text(value: str, field: str, limit: int | None = None) -> str:
    value = (value or "").strip()
    if limit is not None and len(value) > limit:
        raise DomainError(f"Keep this to {limit} characters.", field=field)
    if has_invisible(value):
        raise DomainError("Remove the invisible or direction-changing characters.", field=field)
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_duration(minutes: object) -> int:
    if not _is_int(minutes) or not 1 <= minutes <= 1440:
        raise DomainError("A meeting lasts between 1 minute and 24 hours.", field="duration_minutes")
    return minutes


def check_timezone(name: str) -> str:
    if name not in timezone_names():
        raise DomainError("Choose a timezone from the list.", field="timezone")
    return name


def _check_url(url: str) -> str:
    url = check_text(url, "online_url", 500)
    if not url:
        return url
    # Only plain https links: a javascript: or data: URL shown to members would be an attack, not a meeting room,
    # and quotes or spaces could break out of the places the link is written (see supportnet/textsafety.py).
    if safe_meeting_url(url) is None:
        raise DomainError("Enter a web link starting with https://.", field="online_url")
    return url


def clean_spec(spec: SeriesSpec) -> SeriesSpec:
    """Return the spec tidied up, or raise DomainError naming the field that needs attention."""
    title = " ".join((spec.title or "").split())
    if not title:
        raise DomainError("Give the meeting a title.", field="title")
    if len(title) > 120:
        raise DomainError("Keep the title to 120 characters.", field="title")
    if has_invisible(title):
        raise DomainError("Remove the invisible or direction-changing characters.", field="title")
    if not isinstance(spec.first_date, date) or isinstance(spec.first_date, datetime):
        raise DomainError("Choose the date of the first meeting.", field="first_date")
    if not isinstance(spec.start_time, time):
        raise DomainError("Choose a start time.", field="start_time")
    check_duration(spec.duration_minutes)
    check_timezone(spec.timezone)
    if not isinstance(spec.recurrence, Recurrence):
        raise DomainError("Choose how often the meeting repeats.", field="recurrence")
    venue = check_text(spec.venue, "venue", 200)
    address = check_text(spec.address, "address", 300)
    online_url = _check_url(spec.online_url)
    if not (venue or address or online_url):
        raise DomainError("Add a place or an online link.", field="venue")
    try:
        online_visibility = OnlineVisibility(spec.online_visibility)
    except ValueError as exc:
        raise DomainError("Choose who can see the online link.", field="online_visibility") from exc
    capacity = spec.capacity
    if capacity is not None and (not _is_int(capacity) or not 1 <= capacity <= MAX_CAPACITY):
        raise DomainError(f"Capacity is a number of people from 1 to {MAX_CAPACITY}, or empty.", field="capacity")
    return dataclasses.replace(
        spec,
        title=title,
        description=check_text(spec.description, "description"),
        start_time=spec.start_time.replace(second=0, microsecond=0, tzinfo=None),
        venue=venue,
        address=address,
        location_notes=check_text(spec.location_notes, "location_notes"),
        online_url=online_url,
        online_phone=check_text(spec.online_phone, "online_phone", 50),
        online_notes=check_text(spec.online_notes, "online_notes"),
        online_visibility=online_visibility,
    )


def latest_date(now: datetime) -> date:
    """The last date a meeting, a first date or an end date may have."""
    today = now.date()
    try:
        return today.replace(year=today.year + MAX_YEARS_AHEAD)
    except ValueError:  # 29 February
        return today.replace(year=today.year + MAX_YEARS_AHEAD, day=28)


def movable_date(day: date, now: datetime) -> bool:
    """Whether a meeting could be moved to this date: from about today up to the latest date."""
    return now.date() - timedelta(days=2) <= day <= latest_date(now)


def check_dates(spec: SeriesSpec, now: datetime, stored_until: date | None = None) -> None:
    if spec.first_date < EARLIEST_DATE:
        # An edit form's first date in the past means "from now on", but year 1 is a typing mistake, and one
        # that converting to UTC would run off the calendar with.
        raise DomainError("Choose a first date from 1 Jan 1970 on.", field="first_date")
    latest = latest_date(now)
    if spec.first_date > latest:
        raise DomainError(f"Choose a first date within {MAX_YEARS_AHEAD} years from today.", field="first_date")
    until = spec.recurrence.until
    if isinstance(until, date) and until > latest and until != stored_until:
        raise DomainError(
            f"Choose a last date within {MAX_YEARS_AHEAD} years from today, or let the meeting repeat with no end.",
            field="until",
        )


def wall_time(naive: datetime, zone: str) -> datetime:
    """The local wall time a meeting set for `naive` in this zone really starts at: a time the clocks skip
    (01:30 on a spring-forward night) moves forward by the length of the gap."""
    return resolve_local(naive, ZoneInfo(zone)).replace(tzinfo=None)


def schedule_for(spec: SeriesSpec) -> Schedule:
    tz = ZoneInfo(spec.timezone)
    try:
        # Stored DTSTART is the first day that matches the rule, so we and calendar apps agree (recurrence.py).
        dtstart = first_occurrence_on_or_after(spec.recurrence, datetime.combine(spec.first_date, spec.start_time))
        rrule = to_rrule(spec.recurrence, dtstart, tz)
    except RecurrenceError as exc:
        raise DomainError(str(exc), field="recurrence") from exc
    return Schedule(dtstart, spec.timezone, rrule, spec.duration_minutes)


def require_future_start(spec: SeriesSpec, schedule: Schedule, now: datetime) -> None:
    if spec.first_date < now.astimezone(schedule.tz).date():
        raise DomainError("The first meeting can't be in the past.", field="first_date")
    if schedule.first_start <= now:
        raise DomainError("That time has already passed today. Choose a later time or day.", field="start_time")


def rebase(spec: SeriesSpec, schedule: Schedule, now: datetime) -> Schedule:
    """The same schedule starting at its first meeting after now, keeping its rhythm and meetings left."""
    tz = schedule.tz
    upcoming = [t for t in expand(schedule.rrule, schedule.dtstart_local, tz, now, now + LONGEST_GAP) if t > now]
    if not upcoming:
        if spec.recurrence.frequency is Frequency.ONCE:
            raise DomainError("The meeting can't be in the past.", field="first_date")
        raise DomainError("This schedule has no meetings left. Change its end or its first date.", field="recurrence")
    dtstart = datetime.combine(upcoming[0].astimezone(tz).date(), schedule.dtstart_local.time())
    # The schedule's own rule, not the form's: a schedule rebased once already counts its meetings from there.
    rec = from_rrule(schedule.rrule, tz) if schedule.rrule else spec.recurrence
    if rec.count is not None:
        held = expand(schedule.rrule, schedule.dtstart_local, tz, schedule.first_start, upcoming[0])
        rec = dataclasses.replace(rec, count=rec.count - len(held))
    try:
        rrule = to_rrule(rec, dtstart, tz)
    except RecurrenceError as exc:  # unreachable for a rule that has a meeting left, but never store a bad one
        raise DomainError(str(exc), field="recurrence") from exc
    return Schedule(dtstart, schedule.timezone, rrule, schedule.duration_minutes)
