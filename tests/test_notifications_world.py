"""Building blocks of the notification tests: a group whose names say too much, its meetings, and passes.

The group is called "Riverside Recovery Circle" (an aftercare group), its meeting "Sober Tuesday" at
"Recovery House", so that any default email that names them fails the privacy tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from supportnet import clock, groups, memberships, notifications, rsvps, scheduler, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Channel,
    Group,
    GroupKind,
    JoinPolicy,
    Notification,
    NotificationKind,
    NotificationStatus,
    Occurrence,
    User,
)
from tests.builders import weekly
from tests.conftest import Persona

LONDON = ZoneInfo("Europe/London")
# The first meeting: Tuesday 1 December 2026, 19:00 in London (= 19:00 UTC), 90 minutes.
FIRST = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)
REVEALING_WORDS = ("recovery", "addiction", "sober", "relapse", "aftercare", "riverside", "circle")


@dataclass
class World:
    app: Flask
    facilitator: Persona
    slug: str
    group_id: int
    series_id: int

    def occurrence_id(self, n: int = 0, series_id: int | None = None) -> int:
        """The id of the n-th meeting of the series (0 = Tuesday 1 December)."""
        with self.app.app_context():
            return db.session.scalars(
                select(Occurrence.id)
                .where(Occurrence.series_id == (series_id or self.series_id))
                .order_by(Occurrence.original_start)
                .offset(n)
                .limit(1)
            ).one()


def make_world(app: Flask, facilitator: Persona, *, join_policy: JoinPolicy = JoinPolicy.OPEN, **spec) -> World:
    """A public group (with revealing names) and a weekly Tuesday 19:00 London meeting from 1 December."""
    spec.setdefault("title", "Sober Tuesday")
    spec.setdefault("venue", "Recovery House")
    spec.setdefault("address", "1 Addiction Services Road")
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            facilitator.user(), name="Riverside Recovery Circle", kind=GroupKind.AFTERCARE, timezone="Europe/London",
            now=now, join_policy=join_policy, description="A sober aftercare circle about relapse prevention.",
        )
        series = scheduling.create_series(group, dataclasses.replace(weekly(), **spec), now)
        db.session.commit()
        return World(app, facilitator, group.slug, group.id, series.id)


def add_series(world: World, *days: int, **spec) -> int:
    """Another weekly series of the world's group (on these weekdays, 0 = Monday); returns its id."""
    with world.app.app_context():
        group = db.session.get(Group, world.group_id)
        series = scheduling.create_series(group, dataclasses.replace(weekly(*days), **spec), clock.now_utc())
        db.session.commit()
        return series.id


def join(world: World, persona: Persona) -> None:
    with world.app.app_context():
        memberships.join(db.session.get(Group, world.group_id), persona.user(), clock.now_utc())
        db.session.commit()


def going(world: World, persona: Persona, occurrence_id: int) -> None:
    """The persona says "I'm going" (joining the open group if needed)."""
    with world.app.app_context():
        rsvps.rsvp(db.session.get(Occurrence, occurrence_id), persona.user(), clock.now_utc())
        db.session.commit()


def cant_go(world: World, persona: Persona, occurrence_id: int) -> None:
    with world.app.app_context():
        rsvps.cancel(db.session.get(Occurrence, occurrence_id), persona.user(), clock.now_utc())
        db.session.commit()


def run(app: Flask, at: datetime) -> notifications.TickReport:
    """One scheduler pass (plan, dispatch, retention) at `at`, as `flask scheduler tick` would run it."""
    with clock.frozen(at):
        return scheduler.run_pass(app, at)


def tick(app: Flask, at: datetime, **kwargs) -> notifications.TickReport:
    """One dispatch tick at `at`."""
    with clock.frozen(at), app.app_context():
        return notifications.tick(at, **kwargs)


def run_every(app: Flask, start: datetime, end: datetime, step: timedelta) -> None:
    at = start
    while at <= end:
        run(app, at)
        at += step


@dataclass(frozen=True)
class Row:
    id: int
    user_id: int
    kind: NotificationKind
    channel: Channel
    status: NotificationStatus
    dedupe_key: str
    due_at: datetime
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    payload: dict


def rows(app: Flask, **where) -> list[Row]:
    """The notification rows, oldest first, filtered by column values (kind=..., channel=..., user_id=...)."""
    with app.app_context():
        query = select(Notification).order_by(Notification.id)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return [
            Row(n.id, n.user_id, n.kind, n.channel, n.status, n.dedupe_key, n.due_at, n.attempts, n.last_error,
                n.sent_at, dict(n.payload))
            for n in db.session.scalars(query)
        ]


def user_id(app: Flask, persona: Persona) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == persona.email))


def all_text(message: EmailMessage) -> str:
    """Every header and every decoded part of a message (attachments too), lower-cased."""
    parts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        parts.append(content.decode("utf-8", "replace") if isinstance(content, bytes) else content)
    return "\n".join(parts).lower()
