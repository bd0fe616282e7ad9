"""The shared-measures world: a group run by a facilitator inside a program with a coordinator, members who take
measures (responses written through the real scoring into the model), and what each member chooses to share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from flask import Flask
from sqlalchemy import select

from supportnet import clock
from supportnet.checkins import sharing as checkins_sharing
from supportnet.consent import Recipient
from supportnet.extensions import db
from supportnet.measures import instruments, scoring
from supportnet.models import Group, MeasureResponse
from tests.conftest import Persona, make_persona
from tests.worlds.checkins import add_member, start_group
from tests.worlds.followup import make_program


@dataclass
class MeasuresWorld:
    app: Flask
    slug: str
    group_id: int
    program_id: int
    facilitator: Persona
    coordinator: Persona

    @property
    def group_key(self) -> str:
        return Recipient.group_facilitators(self.group_id).key

    @property
    def program_key(self) -> str:
        return Recipient.program_coordinators(self.program_id).key

    def member(self, name: str) -> Persona:
        """A new member, active in the group."""
        persona = make_persona(self.app, name)
        add_member(self.app, self.slug, persona)
        return persona


def build(app: Flask, facilitator: Persona, name: str = "Thursday Circle", program: str = "Harbour Aftercare",
          coordinator: Persona | None = None) -> MeasuresWorld:
    slug = start_group(app, facilitator, name=name)
    coordinator = coordinator or make_persona(app, f"Cora {name[:1]}.")
    world = make_program(app, program, coordinator)
    with app.app_context():
        group = db.session.scalar(select(Group).where(Group.slug == slug))
        group.program_id = world.program_id
        db.session.commit()
        group_id = group.id
    return MeasuresWorld(app, slug, group_id, world.program_id, facilitator, coordinator)


def take(app: Flask, persona: Persona, code: str, value: int, on: date, *, at: time = time(9, 0)) -> int:
    """The member answers every item of the current version of `code` with `value` (or the item's lowest where
    it has no such option), scored by the real scoring; returns the response's id."""
    instrument = instruments.current(code)
    answers = {
        item.label: value if value in item.values else min(item.values)
        for item in instrument.items if not item.optional
    }
    result = scoring.score(instrument, answers)
    with app.app_context():
        row = MeasureResponse(
            user_id=persona.id, code=instrument.code, version=instrument.version, answers=json.dumps(answers),
            scores=dict(result.subscales), taken_at=datetime.combine(on, at, tzinfo=UTC), local_date=on,
            attendance_offered=None,
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def share(app: Flask, persona: Persona, key: str, level: str) -> None:
    """The member chooses, through the domain, what the recipient named by `key` sees of their measures."""
    with app.app_context():
        checkins_sharing.set_measure_sharing(persona.user(), key, level, clock.now_utc())
        db.session.commit()
