"""Calendar feeds: iCalendar (RFC 5545) documents of meeting series and meetings, and "Add to Google Calendar" links.

Pure: models and plain values in, bytes out. No Flask, no database session and no clock: callers load what a
feed shows (supportnet/calendars.py) and pass the window and the links, and every timestamp in the output
(DTSTAMP, LAST-MODIFIED) comes from the data. The same data therefore gives the same bytes, so a strong ETag
works and a calendar app polling an unchanged feed gets 304.

How a group feed says what SupportNet shows, so that Google, Apple, Outlook and Thunderbird
all show the same meetings:

* One VEVENT per series, with the stored RRULE (UNTIL is already UTC) and DTSTART;TZID at the stored local
  wall time of the first meeting. A series split by a schedule edit is two series, so two VEVENTs: the old
  one ends with its UNTIL, the new one starts at the next meeting.
* A cancelled week is an EXDATE, or, where the group chose "show cancellations in calendars", an override
  with STATUS:CANCELLED and a summary starting "Cancelled: " (Google hides cancelled events, others strike
  them through). A moved week is an override: same UID, RECURRENCE-ID = its original start.
* Meetings superseded by a schedule edit are no longer produced by the rule (the old series ends before them,
  or its rule changed), so they need nothing; one still inside the rule (never the case today) gets an EXDATE.
* RECURRENCE-ID and EXDATE are written in the rule's own wall time (a meeting the rule puts at a time that
  does not exist, 02:30 on a spring-forward night, stays 02:30 there), so every parser matches them.
* Meetings at the edge of a clock change get an override that says when they really are, for the next two
  years: a wall time that is skipped or repeated (ical.js reads 02:30 on a spring-forward night as 01:30 and
  01:30 on a fall-back night as the second one, where RFC 5545 and SupportNet say 03:30 and the first), and a
  meeting that spans the change (parsers add its length in wall-clock time). A DTSTART or DTEND whose local
  time is ambiguous is written in UTC.
* History never changes after the fact. A calendar app expands the RRULE from DTSTART, so every exception
  (EXDATE, override, clock-change correction) is written for the series' whole life, not only for the window, and
  a series that ended stays, its UNTIL at its last meeting. Bounding the master instead (a DTSTART inside the
  window) would change the bytes and SEQUENCE daily, rewrite COUNT, and take older meetings out of calendars;
  one line per changed meeting is the smaller price.
* SEQUENCE comes from the database counters, which only ever go up: the master's is the series' counter, an
  override's the series' plus the meeting's. A meeting changed once (its counter above 0) is always written as
  an override, even when put back, so its SEQUENCE never falls back to the master's. LAST-MODIFIED and DTSTAMP
  come from `updated_at`. No ORGANIZER, no ATTENDEE: group feeds carry no member data at all.
* Each TZID gets a VTIMEZONE built from the IANA data (supportnet/timezones.py), with one STANDARD and one
  DAYLIGHT rule per stretch of years, as yearly RRULEs (Outlook does not read RDATE lists, which is what
  icalendar generates).

Private feeds and single-meeting downloads list meetings one by one (no RRULE): they are exactly the rows a
member RSVP'd to, or every meeting of their groups, with the online link only where they may see it. A meeting
that a clock change touches is written in UTC at both ends (see `_start_end`), so no parser reads it an hour off.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import inspect as orm_inspect

from supportnet import visibility
from supportnet.db import Base
from supportnet.models import Group, MeetingSeries, Occurrence, OccurrenceStatus
from supportnet.recurrence import Frequency, expand, from_rrule, resolve_local
from supportnet.textsafety import safe_meeting_url
from supportnet.timezones import transitions, vtimezone

PRODID = "-//SupportNet//Calendar feeds 1.0//EN"
# How often calendar apps should poll (RFC 7986 REFRESH-INTERVAL; X-PUBLISHED-TTL for Outlook and Apple).
REFRESH = timedelta(hours=1)
# What a feed covers: meetings from 90 days back to 12 months ahead (what members look back on and plan with).
PAST = timedelta(days=90)
AHEAD = timedelta(days=365)
CORRECTIONS_AHEAD = timedelta(days=731)
CANCELLED_PREFIX = "Cancelled: "
DISCREET_CALENDAR_NAME = "Meetings"
_DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Characters that have no business in calendar text: C0 controls except tab and newline, DEL, and the
# Unicode line and paragraph separators some parsers treat as line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


class Links(Protocol):
    """Absolute links a feed points to; the web layer builds them from SUPPORTNET_BASE_URL."""

    def group(self, group: Group) -> str: ...

    def occurrence(self, occ: Occurrence) -> str: ...

    def my_meetings(self) -> str: ...


@dataclass(frozen=True)
class Window:
    """The instants a feed covers (start <= meeting < end), and how far ahead its DST corrections go."""

    start: datetime
    end: datetime
    corrections_end: datetime | None = None


def window(now: datetime) -> Window:
    """The window of a feed built at `now`: whole UTC days from 90 days back to 12 months ahead.

    Whole days keep the bytes (and the ETag) the same through the day unless the data changes. Corrections
    for meetings at the edge of a clock change (see `_needs_correction`) go two years ahead.
    """
    day = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    return Window(day - PAST, day + AHEAD + timedelta(days=1), day + CORRECTIONS_AHEAD + timedelta(days=1))


@dataclass(frozen=True)
class SeriesEntry:
    """A series for a group feed and its meetings that differ from the rule (cancelled, moved, superseded)."""

    series: MeetingSeries
    changed: Sequence[Occurrence] = ()


@dataclass(frozen=True)
class MeetingEntry:
    """One meeting for a private feed or a download, with what this member may see of it."""

    occurrence: Occurrence
    show_online: bool = False
    waitlisted: bool = False


@dataclass(frozen=True)
class SessionEntry:
    """One booked one-to-one session for the private feed of its coach or its member (neutral: a title only)."""

    nonce: str
    starts_at: datetime
    ends_at: datetime
    title: str
    changed_at: datetime


@dataclass
class _Zones:
    """The zones a calendar uses and the years its data spans in each, for the VTIMEZONEs."""

    years: dict[str, list[int]] = field(default_factory=dict)

    def use(self, zone: str, *years: int) -> None:
        span = self.years.setdefault(zone, [min(years), max(years)])
        span[0], span[1] = min(span[0], *years), max(span[1], *years)


# --- text -----------------------------------------------------------------------------------------------------


def clean_text(value: str | None) -> str:
    """Plain text for a TEXT value: line breaks as \\n, no control characters (icalendar escapes the rest)."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def _one_line(value: str | None) -> str:
    return " ".join(clean_text(value).split())


