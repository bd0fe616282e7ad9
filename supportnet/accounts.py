"""Accounts: registration, sign-in, sessions, emailed tokens, profile and site roles.

Functions here change models and flush; the caller (a view or a command) commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select

from supportnet import audit, passwords
from supportnet.clock import now_utc, timezone_names
from supportnet.db import serialize_on
from supportnet.errors import DomainError, TooManyAttempts
from supportnet.extensions import db
from supportnet.models import AccountToken, AuditAction, LoginFailure, SiteRole, TokenPurpose, User, UserSession
from supportnet.textsafety import clean_name

TOKEN_LIFETIME = {
    TokenPurpose.CONFIRM_EMAIL: timedelta(hours=48),
    TokenPurpose.RESET_PASSWORD: timedelta(hours=1),
    TokenPurpose.CHANGE_EMAIL: timedelta(hours=24),
    # Long enough for someone who reads their old mailbox once a week.
    TokenPurpose.REVERT_EMAIL_CHANGE: timedelta(days=14),
}
UNCONFIRMED_ACCOUNT_LIFETIME = timedelta(days=7)
# Writing last_seen on every request would make every page view a write; a minute is precise enough.
LAST_SEEN_PRECISION = timedelta(minutes=1)


class InvalidToken(DomainError):
    """The link is unknown, used already, or expired."""


class InvalidCredentials(DomainError):
    """Wrong email or password (deliberately not saying which)."""


@dataclass(frozen=True)
class Registration:
    """What a registration did: the account it concerns and the confirmation token to email, if any."""

    user: User
    is_new: bool
    confirm_token: str | None


def normalize_email(raw: str) -> str:
    """Return the email in the one form we store (lower case), or raise DomainError if it is not one."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise DomainError("Enter a valid email address.", field="email") from exc
    return result.normalized.lower()


def clean_display_name(raw: str) -> str:
    """Return a tidy display name or raise DomainError; an email address is refused to protect anonymity."""
    name = clean_name(raw, limit=60, empty="Enter a display name.", what="display name", field="display_name")
    if "@" in name:
        raise DomainError(
            "Other members see your display name, so please don't use your email address.", field="display_name"
        )
    return name


def check_timezone(name: str) -> str:
    """Return the IANA timezone name or raise DomainError."""
    if name not in timezone_names():
        raise DomainError("Choose a timezone from the list.", field="timezone")
    return name


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def account_key(email: str) -> str:
    """The throttle key for an email address; a hash, so the failure table holds no addresses."""
    return _digest("login:" + email.strip().lower())


def issue_token(user: User, purpose: TokenPurpose, now: datetime, new_email: str | None = None, **choices) -> str:
    """Create a single-use token for the user and return it; only its hash is stored.

    `choices` (password_hash, display_name, timezone) belong to a sign-up and are applied when it is confirmed.
    """
    token = secrets.token_urlsafe(32)
    db.session.add(
        AccountToken(
            user=user,
            purpose=purpose,
            token_hash=_digest(token),
            new_email=new_email,
            created_at=now,
            expires_at=now + TOKEN_LIFETIME[purpose],
            **choices,
        )
    )
    db.session.flush()
    return token


def find_token(token: str, purpose: TokenPurpose, now: datetime) -> AccountToken:
    """Return the live token row for this token or raise InvalidToken."""
    row = db.session.scalar(
        select(AccountToken).where(AccountToken.token_hash == _digest(token), AccountToken.purpose == purpose)
    )
    if row is None or row.expires_at <= now:
        raise InvalidToken("This link is invalid or has expired. Ask for a new one.")
    return row


def redeem_token(token: str, purpose: TokenPurpose, now: datetime) -> AccountToken:
    """Use up a token: return its row and delete every token of that purpose for the user (single use)."""
    row = find_token(token, purpose, now)
    db.session.execute(
        delete(AccountToken).where(AccountToken.user_id == row.user_id, AccountToken.purpose == purpose)
    )
    return row


def create_user(
    email: str,
    password: str,
    display_name: str,
    now: datetime,
    timezone: str = "UTC",
    role: SiteRole = SiteRole.MEMBER,
    confirmed: bool = True,
) -> User:
    """Create an account directly (commands and demo data); raises DomainError if the email is taken."""
    email = normalize_email(email)
    passwords.check_policy(password)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise DomainError("An account with that email already exists.", field="email")
    user = User(
        email=email,
        password_hash=passwords.hash_password(password),
        display_name=clean_display_name(display_name),
        timezone=check_timezone(timezone),
        role=role,
        email_confirmed_at=now if confirmed else None,
        created_at=now,
        password_changed_at=now,
    )
    db.session.add(user)
    db.session.flush()
    return user


