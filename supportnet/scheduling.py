"""Scheduling: meeting series, their occurrences on a rolling horizon, and one-off changes.

Functions here change models and flush; the caller (a view, a command, a scheduler job) commits. What a
facilitator enters and how it is checked lives in supportnet/series_spec.py; read-only questions about meetings
(what is coming up, which series run) in supportnet/timetable.py.

A series is a rule in local wall time; occurrences are its concrete meetings in UTC,
created ("materialized") up to HORIZON ahead. Rows are never deleted: RSVPs, attendance, check-ins and
reminders point at them. Editing a schedule therefore never rewrites the past:

* nothing has happened yet: the series is edited in place; occurrences the new rule no longer produces are
  cancelled with ``superseded=True``, missing ones are created, the rest keep their rows (and RSVPs);
* the series has begun: it is split. The old series keeps every meeting before the local day (in the new
  schedule's zone) of the new schedule's first meeting (its RRULE gets an UNTIL) and is ended, so no day has a
  meeting of each; a meeting of the old rule already under way that day stays and the new schedule starts on
  its next day instead; the rest of its rows are superseded; a new series with
  ``previous_id`` pointing back carries on. A first date left in the past (as an edit form shows it) means
  "from now on": the new series starts at the rule's next meeting, keeping an every-N rhythm and the
  number of meetings left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update

from supportnet import audit, feed_versions, rsvps
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import AuditAction, Group, MeetingSeries, Occurrence, OccurrenceStatus, StandingRsvp, User
from supportnet.notifications import hooks
from supportnet.recurrence import (
    Frequency,
    expand,
    from_rrule,
    resolve_local,
    to_rrule,
)
from supportnet.series_spec import (
    LONGEST_GAP,
    MAX_YEARS_AHEAD,
    Schedule,
    SeriesSpec,
    check_dates,
    check_duration,
    check_text,
    check_timezone,
    clean_spec,
    latest_date,
    movable_date,
    rebase,
    require_future_start,
    schedule_for,
)

HORIZON = timedelta(weeks=26)
# How far a series' horizon may fall behind before a pass extends it (so most passes do nothing).
EXTEND_SLACK = timedelta(days=1)
# Materializing starts a little in the past so that a meeting in progress still gets its row.
LOOKBACK = timedelta(days=1)
SCHEDULE_CHANGED_NOTE = "The schedule changed."
SERIES_ENDED_NOTE = "This meeting series has ended."
MAX_NOTE = 500
# Series per round of extend_horizons: a bound parameter each in two IN lists (far below every database's limit).
_CHUNK = 500


# --- small helpers on stored series ---


def _series_schedule(series: MeetingSeries) -> Schedule:
    return Schedule(series.dtstart_local, series.timezone, series.rrule, series.duration_minutes)


def first_start(series: MeetingSeries) -> datetime:
    """The UTC instant of the series' first meeting."""
    return _series_schedule(series).first_start


def _in_rule(series: MeetingSeries, instant: datetime) -> bool:
    """Return whether the series' rule (with its end) produces a meeting at this instant."""
    return bool(expand(series.rrule, series.dtstart_local, series.tz, instant, instant + timedelta(seconds=1)))


def _has_started(series: MeetingSeries, now: datetime) -> bool:
    if first_start(series) <= now:
        return True
    started = select(Occurrence.id).where(Occurrence.series_id == series.id, Occurrence.starts_at <= now).limit(1)
    return db.session.scalar(started) is not None


def _touch(occ: Occurrence, now: datetime) -> None:
    # SEQUENCE is computed by the database, so two edits at the same moment both move it forward.
    occ.sequence = Occurrence.sequence + 1
    occ.updated_at = now


def _touch_series(series: MeetingSeries, now: datetime) -> None:
    series.sequence = MeetingSeries.sequence + 1
    series.updated_at = now


def _require_group_open(group: Group) -> None:
    if group.archived_at is not None:
        raise DomainError("This group is archived.")


def _format_local(instant: datetime, tz: ZoneInfo) -> str:
    local = instant.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


# --- creating and materializing ---


def _apply_details(series: MeetingSeries, spec: SeriesSpec) -> bool:
    changed = False
    for name in (
        "title",
        "description",
        "venue",
        "address",
        "location_notes",
        "online_url",
        "online_phone",
        "online_notes",
        "online_visibility",
        "capacity",
    ):
        value = getattr(spec, name)
        if getattr(series, name) != value:
            setattr(series, name, value)
            changed = True
    return changed


