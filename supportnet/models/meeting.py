"""Meetings: a series (the rule, in local wall time) and its occurrences (concrete meetings, in UTC)."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.db import Base, UTCDateTime
from supportnet.models.group import Group
from supportnet.models.user import enum_column
from supportnet.recurrence import Frequency, RecurrenceError, from_rrule

ALL_DAYS = 0b1111111


class OnlineVisibility(enum.StrEnum):
    """Who may see a meeting's online link (privacy rule 4)."""

    EVERYONE = "everyone"
    MEMBERS = "members"
    RSVP = "rsvp"  # members who said they are going


class OccurrenceStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    MOVED = "moved"


class MeetingSeries(Base):
    """How a group meets: a local start time in an IANA zone, a duration and an optional RRULE."""

    __tablename__ = "meeting_series"
    __table_args__ = (
        CheckConstraint("length(title) between 1 and 120", name="title_length"),
        CheckConstraint("duration_minutes between 1 and 1440", name="duration_range"),
        CheckConstraint("capacity is null or capacity > 0", name="capacity_positive"),
        CheckConstraint("sequence >= 0", name="sequence_not_negative"),
        CheckConstraint("day_mask between 1 and 127", name="day_mask_range"),
        CheckConstraint("start_minute between 0 and 1439", name="start_minute_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("group.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    # The local wall time of the first meeting (RFC 5545 DTSTART;TZID=...). A wall time is not an instant:
    # 19:00 in London is 19:00 UTC in January and 18:00 UTC in July, so this is deliberately naive.
    dtstart_local: Mapped[datetime] = mapped_column(DateTime())
    timezone: Mapped[str] = mapped_column(String(64))
    duration_minutes: Mapped[int]
    # None for a one-off meeting; otherwise the canonical value from recurrence.to_rrule().
    rrule: Mapped[str | None] = mapped_column(String(300))
    venue: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    location_notes: Mapped[str] = mapped_column(Text, default="")
    online_url: Mapped[str] = mapped_column(String(500), default="")
    online_phone: Mapped[str] = mapped_column(String(50), default="")
    online_notes: Mapped[str] = mapped_column(Text, default="")
    online_visibility: Mapped[OnlineVisibility] = mapped_column(
        enum_column(OnlineVisibility, "online_visibility"), default=OnlineVisibility.MEMBERS
    )
    capacity: Mapped[int | None]
    # RFC 5545 SEQUENCE: calendar apps only take an update if it moves forward.
    sequence: Mapped[int] = mapped_column(default=0)
    # The series this one continues after a schedule edit split the old one (standing RSVPs follow it).
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_series.id", ondelete="SET NULL"))
    # Derived from the schedule on every flush, so the directory can filter by local weekday and time of day
    # in SQL: bit d set = meets on weekday d (0 = Monday) in its own zone; minutes after local midnight.
    day_mask: Mapped[int]
    start_minute: Mapped[int]
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Occurrence rows exist for every meeting of the rule before this instant.
    materialized_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    group: Mapped[Group] = relationship(back_populates="series")
    previous: Mapped[MeetingSeries | None] = relationship(remote_side=[id])
    occurrences: Mapped[list[Occurrence]] = relationship(
        back_populates="series",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Occurrence.original_start",
    )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def is_ended(self) -> bool:
        return self.ended_at is not None

    def __repr__(self) -> str:
        return f"<MeetingSeries {self.id} group={self.group_id}>"


def schedule_index(dtstart_local: datetime, rrule: str | None, timezone: str) -> tuple[int, int]:
    """The (day_mask, start_minute) a schedule meets on, in its own zone's wall time."""
    try:
        rec = from_rrule(rrule, ZoneInfo(timezone))
    except (RecurrenceError, ValueError, KeyError):
        rec = None
    if rec is None or rec.frequency is Frequency.MONTHLY_DAY:
        mask = ALL_DAYS  # the 15th of the month falls on any weekday
    elif rec.frequency is Frequency.WEEKLY:
        mask = sum(1 << day for day in rec.weekdays)
    elif rec.frequency is Frequency.MONTHLY_WEEKDAY:
        mask = 1 << rec.weekday
    else:
        mask = 1 << dtstart_local.weekday()
    return mask, dtstart_local.hour * 60 + dtstart_local.minute


@event.listens_for(MeetingSeries, "before_insert")
@event.listens_for(MeetingSeries, "before_update")
def _index_schedule(_mapper, _connection, series: MeetingSeries) -> None:
    series.day_mask, series.start_minute = schedule_index(series.dtstart_local, series.rrule, series.timezone)


class Occurrence(Base):
    """One concrete meeting of a series, with its own time, status and seat counters."""

    __tablename__ = "occurrence"
    __table_args__ = (
        UniqueConstraint("series_id", "original_start"),
        Index("ix_occurrence_series_starts_at", "series_id", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity is null or capacity > 0", name="capacity_positive"),
        # The seat limit lives in the database: RSVPs take seats with a conditional UPDATE on going_count.
        CheckConstraint("capacity is null or going_count <= capacity", name="going_within_capacity"),
        CheckConstraint("going_count >= 0", name="going_not_negative"),
        CheckConstraint("waitlist_count >= 0", name="waitlist_not_negative"),
        CheckConstraint("sequence >= 0", name="sequence_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("meeting_series.id", ondelete="CASCADE"))
    # The instant the rule gives this meeting (iCalendar RECURRENCE-ID); never changes, even when moved.
    original_start: Mapped[datetime] = mapped_column(UTCDateTime())
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[OccurrenceStatus] = mapped_column(
        enum_column(OccurrenceStatus, "occurrence_status"), default=OccurrenceStatus.SCHEDULED
    )
    # Why it was cancelled or moved, in the facilitator's words; shown to members.
    note: Mapped[str] = mapped_column(Text, default="")
    # None means "the series' value"; set when this one meeting is somewhere else.
    venue: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    capacity: Mapped[int | None]
    going_count: Mapped[int] = mapped_column(default=0)
    waitlist_count: Mapped[int] = mapped_column(default=0)
    # Cancelled because the series' schedule was edited (not by a person for this one meeting).
    superseded: Mapped[bool] = mapped_column(default=False)
    sequence: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    series: Mapped[MeetingSeries] = relationship(back_populates="occurrences")

    @property
    def is_cancelled(self) -> bool:
        return self.status == OccurrenceStatus.CANCELLED

    @property
    def effective_venue(self) -> str:
        return self.series.venue if self.venue is None else self.venue

    @property
    def effective_address(self) -> str:
        return self.series.address if self.address is None else self.address

    def __repr__(self) -> str:
        return f"<Occurrence {self.id} series={self.series_id} {self.starts_at:%Y-%m-%dT%H:%MZ} {self.status}>"
