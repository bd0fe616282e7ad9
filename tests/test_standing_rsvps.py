"""Standing RSVPs (I come every time): new meetings, weeks off, capacity, leaving, ended series."""


from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supportnet import clock, memberships, rsvps, scheduling, visibility
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    Rsvp,
)
from tests.worlds.rsvps import (
    CANCELLED,
    GOING,
    WAITLISTED,
    World,
    assert_counters_match_rows,
    make_world,
    statuses,
)


@pytest.fixture
def world(app, facilitator) -> Iterator[World]:
    """A public, open group meeting on Tuesdays at 19:00 London with 2 seats, inside an app context."""
    with app.app_context():
        yield make_world(facilitator.user(), capacity=2)


# --- standing RSVPs ---


def test_a_standing_rsvp_answers_for_every_coming_meeting_and_for_new_ones(world):
    mia = world.member()
    now = clock.now_utc()

    standing = rsvps.start_standing(world.series, mia, now)

    rows = db.session.scalars(select(Rsvp).where(Rsvp.user_id == mia.id)).all()
    assert len(rows) == 26
    assert {(r.status, r.standing_id) for r in rows} == {(GOING, standing.id)}
    assert rsvps.start_standing(world.series, mia, now).id == standing.id  # idempotent
    assert db.session.scalar(select(func.count()).select_from(Rsvp)) == 26

    # Three weeks on, the scheduler extends the horizon: the new meetings get answers too.
    later = now + timedelta(weeks=3)
    clock.set_frozen(later)
    created = scheduling.extend_horizons(later)

    assert created == 3
    assert db.session.scalar(select(func.count()).select_from(Rsvp).where(Rsvp.user_id == mia.id)) == 29
    assert rsvps.has_seat(world.occ(28), mia)
    assert_counters_match_rows()


def test_cant_make_it_this_week_sticks_through_horizon_extensions(world):
    mia = world.member()
    now = clock.now_utc()
    rsvps.start_standing(world.series, mia, now)
    skipped = world.occ(2)

    rsvps.cancel(skipped, mia, now)
    later = now + timedelta(weeks=2)
    clock.set_frozen(later)
    scheduling.extend_horizons(later)
    rsvps.apply_standing(world.series, later)

    assert statuses(skipped) == {mia.id: CANCELLED}
    assert rsvps.has_seat(world.occ(3), mia)
    assert rsvps.apply_standing(world.series, later) == 0
    assert_counters_match_rows()


def test_a_standing_rsvp_never_overrides_the_members_own_answers(world):
    mia = world.member()
    now = clock.now_utc()
    said_no = world.occ(1)
    said_yes = world.occ(2)
    rsvps.cancel(said_no, mia, now)
    own = rsvps.rsvp(said_yes, mia, now)

    rsvps.start_standing(world.series, mia, now)

    assert statuses(said_no) == {mia.id: CANCELLED}
    assert rsvps.rsvp_for(said_yes, mia).id == own.id and own.standing_id is None
    assert rsvps.has_seat(world.occ(0), mia) and rsvps.has_seat(world.occ(3), mia)


def test_regulars_beyond_the_capacity_wait_in_the_order_they_signed_up(world):
    ann, ben, cat = world.member("Ann"), world.member("Ben"), world.member("Cat")
    now = clock.now_utc()
    for i, person in enumerate((ann, ben, cat)):
        rsvps.start_standing(world.series, person, now + timedelta(seconds=i))

    later = now + timedelta(weeks=1)
    clock.set_frozen(later)
    scheduling.extend_horizons(later)

    newest = world.occ(26)
    assert statuses(newest) == {ann.id: GOING, ben.id: GOING, cat.id: WAITLISTED}
    assert all(statuses(world.occ(n))[cat.id] == WAITLISTED for n in range(26))
    assert_counters_match_rows()


def test_stopping_a_standing_rsvp_withdraws_its_coming_answers_and_fills_the_seats(world, monkeypatch):
    told: list[tuple[int, int]] = []
    monkeypatch.setattr(rsvps, "on_promoted", lambda rsvp, now: told.append((rsvp.occurrence_id, rsvp.user_id)))
    mia, ben, cat = world.member("Mia"), world.member("Ben"), world.member("Cat")
    now = clock.now_utc()
    rsvps.start_standing(world.series, mia, now)
    rsvps.cancel(world.occ(1), mia, now)  # her own "can't go" for the second week
    own = rsvps.rsvp(world.occ(1), mia, now)  # ... then "going" after all: her own answer now
    rsvps.rsvp(world.occ(3), ben, now)
    rsvps.rsvp(world.occ(3), cat, now)  # the fourth meeting is full: Mia, Ben; Cat waits
    after_first = world.occ(0).ends_at + timedelta(hours=1)
    clock.set_frozen(after_first)

    withdrawn = rsvps.stop_standing(world.series, mia, after_first)

    assert withdrawn == 24  # 26 meetings, minus the one that took place, minus her own answer
    assert rsvps.standing_for(world.series, mia) is None
    assert statuses(world.occ(0)) == {mia.id: GOING}  # the past stays as it was
    assert rsvps.rsvp_for(world.occ(1), mia).id == own.id and own.status == GOING
    assert statuses(world.occ(3)) == {ben.id: GOING, cat.id: GOING}
    assert told == [(world.occ(3).id, cat.id)]
    assert rsvps.stop_standing(world.series, mia, after_first) == 0
    assert_counters_match_rows()

    # Starting again brings the withdrawn answers back (they were "no answer", not "can't go").
    rsvps.start_standing(world.series, mia, after_first)
    assert rsvps.has_seat(world.occ(2), mia)
    assert statuses(world.occ(3))[mia.id] == WAITLISTED
    assert_counters_match_rows()


def test_a_standing_rsvp_stops_answering_for_someone_who_left(world):
    mia = world.member()
    now = clock.now_utc()
    rsvps.start_standing(world.series, mia, now)
    memberships.leave(visibility.membership_for(world.group, mia), now)

    later = now + timedelta(weeks=2)
    clock.set_frozen(later)
    scheduling.extend_horizons(later)

    assert db.session.scalar(select(func.count()).select_from(Rsvp).where(Rsvp.user_id == mia.id)) == 26


def test_a_standing_rsvp_needs_a_running_series(world):
    mia = world.member()
    scheduling.end_series(world.series, clock.now_utc())

    with pytest.raises(DomainError, match="has ended"):
        rsvps.start_standing(world.series, mia, clock.now_utc())