def _utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(microsecond=0)


def _place(venue: str, address: str) -> str:
    return ", ".join(part for part in (_one_line(venue), _one_line(address)) if part)


def _discreet_title(start: datetime, zone: ZoneInfo) -> str:
    """A title that says nothing about recovery: "Group · Tue 19:00" in the member's own zone."""
    local = start.astimezone(zone)
    return f"Group \u00b7 {_DAY_ABBR[local.weekday()]} {local:%H:%M}"


def _series_title(series: MeetingSeries) -> str:
    return _one_line(series.title) or "Meeting"


def _online_lines(series: MeetingSeries) -> list[str]:
    lines = []
    if safe_meeting_url(series.online_url):
        lines.append(f"Online: {clean_text(series.online_url)}")
    if series.online_phone:
        lines.append(f"Phone: {clean_text(series.online_phone)}")
    if series.online_notes:
        lines.append(clean_text(series.online_notes))
    return lines


def _description(series: MeetingSeries, *, note: str, show_online: bool, page: str, extra: str = "") -> str:
    parts = [clean_text(note), clean_text(extra), clean_text(series.description)]
    if series.location_notes:
        parts.append(clean_text(series.location_notes))
    if show_online:
        parts.append("\n".join(_online_lines(series)))
    parts.append(page)
    return "\n\n".join(part for part in parts if part)


