"""RSVPs and attendance: who is going to a meeting, who waits for a seat, who came, and what they can prove."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.db import Base, UTCDateTime
from supportnet.models.group import Group
from supportnet.models.meeting import MeetingSeries, Occurrence
from supportnet.models.user import User, enum_column, new_row_nonce


class RsvpStatus(enum.StrEnum):
    GOING = "going"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"  # "can't go": kept, so a standing RSVP does not bring it back


class StandingRsvp(Base):
    """"I come every week": the member is RSVP'd to each meeting of the series as it appears."""

    __tablename__ = "standing_rsvp"
    __table_args__ = (UniqueConstraint("series_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("meeting_series.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    series: Mapped[MeetingSeries] = relationship()
    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<StandingRsvp series={self.series_id} user={self.user_id}>"


class Rsvp(Base):
    """A member's answer for one meeting: going, waiting for a seat, or can't go."""

    __tablename__ = "rsvp"
    __table_args__ = (
        UniqueConstraint("occurrence_id", "user_id"),
        # The waitlist in order (first come, first served; ties by id) without a sort.
        Index("ix_rsvp_waitlist", "occurrence_id", "status", "queued_at", "id"),
        Index("ix_rsvp_user_status", "user_id", "status"),
        CheckConstraint("status <> 'waitlisted' or queued_at is not null", name="waitlisted_has_queued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrence.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    status: Mapped[RsvpStatus] = mapped_column(enum_column(RsvpStatus, "rsvp_status"))
    # When they joined the waitlist (their place in the queue); kept after a promotion.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when a standing RSVP made this row; cleared when the member answers for this meeting themselves.
    standing_id: Mapped[int | None] = mapped_column(
        ForeignKey("standing_rsvp.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    occurrence: Mapped[Occurrence] = relationship()
    user: Mapped[User] = relationship()
    standing: Mapped[StandingRsvp | None] = relationship()

    @property
    def is_going(self) -> bool:
        return self.status == RsvpStatus.GOING

    @property
    def is_waitlisted(self) -> bool:
        return self.status == RsvpStatus.WAITLISTED

    def __repr__(self) -> str:
        return f"<Rsvp {self.id} occurrence={self.occurrence_id} user={self.user_id} {self.status}>"


class AttendanceHow(enum.StrEnum):
    FACILITATOR = "facilitator"  # a facilitator marked them present
    SELF_CODE = "self_code"  # they typed the code shown in the meeting


class Attendance(Base):
    """That a person was at a meeting, and how we know."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("occurrence_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrence.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    how: Mapped[AttendanceHow] = mapped_column(enum_column(AttendanceHow, "attendance_how"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The facilitator who marked it; the fact stays when their account goes.
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)

    occurrence: Mapped[Occurrence] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    marked_by: Mapped[User | None] = relationship(foreign_keys=[marked_by_id])

    def __repr__(self) -> str:
        return f"<Attendance occurrence={self.occurrence_id} user={self.user_id} {self.how}>"


class AttendanceCode(Base):
    """The short self check-in code a facilitator shows during one meeting (one per meeting, replaceable)."""

    __tablename__ = "attendance_code"

    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrence.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:  # no code: reprs end up in logs
        return f"<AttendanceCode occurrence={self.occurrence_id}>"


class AttendanceProof(Base):
    """A member's shareable proof of the meetings they attended, frozen when made; revocable."""

    __tablename__ = "attendance_proof"
    __table_args__ = (
        CheckConstraint("length(shown_name) between 1 and 60", name="shown_name_length"),
        CheckConstraint("length(label) between 1 and 120", name="label_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # The name and label the member chose to show (a legal name for a court, "Aftercare group" for an employer).
    shown_name: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(120))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("group.id", ondelete="SET NULL"), index=True)
    # ISO dates (local to each meeting), so later edits of meetings or groups don't change what was shown.
    dates: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Carried by the proof's signed link with its id: the link matches this proof only, never a later one.
    nonce: Mapped[str] = mapped_column(String(32), default=new_row_nonce)

    user: Mapped[User] = relationship()
    group: Mapped[Group | None] = relationship()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def __repr__(self) -> str:
        return f"<AttendanceProof {self.id} user={self.user_id}>"
