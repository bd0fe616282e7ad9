"""One-to-one sessions: coaches (a role an admin or a program's coordinator grants), their weekly availability,
date exceptions and time off, and the sessions members book with them.

A session is seen by its coach and its member only. The member's note, the coach's follow-up note and the
coach's online link are encrypted; the link is shown only to a member who booked. Nobody is ever double-booked:
booking locks the coach's row, checks for an overlapping session (with the buffer) and writes in the same
transaction, and a partial unique index forbids two booked sessions of one coach starting at the same instant.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import Boolean, CheckConstraint, ColumnElement, Date, ForeignKey, Index, String, Time, and_, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.crypto import EncryptedText
from supportnet.db import Base, UTCDateTime
from supportnet.models.user import User, enum_column, new_row_nonce


class CoachVisibility(enum.StrEnum):
    PUBLIC = "public"  # anyone signed in can find the coach and book
    PROGRAM = "program"  # only members of the program's groups


class Coach(Base):
    """A user's coaching profile and booking rules; the profile's existence (not ended) is the coach role."""

    __tablename__ = "coach"
    __table_args__ = (
        CheckConstraint("length(display_name) between 1 and 60", name="coach_name_length"),
        CheckConstraint("visibility = 'public' or program_id is not null", name="coach_program_named"),
        CheckConstraint("session_minutes between 15 and 180", name="coach_session_length"),
        CheckConstraint("buffer_minutes between 0 and 120", name="coach_buffer_range"),
        CheckConstraint("notice_hours between 0 and 168", name="coach_notice_range"),
        CheckConstraint("horizon_days between 1 and 90", name="coach_horizon_range"),
        CheckConstraint("late_change_hours between 0 and 72", name="coach_late_change_range"),
        CheckConstraint("online or in_person", name="coach_meets_somehow"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    offers: Mapped[str] = mapped_column(String(1000), default="")  # what they offer, in their words
    languages: Mapped[str] = mapped_column(String(120), default="")
    online: Mapped[bool] = mapped_column(Boolean, default=True)
    in_person: Mapped[bool] = mapped_column(Boolean, default=False)
    place: Mapped[str] = mapped_column(String(200), default="")  # where, for in-person sessions
    visibility: Mapped[CoachVisibility] = mapped_column(enum_column(CoachVisibility, "coach_visibility"))
    program_id: Mapped[int | None] = mapped_column(ForeignKey("program.id", ondelete="SET NULL"), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    session_minutes: Mapped[int] = mapped_column(default=50)
    buffer_minutes: Mapped[int] = mapped_column(default=10)
    notice_hours: Mapped[int] = mapped_column(default=12)
    horizon_days: Mapped[int] = mapped_column(default=28)
    # Cancelling or moving a session less than this many hours before it needs a note to the other side.
    late_change_hours: Mapped[int] = mapped_column(default=12)
    # The room of online sessions; shown only to a member with a booked session.
    online_url: Mapped[str | None] = mapped_column(EncryptedText())
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    # None: a program coordinator's invitation the person has not accepted; the role starts when they do (a site
    # admin's grant starts it at once).
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @classmethod
    def holds_role(cls) -> ColumnElement[bool]:
        """SQL: the role holds now (accepted and not ended)."""
        return and_(cls.accepted_at.is_not(None), cls.ended_at.is_(None))

    @property
    def current(self) -> bool:
        """Whether the role holds now (accepted and not ended)."""
        return self.accepted_at is not None and self.ended_at is None

    def __repr__(self) -> str:
        return f"<Coach {self.id} user={self.user_id}>"


class AvailabilityWindow(Base):
    """A weekly window in the coach's zone (weekday 0 = Monday)."""

    __tablename__ = "availability_window"
    __table_args__ = (
        CheckConstraint("weekday between 0 and 6", name="window_weekday_range"),
        CheckConstraint("ends > starts", name="window_ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coach_id: Mapped[int] = mapped_column(ForeignKey("coach.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]
    starts: Mapped[time] = mapped_column(Time())
    ends: Mapped[time] = mapped_column(Time())


class AvailabilityChange(Base):
    """One date's exception in the coach's zone: a day off, or an extra window that day."""

    __tablename__ = "availability_change"
    __table_args__ = (
        CheckConstraint("off or (starts is not null and ends is not null and ends > starts)",
                        name="change_off_or_window"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coach_id: Mapped[int] = mapped_column(ForeignKey("coach.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    off: Mapped[bool] = mapped_column(Boolean, default=False)
    starts: Mapped[time | None] = mapped_column(Time())
    ends: Mapped[time | None] = mapped_column(Time())


class TimeOff(Base):
    """A stretch of absolute time the coach is away (holidays, a training day)."""

    __tablename__ = "coach_time_off"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="time_off_ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coach_id: Mapped[int] = mapped_column(ForeignKey("coach.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionStatus(enum.StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


class CoachingSession(Base):
    """One booked one-to-one session between a coach and a member."""

    __tablename__ = "coaching_session"
    __table_args__ = (
        # The backstop of "never double-booked": two booked sessions of one coach never start together. Overlaps
        # at other instants are refused by the booking itself, under a lock on the coach's row.
        Index("uq_coaching_session_booked_start", "coach_id", "starts_at", unique=True,
              sqlite_where=text("status = 'booked'"), postgresql_where=text("status = 'booked'")),
        Index("ix_coaching_session_member", "member_id", "starts_at"),
        Index("ix_coaching_session_coach", "coach_id", "status", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="session_ends_after_start"),
        CheckConstraint("status = 'booked' or cancelled_at is not null", name="session_cancelled_has_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coach_id: Mapped[int] = mapped_column(ForeignKey("coach.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[SessionStatus] = mapped_column(enum_column(SessionStatus, "session_status"),
                                                  default=SessionStatus.BOOKED)
    note: Mapped[str | None] = mapped_column(EncryptedText())  # the member's, seen by the coach
    coach_note: Mapped[str | None] = mapped_column(EncryptedText())  # the coach's follow-up
    coach_note_shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    cancel_note: Mapped[str | None] = mapped_column(EncryptedText())
    # The session this one replaced when the member or coach moved it.
    moved_from_id: Mapped[int | None] = mapped_column(ForeignKey("coaching_session.id", ondelete="SET NULL"))
    # Carried by the "can't make it" link (with the id: it names this row only) and the calendar UID, which a
    # moved session keeps so calendar apps move the event.
    nonce: Mapped[str] = mapped_column(String(32), default=new_row_nonce)

    coach: Mapped[Coach] = relationship()
    member: Mapped[User] = relationship(foreign_keys=[member_id])

    def __repr__(self) -> str:  # no notes: reprs end up in logs
        return f"<CoachingSession {self.id} coach={self.coach_id} member={self.member_id} {self.status}>"
