"""Notifications: the outbox of reminders and notices, and each member's choices about them."""

from __future__ import annotations

import enum
from datetime import datetime, time

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Time, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.db import Base, UTCDateTime
from supportnet.models.meeting import Occurrence
from supportnet.models.user import User, enum_column


class NotificationKind(enum.StrEnum):
    REMINDER = "reminder"  # before a meeting the member is going to, at the offsets they chose
    STARTING_NOW = "starting_now"  # an online meeting begins: here is the link (opt-in)
    CHANGE = "change"  # a meeting they answered for was cancelled, moved or restored, or its series changed
    SEAT = "seat"  # they got a seat from the waitlist
    JOIN_ANSWER = "join_answer"  # their request to join was accepted or declined
    JOIN_REQUEST = "join_request"  # to facilitators: someone asks to join
    DIGEST = "digest"  # to facilitators, the evening before a meeting: who is coming, who asked for support
    ANNOUNCEMENT = "announcement"  # a facilitator's message to the group
    CHECKIN_PROMPT = "checkin_prompt"  # at the member's chosen local time on chosen days
    MISSED_YOU = "missed_you"  # opt-in: after missing several meetings in a row they usually attend
    # To members who share check-ins with a group: someone became able to see what they share (always sent).
    SHARING_AUDIENCE = "sharing_audience"
    # Sign-up confirmations and password resets: the one-time link is in the payload, encrypted with the data
    # key, and removed once the row is sent, failed or expired (always sent, even to unconfirmed addresses).
    ACCOUNT = "account"
    # A referral's link, to the address a coordinator typed (no account yet: user_id is empty, the address and
    # the link are encrypted in the payload and removed once the row is sent, failed or expired).
    REFERRAL_LINK = "referral_link"
    # To a program's coordinators: a referred person who shares their progress has no RSVP after 3 days, or
    # has not attended after 10.
    REFERRAL_NUDGE = "referral_nudge"
    # To a group's volunteer greeters: a newcomer is coming to a meeting.
    NEWCOMER = "newcomer"
    # A measure the member chose to take at a rhythm is due today (at their chosen local time, once per due day).
    MEASURE_PROMPT = "measure_prompt"
    # A member's own people. These name a supporter (`supporter_id`): the email goes to the supporter's address,
    # read from the supporter's row when sent; the in-app row is the member's own record of what was sent.
    SUPPORTER_INVITE = "supporter_invite"  # "<member> asks you to be a supporter": accept or decline
    REACH_OUT = "reach_out"  # the member pressed "reach out": their chosen message, to the supporters they chose
    SUPPORTER_ALERT = "supporter_alert"  # one of the member's alert rules fired
    # One-to-one sessions (to the member and to the coach): booked, a reminder before it, moved or cancelled.
    SESSION_BOOKED = "session_booked"
    SESSION_REMINDER = "session_reminder"
    SESSION_CHANGED = "session_changed"


class Channel(enum.StrEnum):
    EMAIL = "email"
    IN_APP = "in_app"


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"  # waits for due_at
    SENDING = "sending"  # claimed by a tick until claimed_until; claimable again once that has passed
    SENT = "sent"  # the mail server accepted it (email) or it is in the member's inbox (in-app)
    FAILED = "failed"  # the mail server refused it for good, or it was retried too often
    EXPIRED = "expired"  # too late to be useful (a reminder after the meeting began)
    CANCELLED = "cancelled"  # no longer makes sense (the RSVP or the meeting was cancelled, the kind turned off)


# The kinds whose payload holds a link (and, for a referral, an address) until the row is done, as SQL: the partial
# index below and the query that looks for them use this very text, so both databases see that the index applies.
LINK_KINDS = f"kind IN ('{NotificationKind.ACCOUNT.value}', '{NotificationKind.REFERRAL_LINK.value}')"


