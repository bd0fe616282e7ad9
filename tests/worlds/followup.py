"""Building blocks of the follow-up tests: a program with coordinators, referrals made and accepted as the
referral pages will make them (rows written directly: those pages are built elsewhere), the person's consent to
follow their progress, and what the person then does through the app's own verbs (join, RSVP, attendance).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select

from supportnet import attendance, clock, consent, memberships, rsvps
from supportnet.extensions import db
from supportnet.models import (
    Group,
    MeetingSeries,
    Occurrence,
    Program,
    ProgramCoordinator,
    Referral,
    ReferralSuggestion,
    Scope,
)
from tests.conftest import Persona

PURPOSE = "Your program's coordinators can see whether you joined, answered for and went to a first meeting."


@dataclass
class ProgramWorld:
    app: Flask
    program_id: int
    coordinators: list[Persona]


def make_program(app: Flask, name: str, *coordinators: Persona) -> ProgramWorld:
    with app.app_context():
        program = Program(name=name, created_at=clock.now_utc())
        db.session.add(program)
        db.session.flush()
        for persona in coordinators:
            db.session.add(ProgramCoordinator(program_id=program.id, user_id=persona.id, added_at=clock.now_utc()))
        db.session.commit()
        return ProgramWorld(app, program.id, list(coordinators))


def make_referral(
    app: Flask, program_id: int, group_id: int, *, created_at: datetime, first_name: str | None = None,
    valid: timedelta = timedelta(days=30), by: Persona | None = None,
) -> int:
    """A referral suggesting one group, as a coordinator makes it; returns its id."""
    with app.app_context():
        token = secrets.token_urlsafe(16)
        referral = Referral(
            program_id=program_id, created_by_id=by.id if by else None,
            token_hash=hashlib.sha256(token.encode()).hexdigest(), token=token, first_name=first_name,
            created_at=created_at, expires_at=created_at + valid,
        )
        db.session.add(referral)
        db.session.flush()
        db.session.add(ReferralSuggestion(referral_id=referral.id, group_id=group_id))
        db.session.commit()
        return referral.id


def accept(app: Flask, referral_id: int, person: Persona, at: datetime, *, shares: bool,
           join_group: bool = True) -> None:
    """The person accepts the referral at `at` (joining the suggested group) and says whether the program may
    follow their progress."""
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        referral.opened_at = referral.opened_at or at - timedelta(minutes=5)
        referral.accepted_at, referral.accepted_by_id, referral.token = at, person.id, None
        if join_group:
            for suggestion in referral.suggestions:
                memberships.join(db.session.get(Group, suggestion.group_id), person.user(), at)
        if shares:
            consent.grant(person.id, consent.Recipient.program_coordinators(referral.program_id, referral.id),
                          Scope.REFERRAL_PROGRESS, PURPOSE, at)
        db.session.commit()


def revoke(app: Flask, referral_id: int, person: Persona, at: datetime) -> None:
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        consent.revoke(person.id, consent.Recipient.program_coordinators(referral.program_id, referral.id),
                       [Scope.REFERRAL_PROGRESS], at)
        db.session.commit()


def meeting_on(app: Flask, series_id: int, day: datetime) -> int:
    """The id of the series' meeting on the UTC date of `day`."""
    with app.app_context():
        for occ_id, starts_at in db.session.execute(
            select(Occurrence.id, Occurrence.starts_at).where(Occurrence.series_id == series_id)
        ):
            if starts_at.date() == day.date():
                return occ_id
    raise AssertionError(f"no meeting on {day:%Y-%m-%d}")


def rsvp(app: Flask, person: Persona, occurrence_id: int, at: datetime) -> None:
    with app.app_context(), clock.frozen(at):
        rsvps.rsvp(db.session.get(Occurrence, occurrence_id), person.user(), at)
        db.session.commit()


def attended(app: Flask, person: Persona, occurrence_id: int, facilitator: Persona) -> datetime:
    """The facilitator marks the person present at the meeting (as it starts); returns its start."""
    with app.app_context():
        occ = db.session.get(Occurrence, occurrence_id)
        at = occ.starts_at
        with clock.frozen(at):
            attendance.mark_attended(occ, person.user(), facilitator.user(), at)
        db.session.commit()
        return at


def group_of(app: Flask, series_id: int) -> int:
    with app.app_context():
        return db.session.get(MeetingSeries, series_id).group_id
