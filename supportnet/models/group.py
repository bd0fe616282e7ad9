"""Groups: a group, its tags, and who belongs to it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.db import Base, UTCDateTime
from supportnet.models.user import User, enum_column

if TYPE_CHECKING:
    from supportnet.models.meeting import MeetingSeries


class GroupKind(enum.StrEnum):
    AFTERCARE = "aftercare"
    MEETUP = "meetup"
    PEER_SUPPORT = "peer_support"


class Visibility(enum.StrEnum):
    PUBLIC = "public"  # listed in the directory
    UNLISTED = "unlisted"  # anyone with the link, not listed
    PRIVATE = "private"  # members, and people holding an invite link


class JoinPolicy(enum.StrEnum):
    OPEN = "open"
    APPROVAL = "approval"
    INVITE = "invite"


class MemberRole(enum.StrEnum):
    MEMBER = "member"
    FACILITATOR = "facilitator"


class MemberStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DECLINED = "declined"
    REMOVED = "removed"
    LEFT = "left"


class CheckinSharing(enum.StrEnum):
    """The level a member chooses on their sharing page for one group's facilitators (privacy rule 3). Not a
    column: the choice is stored as consents (supportnet/checkins/sharing.py maps levels to scopes)."""

    NONE = "none"
    SUMMARIES = "summaries"  # mood, craving and the support flag
    NOTES = "notes"  # summaries, plus the notes of check-ins the member marked "share this note"


class Group(Base):
    """An aftercare group, meetup or peer support circle."""

    # "group" is an SQL keyword; SQLAlchemy quotes it, raw SQL must too (like "user").
    __tablename__ = "group"
    __table_args__ = (
        CheckConstraint("length(name) between 1 and 120", name="name_length"),
        CheckConstraint("length(slug) between 2 and 80 and slug = lower(slug)", name="slug_form"),
        # A token without an expiry (or the reverse) would be an invite that never dies.
        CheckConstraint(
            "(invite_token_hash is null and invite_expires_at is null)"
            " or (invite_token_hash is not null and invite_expires_at is not null)",
            name="invite_has_expiry",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[GroupKind] = mapped_column(enum_column(GroupKind, "group_kind"))
    visibility: Mapped[Visibility] = mapped_column(
        enum_column(Visibility, "group_visibility"), default=Visibility.PUBLIC
    )
    join_policy: Mapped[JoinPolicy] = mapped_column(enum_column(JoinPolicy, "join_policy"), default=JoinPolicy.OPEN)
    timezone: Mapped[str] = mapped_column(String(64))
    venue: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    # Shown to active members only (a phone number, a door code): never on public pages or feeds.
    contact_note: Mapped[str] = mapped_column(Text, default="")
    # Only the sha256 of the invite token is kept; the token itself lives in the link.
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Calendar feeds (supportnet/feeds.py) show a cancelled week as "Cancelled: ..." (STATUS:CANCELLED) instead
    # of leaving it out (EXDATE). Off by default: Google Calendar hides cancelled events anyway.
    calendar_shows_cancellations: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The program (a treatment centre's aftercare team) that runs the group, if any: its coordinators may
    # suggest the group on referrals. It gives them no view of the group's members.
    program_id: Mapped[int | None] = mapped_column(ForeignKey("program.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    tags: Mapped[list[GroupTag]] = relationship(
        back_populates="group", cascade="all, delete-orphan", passive_deletes=True, order_by="GroupTag.id"
    )
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="group", cascade="all, delete-orphan", passive_deletes=True
    )
    series: Mapped[list[MeetingSeries]] = relationship(
        back_populates="group", cascade="all, delete-orphan", passive_deletes=True, order_by="MeetingSeries.id"
    )

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def tag_codes(self) -> list[str]:
        return [tag.code for tag in self.tags]

    def __repr__(self) -> str:
        return f"<Group {self.id} {self.slug}>"


class GroupTag(Base):
    """A tag on a group: a Meeting Guide type code in upper case (O, W, LGBTQ) or a lower-case free tag."""

    __tablename__ = "group_tag"
    __table_args__ = (UniqueConstraint("group_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("group.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40), index=True)

    group: Mapped[Group] = relationship(back_populates="tags")


class Membership(Base):
    """A person's place in a group: their role and where their membership stands."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("group_id", "user_id"),
        Index("ix_membership_user_status", "user_id", "status"),
        CheckConstraint("status <> 'active' or joined_at is not null", name="active_has_joined_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("group.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    role: Mapped[MemberRole] = mapped_column(enum_column(MemberRole, "member_role"), default=MemberRole.MEMBER)
    status: Mapped[MemberStatus] = mapped_column(enum_column(MemberStatus, "member_status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A volunteer greeter is told when a newcomer referred by a program is coming (and their first name, if the
    # newcomer agreed). Ends with the membership like everything else on this row.
    greets_newcomers: Mapped[bool] = mapped_column(default=False, server_default=false())

    group: Mapped[Group] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status == MemberStatus.ACTIVE

    @property
    def is_facilitator(self) -> bool:
        """An active facilitator of the group (a facilitator who left or was removed is not)."""
        return self.status == MemberStatus.ACTIVE and self.role == MemberRole.FACILITATOR

    def __repr__(self) -> str:
        return f"<Membership group={self.group_id} user={self.user_id} {self.role} {self.status}>"