def _apply_schedule(series: MeetingSeries, schedule: Schedule) -> None:
    series.dtstart_local = schedule.dtstart_local
    series.timezone = schedule.timezone
    series.rrule = schedule.rrule
    series.duration_minutes = schedule.duration_minutes


def _new_series(group_id: int, spec: SeriesSpec, schedule: Schedule, now: datetime) -> MeetingSeries:
    series = MeetingSeries(group_id=group_id, sequence=0, created_at=now, updated_at=now)
    _apply_details(series, spec)
    _apply_schedule(series, schedule)
    return series


def create_series(group: Group, spec: SeriesSpec, now: datetime) -> MeetingSeries:
    """Schedule a new meeting series for the group and create its meetings for the coming months."""
    _require_group_open(group)
    spec = clean_spec(spec)
    check_dates(spec, now)
    schedule = schedule_for(spec)
    require_future_start(spec, schedule, now)
    series = _new_series(group.id, spec, schedule, now)
    db.session.add(series)
    db.session.flush()
    materialize(series, now + HORIZON, now)
    return series


@dataclasses.dataclass(frozen=True, slots=True)
class _Rule:
    """What materializing needs of a series: its rule, length and seats (a loaded row or a Core row)."""

    id: int
    rrule: str | None
    dtstart_local: datetime
    timezone: str
    duration_minutes: int
    capacity: int | None


_RULE_COLUMNS = (
    MeetingSeries.id,
    MeetingSeries.rrule,
    MeetingSeries.dtstart_local,
    MeetingSeries.timezone,
    MeetingSeries.duration_minutes,
    MeetingSeries.capacity,
)


def materialize(series: MeetingSeries, until: datetime, now: datetime) -> int:
    """Create the occurrence rows the series' rule gives before `until` that don't exist yet; return how many.

    Existing rows are never touched, so one-off changes and RSVPs survive any number of runs.
    """
    if series.ended_at is not None:
        return 0
    if series.id is None:
        db.session.flush()
    rule = _Rule(series.id, series.rrule, series.dtstart_local, series.timezone, series.duration_minutes,
                 series.capacity)
    created = _insert_occurrences(_missing_rows([rule], until, now), now) if until > now - LOOKBACK else 0
    if series.materialized_until is None or series.materialized_until < until:
        series.materialized_until = until
    db.session.flush()
    if created:
        # The rows were inserted without the ORM; a loaded `occurrences` list would not know about them.
        db.session.expire(series, ["occurrences"])
        # RSVP hook: standing RSVPs ("I come every week") answer for the new meetings.
        rsvps.apply_standing(series, now)
    return created


def _missing_rows(rules: Sequence[_Rule], until: datetime, now: datetime) -> list[tuple]:
    """The occurrence rows (in _INSERT_COLUMNS order, instants as aware UTC) that these series' rules give from
    LOOKBACK before now until `until` and that don't exist yet. One query for the rows that exist."""
    lo = now - LOOKBACK
    existing: dict[int, set[datetime]] = {}
    found = db.session.execute(
        select(Occurrence.series_id, Occurrence.original_start).where(
            Occurrence.series_id.in_([rule.id for rule in rules]),
            Occurrence.original_start >= lo,
            Occurrence.original_start < until,
        )
    )
    for series_id, original_start in found:
        existing.setdefault(series_id, set()).add(original_start)
    rows = []
    for rule in rules:
        duration = timedelta(minutes=rule.duration_minutes)
        skip = existing.get(rule.id, ())
        for instant in expand(rule.rrule, rule.dtstart_local, ZoneInfo(rule.timezone), lo, until):
            if instant not in skip:
                rows.append((rule.id, instant, instant + duration, rule.capacity))
    return rows


# The columns of a new meeting, in the order of the INSERT below; the ones not listed take their defaults.
_INSERT_SQL = (
    "INSERT INTO occurrence (series_id, original_start, starts_at, ends_at, status, note, capacity, going_count, "
    "waitlist_count, superseded, sequence, updated_at) VALUES ({marks}) "
    "ON CONFLICT (series_id, original_start) DO NOTHING"
)


