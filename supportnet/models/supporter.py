"""A member's own people: the supporters they name, the alert rules they set for them, and their safety plan.

Everything here is the member's: a supporter's address is shown to nobody but the member, a supporter hears
only what the member chose (through the consent ledger: Audience.SUPPORTER), and the member can end any of it at
once. A supporter needs no account; they accept or stop through signed links that name the row and its nonce.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportnet.clock import now_utc
from supportnet.crypto import EncryptedText
from supportnet.db import Base, UTCDateTime
from supportnet.models.user import User, enum_column, new_row_nonce


class Relation(enum.StrEnum):
    """Who the supporter is to the member (for the member's own list; never shown to anyone else)."""

    SPONSOR = "sponsor"
    FRIEND = "friend"
    FAMILY = "family"
    COACH = "coach"
    FACILITATOR = "facilitator"  # a facilitator of one of the member's groups
    OTHER = "other"


class SupporterEnd(enum.StrEnum):
    STOPPED = "stopped"  # the supporter stopped, through their link
    REMOVED = "removed"  # the member removed them
    EXPIRED = "expired"  # the invitation was not accepted in time


class Supporter(Base):
    """Someone the member asked to be there for them, by email.

    States: invited (neither accepted nor ended), active (accepted, not ended), ended (the supporter stopped, or
    the member removed them). An ended row stays as the member's record, with the address removed; a new
    invitation to the same person is a new row. Links carry the row's nonce, so no link outlives its row's
    state.
    """

    __tablename__ = "supporter"
    __table_args__ = (
        Index("ix_supporter_user", "user_id", "ended_at"),
        CheckConstraint("length(name) between 1 and 60", name="supporter_name_length"),
        CheckConstraint("accepted_at is null or accepted_at >= invited_at", name="supporter_accepted_after_invite"),
        CheckConstraint("ended_at is null or end_reason is not null", name="supporter_ended_has_reason"),
        # The address goes when the supporter's place ends: nothing is sent to them any more.
        CheckConstraint("ended_at is not null or email is not null", name="supporter_address_while_standing"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    # What the member calls them ("Sam", "my sponsor"): on the member's pages and in the messages they preview.
    name: Mapped[str] = mapped_column(String(60))
    # Encrypted; shown to the member only; removed when the supporter's place ends.
    email: Mapped[str | None] = mapped_column(EncryptedText())
    # A keyed hash of the address (HMAC with the app's secret key), kept when the address goes: a "no thanks" is
    # honoured for good, and one address is not invited more than once a day, without keeping the address.
    address_digest: Mapped[str] = mapped_column(String(64))
    relation: Mapped[Relation] = mapped_column(enum_column(Relation, "supporter_relation"))
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[SupporterEnd | None] = mapped_column(enum_column(SupporterEnd, "supporter_end"))
    # Carried by the signed invitation and stop links: they match this row only, never a later one.
    nonce: Mapped[str] = mapped_column(String(32), default=new_row_nonce)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:  # no name or address: reprs end up in logs
        return f"<Supporter {self.id} user={self.user_id}>"


class AlertKind(enum.StrEnum):
    """What a supporter may be told, each by a rule the member set and reads in plain words."""

    MISSED_MEETINGS = "missed_meetings"  # missed N meetings in a row of a series the member usually goes to
    NO_CHECKIN = "no_checkin"  # no check-in for N days
    BAM_RISK = "bam_risk"  # the BAM's Risk score went above N


class AlertRule(Base):
    """"Tell <supporter> if ...": the member's rule, its threshold, and whether it is paused.

    The rule's permission to tell is also a consent (Audience.SUPPORTER, the scope of its kind): the ledger is
    asked before an alert is planned and again before it is sent, so removing the supporter, deleting the rule
    or revoking the consent stops alerts at once.
    """

    __tablename__ = "alert_rule"
    __table_args__ = (
        UniqueConstraint("supporter_id", "kind"),
        CheckConstraint("threshold between 1 and 60", name="alert_threshold_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("supporter.id", ondelete="CASCADE"))
    kind: Mapped[AlertKind] = mapped_column(enum_column(AlertKind, "alert_kind"))
    # Meetings in a row, days without a check-in, or the BAM Risk score to exceed.
    threshold: Mapped[int]
    # Alerts wait for the end of the member's quiet hours unless the member chose otherwise.
    during_quiet_hours: Mapped[bool] = mapped_column(default=False)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    supporter: Mapped[Supporter] = relationship()


class SafetyPlan(Base):
    """The member's personal safety plan in the established six parts, each encrypted at rest, and the short
    message their "reach out" button sends to the supporters they choose."""

    __tablename__ = "safety_plan"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    warning_signs: Mapped[str | None] = mapped_column(EncryptedText())
    coping_strategies: Mapped[str | None] = mapped_column(EncryptedText())
    distractions: Mapped[str | None] = mapped_column(EncryptedText())  # people and places that distract
    people_to_ask: Mapped[str | None] = mapped_column(EncryptedText())
    professionals: Mapped[str | None] = mapped_column(EncryptedText())  # professionals and crisis lines
    safer_environment: Mapped[str | None] = mapped_column(EncryptedText())
    # What "reach out" sends ("I'd appreciate a call today"), chosen in advance.
    reach_out_message: Mapped[str | None] = mapped_column(EncryptedText())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