def _location(venue: str, address: str, series: MeetingSeries, show_online: bool) -> str:
    place = _place(venue, address)
    if place:
        return place
    # Online only: the link is the place, where this audience may see it.
    return clean_text(safe_meeting_url(series.online_url) or "") if show_online else "Online"


# --- events ---------------------------------------------------------------------------------------------------


def _wall(series: MeetingSeries, instant: datetime) -> datetime:
    """The series' local wall time for an instant its rule produces, as its RRULE would write it.

    A rule time that does not exist (02:30 on a spring-forward night) happens at 03:30 local; the rule, and so
    RECURRENCE-ID and EXDATE, still say 02:30.
    """
    tz = series.tz
    local = instant.astimezone(tz).replace(tzinfo=None)
    usual = datetime.combine(local.date(), series.dtstart_local.time())
    if local != usual and resolve_local(usual, tz) == instant.astimezone(tz):
        local = usual
    return local.replace(tzinfo=tz)


def _clear(naive: datetime, tz: ZoneInfo) -> bool:
    """Whether a local wall time happens exactly once in the zone (not skipped, not repeated by a clock change)."""
    return naive.replace(tzinfo=tz, fold=0).utcoffset() == naive.replace(tzinfo=tz, fold=1).utcoffset()


def _start_end(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """DTSTART and DTEND of one meeting: local times with TZID, or both in UTC when a clock change touches it.

    A meeting that starts before a change and ends after it is not as long on the wall clock as it really is,
    and parsers disagree on which instant a skipped or repeated wall time means: in UTC every parser reads the
    same two instants.
    """
    local_start = start.astimezone(tz).replace(microsecond=0, tzinfo=None)
    local_end = end.astimezone(tz).replace(microsecond=0, tzinfo=None)
    if _clear(local_start, tz) and _clear(local_end, tz) and local_end - local_start == _utc(end) - _utc(start):
        return local_start.replace(tzinfo=tz), local_end.replace(tzinfo=tz)
    return _utc(start), _utc(end)


def _needs_correction(series: MeetingSeries, instant: datetime) -> bool:
    """Whether calendar apps would get this meeting of the rule wrong on their own.

    Its wall time does not exist (02:30 on a spring-forward night: RFC 5545 says 03:30, ical.js says 01:30) or
    happens twice (01:30 on a fall-back night: RFC 5545 says the first, ical.js the second), or it spans a clock
    change (parsers add the duration in wall-clock time; the meeting lasts its real length).
    """
    tz = series.tz
    instant = instant.astimezone(UTC)  # elapsed time: adding to an aware local datetime would add wall time
    wall = _wall(series, instant).replace(tzinfo=None)
    end = wall + series.duration
    return not (
        _clear(wall, tz) and _clear(end, tz) and end.replace(tzinfo=tz).astimezone(UTC) == instant + series.duration
    )


@lru_cache(maxsize=1024)
def _changes_in(zone_name: str, year: int) -> tuple[datetime, ...]:
    zone = ZoneInfo(zone_name)
    start = datetime(year, 1, 1, tzinfo=UTC)
    return tuple(t.at for t in transitions(zone, start, datetime(year + 1, 1, 1, tzinfo=UTC)))


def _corrections(series: MeetingSeries, instants: Sequence[datetime], span: Window) -> list[datetime]:
    """The meetings of the rule (sorted UTC instants) that need an override: those next to a clock change."""
    if not instants:
        return []
    end = span.corrections_end or span.end
    first = instants[0].year
    changes = [c for year in range(first, end.year + 1) for c in _changes_in(series.timezone, year)]
    # A wall time that is skipped or repeated lies within a few hours after a change (three at most, today).
    margin = timedelta(hours=3)
    found = []
    for change in changes:
        lo = bisect.bisect_left(instants, change - series.duration - margin)
        hi = bisect.bisect_right(instants, change + margin)
        found.extend(instant for instant in instants[lo:hi] if _needs_correction(series, instant))
    return sorted(set(found))


def _stamp(event: icalendar.Event, modified: datetime, sequence: int) -> None:
    event.add("dtstamp", _utc(modified))
    event.add("last-modified", _utc(modified))
    event.add("sequence", sequence)


def _calendar(name: str, description: str, url: str | None) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # X- properties are TEXT too, but icalendar only escapes what it knows to be text: say so explicitly.
    cal.add("name", icalendar.vText(name))
    cal.add("x-wr-calname", icalendar.vText(name))
    if description:
        cal.add("description", icalendar.vText(description))
        cal.add("x-wr-caldesc", icalendar.vText(description))
    if url:
        cal.add("url", url, parameters={"VALUE": "URI"})
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    return cal


def _finish(cal: icalendar.Calendar, events: Iterable[icalendar.Event], zones: _Zones) -> icalendar.Calendar:
    for zone_name in sorted(zones.years):
        first, last = zones.years[zone_name]
        cal.add_component(vtimezone(zone_name, first, last))
    # Sorted by UID, then the master before its overrides in time order: the same data gives the same bytes.
    for event in sorted(events, key=_event_key):
        cal.add_component(event)
    return cal


def _event_key(event: icalendar.Event) -> tuple:
    rid = event.get("recurrence-id")
    return str(event["uid"]), rid is not None, _utc(rid.dt) if rid is not None else datetime.min.replace(tzinfo=UTC)


# --- the group feed ---


class BlockCache:
    """Serialized parts of group feeds (a series' events, a VTIMEZONE) by everything each was built from (an LRU).

    A rebuild after one change then renders only the series that changed. A key holds every column of every row
    the part is built from, so a part can only be reused for the very same data.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[tuple, tuple[bytes, dict[str, tuple[int, int]]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[bytes, dict[str, tuple[int, int]]] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, value: tuple[bytes, dict[str, tuple[int, int]]]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def group_calendar(
    group: Group, entries: Sequence[SeriesEntry], *, links: Links, host: str, span: Window,
    blocks: BlockCache | None = None,
) -> bytes:
    """The public feed of a group: one recurring event per series, with its cancelled and moved weeks.

    The same bytes as serializing `group_calendar_component` whole: events are sorted by UID and a series' events
    share its UID, so each series is one contiguous block, and a component serializes as its own lines followed
    by its subcomponents' (what makes blocks from `blocks` safe to splice).
    """
    blocks = BlockCache() if blocks is None else blocks
    group_link = links.group(group)
    context = ("series", host, group_link, group.calendar_shows_cancellations, span)
    zones = _Zones()
    parts = []
    for entry in sorted(entries, key=lambda e: f"series-{e.series.id}@{host}"):
        key = (context, _row(entry.series), tuple(_row(occ) for occ in entry.changed))
        found = blocks.get(key)
        if found is None:
            own = _Zones()
            events = _series_events(group, entry, links=links, host=host, span=span, zones=own)
            found = (b"".join(e.to_ical() for e in sorted(events, key=_event_key)),
                     {zone: (first, last) for zone, (first, last) in own.years.items()})
            blocks.put(key, found)
        parts.append(found[0])
        for zone, years in found[1].items():
            zones.use(zone, *years)
    cal = _calendar(_one_line(group.name), clean_text(group.description), group_link)
    if len(zones.years) == 1:
        cal.add("x-wr-timezone", next(iter(zones.years)))
    head, end = cal.to_ical(), b"END:VCALENDAR\r\n"
    timezones = [_vtimezone_bytes(zone, *zones.years[zone]) for zone in sorted(zones.years)]
    return head[: -len(end)] + b"".join(timezones) + b"".join(parts) + end


@lru_cache(maxsize=256)
def _vtimezone_bytes(zone_name: str, first_year: int, last_year: int) -> bytes:
    return vtimezone(zone_name, first_year, last_year).to_ical()


def _row(row: Base) -> tuple:
    """Every column of a loaded row, as a hashable key."""
    loaded = row.__dict__
    return type(row).__name__, tuple(loaded[k] if k in loaded else getattr(row, k) for k in _column_keys(type(row)))


def group_calendar_component(
    group: Group, entries: Sequence[SeriesEntry], *, links: Links, host: str, span: Window
) -> icalendar.Calendar:
    """The group feed as one icalendar component, built from scratch (the reference `group_calendar` must match)."""
    cal = _calendar(_one_line(group.name), clean_text(group.description), links.group(group))
    zones = _Zones()
    events: list[icalendar.Event] = []
    for entry in entries:
        events.extend(_series_events(group, entry, links=links, host=host, span=span, zones=zones))
    if len(zones.years) == 1:
        # Apps that show a subscribed calendar in "its" zone (Google, Apple) take it from here; every time in the
        # feed still carries its TZID or is UTC, so the instants do not depend on it.
        cal.add("x-wr-timezone", next(iter(zones.years)))
    return _finish(cal, events, zones)


def _series_events(
    group: Group, entry: SeriesEntry, *, links: Links, host: str, span: Window, zones: _Zones
) -> list[icalendar.Event]:
    series = entry.series
    tz = series.tz
    # One expansion for the series' whole life up to the window's end and the corrections further ahead: a
    # calendar app expands the RRULE from DTSTART, so every exception from the first meeting on stays written.
    until = max(span.end, span.corrections_end or span.end)
    life = min(span.start, resolve_local(series.dtstart_local, tz).astimezone(UTC))
    instants = expand(series.rrule, series.dtstart_local, tz, life, until)
    in_rule = {instant for instant in instants if instant < span.end}
    changed = [occ for occ in entry.changed if occ.original_start < span.end or occ.starts_at < span.end]
    if not in_rule and not any(occ.status == OccurrenceStatus.MOVED and _touches(occ, span) for occ in changed):
        return []  # the series starts after the window
    # A series that ended before the window stays: leaving it out would take its meetings out of members'
    # calendars, history that happened.
    uid = f"series-{series.id}@{host}"
    public_online = visibility.online_link_public(series)
    one_off = from_rrule(series.rrule, tz).frequency is Frequency.ONCE
    if one_off:
        return _one_off_event(group, series, changed, uid=uid, links=links, public_online=public_online, zones=zones)

    master = icalendar.Event()
    master.add("uid", uid)
    master.add("dtstart", series.dtstart_local.replace(tzinfo=tz))
    if _needs_correction(series, resolve_local(series.dtstart_local, tz)):
        # DTEND - DTSTART would not be the meeting's length for every parser: say the length itself.
        master.add("duration", series.duration)
    else:
        master.add("dtend", (series.dtstart_local + series.duration).replace(tzinfo=tz))
    master.add("rrule", icalendar.vRecur.from_ical(series.rrule))
    master.add("created", _utc(series.created_at))
    _stamp(master, series.updated_at, series.sequence)
    master.add("summary", _series_title(series))
    master.add("location", _location(series.venue, series.address, series, public_online))
    master.add("description", _description(series, note="", show_online=public_online, page=links.group(group)))
    master.add("url", links.group(group), parameters={"VALUE": "URI"})
    master.add("status", "CONFIRMED")
    zones.use(series.timezone, series.dtstart_local.year, span.end.year)
    events = [master]

    done = set()
    for occ in sorted(changed, key=lambda o: o.original_start):
        if not _produces(series, occ.original_start, in_rule, span):
            continue  # superseded or ended: the rule (its UNTIL) already leaves it out
        done.add(occ.original_start)
        if occ.status == OccurrenceStatus.CANCELLED and (occ.superseded or not group.calendar_shows_cancellations):
            master.add("exdate", _wall(series, occ.original_start))
            continue
        override = _override(series, occ, uid=uid, links=links, public_online=public_online)
        override.add("recurrence-id", _wall(series, occ.original_start))
        zones.use(series.timezone, occ.starts_at.year)
        events.append(override)
    # Meetings at the edge of a clock change, spelled out so that every calendar app puts them where they are.
    for instant in _corrections(series, instants, span):
        if instant in done:
            continue
        correction = _plain_event(group, series, uid=uid, links=links, public_online=public_online, start=instant)
        correction.add("recurrence-id", _wall(series, instant))
        zones.use(series.timezone, instant.year)
        events.append(correction)
    return events


def _touches(occ: Occurrence, span: Window) -> bool:
    return span.start <= occ.original_start < span.end or span.start <= occ.starts_at < span.end


def _produces(series: MeetingSeries, instant: datetime, in_rule: set[datetime], span: Window) -> bool:
    """Whether the series' rule (with its UNTIL) has a meeting at this instant."""
    if instant < span.end:
        return instant in in_rule
    return bool(expand(series.rrule, series.dtstart_local, series.tz, instant, instant + timedelta(seconds=1)))


def _override(
    series: MeetingSeries, occ: Occurrence, *, uid: str, links: Links, public_online: bool
) -> icalendar.Event:
    """The event of one meeting as it really is (moved, or cancelled and shown), for a group feed."""
    tz = series.tz
    event = icalendar.Event()
    event.add("uid", uid)
    dtstart, dtend = _start_end(occ.starts_at, occ.ends_at, tz)
    event.add("dtstart", dtstart)
    event.add("dtend", dtend)
    _stamp(event, max(series.updated_at, occ.updated_at), series.sequence + occ.sequence)
    cancelled = occ.status == OccurrenceStatus.CANCELLED
    event.add("summary", (CANCELLED_PREFIX if cancelled else "") + _series_title(series))
    event.add("location", _location(occ.effective_venue, occ.effective_address, series, public_online))
    note = _change_note(occ)
    event.add("description", _description(series, note=note, show_online=public_online, page=links.occurrence(occ)))
    event.add("url", links.occurrence(occ), parameters={"VALUE": "URI"})
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def _change_note(occ: Occurrence) -> str:
    if occ.status == OccurrenceStatus.CANCELLED:
        return "Cancelled" + (f": {occ.note}" if occ.note else ".")
    if occ.status == OccurrenceStatus.MOVED:
        return "Moved" + (f": {occ.note}" if occ.note else ".")
    return occ.note or ""


def _one_off_event(
    group: Group,
    series: MeetingSeries,
    changed: Sequence[Occurrence],
    *,
    uid: str,
    links: Links,
    public_online: bool,
    zones: _Zones,
) -> list[icalendar.Event]:
    """A meeting that happens once: one plain event at its current time, or none once it is cancelled."""
    occ = next((o for o in changed if not o.superseded), None)
    if occ is not None:
        if occ.status == OccurrenceStatus.CANCELLED and not group.calendar_shows_cancellations:
            return []
        event = _override(series, occ, uid=uid, links=links, public_online=public_online)
        zones.use(series.timezone, occ.starts_at.year)
        return [event]
    start = resolve_local(series.dtstart_local, series.tz)
    event = _plain_event(group, series, uid=uid, links=links, public_online=public_online, start=start)
    event.add("created", _utc(series.created_at))
    zones.use(series.timezone, series.dtstart_local.year)
    return [event]


def _plain_event(
    group: Group, series: MeetingSeries, *, uid: str, links: Links, public_online: bool, start: datetime
) -> icalendar.Event:
    """A meeting of the series as the series says it, at `start` (a one-off, or a correction near a DST change)."""
    start = start.astimezone(UTC)  # so that adding the duration adds elapsed time
    event = icalendar.Event()
    event.add("uid", uid)
    dtstart, dtend = _start_end(start, start + series.duration, series.tz)
    event.add("dtstart", dtstart)
    event.add("dtend", dtend)
    _stamp(event, series.updated_at, series.sequence)
    event.add("summary", _series_title(series))
    event.add("location", _location(series.venue, series.address, series, public_online))
    event.add("description", _description(series, note="", show_online=public_online, page=links.group(group)))
    event.add("url", links.group(group), parameters={"VALUE": "URI"})
    event.add("status", "CONFIRMED")
    return event


# --- private feeds and single meetings ---


def _meeting_event(
    entry: MeetingEntry, *, discreet: bool, viewer_zone: ZoneInfo, links: Links, host: str, place: bool = True
) -> icalendar.Event:
    """One meeting. `place` False leaves out LOCATION (the discreet subscribed feed)."""
    occ = entry.occurrence
    series = occ.series
    tz = series.tz
    cancelled = occ.status == OccurrenceStatus.CANCELLED
    event = icalendar.Event()
    event.add("uid", f"occurrence-{occ.id}@{host}")
    dtstart, dtend = _start_end(occ.starts_at, occ.ends_at, tz)
    event.add("dtstart", dtstart)
    event.add("dtend", dtend)
    _stamp(event, max(series.updated_at, occ.updated_at), series.sequence + occ.sequence)
    title = _discreet_title(occ.starts_at, viewer_zone) if discreet else _series_title(series)
    event.add("summary", (CANCELLED_PREFIX if cancelled else "") + title)
    if place:
        event.add("location", _location(occ.effective_venue, occ.effective_address, series, entry.show_online))
    if discreet:
        # No description at all, and a link to the member's own meetings page rather than the group's.
        event.add("url", links.my_meetings(), parameters={"VALUE": "URI"})
    else:
        note = _change_note(occ) if occ.status != OccurrenceStatus.SCHEDULED else ""
        extra = "You are on the waitlist." if entry.waitlisted else ""
        description = _description(
            series, note=note, show_online=entry.show_online, page=links.occurrence(occ), extra=extra
        )
        event.add("description", description)
        event.add("url", links.occurrence(occ), parameters={"VALUE": "URI"})
    event.add("status", "CANCELLED" if cancelled else "TENTATIVE" if entry.waitlisted else "CONFIRMED")
    return event


def _session_event(entry: SessionEntry, host: str) -> icalendar.Event:
    # In UTC: a session is one instant, and its UID is the session's nonce (never its id, coach or member).
    event = icalendar.Event()
    event.add("uid", f"session-{entry.nonce}@{host}")
    event.add("dtstart", _utc(entry.starts_at))
    event.add("dtend", _utc(entry.ends_at))
    _stamp(event, entry.changed_at, 0)
    event.add("summary", entry.title)
    event.add("status", "CONFIRMED")
    return event


def private_calendar(
    entries: Sequence[MeetingEntry], *, discreet: bool, viewer_zone: ZoneInfo, links: Links, host: str,
    sessions: Sequence[SessionEntry] = (),
) -> bytes:
    """A member's private feed: one event per meeting. A cancelled one is left out unless its group shows them."""
    if discreet:
        cal = _calendar(DISCREET_CALENDAR_NAME, "", None)
    else:
        cal = _calendar("My SupportNet meetings", "", links.my_meetings())
    zones = _Zones()
    events = []
    for entry in entries:
        occ = entry.occurrence
        if occ.superseded:
            continue
        if occ.status == OccurrenceStatus.CANCELLED and not occ.series.group.calendar_shows_cancellations:
            continue
        # A subscribed feed syncs to phones, lock screens and calendars shared with family or an employer: the
        # discreet one shows no venue, address or online link, only the neutral title and the link to the
        # member's meetings page (behind their sign-in), which has everything. A single download keeps its place.
        events.append(_meeting_event(entry, discreet=discreet, viewer_zone=viewer_zone, links=links, host=host,
                                     place=not discreet))
        zones.use(occ.series.timezone, occ.starts_at.year)
    events.extend(_session_event(entry, host) for entry in sessions)
    return _finish(cal, events, zones).to_ical()


def meeting_calendar(entry: MeetingEntry, *, discreet: bool, viewer_zone: ZoneInfo, links: Links, host: str) -> bytes:
    """One meeting as an .ics file to download; a cancelled one is marked cancelled, so importing it updates it."""
    occ = entry.occurrence
    name = DISCREET_CALENDAR_NAME if discreet else _series_title(occ.series)
    cal = _calendar(name, "", None)
    zones = _Zones()
    zones.use(occ.series.timezone, occ.starts_at.year)
    event = _meeting_event(entry, discreet=discreet, viewer_zone=viewer_zone, links=links, host=host)
    return _finish(cal, [event], zones).to_ical()


GOOGLE_TEMPLATE_URL = "https://calendar.google.com/calendar/render"


def google_calendar_link(entry: MeetingEntry, *, discreet: bool, viewer_zone: ZoneInfo, links: Links) -> str:
    """An "Add to Google Calendar" link for one meeting (Google's event template; nothing is sent until clicked)."""
    occ = entry.occurrence
    series = occ.series
    title = _discreet_title(occ.starts_at, viewer_zone) if discreet else _series_title(series)
    params = {
        "action": "TEMPLATE",
        "text": title,
        "dates": f"{_utc(occ.starts_at):%Y%m%dT%H%M%SZ}/{_utc(occ.ends_at):%Y%m%dT%H%M%SZ}",
        "ctz": series.timezone,
        "location": _location(occ.effective_venue, occ.effective_address, series, entry.show_online),
    }
    if discreet:
        params["details"] = links.my_meetings()
    else:
        params["details"] = _description(series, note="", show_online=entry.show_online, page=links.occurrence(occ))
    return f"{GOOGLE_TEMPLATE_URL}?{urlencode(params)}"


# --- subscribing ---


@dataclass(frozen=True)
class SubscribeLinks:
    """The ways to subscribe to a feed address in the major calendar apps."""

    https: str
    webcal: str
    google: str
    outlook: str


def subscribe_links(feed_url: str, name: str) -> SubscribeLinks:
    """webcal:// (Apple Calendar, Outlook desktop, Thunderbird), Google Calendar and Outlook.com links for a feed."""
    webcal = re.sub(r"^https?://", "webcal://", feed_url)
    google = "https://calendar.google.com/calendar/render?" + urlencode({"cid": webcal})
    outlook = "https://outlook.live.com/calendar/0/addfromweb?" + urlencode({"url": feed_url, "name": name})
    return SubscribeLinks(https=feed_url, webcal=webcal, google=google, outlook=outlook)


def fingerprint(*parts: object) -> str:
    """A digest of everything a feed is built from (rows count with every column): equal digests, equal bytes."""
    return hashlib.sha256(repr(_plain(parts)).encode()).hexdigest()


@lru_cache(maxsize=64)
def _column_keys(model: type) -> tuple[str, ...]:
    return tuple(c.key for c in orm_inspect(model).column_attrs)


def _plain(value: object) -> object:
    if isinstance(value, Base):
        loaded = value.__dict__  # what the query loaded; anything not loaded yet is read (and loaded) normally
        keys = _column_keys(type(value))
        return type(value).__name__, keys, tuple(loaded[k] if k in loaded else getattr(value, k) for k in keys)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__name__, tuple(_plain(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, list | tuple):
        return tuple(_plain(item) for item in value)
    return value


def last_modified(instants: Iterable[datetime | None]) -> datetime | None:
    """The latest of these instants, to the second (an HTTP date has no fractions)."""
    known = [_utc(i) for i in instants if i is not None]
    return max(known) if known else None


__all__ = [
    "CANCELLED_PREFIX",
    "BlockCache",
    "Links",
    "MeetingEntry",
    "SeriesEntry",
    "SubscribeLinks",
    "Window",
    "clean_text",
    "fingerprint",
    "google_calendar_link",
    "group_calendar",
    "last_modified",
    "meeting_calendar",
    "private_calendar",
    "subscribe_links",
    "window",
]