def _driver_instant(dialect: str):
    """How a UTC instant goes to the driver for a UTCDateTime column, without SQLAlchemy's per-value processing:
    SQLite stores the text SQLAlchemy's DateTime writes (compared as text, so it must be the very same),
    PostgreSQL a naive UTC timestamp. The instants must already be in UTC (expand gives them so)."""
    if dialect == "sqlite":
        # "YYYY-MM-DD HH:MM:SS.ffffff" and the "+00:00" of UTC cut off.
        return lambda instant: instant.isoformat(" ", "microseconds")[:26]
    return lambda instant: instant.replace(tzinfo=None)


def _insert_occurrences(rows: list[tuple], now: datetime) -> int:
    """Insert new meetings (from _missing_rows), skipping any that another transaction created meanwhile; return
    how many were inserted."""
    if not rows:
        return 0
    connection = db.session.connection()
    dialect = connection.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        db.session.add_all(
            Occurrence(series_id=series_id, original_start=start, starts_at=start, ends_at=end, capacity=capacity,
                       status=OccurrenceStatus.SCHEDULED, note="", going_count=0, waitlist_count=0,
                       superseded=False, sequence=0, updated_at=now)
            for series_id, start, end, capacity in rows
        )
        db.session.flush()
        return len(rows)
    # Tens of thousands of rows on a first start: SQLAlchemy's per-value type processing cost more than the
    # database's own work, so the values go to the driver's executemany as the column types would write them.
    # Two scheduler processes (or a scheduler and an edit) may materialize the same series at once on
    # PostgreSQL: ON CONFLICT makes the unique key settle it without failing either transaction, and the
    # driver's row count (summed over the rows on both drivers) says how many were new.
    instant = _driver_instant(dialect)
    scheduled, stamp = OccurrenceStatus.SCHEDULED.value, instant(now.astimezone(UTC))
    params = [
        (series_id, first := instant(start), first, instant(end), scheduled, "", capacity, 0, 0, False, 0, stamp)
        for series_id, start, end, capacity in rows
    ]
    sql = _INSERT_SQL.format(marks=", ".join(["?" if dialect == "sqlite" else "%s"] * 12))
    # Text to the driver: the feed versions' listeners cannot read whose meetings these are, so say it here.
    feed_versions.touch(connection, {(feed_versions.SERIES, series_id) for series_id, *_ in rows})
    return connection.exec_driver_sql(sql, params, execution_options={feed_versions.TRACED: True}).rowcount


def extend_horizons(now: datetime) -> int:
    """Create the next meetings of every running series up to HORIZON ahead.

    The scheduler calls this on every pass; a series is only touched once its horizon is a day short,
    so an idle pass is one indexed query. Due series are handled in chunks, a few statements per chunk
    rather than per series: their rules are read as plain rows, the existing meetings in one query, the new
    ones in one INSERT and the horizons moved in one UPDATE.
    """
    target = now + HORIZON
    due = db.session.execute(
        select(*_RULE_COLUMNS)
        .join(MeetingSeries.group)
        .where(
            MeetingSeries.ended_at.is_(None),
            Group.archived_at.is_(None),
            or_(
                MeetingSeries.materialized_until.is_(None),
                MeetingSeries.materialized_until < target - EXTEND_SLACK,
            ),
        )
        .order_by(MeetingSeries.id)
    ).all()
    if not due:
        return 0
    # RSVP hook: only series with regulars ("I come every week") need apply_standing.
    with_standing = set(db.session.scalars(select(StandingRsvp.series_id).distinct()))
    created = 0
    for start in range(0, len(due), _CHUNK):
        rules = [_Rule(*row) for row in due[start : start + _CHUNK]]
        rows = _missing_rows(rules, target, now)
        created += _insert_occurrences(rows, now)
        ids = [rule.id for rule in rules]
        db.session.execute(
            update(MeetingSeries)
            .where(
                MeetingSeries.id.in_(ids),
                or_(MeetingSeries.materialized_until.is_(None), MeetingSeries.materialized_until < target),
            )
            .values(materialized_until=target)
            .execution_options(synchronize_session=False)
        )
        _forget_loaded(set(ids))
        # RSVP hook: standing RSVPs answer for the new meetings. The UPDATE above locked the series rows first, so
        # the lock order is series, then meetings, as when a capacity changes.
        for series_id in sorted({row[0] for row in rows} & with_standing):
            rsvps.apply_standing(db.session.get_one(MeetingSeries, series_id), now)
    return created


