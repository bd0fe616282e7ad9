"""Building blocks of the rhythm tests: a member's rhythm, a measure taken on a local day, a suggestion."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

from flask import Flask
from sqlalchemy import select

from supportnet import clock
from supportnet.checkins import rhythms
from supportnet.extensions import db
from supportnet.models import Channel, Group, MeasureResponse, MeasureRhythm, NotificationKind, Rhythm
from tests.conftest import Persona
from tests.worlds.notifications import set_prefs

Kind = NotificationKind


def email_prompts_only(app: Flask, persona: Persona, **changes) -> None:
    """Measure prompts by email only (the inbox copy would be a second row per due day)."""
    set_prefs(app, persona, channels={Kind.MEASURE_PROMPT: frozenset({Channel.EMAIL})}, **changes)


def set_rhythm(app: Flask, persona: Persona, code: str, rhythm: Rhythm, starts_on: date, at: time,
               now: datetime | None = None) -> None:
    with app.app_context():
        rhythms.set_rhythm(persona.user(), code, rhythm, starts_on, at, now or clock.now_utc())
        db.session.commit()


def stop_rhythm(app: Flask, persona: Persona, code: str, now: datetime | None = None) -> None:
    with app.app_context():
        rhythms.stop_rhythm(persona.user(), code, now or clock.now_utc())
        db.session.commit()


def took(app: Flask, persona: Persona, code: str, local_date: date, at: datetime | None = None) -> None:
    """A completed response of that instrument for the member's local day (the scores do not matter here)."""
    with app.app_context():
        db.session.add(MeasureResponse(
            user_id=persona.id, code=code, version=1, answers=json.dumps({}), scores={"total": 0},
            taken_at=at or datetime.combine(local_date, time(12, 0), tzinfo=UTC), local_date=local_date,
        ))
        db.session.commit()


def suggest(app: Flask, by: Persona, code: str, rhythm: Rhythm, *, group_id: int, note: str | None = None) -> int:
    with app.app_context():
        suggestion = rhythms.suggest(group=db.session.get(Group, group_id), code=code, rhythm=rhythm, note=note,
                                     by_user=by.user(), now=clock.now_utc())
        db.session.commit()
        return suggestion.id


def rhythm_row(app: Flask, persona: Persona, code: str) -> tuple | None:
    with app.app_context():
        row = db.session.scalar(select(MeasureRhythm).where(MeasureRhythm.user_id == persona.id,
                                                             MeasureRhythm.code == code))
        return None if row is None else (row.rhythm, row.starts_on, row.at, row.suggestion_id)


def open_suggestion_ids(app: Flask, persona: Persona) -> list[int]:
    with app.app_context():
        return [s.id for s in rhythms.open_suggestions(persona.user(), clock.now_utc())]
