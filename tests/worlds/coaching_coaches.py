"""Coaches in the programs world: Cole (New York) and Rosa (London) hold confirmed accounts but no role yet;
Mia (London) is an active member of program A's private group; Otto is in no program's group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from flask import Flask
from sqlalchemy import select

from supportnet import clock
from supportnet.coaching import coaches
from supportnet.extensions import db
from supportnet.models import (
    AuditEntry,
    Coach,
    CoachVisibility,
    MemberRole,
    Membership,
    MemberStatus,
    Program,
    User,
)
from tests.conftest import Persona, make_persona
from tests.worlds.programs import ProgramWorld, build_program_world


@dataclass
class CoachWorld:
    programs: ProgramWorld
    cole: Persona  # to be a coach, in America/New_York
    rosa: Persona  # to be a coach, in Europe/London
    mia: Persona  # member of program A's group, in Europe/London
    otto: Persona  # in no program's group


def build_coach_world(app: Flask) -> CoachWorld:
    world = build_program_world(app)
    cole = make_persona(app, "Cole C.", tz="America/New_York")
    rosa = make_persona(app, "Rosa R.")
    mia = make_persona(app, "Mia M.")
    otto = make_persona(app, "Otto O.")
    with app.app_context():
        now = clock.now_utc()
        # Let in as a referral or an approval would: an active member of program A's private group.
        db.session.add(Membership(group_id=world.group_a, user_id=mia.id, created_at=now, role=MemberRole.MEMBER,
                                  status=MemberStatus.ACTIVE, joined_at=now))
        db.session.commit()
    return CoachWorld(programs=world, cole=cole, rosa=rosa, mia=mia, otto=otto)


def make_coach(app: Flask, world: CoachWorld, persona: Persona, *, program: str | None = None,
               weekly: tuple[tuple[int, time, time], ...] = ()) -> int:
    """Grant the role in the domain (by the admin) with weekly windows; returns the coach's id."""
    with app.app_context():
        program_row = None
        if program is not None:
            program_row = db.session.get(Program, world.programs.program_a if program == "a"
                                         else world.programs.program_b)
        coach = coaches.grant(persona.email, by=world.programs.admin.user(), now=clock.now_utc(),
                              visibility_=CoachVisibility.PROGRAM if program else CoachVisibility.PUBLIC,
                              program=program_row)
        for weekday, starts, ends in weekly:
            coaches.add_window(coach, weekday, starts, ends)
        db.session.commit()
        return coach.id


def coach_row(app: Flask, coach_id: int) -> Coach:
    with app.app_context():
        row = db.session.get(Coach, coach_id)
        db.session.expunge(row)
        return row


def coach_of_user(app: Flask, persona: Persona) -> Coach | None:
    with app.app_context():
        row = db.session.scalar(select(Coach).where(Coach.user_id == persona.id))
        if row is not None:
            db.session.expunge(row)
        return row


def audit_rows(app: Flask, action) -> list[tuple[int | None, int | None, dict]]:
    """(actor id, subject id, details) of each entry of this action."""
    with app.app_context():
        return [(e.actor_id, e.subject_id, dict(e.details or {})) for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def user_id(app: Flask, persona: Persona) -> int:
    with app.app_context():
        return db.session.get(User, persona.id).id
