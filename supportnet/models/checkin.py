"""Check-ins: how a member is doing between meetings. Health data that belongs to the member."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.crypto import EncryptedText
from supportnet.db import Base, UTCDateTime
from supportnet.models.meeting import Occurrence
from supportnet.models.user import User, enum_column


class MeetingTiming(enum.StrEnum):
    """Whether a check-in linked to a meeting was made before or after it."""

    BEFORE = "before"
    AFTER = "after"


class CheckIn(Base):
    """One check-in: mood, craving, optional energy, sleep, tags and an encrypted note."""

    __tablename__ = "checkin"
    __table_args__ = (
        # History, streaks and charts read one member's check-ins by local day.
        Index("ix_checkin_user_local_date", "user_id", "local_date"),
        # Facilitators' "asked for support in the last 7 days".
        Index("ix_checkin_user_support", "user_id", "wants_support", "recorded_at"),
        CheckConstraint("mood between 1 and 5", name="mood_range"),
        CheckConstraint("craving between 0 and 10", name="craving_range"),
        CheckConstraint("energy is null or energy between 1 and 5", name="energy_range"),
        CheckConstraint("sleep is null or sleep between 1 and 5", name="sleep_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    # The instant it was recorded, and the member's own calendar day it is about (their zone at the time,
    # or an earlier day they chose). Days, streaks and charts use local_date, so a DST change or a move to
    # another timezone never splits or merges days after the fact.
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    local_date: Mapped[date] = mapped_column(Date)
    mood: Mapped[int]
    craving: Mapped[int]
    energy: Mapped[int | None]
    sleep: Mapped[int | None]
    wants_support: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str | None] = mapped_column(EncryptedText())
    # Notes are never shared unless the member shares that check-in's note explicitly (privacy rule 3).
    share_note: Mapped[bool] = mapped_column(default=False)
    occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("occurrence.id", ondelete="SET NULL"), index=True)
    meeting_timing: Mapped[MeetingTiming | None] = mapped_column(enum_column(MeetingTiming, "meeting_timing"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    user: Mapped[User] = relationship()
    occurrence: Mapped[Occurrence | None] = relationship()
    tags: Mapped[list[CheckInTag]] = relationship(
        back_populates="checkin", cascade="all, delete-orphan", passive_deletes=True, order_by="CheckInTag.id"
    )

    @property
    def common_tags(self) -> list[str]:
        return [tag.code for tag in self.tags if tag.code]

    @property
    def own_tags(self) -> list[OwnTag]:
        return [tag.own_tag for tag in self.tags if tag.own_tag is not None]

    def __repr__(self) -> str:  # no content: reprs end up in logs
        return f"<CheckIn {self.id} user={self.user_id} {self.local_date}>"


class OwnTag(Base):
    """A tag a member made up (e.g. "payday"); its text is encrypted like a note."""

    __tablename__ = "checkin_own_tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    def __repr__(self) -> str:
        return f"<OwnTag {self.id} user={self.user_id}>"


class CheckInTag(Base):
    """A tag on a check-in: one of the common tags (by code) or one of the member's own."""

    __tablename__ = "checkin_tag"
    __table_args__ = (
        UniqueConstraint("checkin_id", "code"),
        UniqueConstraint("checkin_id", "own_tag_id"),
        CheckConstraint("(code is null) <> (own_tag_id is null)", name="code_or_own_tag"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkin.id", ondelete="CASCADE"))
    code: Mapped[str | None] = mapped_column(String(32), index=True)
    own_tag_id: Mapped[int | None] = mapped_column(ForeignKey("checkin_own_tag.id", ondelete="CASCADE"), index=True)

    checkin: Mapped[CheckIn] = relationship(back_populates="tags")
    own_tag: Mapped[OwnTag | None] = relationship()
