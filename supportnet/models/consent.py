"""Consent: one ledger of who may see what of a member's data, for what purpose, since when, until when.

Every read of shared data asks supportnet/consent.py, which reads these rows; no other table holds a
"shares with" flag. A row is never edited into meaning something else: revoking sets `revoked_at` (and why),
and choosing again later writes a new row, so the member's history of choices stays a record.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.db import Base, UTCDateTime
from supportnet.models.user import User, enum_column


class Audience(enum.StrEnum):
    """Who the recipient of a consent is: always a role in a place, so the people in it can change."""

    GROUP_FACILITATORS = "group_facilitators"  # the active facilitators of one group
    GROUP_GREETERS = "group_greeters"  # the members of one group who volunteered to greet newcomers
    # The coordinators of a program: about one referral it made (its progress), or about the member's measures
    # (a member of one of the program's groups shares them with the program).
    PROGRAM_COORDINATORS = "program_coordinators"
    SUPPORTER = "supporter"  # one person the member named as a supporter (no account needed)


class Scope(enum.StrEnum):
    """What the recipient may see."""

    CHECKIN_SUMMARIES = "checkin_summaries"  # mood, craving, whether the member asked for support
    CHECKIN_NOTES = "checkin_notes"  # the notes of check-ins the member marked "share this note"
    RECOVERY_DATE = "recovery_date"
    REFERRAL_PROGRESS = "referral_progress"  # opened, joined, answered, first attendance and when
    NEWCOMER_NAME = "newcomer_name"  # the first name on a referral, told to the group's greeters
    MEASURE_SCORES = "measure_scores"  # the scores (and dates) of the standard measures the member takes
    MEASURE_ANSWERS = "measure_answers"  # their answers item by item, read only beside the scores
    # A supporter may be told, by the member's own rule: missed meetings, days without a check-in, a BAM risk.
    ALERT_MISSED_MEETINGS = "alert_missed_meetings"
    ALERT_NO_CHECKIN = "alert_no_checkin"
    ALERT_BAM_RISK = "alert_bam_risk"


class EndReason(enum.StrEnum):
    MEMBER = "member"  # the member revoked it
    MEMBERSHIP_ENDED = "membership_ended"  # the member left the group, was removed, or the group closed
    REPLACED = "replaced"  # the member chose again (a new row holds the new choice)
    SUPPORTER_ENDED = "supporter_ended"  # the supporter stopped, or the member removed them


class Consent(Base):
    __tablename__ = "consent"
    __table_args__ = (
        # At most one standing consent per member, recipient and scope; revoked rows stay as the record.
        Index(
            "uq_consent_standing", "subject_id", "recipient_key", "scope", unique=True,
            sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL"),
        ),
        # "Who shares this with the facilitators of group 12?": the support page and the digest.
        Index("ix_consent_recipient", "recipient_key", "scope", "revoked_at"),
        CheckConstraint(
            "(audience in ('group_facilitators', 'group_greeters') and group_id is not null)"
            " or (audience = 'program_coordinators' and program_id is not null)"
            " or (audience = 'supporter' and supporter_id is not null)",
            name="consent_recipient_named",
        ),
        CheckConstraint("revoked_at is null or end_reason is not null", name="consent_revoked_has_reason"),
        CheckConstraint("expires_at is null or expires_at > granted_at", name="consent_expires_after_grant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The member whose data it is.
    subject_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    audience: Mapped[Audience] = mapped_column(enum_column(Audience, "consent_audience"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("group.id", ondelete="CASCADE"), index=True)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("program.id", ondelete="CASCADE"), index=True)
    # Referral progress is about one referral, and ends with it.
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id", ondelete="CASCADE"), index=True)
    supporter_id: Mapped[int | None] = mapped_column(ForeignKey("supporter.id", ondelete="CASCADE"), index=True)
    # "group_facilitators:12", "program_coordinators:3:referral:9": one string naming the recipient, so that
    # the unique index above covers every kind of recipient (NULLs never collide in a unique index).
    recipient_key: Mapped[str] = mapped_column(String(80))
    scope: Mapped[Scope] = mapped_column(enum_column(Scope, "consent_scope"))
    # The sentence the member read when they agreed, kept as they read it.
    purpose: Mapped[str] = mapped_column(String(300))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[EndReason | None] = mapped_column(enum_column(EndReason, "consent_end_reason"))

    subject: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<Consent {self.id} {self.subject_id} {self.scope} -> {self.recipient_key}>"
