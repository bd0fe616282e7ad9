"""Standard measures a member takes (PHQ-9, GAD-7, the BAM), the rhythm they chose for them, and the rhythms a
group's facilitators or a program's coordinators suggest.

A response names its instrument and version (supportnet/measures/instruments.py), so it is always read and
scored again with the exact words it answered. The item answers are encrypted at rest like check-in notes;
the subscale scores are plain numbers, like mood and craving, so that a member's trend and the summaries of
what members chose to share can be read without decrypting every answer. A response belongs to its member:
nobody else reads it unless the member shares it through the consent ledger (supportnet/consent.py).
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.crypto import EncryptedText
from supportnet.db import Base, UTCDateTime
from supportnet.models.user import User, enum_column


class Rhythm(enum.StrEnum):
    """How often a measure comes back as a prompt."""

    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"  # every 2 weeks
    MONTHLY = "monthly"  # the same day of each month (the last day when a month is shorter)


class MeasureResponse(Base):
    """One completed instrument: the answers (encrypted), the scores they gave, and the member's day."""

    __tablename__ = "measure_response"
    __table_args__ = (
        # A member's trend of one instrument, newest first; the home's "due" reads the latest.
        Index("ix_measure_response_user_code_taken", "user_id", "code", "taken_at"),
        CheckConstraint("version >= 1", name="measure_version_positive"),
        CheckConstraint("length(code) between 1 and 16", name="measure_code_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))  # "PHQ9", "GAD7", "BAM"
    version: Mapped[int]
    # {"1": 0, "2": 3, ...}: item label -> option value, as JSON, encrypted with the data key.
    answers: Mapped[str] = mapped_column(EncryptedText())
    # {"Total": 7} or {"Use": 0, "Risk": 9, "Protective": 18}: what the scoring of this version gave.
    scores: Mapped[dict] = mapped_column(JSON)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The member's own calendar day it is about (their zone when they answered), as for check-ins.
    local_date: Mapped[date] = mapped_column(Date)
    # For the BAM: the number of meetings SupportNet had recorded in the 30 days before, offered as the answer
    # to "self-help meetings attended" for the member to confirm or change (None when nothing was offered).
    attendance_offered: Mapped[int | None]

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:  # no answers or scores: reprs end up in logs
        return f"<MeasureResponse {self.id} user={self.user_id} {self.code} v{self.version}>"


class RhythmSuggestion(Base):
    """A group's facilitators or a program's coordinators suggest that members take a measure at a rhythm.

    Members of the group (or of the program's groups) see it until they accept or decline it, or it is
    withdrawn; nobody who suggested it learns who accepted.
    """

    __tablename__ = "rhythm_suggestion"
    __table_args__ = (
        CheckConstraint("(group_id is null) <> (program_id is null)", name="rhythm_suggestion_one_place"),
        CheckConstraint("note is null or length(note) <= 300", name="rhythm_suggestion_note_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("group.id", ondelete="CASCADE"), index=True)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    rhythm: Mapped[Rhythm] = mapped_column(enum_column(Rhythm, "measure_rhythm"))
    # A sentence from whoever suggested it ("We look at these together every month").
    note: Mapped[str | None] = mapped_column(String(300))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<RhythmSuggestion {self.id} {self.code} {self.rhythm}>"


class MeasureRhythm(Base):
    """A member's chosen rhythm for one instrument: a prompt on each due day at their local time."""

    __tablename__ = "measure_rhythm"
    __table_args__ = (UniqueConstraint("user_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    rhythm: Mapped[Rhythm] = mapped_column(enum_column(Rhythm, "measure_rhythm"))
    # The first due day (the member's local date); later due days follow from it by the rhythm.
    starts_on: Mapped[date] = mapped_column(Date)
    # The local wall time of the prompt on a due day.
    at: Mapped[time] = mapped_column(Time())
    # The suggestion the member accepted, if it came from one (the rhythm is theirs all the same).
    suggestion_id: Mapped[int | None] = mapped_column(
        ForeignKey("rhythm_suggestion.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    def __repr__(self) -> str:
        return f"<MeasureRhythm {self.id} user={self.user_id} {self.code} {self.rhythm}>"


class SuggestionAnswer(Base):
    """A member's answer to a rhythm suggestion, so it is asked once."""

    __tablename__ = "rhythm_suggestion_answer"
    __table_args__ = (UniqueConstraint("suggestion_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("rhythm_suggestion.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    accepted: Mapped[bool]
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())