class Notification(Base):
    """One notice to one member over one channel; the row is the outbox entry and, in-app, the inbox entry.

    Rows are written in the same transaction as the change that causes them; `dedupe_key` makes writing
    the same notice twice impossible, whoever writes it (a request, the planner, two schedulers).
    """

    __tablename__ = "notification"
    __table_args__ = (
        # The dispatcher's only question, "what is due?", is one range on this index, however many rows wait.
        Index("ix_notification_status_due", "status", "due_at"),
        # Account and referral emails carry a link (and a referral an address) that is deleted once they are done;
        # a tick looks for those among a few days of finished rows, which without this would mean reading every
        # reminder sent in those days, on every tick. Only those two kinds are in it, so reminders never write it.
        Index("ix_notification_links_due", "due_at", sqlite_where=text(LINK_KINDS), postgresql_where=text(LINK_KINDS)),
        # The inbox page and the unread count in the navigation.
        Index("ix_notification_inbox", "user_id", "channel", "status", "read_at"),
        # Cancelling a member's pending reminders for one meeting (and a meeting's, when it changes).
        Index("ix_notification_occurrence_user", "occurrence_id", "user_id"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("user_id is not null or kind = 'referral_link'", name="notification_has_recipient"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(enum_column(NotificationKind, "notification_kind"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "notification_channel"))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    # When the row next needs attention: when it is due, when a retry is due, or when a claim's lease ends.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # After this instant the notice is useless and expires instead of being sent (None: never).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[NotificationStatus] = mapped_column(
        enum_column(NotificationStatus, "notification_status"), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why the last attempt failed, e.g. "SMTP 451: try again later". Never message content or addresses.
    last_error: Mapped[str | None] = mapped_column(String(300))
    # Plain values to build the message from (ids, instants, the change); never check-in content.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("occurrence.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("group.id", ondelete="CASCADE"), index=True)
    supporter_id: Mapped[int | None] = mapped_column(ForeignKey("supporter.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User | None] = relationship()
    occurrence: Mapped[Occurrence | None] = relationship()

    def __repr__(self) -> str:  # no payload: reprs end up in logs
        return f"<Notification {self.id} {self.kind} {self.channel} user={self.user_id} {self.status}>"


class NotificationSettings(Base):
    """A member's choices: which kinds arrive on which channel, reminder offsets, quiet hours, prompts.

    A member without a row has the defaults (supportnet/notifications/preferences.py, DEFAULT_CHANNELS).
    """

    __tablename__ = "notification_settings"
    __table_args__ = (
        CheckConstraint(
            "(quiet_start is null and quiet_end is null) or (quiet_start is not null and quiet_end is not null)",
            name="quiet_hours_complete",
        ),
        CheckConstraint("prompt_days between 0 and 127", name="prompt_days_range"),
        CheckConstraint("missed_after between 2 and 10", name="missed_after_range"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    # kind -> the channels it arrives on, e.g. {"reminder": ["email", "in_app"], "starting_now": []}.
    channels: Mapped[dict] = mapped_column(JSON, default=dict)
    # Minutes before a meeting, e.g. [1440, 60]; empty means no reminders.
    reminder_offsets: Mapped[list] = mapped_column(JSON, default=list)
    # Local wall times in the member's zone; an end before the start spans midnight (22:00 to 07:00).
    quiet_start: Mapped[time | None] = mapped_column(Time())
    quiet_end: Mapped[time | None] = mapped_column(Time())
    # Bit d set = a check-in prompt on weekday d (0 = Monday), at prompt_time in the member's zone.
    prompt_days: Mapped[int] = mapped_column(default=0)
    prompt_time: Mapped[time] = mapped_column(Time(), default=time(8, 0))
    missed_after: Mapped[int] = mapped_column(default=3)
    # Off by default: subjects say "Reminder: Tuesday 19:00", never the group or the meeting.
    descriptive_subjects: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    def __repr__(self) -> str:
        return f"<NotificationSettings user={self.user_id}>"
