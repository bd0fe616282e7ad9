"""The referral world: a program, a public group run by Fay with a weekly Tuesday meeting (19:00 London, from
1 December 2026), and a referral card suggesting that group; built with the ORM, as a coordinator's page would
leave the rows (the token is only known here and on the card)."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select

from supportnet import clock, groups, memberships, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Consent,
    Group,
    GroupKind,
    JoinPolicy,
    Membership,
    Occurrence,
    Program,
    Referral,
    ReferralSuggestion,
    Rsvp,
    Visibility,
)
from tests.builders import weekly
from tests.conftest import Persona


@dataclass
class Card:
    """A referral and its one-time link."""

    referral_id: int
    token: str

    @property
    def url(self) -> str:
        return f"/r/{self.token}"


@dataclass
class Place:
    group_id: int
    slug: str
    series_id: int

    def occurrence_id(self, app: Flask, n: int = 0) -> int:
        """The n-th meeting of the series (0 = Tuesday 1 December)."""
        with app.app_context():
            return db.session.scalars(select(Occurrence.id).where(Occurrence.series_id == self.series_id)
                                      .order_by(Occurrence.original_start).offset(n).limit(1)).one()


def make_program(app: Flask, name: str = "Harbour Clinic aftercare") -> int:
    with app.app_context():
        program = Program(name=name)
        db.session.add(program)
        db.session.commit()
        return program.id


def make_place(app: Flask, facilitator: Persona, name: str = "Canal Circle", *,
               join_policy: JoinPolicy = JoinPolicy.OPEN, visibility: Visibility = Visibility.PUBLIC,
               **spec) -> Place:
    """A group started by the facilitator with a weekly Tuesday 19:00 London meeting from 1 December."""
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(facilitator.user(), name=name, kind=GroupKind.AFTERCARE,
                                    timezone="Europe/London", now=now, join_policy=join_policy,
                                    visibility=visibility)
        series = scheduling.create_series(group, dataclasses.replace(weekly(), title="Tuesday evening", **spec), now)
        db.session.commit()
        return Place(group.id, group.slug, series.id)


def make_card(app: Flask, program_id: int, *places: Place, first_name: str | None = None,
              note: str | None = "See you there. Ask for Fay at the door.", days: int = 30,
              created_at: datetime | None = None, series: bool = False) -> Card:
    """A referral suggesting these groups (or, with `series`, their Tuesday series), valid for `days`."""
    token = secrets.token_urlsafe(32)
    created = created_at or clock.now_utc()
    with app.app_context():
        referral = Referral(program_id=program_id, token_hash=hashlib.sha256(token.encode()).hexdigest(),
                            token=token, first_name=first_name, note=note, created_at=created,
                            expires_at=created + timedelta(days=days))
        db.session.add(referral)
        db.session.flush()
        for place in places:
            db.session.add(ReferralSuggestion(referral_id=referral.id, group_id=place.group_id,
                                              series_id=place.series_id if series else None))
        db.session.commit()
        return Card(referral.id, token)


def add_member(app: Flask, place: Place, persona: Persona, *, greets: bool = False) -> None:
    with app.app_context():
        group = db.session.get(Group, place.group_id)
        token = memberships.regenerate_invite(group, clock.now_utc())
        membership = memberships.join(group, persona.user(), clock.now_utc(), invite_token=token)
        if membership.status.value != "active":
            memberships.approve(membership, clock.now_utc())
        if greets:
            memberships.set_greeter(membership, True, clock.now_utc())
        db.session.commit()


@dataclass(frozen=True)
class Outcome:
    """What a referral left behind, read fresh from the database."""

    accepted_by_id: int | None
    token_kept: bool
    opened: bool
    membership: str | None
    answer: str | None
    consents: tuple[tuple[str, str, str], ...]  # (scope, recipient, purpose)


def outcome(app: Flask, card: Card, place: Place, user_id: int | None, occurrence_id: int) -> Outcome:
    with app.app_context():
        referral = db.session.get(Referral, card.referral_id)
        membership = db.session.scalar(select(Membership.status).where(
            Membership.group_id == place.group_id, Membership.user_id == user_id)) if user_id else None
        answer = db.session.scalar(select(Rsvp.status).where(
            Rsvp.occurrence_id == occurrence_id, Rsvp.user_id == user_id)) if user_id else None
        consents = tuple(
            (c.scope.value, c.recipient_key, c.purpose)
            for c in db.session.scalars(select(Consent).where(Consent.subject_id == user_id).order_by(Consent.id))
        ) if user_id else ()
        return Outcome(referral.accepted_by_id, referral.token is not None, referral.opened_at is not None,
                       membership.value if membership else None, answer.value if answer else None, consents)
