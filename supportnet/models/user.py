"""Accounts: people, their sessions, their one-time tokens and failed logins."""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import JSON, CheckConstraint, Date, Enum, ForeignKey, Index, String, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.db import Base, UTCDateTime


def enum_column(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum: VARCHAR plus a named CHECK constraint, storing the values (not the names)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        validate_strings=True,
        values_callable=lambda cls: [member.value for member in cls],
    )


def new_row_nonce() -> str:
    """A random value stored on a row and carried by the signed links that name it (128 bits)."""
    return secrets.token_hex(16)


class SiteRole(enum.StrEnum):
    MEMBER = "member"
    FACILITATOR = "facilitator"
    ADMIN = "admin"


class TokenPurpose(enum.StrEnum):
    CONFIRM_EMAIL = "confirm_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a token purpose, not a password
    CHANGE_EMAIL = "change_email"
    # Sent to the old address when the email changes: "this wasn't me" puts the old address back.
    REVERT_EMAIL_CHANGE = "revert_email_change"


class User(UserMixin, Base):
    __tablename__ = "user"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        CheckConstraint("length(display_name) between 1 and 60", name="display_name_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Never shown to other members (privacy rule 1).
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(60))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    role: Mapped[SiteRole] = mapped_column(enum_column(SiteRole, "site_role"), default=SiteRole.MEMBER)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    # Optional and private: the day the member counts from. Shown only where they share it (checkins/sharing.py).
    recovery_date: Mapped[date | None] = mapped_column(Date)
    # The private calendar feed (supportnet/calendars.py): only the sha256 of the token in its address is kept,
    # and None means the member has no feed. Discreet titles ("Group · Tue 19:00", no descriptions) by default,
    # because calendar apps show titles on lock screens; the member chooses RSVP'd meetings or all of them.
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    calendar_discreet: Mapped[bool] = mapped_column(default=True, server_default=true())
    calendar_all_meetings: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Data controls: when set, check-ins older than this many months are deleted by the scheduler
    # (privacy.purge). None, the default, keeps them until the member deletes them.
    checkin_retention_months: Mapped[int | None]
    # Carried by the signed links in emails ("stop these emails", "can't make it"): a link made for this account
    # matches this account only, never a later one, whatever ids the database hands out.
    link_nonce: Mapped[str] = mapped_column(String(32), default=new_row_nonce)

    sessions: Mapped[list[UserSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    # Set when the user is loaded through a session: Flask-Login stores this (not the user id)
    # in the cookie, so ending the session row ends every cookie that carries it.
    session_token = None  # str | None, set per request; not a column

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_facilitator(self) -> bool:
        return self.role in (SiteRole.FACILITATOR, SiteRole.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == SiteRole.ADMIN

    def __repr__(self) -> str:  # no email: reprs end up in logs
        return f"<User {self.id}>"


class UserSession(Base):
    """One signed-in browser. The cookie holds a random token; the database holds its hash."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    remember: Mapped[bool] = mapped_column(default=False)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Data controls: when the person last proved it was them in this browser (sign-in, or the
    # "confirm it's you" page). Changing email, password or two-factor, exporting and deleting need it recent.
    reauthenticated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="sessions")


class AccountToken(Base):
    """A single-use emailed token (confirm email, reset password, change email); only its hash is kept."""

    __tablename__ = "account_token"
    __table_args__ = (CheckConstraint("expires_at > created_at", name="expires_after_creation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(enum_column(TokenPurpose, "token_purpose"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(254))
    # A sign-up's own choices (CONFIRM_EMAIL only): whoever opens the link gets the password and name chosen
    # at the sign-up that sent it, never those of an earlier sign-up for the same address by someone else.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(60))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # A sign-up from a referral link: the referral, and what the person chose on it (the meeting, whether the
    # program may follow their progress, whether greeters may know their first name), applied on confirmation.
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id", ondelete="SET NULL"))
    referral_choices: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    user: Mapped[User] = relationship()


class LoginFailure(Base):
    """A failed login, keyed by a hash of the email tried (known or not), for the per-account throttle.

    It lives in the database so that the limit holds across worker processes and hosts.
    """

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_account_at", "account_key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
