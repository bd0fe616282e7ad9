"""The world of the home and accessibility tests in a real browser: a group meeting tomorrow, served on the
real clock by a live server."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from supportnet import clock, groups, memberships, rsvps, scheduling
from supportnet.extensions import db
from supportnet.models import GroupKind, JoinPolicy, Occurrence, SiteRole
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec
from tests.conftest import make_persona

LONDON = ZoneInfo("Europe/London")


def build_home_world(live_server) -> dict:
    """A public group (approval to join) meeting tomorrow at 19:00 London in Manchester, and an online one
    the day after; Mia is a member going tomorrow, Ned asks to join, Fay facilitates; Nia has no group."""
    app = live_server.app
    fay = make_persona(app, "Fay F.", SiteRole.FACILITATOR)
    mia, ned, nia = (make_persona(app, name) for name in ("Mia M.", "Ned N.", "Nia N."))
    # The live server runs on the real clock: tomorrow, so nothing has started whenever the test runs.
    tomorrow = (datetime.now(LONDON) + timedelta(days=1)).date()
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            fay.user(), name="Canal Circle", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now,
            join_policy=JoinPolicy.APPROVAL,
        )
        base = {"duration_minutes": 90, "timezone": "Europe/London", "recurrence": Recurrence(Frequency.ONCE)}
        room = scheduling.create_series(group, SeriesSpec(
            title="Room meeting", first_date=tomorrow, start_time=time(19, 0), venue="Friends Meeting House",
            address="6 Mount Street, Manchester", capacity=8, **base), now)
        scheduling.create_series(group, SeriesSpec(
            title="Online meeting", first_date=tomorrow + timedelta(days=1), start_time=time(12, 0),
            online_url="https://meet.example.net/x", **base), now)
        memberships.approve(memberships.join(group, mia.user(), now), now)
        memberships.join(group, ned.user(), now)
        occ = db.session.scalar(db.select(Occurrence).where(Occurrence.series_id == room.id))
        rsvps.rsvp(occ, mia.user(), now)
        db.session.commit()
        return {"occ": occ.id, "fay": fay, "mia": mia, "nia": nia}
