"""RSVPs: going, can't go and going again; seats, the waitlist in order, capacity changes, and counters that
always match the rows."""


from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from supportnet import clock, rsvps, scheduling
from supportnet.errors import DomainError
from tests.builders import weekly
from tests.worlds.rsvps import (
    CANCELLED,
    GOING,
    WAITLISTED,
    World,
    assert_counters_match_rows,
    make_world,
    statuses,
    waitlist,
)


@pytest.fixture
def world(app, facilitator) -> Iterator[World]:
    """A public, open group meeting on Tuesdays at 19:00 London with 2 seats, inside an app context."""
    with app.app_context():
        yield make_world(facilitator.user(), capacity=2)


# --- going, can't go, going again ---


def test_a_member_who_says_going_gets_a_seat(world):
    mia = world.member("Mia M.")
    occ = world.occ()

    answer = rsvps.rsvp(occ, mia, clock.now_utc())

    assert (answer.status, answer.queued_at, answer.standing_id) == (GOING, None, None)
    assert (occ.going_count, occ.waitlist_count) == (1, 0)
    assert rsvps.has_seat(occ, mia)
    assert rsvps.rsvp_for(occ, mia) is answer
    assert rsvps.waitlist_position(answer) is None
    assert_counters_match_rows()


def test_saying_going_twice_changes_nothing(world):
    mia = world.member()
    occ = world.occ()
    first = rsvps.rsvp(occ, mia, clock.now_utc())

    again = rsvps.rsvp(occ, mia, clock.now_utc() + timedelta(minutes=5))

    assert again.id == first.id and again.status == GOING
    assert occ.going_count == 1
    assert_counters_match_rows()


def test_cant_go_frees_the_seat_and_going_again_takes_it_back(world):
    mia = world.member()
    occ = world.occ()
    now = clock.now_utc()
    rsvps.rsvp(occ, mia, now)

    cancelled = rsvps.cancel(occ, mia, now)
    assert cancelled.status == CANCELLED
    assert occ.going_count == 0 and not rsvps.has_seat(occ, mia)
    assert_counters_match_rows()

    assert rsvps.cancel(occ, mia, now) is cancelled  # "can't go" twice: nothing more happens
    assert occ.going_count == 0

    back = rsvps.rsvp(occ, mia, now)
    assert back.id == cancelled.id and back.status == GOING
    assert occ.going_count == 1
    assert_counters_match_rows()


def test_cant_go_without_an_rsvp_is_still_recorded(world):
    mia = world.member()
    occ = world.occ()

    assert rsvps.cancel(occ, mia, clock.now_utc()) is None

    assert statuses(occ) == {mia.id: CANCELLED}
    assert (occ.going_count, occ.waitlist_count) == (0, 0)
    assert_counters_match_rows()


def test_a_full_meeting_puts_people_on_the_waitlist_first_come_first_served(world):
    people = [world.member() for _ in range(5)]
    occ = world.occ()
    now = clock.now_utc()

    answers = [rsvps.rsvp(occ, person, now + timedelta(seconds=i)) for i, person in enumerate(people)]

    assert [a.status for a in answers] == [GOING, GOING, WAITLISTED, WAITLISTED, WAITLISTED]
    assert [a.queued_at for a in answers[2:]] == [now + timedelta(seconds=i) for i in (2, 3, 4)]
    assert [rsvps.waitlist_position(a) for a in answers] == [None, None, 1, 2, 3]
    assert (occ.going_count, occ.waitlist_count) == (2, 3)
    # Asking again while waitlisted keeps the place in the queue.
    assert rsvps.rsvp(occ, people[3], now + timedelta(hours=1)).queued_at == now + timedelta(seconds=3)
    assert rsvps.waitlist_position(answers[3]) == 2
    assert_counters_match_rows()


def test_people_queued_at_the_same_instant_are_served_in_the_order_they_came(world):
    people = [world.member() for _ in range(4)]
    occ = world.occ()
    now = clock.now_utc()

    answers = [rsvps.rsvp(occ, person, now) for person in people]

    assert [rsvps.waitlist_position(a) for a in answers[2:]] == [1, 2]
    assert waitlist(occ) == [people[2].id, people[3].id]


def test_waitlisted_member_is_promoted_when_a_seat_frees(world, monkeypatch):
    told: list[int] = []
    monkeypatch.setattr(rsvps, "on_promoted", lambda rsvp, now: told.append(rsvp.user_id))
    ann, ben, cat, dan = (world.member(n) for n in ("Ann", "Ben", "Cat", "Dan"))
    occ = world.occ()
    now = clock.now_utc()
    for i, person in enumerate((ann, ben, cat, dan)):
        rsvps.rsvp(occ, person, now + timedelta(seconds=i))

    rsvps.cancel(occ, ben, now + timedelta(minutes=1))

    assert statuses(occ) == {ann.id: GOING, ben.id: CANCELLED, cat.id: GOING, dan.id: WAITLISTED}
    assert told == [cat.id]
    assert rsvps.waitlist_position(rsvps.rsvp_for(occ, dan)) == 1
    assert (occ.going_count, occ.waitlist_count) == (2, 1)
    assert_counters_match_rows()