def _forget_loaded(series_ids: set[int]) -> None:
    """Expire what a bulk change made stale in the series of these ids that the session has loaded."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, MeetingSeries) and obj.id in series_ids:
            db.session.expire(obj, ["materialized_until", "occurrences"])


# --- one-off changes ---


def _require_changeable(occ: Occurrence, now: datetime) -> MeetingSeries:
    series = occ.series
    _require_group_open(series.group)
    if occ.superseded:
        raise DomainError("This meeting was replaced when the schedule changed.")
    if occ.starts_at <= now:
        raise DomainError("This meeting has already started.")
    if series.ended_at is not None and (
        first_start(series) > series.ended_at or not _in_rule(series, occ.original_start)
    ):
        raise DomainError("This meeting series has ended.")
    return series


def _clean_note(note: str) -> str:
    return check_text(note, "note", MAX_NOTE)


def cancel_occurrence(occ: Occurrence, note: str, now: datetime, *, by: User | None = None) -> Occurrence:
    """Cancel one meeting, telling members why; the row stays so it can be restored (`by`: for the audit log)."""
    series = _require_changeable(occ, now)
    note = _clean_note(note)
    if occ.status == OccurrenceStatus.CANCELLED and occ.note == note:
        return occ
    before = hooks.occurrence_snapshot(occ)
    occ.status = OccurrenceStatus.CANCELLED
    occ.note = note
    _touch(occ, now)
    _touch_series(series, now)
    db.session.flush()
    audit.record(AuditAction.MEETING_CANCELLED, actor=by, now=now, occurrence=occ, starts_at=occ.starts_at)
    # Notifications hook: reminders stop, who answered gets a change notice.
    hooks.occurrence_changed(occ, before, now)
    return occ


def move_occurrence(
    occ: Occurrence,
    *,
    new_start_local: datetime,
    now: datetime,
    tz: str | None = None,
    duration_minutes: int | None = None,
    venue: str | None = None,
    address: str | None = None,
    note: str = "",
    by: User | None = None,
) -> Occurrence:
    """Move one meeting to another time (and optionally place); it keeps its row, so RSVPs stay with it.

    new_start_local is wall time in `tz` (default: the series' zone). duration_minutes None keeps the
    meeting's current length; venue/address None keep the current place, a value sets it for this meeting.
    `by`: who moves it, for the audit log.
    """
    series = _require_changeable(occ, now)
    if not isinstance(new_start_local, datetime) or new_start_local.tzinfo is not None:
        raise TypeError("new_start_local must be a naive local datetime")
    zone_name = check_timezone(tz or series.timezone)
    if new_start_local.date() > latest_date(now):
        raise DomainError(f"Choose a date within {MAX_YEARS_AHEAD} years from today.", field="new_start_local")
    if not movable_date(new_start_local.date(), now):
        # Checked before converting: 0001-01-01 00:30 in Tokyo would run off the start of the calendar in UTC.
        raise DomainError("Choose a time in the future.", field="new_start_local")
    starts_at = resolve_local(new_start_local.replace(second=0, microsecond=0), ZoneInfo(zone_name)).astimezone(UTC)
    if starts_at <= now:
        raise DomainError("Choose a time in the future.", field="new_start_local")
    if duration_minutes is None:
        duration_minutes = int((occ.ends_at - occ.starts_at).total_seconds() // 60)
    check_duration(duration_minutes)
    new_venue = occ.venue if venue is None else check_text(venue, "venue", 200)
    new_address = occ.address if address is None else check_text(address, "address", 300)
    # An override equal to the series' value is no override: later edits of the series then apply here too.
    new_venue = None if new_venue == series.venue else new_venue
    new_address = None if new_address == series.address else new_address
    effective_venue = series.venue if new_venue is None else new_venue
    effective_address = series.address if new_address is None else new_address
    if not (effective_venue or effective_address or series.online_url):
        raise DomainError("Add a place or an online link.", field="venue")
    note = _clean_note(note)
    before = hooks.occurrence_snapshot(occ)
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    differs = (
        starts_at != occ.original_start
        or ends_at != occ.original_start + series.duration
        or new_venue is not None
        or new_address is not None
    )
    from_starts_at = occ.starts_at
    occ.status = OccurrenceStatus.MOVED if differs else OccurrenceStatus.SCHEDULED
    occ.starts_at = starts_at
    occ.ends_at = ends_at
    occ.venue = new_venue
    occ.address = new_address
    occ.note = note
    _touch(occ, now)
    _touch_series(series, now)
    db.session.flush()
    audit.record(AuditAction.MEETING_MOVED, actor=by, now=now, occurrence=occ, from_starts_at=from_starts_at,
                 to_starts_at=occ.starts_at)
    # Notifications hook: reminders follow the new time, who answered gets a change notice.
    hooks.occurrence_changed(occ, before, now)
    return occ


def restore_occurrence(occ: Occurrence, now: datetime, *, by: User | None = None) -> Occurrence:
    """Put a cancelled or moved meeting back at its usual time and place (`by`: for the audit log)."""
    _lock_for_seats(occ.series, [occ])  # its seat counts are read below to decide the capacity
    series = _require_changeable(occ, now)
    if occ.original_start <= now:
        raise DomainError("Its usual time has already passed.")
    before = hooks.occurrence_snapshot(occ)
    occ.status = OccurrenceStatus.SCHEDULED
    occ.starts_at = occ.original_start
    occ.ends_at = occ.original_start + series.duration
    occ.venue = None
    occ.address = None
    occ.note = ""
    if series.capacity is None or occ.going_count <= series.capacity:
        occ.capacity = series.capacity
    _touch(occ, now)
    _touch_series(series, now)
    db.session.flush()
    audit.record(AuditAction.MEETING_RESTORED, actor=by, now=now, occurrence=occ, starts_at=occ.starts_at)
    # Notifications hook: reminders come back, who answered hears the meeting is on again.
    hooks.occurrence_changed(occ, before, now)
    # RSVP hook: the series' capacity may have grown while this meeting was cancelled.
    rsvps.promote_waitlist(occ, now)
    return occ


# --- editing and ending a series ---


def _future_rows(series: MeetingSeries, now: datetime) -> list[Occurrence]:
    return list(
        db.session.scalars(
            select(Occurrence)
            .where(Occurrence.series_id == series.id, Occurrence.starts_at > now)
            .order_by(Occurrence.starts_at)
        )
    )


def _lock_for_seats(series: MeetingSeries, rows: Iterable[Occurrence]) -> None:
    """Lock the series, then these meetings of it, before reading their seat counts to change capacities.

    Always the series first: materializing locks the series and then answers standing RSVPs in its new meetings,
    so taking them the other way round here could make two transactions wait for each other.
    """
    db.session.execute(select(MeetingSeries.id).where(MeetingSeries.id == series.id).with_for_update())
    rsvps.lock_meetings(rows)


def _check_capacity(series: MeetingSeries, capacity: int | None, rows: Iterable[Occurrence]) -> None:
    if capacity is None:
        return
    fullest = max(
        (occ for occ in rows if occ.status != OccurrenceStatus.CANCELLED),
        key=lambda occ: occ.going_count,
        default=None,
    )
    if fullest is not None and fullest.going_count > capacity:
        n = fullest.going_count
        people = "1 person is" if n == 1 else f"{n} people are"
        raise DomainError(
            f"{people} already going to the meeting on {_format_local(fullest.starts_at, series.tz)}. "
            f"Set the capacity to at least {n}.",
            field="capacity",
        )


def _propagate_capacity(series: MeetingSeries, rows: Iterable[Occurrence]) -> None:
    for occ in rows:
        if occ.status != OccurrenceStatus.CANCELLED and occ.capacity != series.capacity:
            occ.capacity = series.capacity


def _supersede(occ: Occurrence, now: datetime) -> None:
    occ.status = OccurrenceStatus.CANCELLED
    occ.superseded = True
    occ.note = SCHEDULE_CHANGED_NOTE
    _touch(occ, now)


def _rule_ending_before(series: MeetingSeries, cut: datetime) -> str | None:
    """The series' RRULE with an UNTIL that keeps only the meetings before `cut`."""
    tz = series.tz
    rec = from_rrule(series.rrule, tz)
    if rec.frequency is Frequency.ONCE:
        return series.rrule
    if not expand(series.rrule, series.dtstart_local, tz, cut, cut + LONGEST_GAP):
        return series.rrule  # the rule ends before the cut anyway
    kept = expand(series.rrule, series.dtstart_local, tz, first_start(series), cut)
    # RRULE can't say "no meetings at all" (DTSTART is always one), so a series ended before it began keeps
    # its first meeting in the rule; that meeting's row is cancelled.
    until = kept[-1].astimezone(tz).date() if kept else series.dtstart_local.date()
    return to_rrule(dataclasses.replace(rec, until=until, count=None), series.dtstart_local, tz)


def update_series(series: MeetingSeries, spec: SeriesSpec, now: datetime) -> MeetingSeries:
    """Change a meeting series and return the series that carries on (a new one if the schedule had to split).

    Past meetings, their attendance and one-off changes always stay as they were.
    """
    _require_group_open(series.group)
    if series.ended_at is not None:
        raise DomainError("This meeting series has ended.")
    spec = clean_spec(spec)
    # An end date saved before dates were limited may stay as it is.
    check_dates(spec, now, stored_until=from_rrule(series.rrule, series.tz).until)
    schedule = schedule_for(spec)
    same_schedule = schedule == _series_schedule(series)
    # Notifications hook: who answered for coming meetings, and what they saw, before the change.
    before = hooks.series_snapshot(series, now)
    if not same_schedule and _has_started(series, now):
        successor = _split(series, spec, schedule, now)
        hooks.series_changed(before, successor, now)
        return successor
    if not same_schedule:
        require_future_start(spec, schedule, now)
    rows = _future_rows(series, now)
    # RSVPs may be arriving right now: lock the meetings and check the capacity against their counts as they
    # stand, so a lower capacity is refused with a message instead of tripping the database's CHECK.
    _lock_for_seats(series, rows)
    _check_capacity(series, spec.capacity, rows)
    # Everything is checked: from here on, change things.
    changed = _apply_details(series, spec)
    _propagate_capacity(series, rows)
    # RSVP hook: seats a higher capacity freed go to the waitlists.
    rsvps.promote_waitlists(rows, now)
    if changed:
        # Feeds repeat the title and place in every changed meeting, so those move forward too.
        for occ in rows:
            if occ.status != OccurrenceStatus.SCHEDULED:
                _touch(occ, now)
    if not same_schedule:
        _reschedule_in_place(series, schedule, rows, now)
    if changed or not same_schedule:
        _touch_series(series, now)
    db.session.flush()
    hooks.series_changed(before, series, now)
    return series


def _reschedule_in_place(series: MeetingSeries, schedule: Schedule, rows: list[Occurrence], now: datetime) -> None:
    """Give a series that has not begun a new schedule, keeping every row whose meeting the new rule still has."""
    _apply_schedule(series, schedule)
    lo = min([schedule.first_start, *(occ.original_start for occ in rows)])
    hi = max([now + HORIZON, *(occ.original_start + timedelta(seconds=1) for occ in rows)])
    wanted = set(expand(schedule.rrule, schedule.dtstart_local, schedule.tz, lo, hi))
    duration = series.duration
    for occ in rows:
        if occ.original_start not in wanted:
            if not occ.superseded:
                _supersede(occ, now)
        elif occ.superseded:
            # The rule has this meeting again (an edit was undone): the row must come back, or the unique
            # key would keep the meeting from ever being created.
            occ.status = OccurrenceStatus.SCHEDULED
            occ.superseded = False
            occ.note = ""
            occ.starts_at, occ.ends_at = occ.original_start, occ.original_start + duration
            occ.venue = occ.address = None
            if series.capacity is None or occ.going_count <= series.capacity:
                occ.capacity = series.capacity
            _touch(occ, now)
            # RSVP hook: the capacity may be higher than when the meeting was replaced.
            rsvps.promote_waitlist(occ, now)
        elif occ.status == OccurrenceStatus.SCHEDULED and occ.ends_at != occ.starts_at + duration:
            occ.ends_at = occ.starts_at + duration
            _touch(occ, now)
    materialize(series, now + HORIZON, now)


def _start_of_local_day(instant: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the local day of `instant` begins in tz (midnight, or later on a day it skips)."""
    return resolve_local(datetime.combine(instant.astimezone(tz).date(), time()), tz).astimezone(UTC)


def _split_point(
    series: MeetingSeries, spec: SeriesSpec, schedule: Schedule, now: datetime
) -> tuple[Schedule, datetime]:
    """The new schedule, starting after now, and the instant the old rule stops: the start of the new first
    meeting's local day (in the new schedule's zone).

    Cutting at the day rather than at the new first meeting keeps a 19:00 meeting of the old rule from going
    ahead on the same evening as the new rule's 19:30 one. When a meeting of the old rule has already started
    on that day it stays, and the new schedule begins on the next day its rule has.
    """
    if schedule.first_start <= now:
        schedule = rebase(spec, schedule, now)
    cut = _start_of_local_day(schedule.first_start, schedule.tz)
    if not expand(series.rrule, series.dtstart_local, series.tz, cut, now + timedelta(microseconds=1)):
        return schedule, cut
    next_day = datetime.combine(schedule.first_start.astimezone(schedule.tz).date() + timedelta(days=1), time())
    after = resolve_local(next_day, schedule.tz).astimezone(UTC) - timedelta(microseconds=1)
    if spec.recurrence.frequency is Frequency.ONCE:
        raise DomainError(
            "A meeting of this series has already started that day. Choose a later day.", field="first_date"
        )
    schedule = rebase(spec, schedule, after)
    return schedule, _start_of_local_day(schedule.first_start, schedule.tz)


def _split(series: MeetingSeries, spec: SeriesSpec, schedule: Schedule, now: datetime) -> MeetingSeries:
    """End a series that has begun on the day before the new schedule's first meeting and carry on in a new one."""
    schedule, cut = _split_point(series, spec, schedule, now)
    # Meetings of the old rule before the new first meeting go ahead as planned: make sure they have rows.
    materialize(series, cut, now)
    old_rule = _rule_ending_before(series, cut)
    for occ in _future_rows(series, now):
        if occ.original_start >= cut and not occ.superseded:
            _supersede(occ, now)
    # RSVP hook: the replaced meetings will never happen, so their RSVPs are cancelled (counters follow).
    rsvps.cancel_superseded(series, now)
    series.rrule = old_rule
    series.ended_at = now
    _touch_series(series, now)
    successor = _new_series(series.group_id, spec, schedule, now)
    successor.previous_id = series.id
    db.session.add(successor)
    db.session.flush()
    # RSVP hook: standing RSVPs carry on in the new series (materialize then applies them).
    rsvps.move_standing(series, successor)
    materialize(successor, now + HORIZON, now)
    return successor


def calendar_display_changed(group: Group, now: datetime) -> None:
    """Move every series of the group forward in calendars: the group feed now writes its cancelled meetings
    differently (struck through instead of left out, or back), and calendar apps only take a higher SEQUENCE."""
    for series in db.session.scalars(select(MeetingSeries).where(MeetingSeries.group_id == group.id)):
        _touch_series(series, now)
    db.session.flush()


def end_series(
    series: MeetingSeries, now: datetime, *, by: User | None = None, audited: bool = True
) -> MeetingSeries:
    """Stop a meeting series: its future meetings are cancelled, its past ones stay.

    `by`: who ends it, for the audit log; `audited=False` when archiving the group ends it (one entry for all).
    """
    if series.ended_at is not None:
        return series
    before = hooks.series_snapshot(series, now)  # notifications hook (see below)
    # Keep every meeting that has started (one in progress included); the next one is the first to go.
    cut = now + timedelta(microseconds=1)
    for occ in _future_rows(series, now):
        if occ.status != OccurrenceStatus.CANCELLED:
            occ.status = OccurrenceStatus.CANCELLED
            occ.note = SERIES_ENDED_NOTE
            _touch(occ, now)
    # RSVP hook: no new meetings will come, so the standing RSVPs go; answers for cancelled meetings stay.
    rsvps.drop_standing(series)
    series.rrule = _rule_ending_before(series, cut)
    series.ended_at = now
    _touch_series(series, now)
    db.session.flush()
    if audited:
        audit.record(AuditAction.SERIES_ENDED, actor=by, now=now, group=series.group)
    # Notifications hook: one notice to each member who answered for a coming meeting; reminders stop.
    hooks.series_changed(before, series, now, ended=True)
    return series
