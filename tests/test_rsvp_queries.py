"""Reading RSVPs in a fixed number of queries: my meetings, answers and places, the roster."""


from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from supportnet import clock, rsvps
from supportnet.extensions import db
from tests.worlds.rsvps import (
    GOING,
    WAITLISTED,
    World,
    counting_selects,
    make_world,
)


@pytest.fixture
def world(app, facilitator) -> Iterator[World]:
    """A public, open group meeting on Tuesdays at 19:00 London with 2 seats, inside an app context."""
    with app.app_context():
        yield make_world(facilitator.user(), capacity=2)


# --- reading, in a fixed number of queries ---


def test_my_meetings_lists_going_and_waiting_soonest_first_in_one_query(world):
    mia = world.member()
    others = [world.member() for _ in range(2)]
    now = clock.now_utc()
    for person in others:
        rsvps.rsvp(world.occ(2), person, now)
    rsvps.rsvp(world.occ(2), mia, now)  # waitlisted
    rsvps.rsvp(world.occ(0), mia, now)
    rsvps.rsvp(world.occ(1), mia, now)
    rsvps.cancel(world.occ(1), mia, now)
    rsvps.rsvp(world.occ(4), mia, now)
    db.session.commit()
    db.session.expire_all()
    db.session.refresh(mia)  # the signed-in user is loaded before the page asks

    with counting_selects() as selects:
        upcoming = rsvps.my_upcoming(mia, now)
        shown = [(occ.starts_at, occ.series.title, occ.series.group.name, r.status) for r, occ in upcoming]
    assert len(selects) == 1

    assert [row[0] for row in shown] == [world.occ(n).starts_at for n in (0, 2, 4)]
    assert [row[3] for row in shown] == [GOING, WAITLISTED, GOING]
    with counting_selects() as selects:
        positions = rsvps.positions_for([r for r, _occ in upcoming])
    assert len(selects) == 1
    assert positions == {upcoming[1][0].id: 1}
    # Meetings that are over drop out.
    assert len(rsvps.my_upcoming(mia, world.occ(0).ends_at)) == 2


def test_answers_and_places_for_many_meetings_take_one_query_each(world):
    people = [world.member() for _ in range(4)]
    now = clock.now_utc()
    occs = [world.occ(n) for n in range(6)]
    for occ in occs:
        for i, person in enumerate(people):
            rsvps.rsvp(occ, person, now + timedelta(seconds=i))
    occurrence_ids = [occ.id for occ in occs]
    db.session.commit()
    db.session.expire_all()
    last = people[-1]
    db.session.refresh(last)

    with counting_selects() as selects:
        mine = rsvps.rsvps_for_user(last, occurrence_ids)
        positions = rsvps.positions_for(list(mine.values()))
    assert len(selects) == 2

    assert set(mine) == set(occurrence_ids)
    assert set(positions.values()) == {2}
    assert all(positions[r.id] == rsvps.waitlist_position(r) for r in mine.values())
    assert rsvps.rsvps_for_user(last, []) == {}


def test_the_roster_shows_names_to_facilitators_in_a_fixed_number_of_queries(app, facilitator):
    with app.app_context():
        w = make_world(facilitator.user(), capacity=2)
        zoe, amy, kim, lee = (w.member(n) for n in ("Zoe", "amy", "Kim", "Lee"))
        occ = w.occ()
        now = clock.now_utc()
        for person in (zoe, amy, kim):
            rsvps.rsvp(occ, person, now)
        db.session.commit()

        for extra in range(2):  # more rows, same number of queries
            db.session.expire_all()
            occ = w.occ()
            occ.series.group  # noqa: B018 - loaded by the page already
            with counting_selects() as selects:
                roster = rsvps.roster(occ)
                names = [r.user.display_name for r in roster.going + roster.waitlist]
            assert len(selects) == 3
            w.member(f"Walk-in {extra}")
            db.session.commit()

        assert names == ["amy", "Zoe", "Kim"]
        assert [r.user_id for r in roster.going] == [amy.id, zoe.id]
        assert [r.user_id for r in roster.waitlist] == [kim.id]
        assert roster.attended_user_ids == set()
        assert [u.display_name for u in roster.walk_in_candidates] == ["Fay F.", "Lee", "Walk-in 0"]
        assert lee.id in {u.id for u in roster.walk_in_candidates}
