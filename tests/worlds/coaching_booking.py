"""The booking world: a coach (their row and weekly windows written directly) and members made on demand, inside
an app context; readers of the coach's booked sessions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from supportnet import accounts, clock
from supportnet.extensions import db
from supportnet.models import (
    AvailabilityWindow,
    Coach,
    CoachingSession,
    CoachVisibility,
    SessionStatus,
    User,
)
from tests.conftest import PASSWORD


def make_coach(name: str = "Cora C.", *, zone: str = "UTC", every_day: tuple[time, time] | None = None,
               **rules) -> Coach:
    """A public coach in `zone`; `every_day` adds a window on each weekday; `rules` set booking rules."""
    email = f"{name.lower().replace(' ', '').replace('.', '')}@example.org"
    user = accounts.create_user(email, PASSWORD, name, clock.now_utc(), timezone=zone)
    coach = Coach(user_id=user.id, display_name=name, visibility=CoachVisibility.PUBLIC, timezone=zone,
                  online_url="https://rooms.example.org/cora", accepted_at=clock.now_utc(), **rules)
    db.session.add(coach)
    db.session.flush()
    if every_day is not None:
        for weekday in range(7):
            add_window(coach, weekday, *every_day)
    return coach


def add_window(coach: Coach, weekday: int, starts: time, ends: time) -> AvailabilityWindow:
    window = AvailabilityWindow(coach_id=coach.id, weekday=weekday, starts=starts, ends=ends)
    db.session.add(window)
    db.session.flush()
    return window


def make_member(n: int | str, zone: str = "Europe/London") -> User:
    return accounts.create_user(f"member{n}@example.org", PASSWORD, f"Member {n}", clock.now_utc(), timezone=zone)


def booked(coach_id: int) -> list[CoachingSession]:
    """The coach's booked sessions, earliest first."""
    return list(db.session.scalars(select(CoachingSession).where(
        CoachingSession.coach_id == coach_id, CoachingSession.status == SessionStatus.BOOKED)
        .order_by(CoachingSession.starts_at)))


def overlapping_pairs(sessions: list[CoachingSession], buffer_minutes: int = 0) -> list[tuple[int, int]]:
    """Pairs of sessions that overlap (sessions sorted by start)."""
    gap = timedelta(minutes=buffer_minutes)
    return [(a.id, b.id) for i, a in enumerate(sessions) for b in sessions[i + 1:]
            if a.starts_at < b.ends_at + gap and b.starts_at < a.ends_at + gap]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)
