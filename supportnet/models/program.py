"""Programs and referrals: a treatment centre's aftercare team, its coordinators, the groups it owns, and the
referrals it hands to people leaving treatment.

A person's relation to a program exists only through a referral they accepted. What happened after (joined,
answered, attended) is never copied here: it is derived from membership, RSVP and attendance rows when a
coordinator reads it, and only under the person's consent (supportnet/consent.py).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.crypto import EncryptedText
from supportnet.db import Base, UTCDateTime
from supportnet.models.group import Group
from supportnet.models.meeting import MeetingSeries
from supportnet.models.user import User


class Program(Base):
    """A clinic's or treatment centre's aftercare team. Site admins create programs and name coordinators."""

    __tablename__ = "program"
    __table_args__ = (CheckConstraint("length(name) between 1 and 120", name="program_name_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    coordinators: Mapped[list[ProgramCoordinator]] = relationship(
        back_populates="program", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Program {self.id}>"


class ProgramCoordinator(Base):
    """A member of a program's staff: creates referrals and reads what referred people agreed to share."""

    __tablename__ = "program_coordinator"
    __table_args__ = (UniqueConstraint("program_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    program: Mapped[Program] = relationship(back_populates="coordinators")
    user: Mapped[User] = relationship()


class Referral(Base):
    """One person's way from treatment to a first meeting: a one-time link, printed on a card.

    The token is kept twice: its sha256 to find the referral when the link is opened, and encrypted so that a
    coordinator can print the card again until the link is used; the encrypted copy is removed on acceptance
    or expiry. The retention pass deletes the row 90 days after it was accepted or expired, after adding it to
    the program's monthly counts (ProgramMonth).
    """

    __tablename__ = "referral"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="referral_expires_after_creation"),
        CheckConstraint(
            "(accepted_at is null and accepted_by_id is null) or accepted_at is not null",
            name="referral_accepted_has_time",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"), index=True)
    # The coordinator who made it (None once their account is deleted).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token: Mapped[str | None] = mapped_column(EncryptedText())
    # Optional: a first name or initials, so the coordinator knows whose card it is.
    first_name: Mapped[str | None] = mapped_column(EncryptedText())
    # Optional: a few words for the person, shown when they open the link.
    note: Mapped[str | None] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # When the link was first opened (a fact about the link, not the person: shown only under consent).
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Who accepted it; emptied when that account is deleted, so the referral no longer points at anyone.
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    # The coordinator withdrew it before it was used.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    program: Mapped[Program] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id])
    suggestions: Mapped[list[ReferralSuggestion]] = relationship(
        back_populates="referral", cascade="all, delete-orphan", passive_deletes=True,
        order_by="ReferralSuggestion.id",
    )

    def __repr__(self) -> str:  # no name, note or token: reprs end up in logs
        return f"<Referral {self.id} program={self.program_id}>"


class ReferralSuggestion(Base):
    """A group suggested on a referral, and optionally one of its meetings (a series) to start with."""

    __tablename__ = "referral_suggestion"
    __table_args__ = (UniqueConstraint("referral_id", "group_id", "series_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("group.id", ondelete="CASCADE"), index=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_series.id", ondelete="CASCADE"), index=True)

    referral: Mapped[Referral] = relationship(back_populates="suggestions")
    group: Mapped[Group] = relationship()
    series: Mapped[MeetingSeries | None] = relationship()


class ProgramMonth(Base):
    """Counts only, per program and month of referral, of referrals the retention pass has deleted.

    Program outcomes add these to the counts derived from the referrals still kept, so deleting a referral
    after 90 days never changes a month's figures.
    """

    __tablename__ = "program_month"
    __table_args__ = (
        CheckConstraint(
            "made >= accepted and accepted >= attended_30 and attended_30 >= attended_7 and attended_7 >= 0",
            name="program_month_counts_nest",
        ),
    )

    program_id: Mapped[int] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    made: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    attended_7: Mapped[int] = mapped_column(default=0)
    attended_30: Mapped[int] = mapped_column(default=0)
