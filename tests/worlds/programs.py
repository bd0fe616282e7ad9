"""Two programs and the groups they may suggest: program A runs a private group, program B runs another private
group, a public group belongs to nobody, and an archived public group must never be suggested. Each program has
its own coordinator; a facilitator runs every group and coordinates nothing; a site admin coordinates nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

from flask import Flask
from sqlalchemy import select

from supportnet import clock, groups, programs, scheduling
from supportnet.extensions import db
from supportnet.models import GroupKind, JoinPolicy, Program, Referral, SiteRole, User, Visibility
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec
from tests.conftest import Persona, make_persona

PROGRAM_A = "Harbour Clinic Aftercare"
PROGRAM_B = "Northside Treatment Centre"
GROUP_A = "Harbour Evening Circle"  # private, run by program A
GROUP_B = "Lantern Recovery Room"  # private, run by program B
PUBLIC = "Open Door Sunday Meetup"  # public, no program
ARCHIVED = "Old Pier Walkers"  # public but archived


@dataclass
class ProgramWorld:
    admin: Persona
    facilitator: Persona
    coordinator_a: Persona
    coordinator_b: Persona
    program_a: int
    program_b: int
    group_a: int
    group_b: int
    public: int
    archived: int
    series_a: int  # Harbour Evening Circle's Tuesday meeting
    series_public: int


def _weekly(title: str, weekday: int, timezone: str = "Europe/London") -> SeriesSpec:
    return SeriesSpec(
        title=title, first_date=date(2026, 12, 1), start_time=time(19, 0), duration_minutes=90,
        timezone=timezone, recurrence=Recurrence(Frequency.WEEKLY, weekdays=(weekday,)), venue="Community room",
        address="12 Canal Street",
    )


def build_program_world(app: Flask) -> ProgramWorld:
    admin = make_persona(app, "Ada A.", SiteRole.ADMIN)
    facilitator = make_persona(app, "Fay F.", SiteRole.FACILITATOR)
    coordinator_a = make_persona(app, "Cora C.")
    coordinator_b = make_persona(app, "Ben B.")
    with app.app_context():
        now = clock.now_utc()
        fac, boss = facilitator.user(), admin.user()

        def group(name: str, visibility: Visibility, tz: str = "Europe/London"):
            return groups.create_group(fac, name=name, kind=GroupKind.AFTERCARE, timezone=tz, now=now,
                                       visibility=visibility,
                                       join_policy=JoinPolicy.OPEN if visibility == Visibility.PUBLIC
                                       else JoinPolicy.APPROVAL)

        group_a = group(GROUP_A, Visibility.PRIVATE)
        group_b = group(GROUP_B, Visibility.PRIVATE)
        public = group(PUBLIC, Visibility.PUBLIC, "America/New_York")
        archived = group(ARCHIVED, Visibility.PUBLIC)
        series_a = scheduling.create_series(group_a, _weekly("Tuesday circle", 1), now)
        scheduling.create_series(group_b, _weekly("Thursday room", 3), now)
        series_public = scheduling.create_series(public, _weekly("Sunday meetup", 6, "America/New_York"), now)
        groups.archive_group(archived, now, by=fac)
        program_a = programs.create_program(PROGRAM_A, by=boss, now=now)
        program_b = programs.create_program(PROGRAM_B, by=boss, now=now)
        programs.add_coordinator(program_a, coordinator_a.email, by=boss, now=now)
        programs.add_coordinator(program_b, coordinator_b.email, by=boss, now=now)
        programs.set_group_program(group_a, program_a, by=boss, now=now)
        programs.set_group_program(group_b, program_b, by=boss, now=now)
        db.session.commit()
        return ProgramWorld(
            admin=admin, facilitator=facilitator, coordinator_a=coordinator_a, coordinator_b=coordinator_b,
            program_a=program_a.id, program_b=program_b.id, group_a=group_a.id, group_b=group_b.id,
            public=public.id, archived=archived.id, series_a=series_a.id, series_public=series_public.id,
        )


def make_referral(app: Flask, world: ProgramWorld, *, program: str = "a", **fields) -> tuple[int, str]:
    """A referral made in the domain by the program's coordinator; returns (id, token)."""
    with app.app_context():
        program_id = world.program_a if program == "a" else world.program_b
        who = world.coordinator_a if program == "a" else world.coordinator_b
        group_id = world.group_a if program == "a" else world.group_b
        fields.setdefault("suggestions", [(group_id, None), (world.public, world.series_public)])
        referral, token = programs.create_referral(
            db.session.get(Program, program_id), by=db.session.get(User, who.id), now=clock.now_utc(), **fields
        )
        db.session.commit()
        return referral.id, token


def referral_row(app: Flask, referral_id: int) -> Referral:
    with app.app_context():
        row = db.session.get(Referral, referral_id)
        db.session.expunge(row)
        return row


def referral_ids(app: Flask) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Referral.id).order_by(Referral.id)))


def link_on(page: str) -> str:
    """The referral link a page shows (its path on this site)."""
    match = re.search(r'<code class="verify-link" id="referral-link">([^<]+)</code>', page)
    assert match, "no link on the page"
    return match.group(1)


def url_of(world: ProgramWorld, program: str, referral_id: int | None = None, tail: str = "") -> str:
    program_id = world.program_a if program == "a" else world.program_b
    base = f"/programs/{program_id}"
    return base + (f"/referrals/{referral_id}" if referral_id is not None else "") + tail

