"""Two-factor authentication: TOTP (RFC 6238) with an authenticator app, and one-time recovery codes.

Functions here change models and flush; the caller (a view) commits.

Decisions worth knowing:

* The secret is encrypted at rest with SUPPORTNET_DATA_KEY (supportnet/crypto.py), like check-in notes, and
  shown only while the member sets it up: as text, as an otpauth:// link and as a QR code drawn here.
* A code is accepted for the current 30-second step or one step either side (phone clocks drift), and never
  for a step at or before the last one accepted: a code seen over someone's shoulder cannot be used again.
* Recovery codes have 80 random bits, so a sha256 of each is enough to keep; each works once.
* Wrong codes count like wrong passwords (LoginFailure rows under a key of their own), so the six digits
  cannot be guessed: after the limit the step answers 429 until the window has passed.
* Everyone who can see members must have it when SUPPORTNET_REQUIRE_2FA_FOR_STAFF is on: site facilitators and
  admins, and every active facilitator of any group (the group role alone opens rosters, member lists, support
  pages and audit logs). Being made a group facilitator sends them through setup at their next request.
* The setup page shows the otpauth:// link as a QR code drawn on the server (segno, SVG): no QR service sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

import pyotp
import segno
from sqlalchemy import delete, func, select

from supportnet import accounts, audit, visibility
from supportnet.crypto import SecretText
from supportnet.errors import DomainError, TooManyAttempts
from supportnet.extensions import db
from supportnet.models import AuditAction, LoginFailure, RecoveryCode, TwoFactor, User

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper without doubt
_RECOVERY_LENGTH = 16  # 16 characters of 31 is 79 bits; shown as four groups of four


class InvalidCode(DomainError):
    """The code is wrong, used already, or too old."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def failure_key(user: User) -> str:
    """The throttle key for wrong codes of this account (a hash, like the password throttle's)."""
    return _digest(f"two-factor:{user.id}")


# --- state ---


def settings_for(user: User) -> TwoFactor | None:
    """The member's two-factor row (set up or half set up), or None."""
    return db.session.get(TwoFactor, user.id)


def is_enabled(user: User) -> bool:
    """Whether the member signs in with an authenticator code."""
    row = settings_for(user)
    return row is not None and row.is_active


def is_required(user: User, config) -> bool:
    """Whether the member must use two-factor: staff (facilitators, admins, program coordinators), when the
    deployment requires it."""
    if not config.get("REQUIRE_2FA_FOR_STAFF"):
        return False
    return visibility.is_staff(user)


def qr_svg(uri: str) -> str:
    """The otpauth:// link as an SVG data: URI of a QR code (drawn here; the secret never leaves the server)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def reset(user: User, now: datetime, *, by: User | None = None) -> None:
    """An operator's recovery for a locked-out member: two-factor off and every session ended (and audited).

    They sign in with their password and, if the role requires it, set up a new authenticator at once.
    `by`: who did it, for the audit log; None for an operator at the command line.
    """
    disable(user)
    accounts.end_all_sessions(user)
    audit.record(AuditAction.TWO_FACTOR_RESET, actor=by, now=now, subject=user)
    db.session.flush()


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    ) or 0


# --- setting up ---


def begin_setup(user: User, now: datetime) -> TwoFactor:
    """Start (or restart) setting up an authenticator: a new secret, not yet confirmed."""
    row = settings_for(user)
    if row is not None and row.is_active:
        raise DomainError("Two-factor authentication is already on. Turn it off first to use another app.")
    if row is None:
        row = TwoFactor(user_id=user.id)
        db.session.add(row)
    row.secret = SecretText(pyotp.random_base32())  # a repr that never shows it, from the start
    row.created_at = now
    row.confirmed_at = None
    row.last_step = None
    db.session.flush()
    return row


def provisioning_uri(row: TwoFactor, account: str, issuer: str) -> str:
    """The otpauth:// link an authenticator app reads (typed in, or opened on the phone itself)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": str(row.secret), "issuer": issuer, "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"


def grouped_secret(row: TwoFactor) -> str:
    """The secret in groups of four letters, for typing into an app by hand."""
    text = str(row.secret)
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def confirm_setup(user: User, code: str, now: datetime) -> list[str]:
    """Turn two-factor on once the member typed a code from the app; returns their new recovery codes."""
    row = settings_for(user)
    if row is None or row.is_active:
        raise DomainError("Start setting up two-factor authentication first.")
    step = _matching_step(row, code, now)
    if step is None:
        raise InvalidCode("That code doesn't match. Check the time on your phone and type the newest code.",
                          field="code")
    row.last_step = step
    row.confirmed_at = now
    db.session.flush()
    return new_recovery_codes(user, now)


def disable(user: User) -> None:
    """Turn two-factor off: the secret and every recovery code are deleted."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(TwoFactor).where(TwoFactor.user_id == user.id))
    db.session.flush()


def new_recovery_codes(user: User, now: datetime) -> list[str]:
    """Replace the member's recovery codes with RECOVERY_CODES new ones; returns them (only hashes are kept)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_digest(raw), created_at=now))
    db.session.flush()
    return codes


# --- checking a code ---


def _normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _matching_step(row: TwoFactor, code: str, now: datetime) -> int | None:
    typed = _normalize(code)
    if len(typed) != DIGITS or not typed.isdigit():
        return None
    totp = pyotp.TOTP(str(row.secret), digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if row.last_step is not None and step <= row.last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), typed):
            return step
    return None


def _use_recovery_code(user: User, code: str, now: datetime) -> bool:
    typed = _normalize(code)
    if len(typed) != _RECOVERY_LENGTH:
        return False
    row = db.session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _digest(typed), RecoveryCode.used_at.is_(None)
        )
    )
    if row is None:
        return False
    row.used_at = now
    return True


def verify(user: User, code: str, now: datetime, limit: int, window: timedelta) -> str:
    """Check an authenticator code or a recovery code for a member who has two-factor on.

    Returns "totp" or "recovery"; raises InvalidCode (the failure is recorded for the throttle, the caller
    commits it) or TooManyAttempts.
    """
    key = failure_key(user)
    recent = db.session.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.account_key == key,
                                                              LoginFailure.at > now - window)
    )
    if recent >= limit:
        minutes = int(window.total_seconds() // 60)
        raise TooManyAttempts(f"Too many wrong codes. Wait {minutes} minutes and try again.")
    row = settings_for(user)
    if row is None or not row.is_active:
        raise InvalidCode("Two-factor authentication is not on for this account.")
    step = _matching_step(row, code, now)
    used = None
    if step is not None:
        row.last_step = step
        used = "totp"
    elif _use_recovery_code(user, code, now):
        used = "recovery"
    if used is None:
        db.session.add(LoginFailure(account_key=key, at=now))
        db.session.flush()
        raise InvalidCode("That code doesn't match. Type the newest code from your app, or a recovery code.",
                          field="code")
    db.session.execute(delete(LoginFailure).where(LoginFailure.account_key == key))
    db.session.flush()
    return used
