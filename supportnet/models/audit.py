"""The audit log: what facilitators and admins did (who, what, when), for the group's facilitators and admins."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.db import Base, UTCDateTime
from supportnet.models.group import Group
from supportnet.models.meeting import Occurrence
from supportnet.models.user import User, enum_column


class AuditAction(enum.StrEnum):
    MEETING_CANCELLED = "meeting_cancelled"
    MEETING_MOVED = "meeting_moved"
    MEETING_RESTORED = "meeting_restored"
    SERIES_ENDED = "series_ended"
    MEMBER_APPROVED = "member_approved"
    MEMBER_DECLINED = "member_declined"
    MEMBER_REMOVED = "member_removed"
    ROLE_CHANGED = "role_changed"  # a member's role in a group
    GROUP_ARCHIVED = "group_archived"
    ANNOUNCEMENT_SENT = "announcement_sent"
    SITE_ROLE_CHANGED = "site_role_changed"  # an admin gave someone a site role
    TWO_FACTOR_RESET = "two_factor_reset"  # an operator turned off someone's two-factor (locked out)
    PROGRAM_CREATED = "program_created"
    COORDINATOR_ADDED = "coordinator_added"
    COORDINATOR_REMOVED = "coordinator_removed"
    PROGRAM_GROUP_CHANGED = "program_group_changed"  # a group was given to a program or taken from it
    REFERRAL_CREATED = "referral_created"
    REFERRAL_WITHDRAWN = "referral_withdrawn"
    REFERRAL_VIEWED = "referral_viewed"  # a coordinator read a referred person's progress (under consent)
    MEASURES_VIEWED = "measures_viewed"  # a facilitator or coordinator read a member's shared measures
    RHYTHM_SUGGESTED = "rhythm_suggested"  # a group or program suggested a measure at a rhythm
    RHYTHM_SUGGESTION_WITHDRAWN = "rhythm_suggestion_withdrawn"
    COACH_GRANTED = "coach_granted"  # an admin or a program's coordinator made someone a coach
    COACH_ACCEPTED = "coach_accepted"  # someone accepted a program coordinator's invitation to coach
    COACH_ENDED = "coach_ended"
    SESSION_NOTE_VIEWED = "session_note_viewed"  # a coach read a member's note on a session


class AuditEntry(Base):
    """One facilitator or admin action. Names are never copied in: the people are linked, and when an account
    is deleted the link becomes empty and the page says "deleted user" (nothing personal stays behind).

    `details` holds plain values only (roles, instants); audit.record refuses anything else, so check-in
    content, notes and messages can never end up here.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        # A group's log, newest first; the admins' log, newest first (and retention's range) on `at`.
        Index("ix_audit_entry_group_at", "group_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction, "audit_action"))
    # Who did it (None: an account since deleted, or a command-line action).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    # Whom it concerned, if a person (the member approved, removed, given a role).
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("group.id", ondelete="SET NULL"))
    occurrence_id: Mapped[int | None] = mapped_column(
        ForeignKey("occurrence.id", ondelete="SET NULL"), index=True
    )
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    subject: Mapped[User | None] = relationship(foreign_keys=[subject_id])
    group: Mapped[Group | None] = relationship()
    occurrence: Mapped[Occurrence | None] = relationship()

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action} group={self.group_id}>"
