"""A member's signed-in devices: their server-side sessions, described in words, and ending them one by one.

Functions here change models and flush; the caller (a view) commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from supportnet import accounts
from supportnet.extensions import db
from supportnet.models import User, UserSession

# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux".
_BROWSERS = [
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/")),
    ("Safari", re.compile(r"Safari/")),
]
_SYSTEMS = [
    ("iPhone", re.compile(r"iPhone")),
    ("iPad", re.compile(r"iPad")),
    ("Android", re.compile(r"Android")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Linux", re.compile(r"Linux")),
]


def describe(user_agent: str) -> str:
    """A person's words for a browser, e.g. "Firefox on Windows" (never the raw string, which fingerprints)."""
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent or "")), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent or "")), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


@dataclass(frozen=True)
class Device:
    id: int
    label: str
    signed_in_at: datetime
    last_seen_at: datetime
    remember: bool
    current: bool


def list_for(
    user: User, current_token: str | None, now: datetime, idle: timedelta, lifetime: timedelta
) -> list[Device]:
    """The member's live sessions, most recently used first; `current` marks this browser's."""
    current_hash = accounts._digest(current_token) if current_token else None
    rows = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(
            UserSession.last_seen_at.desc(), UserSession.id.desc()
        )
    ).all()
    devices = []
    for row in rows:
        expired = now - row.created_at > lifetime or (not row.remember and now - row.last_seen_at > idle)
        if expired:
            continue
        devices.append(Device(
            id=row.id, label=describe(row.user_agent), signed_in_at=row.created_at, last_seen_at=row.last_seen_at,
            remember=row.remember, current=row.token_hash == current_hash,
        ))
    return devices


def end(user: User, session_id: int) -> bool:
    """Sign one of the member's devices out; False if there is no such session of theirs."""
    result = db.session.execute(
        delete(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
