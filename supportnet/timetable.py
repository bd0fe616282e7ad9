"""The timetable: read-only questions about meetings (what is coming up, each group's next meeting, which series
run, whether a meeting is under way), a series as a SeriesSpec for its edit form, and how a series is described in
words. Nothing here changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from supportnet.extensions import db
from supportnet.models import Group, MeetingSeries, Occurrence, OccurrenceStatus
from supportnet.recurrence import describe, from_rrule
from supportnet.series_spec import SeriesSpec


def upcoming_occurrences(group: Group, now: datetime, limit: int = 8) -> list[Occurrence]:
    """The group's next meetings (one in progress included), cancelled ones too so members see the notice."""
    return list(
        db.session.scalars(
            select(Occurrence)
            .join(Occurrence.series)
            .options(contains_eager(Occurrence.series))
            .where(
                MeetingSeries.group_id == group.id,
                Occurrence.ends_at > now,
                Occurrence.superseded.is_(False),
            )
            .order_by(Occurrence.starts_at, Occurrence.id)
            .limit(limit)
        )
    )


def next_to_answer(group: Group, now: datetime, series_id: int | None = None, limit: int = 3) -> list[Occurrence]:
    """The group's (or one of its series') next meetings one can still say "going" to: not started, not
    cancelled or replaced, of a series that has not ended."""
    query = (
        select(Occurrence).join(Occurrence.series).options(contains_eager(Occurrence.series))
        .where(MeetingSeries.group_id == group.id, MeetingSeries.ended_at.is_(None), Occurrence.starts_at > now,
               Occurrence.status != OccurrenceStatus.CANCELLED, Occurrence.superseded.is_(False))
        .order_by(Occurrence.starts_at, Occurrence.id).limit(limit)
    )
    if series_id is not None:
        query = query.where(Occurrence.series_id == series_id)
    return list(db.session.scalars(query))


def next_occurrence_for_groups(group_ids: Iterable[int], now: datetime) -> dict[int, Occurrence]:
    """Each group's next meeting that is going ahead (one in progress included), in one query."""
    ids = list(set(group_ids))
    if not ids:
        return {}
    ranked = (
        select(
            Occurrence.id.label("occurrence_id"),
            MeetingSeries.group_id.label("group_id"),
            func.row_number()
            .over(partition_by=MeetingSeries.group_id, order_by=(Occurrence.starts_at, Occurrence.id))
            .label("rank"),
        )
        .join(MeetingSeries, Occurrence.series_id == MeetingSeries.id)
        .where(
            MeetingSeries.group_id.in_(ids),
            Occurrence.ends_at > now,
            Occurrence.status != OccurrenceStatus.CANCELLED,
        )
        .subquery()
    )
    rows = db.session.execute(
        select(Occurrence, MeetingSeries, ranked.c.group_id)
        .join(ranked, ranked.c.occurrence_id == Occurrence.id)
        .join(MeetingSeries, Occurrence.series_id == MeetingSeries.id)
        .options(contains_eager(Occurrence.series))
        .where(ranked.c.rank == 1)
    ).all()
    return {group_id: occ for occ, _series, group_id in rows}


def active_series(group: Group) -> list[MeetingSeries]:
    """The group's meeting series that have not ended, oldest first."""
    return list(
        db.session.scalars(
            select(MeetingSeries)
            .where(MeetingSeries.group_id == group.id, MeetingSeries.ended_at.is_(None))
            .order_by(MeetingSeries.id)
        )
    )


def zone_of(thing: Group | MeetingSeries) -> ZoneInfo:
    """The ZoneInfo of a group's default timezone or a series' timezone."""
    return ZoneInfo(thing.timezone)


def in_progress(occ: Occurrence, now: datetime) -> bool:
    """Return whether the meeting is happening right now."""
    return occ.status != OccurrenceStatus.CANCELLED and occ.starts_at <= now < occ.ends_at


def spec_for(series: MeetingSeries) -> SeriesSpec:
    """The series as a SeriesSpec, to fill in an edit form."""
    return SeriesSpec(
        title=series.title,
        description=series.description,
        first_date=series.dtstart_local.date(),
        start_time=series.dtstart_local.time(),
        duration_minutes=series.duration_minutes,
        timezone=series.timezone,
        recurrence=from_rrule(series.rrule, series.tz),
        venue=series.venue,
        address=series.address,
        location_notes=series.location_notes,
        online_url=series.online_url,
        online_phone=series.online_phone,
        online_notes=series.online_notes,
        online_visibility=series.online_visibility,
        capacity=series.capacity,
    )


def describe_series(series: MeetingSeries) -> str:
    """Say when the series meets, e.g. "Weekly on Thursday, 19:00 to 20:30 (Europe/London)" with a dash."""
    start = series.dtstart_local
    end = start + series.duration
    rule = describe(from_rrule(series.rrule, series.tz), start)
    return f"{rule}, {start:%H:%M}\u2013{end:%H:%M} ({series.timezone})"
