"""Demo data for development: a few accounts (and, as features land, groups and meetings)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from supportnet import accounts
from supportnet.extensions import db
from supportnet.models import SiteRole, User

# Development-only passwords: seed-demo refuses to run in production.
DEMO_USERS = [
    (SiteRole.ADMIN, "admin@example.org", "Admin A.", "Europe/London", "demo-admin-pass"),
    (SiteRole.FACILITATOR, "facilitator@example.org", "Fran F.", "Europe/London", "demo-facilitator-pass"),
    (SiteRole.MEMBER, "member@example.org", "Sam K.", "America/New_York", "demo-member-pass"),
    (SiteRole.MEMBER, "member2@example.org", "Alex R.", "Europe/London", "demo-member2-pass"),
]


def seed(now: datetime) -> list[tuple[str, str, str]]:
    """Create whatever demo data is missing; return (role, email, password) for each demo login."""
    logins = []
    for role, email, name, tz, password in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.email == email)) is None:
            accounts.create_user(email, password, name, now, timezone=tz, role=role)
        logins.append((role.value, email, password))
    return logins
