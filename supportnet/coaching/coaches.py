"""Coaches: the role, the profile, who may see and book them, availability, and their free slots."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from supportnet import slots
from supportnet.extensions import db
from supportnet.models import (
    AvailabilityChange,
    AvailabilityWindow,
    Coach,
    CoachingSession,
    SessionStatus,
    TimeOff,
)


def availability_of(coach: Coach) -> slots.Availability:
    """Everything that decides the coach's free slots, read from their rows (three queries)."""
    windows = [slots.Window(w.weekday, w.starts, w.ends) for w in db.session.scalars(
        select(AvailabilityWindow).where(AvailabilityWindow.coach_id == coach.id))]
    changes = [slots.DayChange(c.day, c.off, c.starts, c.ends) for c in db.session.scalars(
        select(AvailabilityChange).where(AvailabilityChange.coach_id == coach.id))]
    time_off = [slots.Span(t.starts_at, t.ends_at) for t in db.session.scalars(
        select(TimeOff).where(TimeOff.coach_id == coach.id))]
    return slots.Availability(
        zone=ZoneInfo(coach.timezone), windows=windows, length=timedelta(minutes=coach.session_minutes),
        buffer=timedelta(minutes=coach.buffer_minutes), notice=timedelta(hours=coach.notice_hours),
        horizon=timedelta(days=coach.horizon_days), changes=changes, time_off=time_off,
    )


def booked_spans(coach: Coach, now: datetime) -> list[slots.Span]:
    """The coach's booked sessions that have not ended."""
    return [slots.Span(s, e) for s, e in db.session.execute(
        select(CoachingSession.starts_at, CoachingSession.ends_at).where(
            CoachingSession.coach_id == coach.id, CoachingSession.status == SessionStatus.BOOKED,
            CoachingSession.ends_at > now))]


def free_slots(coach: Coach, now: datetime) -> list[slots.Span]:
    """The coach's bookable slots now, as aware UTC spans (pages show them in the member's zone)."""
    if coach.ended_at is not None:
        return []
    return slots.free_slots(availability_of(coach), booked_spans(coach, now), now)
