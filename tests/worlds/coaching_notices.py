"""The coaching-notices world: Cora coaches (London, an online room), Mia and Otto are members. Sessions are
written directly as rows, as booking would leave them; the notices come from the hooks booking calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import Coach, CoachingSession, CoachVisibility, SessionStatus
from tests.conftest import Persona, make_persona

ROOM = "https://meet.example.org/cora-room"


@dataclass
class CoachingWorld:
    cora: Persona  # the coach
    mia: Persona
    otto: Persona
    coach_id: int


def build_coaching_world(app: Flask) -> CoachingWorld:
    cora = make_persona(app, "Cora C.")
    mia = make_persona(app, "Mia M.")
    otto = make_persona(app, "Otto O.")
    with app.app_context():
        coach = Coach(user_id=cora.id, display_name="Cora (peer coach)", offers="Integration after ketamine therapy",
                      visibility=CoachVisibility.PUBLIC, timezone="Europe/London", online=True, online_url=ROOM,
                      accepted_at=clock.now_utc())
        db.session.add(coach)
        db.session.commit()
        return CoachingWorld(cora=cora, mia=mia, otto=otto, coach_id=coach.id)


def add_session(world: CoachingWorld, member: Persona, starts_at: datetime, *, note: str | None = None,
                minutes: int = 50) -> CoachingSession:
    """A booked session row (inside an app context; flushes)."""
    row = CoachingSession(coach_id=world.coach_id, member_id=member.id, starts_at=starts_at,
                          ends_at=starts_at + timedelta(minutes=minutes), status=SessionStatus.BOOKED, note=note)
    db.session.add(row)
    db.session.flush()
    return row


def cancel_session(row: CoachingSession, by_id: int | None, now: datetime) -> None:
    row.status, row.cancelled_at, row.cancelled_by_id = SessionStatus.CANCELLED, now, by_id
    db.session.flush()
