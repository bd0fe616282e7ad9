"""The check-in world: a group a facilitator starts, members made active in it, its meetings, check-ins recorded
through the domain, and the sharing each member chooses."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import func, select

from supportnet import clock, groups, scheduling, visibility
from supportnet.checkins import records as checkins_records
from supportnet.checkins import sharing as checkins_sharing
from supportnet.checkins.records import CheckInSpec
from supportnet.extensions import db
from supportnet.models import (
    CheckIn,
    CheckinSharing,
    CheckInTag,
    Group,
    GroupKind,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    OwnTag,
)
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec
from tests.conftest import Persona

LONDON = ZoneInfo("Europe/London")
TODAY = date(2026, 11, 26)  # PINNED_NOW in London


def checkin_form(**changes) -> dict:
    """The check-in form as a phone posts it when only mood and craving are tapped."""
    form = {"mood": "4", "craving": "2", "day": TODAY.isoformat()}
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def record(app: Flask, persona: Persona, at: datetime | None = None, **spec) -> int:
    """Record a check-in through the domain (at the pinned or given instant) and return its id."""
    spec.setdefault("mood", 4)
    spec.setdefault("craving", 2)
    with app.app_context():
        now = at or clock.now_utc()
        checkin = checkins_records.record(persona.user(), CheckInSpec(**spec), now)
        db.session.commit()
        return checkin.id


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (CheckIn, CheckInTag, OwnTag)
        }


def start_group(app: Flask, facilitator: Persona, name: str = "Thursday Circle", **fields) -> str:
    """A group the facilitator starts; returns its slug."""
    with app.app_context():
        values = {"kind": GroupKind.AFTERCARE, "timezone": "Europe/London"}
        values.update(fields)
        group = groups.create_group(facilitator.user(), name=name, now=clock.now_utc(), **values)
        db.session.commit()
        return group.slug


def add_member(app: Flask, slug: str, persona: Persona, role: MemberRole = MemberRole.MEMBER) -> None:
    """Make the persona an active member of the group."""
    with app.app_context():
        now, group = clock.now_utc(), group_of(slug)
        membership = visibility.membership_for(group, persona.user())
        if membership is None:
            membership = Membership(group=group, user=persona.user(), created_at=now)
            db.session.add(membership)
        membership.role, membership.status, membership.joined_at = role, MemberStatus.ACTIVE, now
        db.session.commit()


def group_of(slug: str):
    return db.session.scalar(select(Group).where(Group.slug == slug))


def schedule_meeting(app: Flask, slug: str, first: date = date(2026, 11, 26), start: time = time(19, 0),
                     title: str = "Integration circle") -> int:
    """A weekly 90-minute London meeting of the group; returns the id of its first occurrence."""
    with app.app_context():
        spec = SeriesSpec(
            title=title, first_date=first, start_time=start, duration_minutes=90,
            timezone="Europe/London", recurrence=Recurrence(Frequency.WEEKLY, weekdays=(first.weekday(),)),
            venue="Community room",
        )
        series = scheduling.create_series(group_of(slug), spec, clock.now_utc())
        db.session.commit()
        return db.session.scalars(
            select(Occurrence.id).where(Occurrence.series_id == series.id).order_by(Occurrence.starts_at)
        ).first()


def share(app, slug: str, persona: Persona, level: CheckinSharing | str, recovery: bool = False) -> None:
    with app.app_context():
        group = db.session.scalar(select(Group).where(Group.slug == slug))
        checkins_sharing.set_sharing(visibility.membership_for(group, persona.user()), level, recovery,
                                      clock.now_utc())
        db.session.commit()