def register(email: str, password: str, display_name: str, timezone: str, now: datetime, *,
             referral_id: int | None = None, referral_choices: dict | None = None) -> Registration:
    """Start a registration; an existing email gets no new account, and the caller must not say so.

    Anyone can type anyone's address, so an unconfirmed account is never completed with choices its confirmer
    did not make: each sign-up's password, name and timezone travel with its own confirmation token and take
    effect when that link is opened, and a new sign-up for the address voids the links of the earlier ones.
    A sign-up from a referral link keeps the referral and what the person chose on it on the same token, for
    the caller to apply once the email is confirmed (an address that already has an account gets neither).
    """
    email = normalize_email(email)
    passwords.check_policy(password)
    display_name = clean_display_name(display_name)
    timezone = check_timezone(timezone)
    # Hash in both branches so that the response takes as long whether or not the email is known.
    password_hash = passwords.hash_password(password)
    choices = {"password_hash": password_hash, "display_name": display_name, "timezone": timezone}
    on_token = dict(choices)
    if referral_id is not None:
        on_token.update(referral_id=referral_id, referral_choices=referral_choices)
    existing = db.session.scalar(select(User).where(User.email == email))
    if existing is not None:
        token = None
        if existing.email_confirmed_at is None:
            _void_tokens(existing, TokenPurpose.CONFIRM_EMAIL)
            token = issue_token(existing, TokenPurpose.CONFIRM_EMAIL, now, **on_token)
        return Registration(user=existing, is_new=False, confirm_token=token)
    user = User(email=email, created_at=now, password_changed_at=now, **choices)
    db.session.add(user)
    db.session.flush()
    return Registration(
        user=user, is_new=True, confirm_token=issue_token(user, TokenPurpose.CONFIRM_EMAIL, now, **on_token)
    )


def _void_tokens(user: User, *purposes: TokenPurpose) -> None:
    db.session.execute(
        delete(AccountToken).where(AccountToken.user_id == user.id, AccountToken.purpose.in_(purposes))
    )


def _apply_signup_choices(user: User, row: AccountToken, now: datetime) -> None:
    """Give an unconfirmed account the choices of the sign-up whose link was opened."""
    if row.password_hash:
        user.password_hash = row.password_hash
        user.password_changed_at = now
    if row.display_name:
        user.display_name = row.display_name
    if row.timezone:
        user.timezone = row.timezone


def confirm_email(token: str, now: datetime) -> User:
    """Confirm the account's email through its emailed token; the sign-up that sent it sets its choices."""
    row = redeem_token(token, TokenPurpose.CONFIRM_EMAIL, now)
    user = row.user
    if user.email_confirmed_at is None:
        _apply_signup_choices(user, row, now)
        user.email_confirmed_at = now
        end_all_sessions(user)
    db.session.flush()
    return user


def failures_in_window(email: str, now: datetime, window: timedelta) -> int:
    """Count recent failed logins for this email address, whether or not it has an account."""
    return db.session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.account_key == account_key(email), LoginFailure.at > now - window)
    )