def test_leaving_the_waitlist_moves_the_others_up_without_a_promotion(world, monkeypatch):
    told: list[int] = []
    monkeypatch.setattr(rsvps, "on_promoted", lambda rsvp, now: told.append(rsvp.user_id))
    people = [world.member() for _ in range(5)]
    occ = world.occ()
    now = clock.now_utc()
    for i, person in enumerate(people):
        rsvps.rsvp(occ, person, now + timedelta(seconds=i))

    left = rsvps.cancel(occ, people[2], now)

    assert left.status == CANCELLED and told == []
    assert waitlist(occ) == [people[3].id, people[4].id]
    assert rsvps.waitlist_position(rsvps.rsvp_for(occ, people[3])) == 1
    assert (occ.going_count, occ.waitlist_count) == (2, 2)
    # Coming back later means the back of the queue.
    again = rsvps.rsvp(occ, people[2], now + timedelta(minutes=10))
    assert again.status == WAITLISTED and rsvps.waitlist_position(again) == 3
    assert_counters_match_rows()


def test_raising_the_capacity_gives_seats_to_the_waitlist_in_order(world, monkeypatch):
    told: list[int] = []
    monkeypatch.setattr(rsvps, "on_promoted", lambda rsvp, now: told.append(rsvp.user_id))
    people = [world.member() for _ in range(6)]
    now = clock.now_utc()
    first, second = world.occ(0), world.occ(1)
    for i, person in enumerate(people):
        rsvps.rsvp(first, person, now + timedelta(seconds=i))
    for person in people[:3]:
        rsvps.rsvp(second, person, now)

    scheduling.update_series(world.series, weekly(capacity=3), now)

    assert told == [people[2].id, people[2].id]  # first in the queue, in both meetings
    assert waitlist(first) == [p.id for p in people[3:]]
    assert (first.going_count, first.waitlist_count) == (3, 3)
    assert (second.going_count, second.waitlist_count) == (3, 0)
    assert_counters_match_rows()

    scheduling.update_series(world.series, weekly(capacity=None), now)

    assert told[2:] == [p.id for p in people[3:]]
    assert (first.going_count, first.waitlist_count) == (6, 0)
    assert_counters_match_rows()


def test_lowering_the_capacity_below_the_people_going_is_refused(world):
    people = [world.member() for _ in range(2)]
    occ = world.occ(2)
    for person in people:
        rsvps.rsvp(occ, person, clock.now_utc())

    with pytest.raises(DomainError) as err:
        scheduling.update_series(world.series, weekly(capacity=1), clock.now_utc())

    assert err.value.field == "capacity"
    assert "2 people are already going" in str(err.value)
    assert occ.capacity == 2 and occ.going_count == 2


def test_a_meeting_restored_after_the_capacity_grew_seats_its_waitlist(world):
    people = [world.member() for _ in range(3)]
    now = clock.now_utc()
    occ = world.occ(1)
    for i, person in enumerate(people):
        rsvps.rsvp(occ, person, now + timedelta(seconds=i))
    scheduling.cancel_occurrence(occ, "The room is double-booked.", now)
    scheduling.update_series(world.series, weekly(capacity=3), now)
    assert occ.capacity == 2  # a cancelled meeting keeps its numbers

    scheduling.restore_occurrence(occ, now)

    assert occ.capacity == 3
    assert statuses(occ) == {p.id: GOING for p in people}
    assert_counters_match_rows()


def test_a_double_submit_that_loses_the_unique_key_gives_its_seat_back(world, monkeypatch):
    # What PostgreSQL does when the same member's two requests race: both see no answer, one insert wins.
    mia, ben = world.member(), world.member()
    occ = world.occ()
    now = clock.now_utc()
    rsvps.rsvp(occ, mia, now)
    real = rsvps._locked_row
    calls = []

    def blind_first_time(occurrence_id, user_id):
        calls.append(user_id)
        return None if len(calls) == 1 else real(occurrence_id, user_id)

    monkeypatch.setattr(rsvps, "_locked_row", blind_first_time)

    answer = rsvps.rsvp(occ, mia, now)

    assert answer.status == GOING and len(calls) == 2
    assert occ.going_count == 1
    assert rsvps.rsvp(occ, ben, now).status == GOING  # the second seat was given back
    assert_counters_match_rows()
