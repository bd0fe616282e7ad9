"""Building blocks of the alert tests: a member's accepted supporter (written directly, as if they had accepted
through their link), a rule, check-ins, BAM responses with a chosen risk score, quiet hours."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from supportnet import clock
from supportnet.checkins import records
from supportnet.extensions import db
from supportnet.models import AlertRule, MeasureResponse, Relation, Supporter
from supportnet.supporters import alerts, people
from tests.conftest import Persona
from tests.worlds.notifications import set_prefs

LONDON = ZoneInfo("Europe/London")


def at_london(day: date, hour: int, minute: int = 0) -> datetime:
    """A London wall-clock time as aware UTC (across the clock changes)."""
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def accepted_supporter(app: Flask, persona: Persona, name: str = "Sam", email: str = "sam@example.net",
                       at: datetime | None = None) -> int:
    """A supporter the member named, who accepted."""
    with app.app_context():
        now = at or clock.now_utc()
        supporter = Supporter(user_id=persona.id, name=name, email=email, relation=Relation.FRIEND,
                              address_digest=people.address_digest(email),
                              invited_at=now, accepted_at=now)
        db.session.add(supporter)
        db.session.commit()
        return supporter.id


def set_rule(app: Flask, persona: Persona, supporter_id: int, kind: str, threshold: int, at: datetime,
             *, during_quiet_hours: bool = False) -> int:
    with clock.frozen(at), app.app_context():
        rule = alerts.create(persona.user(), supporter_id, kind, threshold, at, during_quiet_hours=during_quiet_hours)
        db.session.commit()
        return rule.id


def rule_row(app: Flask, rule_id: int) -> AlertRule | None:
    with app.app_context():
        rule = db.session.get(AlertRule, rule_id)
        if rule is not None:
            db.session.expunge(rule)
        return rule


def checked_in(app: Flask, persona: Persona, at: datetime) -> None:
    """A check-in for the member's local day at `at`."""
    with clock.frozen(at), app.app_context():
        records.record(persona.user(), records.CheckInSpec(mood=3, craving=1), at)
        db.session.commit()


def bam(app: Flask, persona: Persona, risk: int, at: datetime) -> int:
    """A BAM response whose Risk score is `risk` (the other scores do not matter here)."""
    with app.app_context():
        response = MeasureResponse(
            user_id=persona.id, code="BAM", version=1, answers=json.dumps({}),
            scores={"use": 0, "risk": risk, "protective": 12}, taken_at=at,
            local_date=at.astimezone(LONDON).date(),
        )
        db.session.add(response)
        db.session.commit()
        return response.id


def quiet_hours(app: Flask, persona: Persona, start: time, end: time) -> None:
    set_prefs(app, persona, quiet_start=start, quiet_end=end)


def supporter_row(app: Flask, supporter_id: int) -> Supporter:
    with app.app_context():
        row = db.session.scalar(select(Supporter).where(Supporter.id == supporter_id))
        db.session.expunge(row)
        return row