def authenticate(email: str, password: str, now: datetime, limit: int, window: timedelta) -> User:
    """Return the account for these credentials, or raise InvalidCredentials / TooManyAttempts.

    Unknown emails are hashed and counted exactly like known ones, so neither the answer, its timing
    nor the throttle tells anybody whether an address has an account.
    """
    key_email = email.strip().lower()
    # Concurrent attempts on one account (from any worker or host) are counted one after another, so a burst
    # of guesses cannot all slip in under the limit before any of them is recorded.
    serialize_on(db.session, "login:" + account_key(key_email))
    if failures_in_window(key_email, now, window) >= limit:
        minutes = int(window.total_seconds() // 60)
        raise TooManyAttempts(
            f"Too many failed sign-ins for this account. Wait {minutes} minutes, or reset your password."
        )
    user = db.session.scalar(select(User).where(User.email == key_email))
    ok = passwords.verify_password(user.password_hash if user else passwords.dummy_hash(), password)
    if not ok or user is None:
        db.session.add(LoginFailure(account_key=account_key(key_email), at=now))
        db.session.flush()
        raise InvalidCredentials("That email and password don't match an account.")
    if user.email_confirmed_at is None:
        # Only someone who knows the password learns this, so it reveals nothing to an enumerator.
        raise InvalidCredentials("Confirm your email address first: open the link we sent you.")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    db.session.execute(delete(LoginFailure).where(LoginFailure.account_key == account_key(key_email)))
    db.session.flush()
    return user


def start_session(user: User, now: datetime, remember: bool = False, user_agent: str = "") -> str:
    """Open a new server-side session for the user and return its token (for the cookie only)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            user=user,
            token_hash=_digest(token),
            remember=remember,
            user_agent=user_agent[:200],
            created_at=now,
            last_seen_at=now,
            reauthenticated_at=now,  # signing in proves who it is (re-authentication)
        )
    )
    db.session.flush()
    user.session_token = token
    return token


# --- re-authentication: sensitive actions need a recent proof of identity in this browser ---


def mark_reauthenticated(row: UserSession, now: datetime) -> None:
    """Record that the person just proved it is them in this session (password, and code if two-factor is on)."""
    row.reauthenticated_at = now
    db.session.flush()


def is_fresh(row: UserSession | None, now: datetime, window: timedelta) -> bool:
    """Whether the session proved its identity within `window` (sessions from before the feature never have)."""
    return row is not None and row.reauthenticated_at is not None and now - row.reauthenticated_at <= window


def find_session(token: str, now: datetime, idle: timedelta, lifetime: timedelta) -> UserSession | None:
    """Return the live session for a cookie token, or None when it ended, idled out or grew too old."""
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _digest(token)))
    if row is None or now - row.created_at > lifetime:
        return None
    if not row.remember and now - row.last_seen_at > idle:
        return None
    return row


def session_needs_touch(row: UserSession, now: datetime, every: timedelta = LAST_SEEN_PRECISION) -> bool:
    """Return whether last_seen is stale enough to be worth a write."""
    return now - row.last_seen_at >= every


def end_session(token: str) -> None:
    """End the session that carries this token (logout)."""
    db.session.execute(delete(UserSession).where(UserSession.token_hash == _digest(token)))


def end_all_sessions(user: User) -> None:
    """End every session of the user, on every device; a pending email change dies with them.

    A change requested from a stolen session must not outlive the owner's "sign out everywhere" or new password.
    """
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    _void_tokens(user, TokenPurpose.CHANGE_EMAIL)


def change_password(user: User, current: str, new: str, now: datetime) -> None:
    """Change the password after checking the current one; every session ends, the caller starts a new one."""
    if not passwords.verify_password(user.password_hash, current):
        raise DomainError("Your current password is not right.", field="current_password")
    passwords.check_policy(new)
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = now
    end_all_sessions(user)
    db.session.flush()


def request_password_reset(email: str, now: datetime) -> tuple[User, str] | None:
    """Issue a reset token for the account with this email, if there is one (the caller must not say)."""
    try:
        email = normalize_email(email)
    except DomainError:
        return None
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        return None
    return user, issue_token(user, TokenPurpose.RESET_PASSWORD, now)


def reset_password(token: str, new: str, now: datetime) -> User:
    """Set a new password through a reset token; the token is used up and every session ends."""
    row = find_token(token, TokenPurpose.RESET_PASSWORD, now)
    passwords.check_policy(new)
    row = redeem_token(token, TokenPurpose.RESET_PASSWORD, now)
    user = row.user
    # Following the emailed link proves control of the address; the name and timezone are those of the latest
    # sign-up (the one the address's owner made, whose link was sent to the same mailbox), never an earlier one.
    if user.email_confirmed_at is None:
        latest = db.session.scalar(
            select(AccountToken)
            .where(AccountToken.user_id == user.id, AccountToken.purpose == TokenPurpose.CONFIRM_EMAIL)
            .order_by(AccountToken.created_at.desc(), AccountToken.id.desc())
            .limit(1)
        )
        if latest is not None:
            _apply_signup_choices(user, latest, now)
        _void_tokens(user, TokenPurpose.CONFIRM_EMAIL)
        user.email_confirmed_at = now
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = now
    end_all_sessions(user)
    db.session.execute(delete(LoginFailure).where(LoginFailure.account_key == account_key(user.email)))
    db.session.flush()
    return user


def update_profile(user: User, display_name: str, timezone: str) -> None:
    """Change the display name and timezone."""
    user.display_name = clean_display_name(display_name)
    user.timezone = check_timezone(timezone)
    db.session.flush()


def request_email_change(user: User, password: str, new_email: str, now: datetime) -> tuple[str | None, str]:
    """Check the password and return (token or None if the address is taken, normalized new address).

    The caller sends the token to the new address, or a notice if it is taken, and shows the same page.
    Any earlier pending change stops working: only the latest request can be confirmed.
    """
    if not passwords.verify_password(user.password_hash, password):
        raise DomainError("Your current password is not right.", field="current_password")
    new_email = normalize_email(new_email)
    if new_email == user.email:
        raise DomainError("That is already your email address.", field="email")
    _void_tokens(user, TokenPurpose.CHANGE_EMAIL)
    if db.session.scalar(select(User.id).where(User.email == new_email)) is not None:
        db.session.flush()
        return None, new_email
    return issue_token(user, TokenPurpose.CHANGE_EMAIL, now, new_email=new_email), new_email


def pending_email_change(token: str, user: User, now: datetime) -> AccountToken:
    """The live email-change token of this signed-in account, or InvalidToken (also when it is someone else's)."""
    row = find_token(token, TokenPurpose.CHANGE_EMAIL, now)
    if row.user_id != user.id:
        raise InvalidToken("This link is invalid or has expired. Ask for a new one.")
    return row


def prepare_revert(user: User, now: datetime) -> str:
    """Issue the "this wasn't me" token for the current address, to mail there before the address changes."""
    return issue_token(user, TokenPurpose.REVERT_EMAIL_CHANGE, now, new_email=user.email)


def drop_revert(token: str) -> None:
    """Forget a "this wasn't me" token whose notice could not be sent (the change did not happen)."""
    db.session.execute(delete(AccountToken).where(AccountToken.token_hash == _digest(token)))


def confirm_email_change(token: str, user: User, now: datetime) -> tuple[User, str]:
    """Switch the signed-in account to the new address through the token sent there; returns (user, old address).

    The caller must have sent the old address its "this wasn't me" notice first.
    """
    pending_email_change(token, user, now)
    row = redeem_token(token, TokenPurpose.CHANGE_EMAIL, now)
    new_email = row.new_email or ""
    if db.session.scalar(select(User.id).where(User.email == new_email)) is not None:
        raise InvalidToken("That address now belongs to another account.")
    old = user.email
    user.email = new_email
    user.email_confirmed_at = now
    db.session.flush()
    return user, old


def revert_email_change(token: str, now: datetime) -> User:
    """"This wasn't me": put the old address back (unless another account took it), cancel any pending change
    and end every session, so whoever changed it is out and only the old address can reset the password."""
    row = redeem_token(token, TokenPurpose.REVERT_EMAIL_CHANGE, now)
    user, old = row.user, row.new_email or ""
    if old and user.email != old and db.session.scalar(select(User.id).where(User.email == old)) is None:
        user.email = old
        user.email_confirmed_at = now
    end_all_sessions(user)
    db.session.flush()
    return user


def set_site_role(user: User, role: SiteRole, *, by: User | None = None, now: datetime | None = None) -> None:
    """Give the user a site role (member, facilitator, admin); a change is written to the audit log (`by`: who)."""
    before = user.role
    if role == before:
        return
    user.role = role
    db.session.flush()
    audit.record(AuditAction.SITE_ROLE_CHANGED, actor=by, now=now or now_utc(), subject=user, from_role=before,
                 to_role=role)


def purge_expired(now: datetime, failure_window: timedelta, lifetime: timedelta) -> None:
    """Delete expired tokens, sessions, stale login failures and never-confirmed accounts."""
    db.session.execute(delete(AccountToken).where(AccountToken.expires_at <= now))
    db.session.execute(delete(UserSession).where(UserSession.created_at < now - lifetime))
    db.session.execute(delete(LoginFailure).where(LoginFailure.at < now - failure_window))
    db.session.execute(
        delete(User).where(
            User.email_confirmed_at.is_(None), User.created_at < now - UNCONFIRMED_ACCOUNT_LIFETIME
        )
    )
