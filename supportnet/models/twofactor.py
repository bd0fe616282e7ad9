"""Two-factor authentication: a member's TOTP secret (encrypted at rest) and their one-time recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from supportnet.crypto import EncryptedText
from supportnet.db import Base, UTCDateTime


class TwoFactor(Base):
    """A member's authenticator app. Unconfirmed (confirmed_at None) while they are setting it up."""

    __tablename__ = "two_factor"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    # The base32 TOTP secret, encrypted with SUPPORTNET_DATA_KEY like check-in notes; decrypted it is a
    # SecretText, whose repr never shows it.
    secret: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last 30-second step a code was accepted for: the same code (or an older one) never works twice.
    last_step: Mapped[int | None]

    @property
    def is_active(self) -> bool:
        return self.confirmed_at is not None

    def __repr__(self) -> str:  # no secret: reprs end up in logs
        return f"<TwoFactor user={self.user_id} active={self.is_active}>"


class RecoveryCode(Base):
    """One single-use recovery code; only its sha256 is kept (the code has 80 random bits)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<RecoveryCode {self.id} user={self.user_id}>"
