"""A world with every persona (two groups, their meetings, check-ins, two-factor) for the data-controls and
security tests, with the two-factor helpers and snapshots they share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from supportnet import clock, groups, rsvps, scheduling, twofactor
from supportnet import memberships as membership_ops
from supportnet.checkins import records as checkins_records
from supportnet.checkins.records import CheckInSpec
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    AttendanceHow,
    GroupKind,
    JoinPolicy,
    Occurrence,
    SiteRole,
    TwoFactor,
    UserSession,
    Visibility,
)
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec
from tests.conftest import PINNED_NOW, Persona, login, make_persona, post

PERSONAS = ("anonymous", "outsider", "member", "other_facilitator", "facilitator", "admin")
# A check-in note and the other member's details: an export must carry the first and never the others.
NOTE = "sentinel-note: the bus ride past the old bar was hard"
PEER_NAME = "Petra Peer-Sentinel"
PEER_NOTE = "sentinel-peer-note: nobody else may ever read this"
EARLIER = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass
class World:
    personas: dict[str, Persona | None]
    peer: Persona
    slug: str
    group_id: int
    series_id: int
    occurrence_id: int  # the next meeting (Tuesday 1 December 2026, 19:00 London)
    past_occurrence_id: int  # Tuesday 24 November 2026: the member and the peer attended
    membership_id: int  # the member's
    peer_membership_id: int
    other_slug: str
    checkin_id: int
    proof_id: int
    invite_token: str
    extra: dict = field(default_factory=dict)

    def persona(self, name: str) -> Persona | None:
        return self.personas[name]


def weekly_spec(first: date) -> SeriesSpec:
    return SeriesSpec(
        title="Integration circle", first_date=first, start_time=time(19, 0), duration_minutes=90,
        timezone="Europe/London", recurrence=Recurrence(Frequency.WEEKLY, weekdays=(1,)), venue="Community room",
        address="12 Canal Street", capacity=2,
    )


def build_world(app: Flask) -> World:
    """A private, invite-only group run by `facilitator` with `member` and a peer in it, another facilitator's
    group, a weekly meeting with past and future dates, attendance, a check-in with a note, and a proof."""
    from supportnet import attendance

    personas: dict[str, Persona | None] = {
        "anonymous": None,
        "outsider": make_persona(app, "Otto O."),
        "member": make_persona(app, "Mia M."),
        "other_facilitator": make_persona(app, "Olga F.", SiteRole.FACILITATOR),
        "facilitator": make_persona(app, "Fay F.", SiteRole.FACILITATOR),
        "admin": make_persona(app, "Ada A.", SiteRole.ADMIN),
    }
    peer = make_persona(app, PEER_NAME)
    with app.app_context():
        member, fac = personas["member"].user(), personas["facilitator"].user()
        clock.set_frozen(EARLIER)
        try:
            group = groups.create_group(fac, name="Quiet Harbour Circle", kind=GroupKind.AFTERCARE,
                                        timezone="Europe/London", now=clock.now_utc(), visibility=Visibility.PRIVATE,
                                        join_policy=JoinPolicy.INVITE)
            series = scheduling.create_series(group, weekly_spec(date(2026, 11, 3)), clock.now_utc())
            memberships = {}
            for persona in (personas["member"], peer):
                token = membership_ops.regenerate_invite(group, clock.now_utc())
                memberships[persona.id] = membership_ops.join(group, persona.user(), clock.now_utc(),
                                                              invite_token=token)
        finally:
            clock.set_frozen(PINNED_NOW)
        now = clock.now_utc()
        occurrences = db.session.scalars(
            select(Occurrence).where(Occurrence.series_id == series.id).order_by(Occurrence.starts_at)
        ).all()
        past = next(o for o in reversed(occurrences) if o.starts_at < now)
        upcoming = next(o for o in occurrences if o.starts_at > now)
        for persona in (personas["member"], peer):
            db.session.add(Attendance(occurrence=past, user=persona.user(), how=AttendanceHow.FACILITATOR,
                                      marked_at=past.ends_at, marked_by=fac))
            rsvps.rsvp(upcoming, persona.user(), now)
        checkin = checkins_records.record(member, CheckInSpec(mood=2, craving=6, note=NOTE, tags=["stress"],
                                                      new_tags=["payday"]), now)
        checkins_records.record(peer.user(), CheckInSpec(mood=4, craving=1, note=PEER_NOTE), now)
        db.session.flush()
        proof = attendance.create_proof(member, shown_name="Mia Member", label="Weekly group", group=group, now=now)
        other = groups.create_group(personas["other_facilitator"].user(), name="Saturday Walkers",
                                    kind=GroupKind.MEETUP, timezone="Europe/London", now=now)
        invite = membership_ops.regenerate_invite(group, now)
        db.session.commit()
        return World(
            personas=personas, peer=peer, slug=group.slug, group_id=group.id, series_id=series.id,
            occurrence_id=upcoming.id, past_occurrence_id=past.id, membership_id=memberships[member.id].id,
            peer_membership_id=memberships[peer.id].id, other_slug=other.slug, checkin_id=checkin.id,
            proof_id=proof.id, invite_token=invite,
        )


# --- two-factor ---


def enable_two_factor(app: Flask, persona: Persona) -> str:
    """Turn two-factor on for the persona directly in the domain; returns the TOTP secret."""
    with app.app_context():
        user = persona.user()
        row = twofactor.begin_setup(user, clock.now_utc())
        secret = str(row.secret)
        # The code of the previous step: the step of "now" stays free for the test's own sign-in.
        twofactor.confirm_setup(user, pyotp.TOTP(secret).at(clock.now_utc() - timedelta(seconds=30)), clock.now_utc())
        db.session.commit()
        return secret


def code_now(secret: str, offset_seconds: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now_utc() + timedelta(seconds=offset_seconds))


def login_with_code(client: FlaskClient, persona: Persona, secret: str, **kwargs):
    """Sign in through both steps; returns the response of the second."""
    first = login(client, persona, **kwargs)
    assert first.status_code == 302 and "/login/two-factor" in first.location, first.location
    return post(client, first.location, {"code": code_now(secret)})


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/account")
    return response.status_code == 200


def session_rows(app: Flask, persona: Persona) -> list[UserSession]:
    with app.app_context():
        return list(db.session.scalars(select(UserSession).where(UserSession.user_id == persona.id)))


def two_factor_row(app: Flask, persona: Persona) -> TwoFactor | None:
    with app.app_context():
        return db.session.get(TwoFactor, persona.id)


def confirm_identity(client: FlaskClient, persona: Persona, secret: str | None = None):
    data = {"password": persona.password}
    if secret:
        data["code"] = code_now(secret)
    return post(client, "/account/confirm-identity", data)


def move_clock(delta: timedelta) -> None:
    clock.set_frozen(clock.now_utc() + delta)


def html_text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())

