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

from supportnet import clock, groups, memberships, rsvps, scheduler, scheduling
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
from supportnet.notifications import announcements as notif_announcements
from supportnet.notifications import dispatch as notif_dispatch
from supportnet.notifications import hooks as notif_hooks
from supportnet.notifications import preferences as notif_preferences
from supportnet.notifications.preferences import Preferences
from tests.builders import weekly
from tests.conftest import PINNED_NOW, Persona, make_persona

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


def run(app: Flask, at: datetime) -> notif_dispatch.TickReport:
    """One scheduler pass (plan, dispatch, retention) at `at`, as `flask scheduler tick` would run it."""
    with clock.frozen(at):
        return scheduler.run_pass(app, at)


def tick(app: Flask, at: datetime, **kwargs) -> notif_dispatch.TickReport:
    """One dispatch tick at `at`."""
    with clock.frozen(at), app.app_context():
        return notif_dispatch.tick(at, **kwargs)


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


def announce_to(app, facilitator, count: int, body: str = "See you on Tuesday.") -> list[str]:
    """A group with `count` members and one announcement to them: `count` due emails. Returns their addresses."""
    world = make_world(app, facilitator)
    people = [make_persona(app, f"Member {n}.") for n in range(count)]
    for person in people:
        join(world, person)
    with app.app_context():
        notif_announcements.announce(db.session.get(Group, world.group_id), facilitator.user(), "", body, PINNED_NOW)
        db.session.commit()
    return [p.email for p in people]


def email_rows(app):
    return rows(app, kind=NotificationKind.ANNOUNCEMENT, channel=Channel.EMAIL)


def set_prefs(app, persona, **changes) -> None:
    with app.app_context():
        user = persona.user()
        current = notif_preferences.preferences(user)
        channels = dict(current.channels)
        channels.update(changes.pop("channels", {}))
        prefs = Preferences(**{**current.__dict__, "channels": channels, **changes})
        notif_hooks.save_preferences(user, prefs, clock.now_utc())
        db.session.commit()


def inbox_notice_due(app: Flask, user_id: int, group_id: int, due: datetime) -> int:
    """An announcement for the member's inbox that falls due at `due`, on the clock of a running scheduler.

    Only a dispatch pass that begins after `due` delivers it: once it is delivered, the dispatcher has been over
    the outbox again since then. Tests that check that nothing more goes out wait for this, not for a fixed time.
    """
    with app.app_context():
        notice = Notification(
            user_id=user_id, kind=NotificationKind.ANNOUNCEMENT, channel=Channel.IN_APP, group_id=group_id,
            dedupe_key=f"later-pass:{group_id}:{user_id}:{due.isoformat()}", due_at=due, created_at=due,
            status=NotificationStatus.PENDING, payload={"subject": "", "body": "A later pass.", "author": "Fay F."},
        )
        db.session.add(notice)
        db.session.commit()
        return notice.id


def notice_status(app: Flask, notification_id: int) -> NotificationStatus:
    with app.app_context():
        status = db.session.get(Notification, notification_id).status
        db.session.rollback()  # a later look must see what other processes committed since
        return status
