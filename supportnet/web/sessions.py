"""Loading the signed-in user from the server-side session that the cookie names."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import update

from supportnet import accounts
from supportnet.clock import now_utc
from supportnet.db import in_write_transaction, write_intent
from supportnet.extensions import db, login_manager
from supportnet.models import User, UserSession


def session_limits() -> tuple[timedelta, timedelta]:
    """(idle timeout, absolute lifetime) from the configuration."""
    cfg = current_app.config
    return timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]), timedelta(days=cfg["SESSION_LIFETIME_DAYS"])


def install(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    # Our own session rows replace Flask-Login's IP/agent fingerprinting.
    login_manager.session_protection = None
    login_manager.user_loader(load_user)


def load_user(token: str) -> User | None:
    """Return the user whose live session carries this token (Flask-Login's loader)."""
    now = now_utc()
    row = accounts.find_session(token, now, *session_limits())
    if row is None:
        return None
    if accounts.session_needs_touch(row, now, timedelta(seconds=current_app.config["SESSION_TOUCH_SECONDS"])):
        _touch(row, now)
    user = row.user
    user.session_token = token
    return user


def _touch(row: UserSession, now) -> None:
    """Note that the session was just used, without ever making the request wait on itself."""
    if in_write_transaction(db.session()):
        # A form being sent: the request already holds the write lock (SQLite) and may lock this very row
        # (PostgreSQL: signing out, a password change), so a second connection would wait for this request
        # until it gave up. The touch rides along and is committed with the request's own change.
        row.last_seen_at = now
        db.session.flush()
        return
    # A page being read: a short write of its own, so that a GET never turns its read into a write.
    with write_intent(), db.engine.begin() as conn:
        conn.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))
