"""The group pages' world: a public open group and a private invite group, each with a weekly series, seen by six
personas; with the helpers that build groups and meetings the way the domain does, and the forms a browser sends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import func, select

from supportnet import clock, groups, memberships, scheduling
from supportnet import visibility as visibility_rules
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    GroupTag,
    JoinPolicy,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    Visibility,
)
from tests.builders import weekly
from tests.conftest import Persona

LONDON = ZoneInfo("Europe/London")
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)


# --- building groups and meetings the way the domain tests do ---



def start_group(persona: Persona, name: str, **fields) -> Group:
    """A group started by the persona (call inside an app context)."""
    values = {"kind": GroupKind.AFTERCARE, "timezone": "Europe/London"}
    values.update(fields)
    return groups.create_group(persona.user(), name=name, now=clock.now_utc(), **values)


def add_member(group: Group, persona: Persona, role: MemberRole = MemberRole.MEMBER) -> Membership:
    """Make the persona an active member of the group, whatever its join policy (inside an app context)."""
    token = memberships.regenerate_invite(group, clock.now_utc())
    membership = memberships.join(group, persona.user(), clock.now_utc(), invite_token=token)
    if membership.status != MemberStatus.ACTIVE:
        memberships.approve(membership, clock.now_utc())
    if role != MemberRole.MEMBER:
        memberships.set_role(membership, role)
    return membership


def group_by_slug(slug: str) -> Group:
    return db.session.scalar(select(Group).where(Group.slug == slug))


def membership_of(slug: str, persona: Persona) -> Membership | None:
    return visibility_rules.membership_for(group_by_slug(slug), persona.user())


def occurrences_of(series_id: int) -> list[Occurrence]:
    return list(
        db.session.scalars(
            select(Occurrence).where(Occurrence.series_id == series_id).order_by(Occurrence.original_start)
        )
    )


def occurrence_id_at(series_id: int, when: datetime) -> int:
    return db.session.scalars(
        select(Occurrence.id).where(Occurrence.series_id == series_id, Occurrence.original_start == when)
    ).one()


def london(*args) -> datetime:
    """A London wall time as a UTC instant."""
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


# --- forms as a browser sends them ---


def group_form(**changes) -> dict:
    form = {
        "name": "Thursday Integration Circle",
        "slug": "",
        "description": "For graduates of the spring programme.",
        "kind": "aftercare",
        "other_tags": "",
        "visibility": "public",
        "join_policy": "open",
        "timezone": "Europe/London",
        "venue": "Community room",
        "address": "12 Canal Street",
        "contact_note": "",
    }
    form.update(changes)
    return form


def series_form(**changes) -> dict:
    """The series form for weekly() as a browser posts it."""
    form = {
        "title": "Integration circle",
        "description": "",
        "first_date": "2026-12-01",
        "start_time": "19:00",
        "duration_minutes": "90",
        "timezone": "Europe/London",
        "frequency": "weekly",
        "interval": "1",
        "weekdays": [str(TUESDAY)],
        "nth": "1",
        "weekday": "0",
        "month_day": "1",
        "ends": "never",
        "until": "",
        "count": "",
        "venue": "Community room",
        "address": "12 Canal Street",
        "location_notes": "",
        "online_url": "",
        "online_phone": "",
        "online_notes": "",
        "online_visibility": "members",
        "capacity": "",
    }
    form.update(changes)
    return form


# --- a world: a public open group and a private invite group, each with a weekly series ---


@dataclass
class GroupRefs:
    slug: str
    id: int
    series_id: int
    occurrence_id: int
    invite_token: str
    member_membership_id: int


@dataclass
class World:
    public: GroupRefs
    private: GroupRefs
    personas: dict[str, Persona | None]
    other_group_slug: str

    def group(self, which: str) -> GroupRefs:
        return getattr(self, which)


PERSONAS = ("anonymous", "outsider", "member", "other_facilitator", "facilitator", "admin")
GROUPS = ("public", "private")


def build_world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    with app.app_context():
        refs = {}
        for which, visibility, policy, name in (
            ("public", Visibility.PUBLIC, JoinPolicy.OPEN, "Thursday Integration Circle"),
            ("private", Visibility.PRIVATE, JoinPolicy.INVITE, "Quiet Harbour Circle"),
        ):
            group = start_group(facilitator, name, visibility=visibility, join_policy=policy)
            series = scheduling.create_series(group, weekly(), clock.now_utc())
            membership = add_member(group, member)
            token = memberships.regenerate_invite(group, clock.now_utc())
            refs[which] = GroupRefs(
                slug=group.slug,
                id=group.id,
                series_id=series.id,
                occurrence_id=occurrences_of(series.id)[0].id,
                invite_token=token,
                member_membership_id=membership.id,
            )
        other = start_group(other_facilitator, "Saturday Walkers")
        db.session.commit()
        return World(
            public=refs["public"],
            private=refs["private"],
            personas={
                "anonymous": None,
                "outsider": outsider,
                "member": member,
                "other_facilitator": other_facilitator,
                "facilitator": facilitator,
                "admin": admin,
            },
            other_group_slug=other.slug,
        )


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    """Every row of the group and meeting tables."""
    with app.app_context():
        return {
            model.__tablename__: [tuple(row) for row in db.session.execute(select(model.__table__)).all()]
            for model in (Group, GroupTag, Membership, MeetingSeries, Occurrence)
        }


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Group, GroupTag, Membership, MeetingSeries, Occurrence)
        }


@contextmanager
def nothing_changes(app: Flask) -> Iterator[None]:
    counts, rows = row_counts(app), snapshot(app)
    yield
    assert row_counts(app) == counts
    assert snapshot(app) == rows


# --- small worlds: one group and its weekly meeting ---


def evening_circle(app, facilitator, *, capacity=None, join_policy=JoinPolicy.OPEN):
    """A public group meeting every Thursday at 19:00 in London, from today (Thursday 26 November 2026); returns its
    slug, the series id and the first three meetings' ids."""
    with app.app_context():
        group = start_group(facilitator, "Evening Circle", join_policy=join_policy)
        series = scheduling.create_series(
            group, weekly(THURSDAY, first_date=date(2026, 11, 26), capacity=capacity), clock.now_utc()
        )
        db.session.commit()
        return group.slug, series.id, [o.id for o in occurrences_of(series.id)[:3]]


def canal_circle(app, facilitator, *members, capacity=None, join_policy=JoinPolicy.OPEN, **spec):
    """A public group with a weekly Tuesday 19:00 London series and these members; returns its slug, the series
    id and the first meeting's id."""
    with app.app_context():
        group = start_group(facilitator, "Canal Circle", join_policy=join_policy)
        series = scheduling.create_series(group, weekly(capacity=capacity, **spec), clock.now_utc())
        for persona in members:
            add_member(group, persona)
        db.session.commit()
        return group.slug, series.id, occurrences_of(series.id)[0].id
