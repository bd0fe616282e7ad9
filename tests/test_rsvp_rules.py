"""Who may RSVP to which meeting, and what happens to the answers when a meeting changes."""


from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from supportnet import clock, groups, memberships, rsvps, scheduling
from supportnet import visibility as visibility_rules
from supportnet.errors import DomainError, Forbidden, NotFound
from supportnet.extensions import db
from supportnet.models import (
    JoinPolicy,
    OccurrenceStatus,
    Rsvp,
    StandingRsvp,
    Visibility,
)
from tests.builders import weekly
from tests.worlds.rsvps import (
    CANCELLED,
    GOING,
    THURSDAY,
    WAITLISTED,
    World,
    assert_counters_match_rows,
    london,
    make_world,
    statuses,
)


@pytest.fixture
def world(app, facilitator) -> Iterator[World]:
    """A public, open group meeting on Tuesdays at 19:00 London with 2 seats, inside an app context."""
    with app.app_context():
        yield make_world(facilitator.user(), capacity=2)


# --- rules ---


def test_no_rsvp_to_meetings_that_are_over_started_cancelled_or_replaced(world):
    mia = world.member()
    first, second, third = world.occ(0), world.occ(1), world.occ(2)
    scheduling.cancel_occurrence(second, "Snow.", clock.now_utc())

    cases = [
        (first, first.starts_at + timedelta(minutes=10), "already started"),
        (first, first.ends_at, "is over"),
        (second, clock.now_utc(), "cancelled"),
    ]
    for occ, now, message in cases:
        with pytest.raises(DomainError, match=message):
            rsvps.rsvp(occ, mia, now)

    scheduling.update_series(world.series, weekly(THURSDAY), clock.now_utc())  # not begun: edited in place
    assert third.superseded
    with pytest.raises(DomainError, match="replaced when the schedule changed"):
        rsvps.rsvp(third, mia, clock.now_utc())
    with pytest.raises(DomainError, match="already started"):
        rsvps.cancel(first, mia, first.starts_at)
    assert db.session.scalar(select(func.count()).select_from(Rsvp)) == 0


def test_a_public_open_group_makes_whoever_rsvps_a_member(world):
    otto = world.person("Otto O.")

    answer = rsvps.rsvp(world.occ(), otto, clock.now_utc())

    assert answer.status == GOING
    assert visibility_rules.is_member(world.group, otto)
    assert_counters_match_rows()


def test_someone_a_facilitator_removed_cannot_rsvp_their_way_back(world):
    mia = world.member()
    memberships.remove(visibility_rules.membership_for(world.group, mia), clock.now_utc())

    with pytest.raises(Forbidden, match="removed you"):
        rsvps.rsvp(world.occ(), mia, clock.now_utc())


@pytest.mark.parametrize(
    ("visibility", "join_policy", "error", "message"),
    [
        (Visibility.PUBLIC, JoinPolicy.APPROVAL, Forbidden, "Only members"),
        (Visibility.UNLISTED, JoinPolicy.OPEN, Forbidden, "Only members"),
        (Visibility.PRIVATE, JoinPolicy.INVITE, NotFound, "couldn't find"),
    ],
)
def test_other_groups_are_for_members_only(app, facilitator, visibility, join_policy, error, message):
    with app.app_context():
        w = make_world(facilitator.user(), visibility=visibility, join_policy=join_policy)
        outsider, member = w.person(), w.member()

        with pytest.raises(error, match=message):
            rsvps.rsvp(w.occ(), outsider, clock.now_utc())
        with pytest.raises(error, match=message):
            rsvps.start_standing(w.series, outsider, clock.now_utc())
        assert not visibility_rules.is_member(w.group, outsider)
        assert rsvps.rsvp(w.occ(), member, clock.now_utc()).status == GOING


def test_a_pending_request_is_told_to_wait(app, facilitator):
    with app.app_context():
        w = make_world(facilitator.user(), join_policy=JoinPolicy.APPROVAL)
        asking = w.person()
        memberships.join(w.group, asking, clock.now_utc())

        with pytest.raises(Forbidden, match="waiting for a facilitator"):
            rsvps.rsvp(w.occ(), asking, clock.now_utc())


def test_an_archived_group_takes_no_rsvps(world):
    mia = world.member()
    occ = world.occ()
    groups.archive_group(world.group, clock.now_utc())

    with pytest.raises(DomainError, match="archived"):
        rsvps.rsvp(occ, mia, clock.now_utc())
    with pytest.raises(DomainError, match="archived"):
        rsvps.start_standing(world.series, mia, clock.now_utc())


# --- meetings that change ---


def test_moving_a_meeting_keeps_its_rsvps(world):
    mia = world.member()
    occ = world.occ(1)
    rsvps.rsvp(occ, mia, clock.now_utc())

    scheduling.move_occurrence(occ, new_start_local=datetime(2026, 12, 9, 18, 30), now=clock.now_utc())

    assert rsvps.has_seat(occ, mia) and occ.going_count == 1
    assert [o.id for _r, o in rsvps.my_upcoming(mia, clock.now_utc())] == [occ.id]
    assert_counters_match_rows()


def test_cancelling_a_meeting_keeps_its_rsvps_so_restoring_brings_everyone_back(world):
    people = [world.member() for _ in range(3)]
    occ = world.occ(1)
    for person in people:
        rsvps.rsvp(occ, person, clock.now_utc())

    scheduling.cancel_occurrence(occ, "The room is flooded.", clock.now_utc())

    assert statuses(occ) == {people[0].id: GOING, people[1].id: GOING, people[2].id: WAITLISTED}
    # The member still sees the cancelled meeting (with its note) in their list.
    ((answer, shown),) = rsvps.my_upcoming(people[0], clock.now_utc())
    assert answer.status == GOING
    assert shown.id == occ.id and shown.status == OccurrenceStatus.CANCELLED
    # Nobody takes or frees seats in a cancelled meeting, and nobody is promoted in it.
    with pytest.raises(DomainError, match="cancelled"):
        rsvps.rsvp(occ, world.member(), clock.now_utc())
    rsvps.cancel(occ, people[0], clock.now_utc())
    assert statuses(occ)[people[2].id] == WAITLISTED

    scheduling.restore_occurrence(occ, clock.now_utc())

    assert statuses(occ) == {people[0].id: CANCELLED, people[1].id: GOING, people[2].id: GOING}
    assert_counters_match_rows()


def test_a_schedule_split_cancels_rsvps_for_replaced_meetings_and_keeps_the_rest(world):
    now = clock.now_utc()
    regular, once = world.member("Regular"), world.member("Once")
    rsvps.start_standing(world.series, regular, now)
    rsvps.rsvp(world.occ(0), once, now)
    rsvps.rsvp(world.occ(3), once, now)
    later = london(2026, 12, 10, 12, 0)  # after the first two meetings: the series has begun
    clock.set_frozen(later)

    successor = scheduling.update_series(world.series, weekly(THURSDAY, first_date=date(2026, 12, 17)), later)

    assert successor.id != world.series.id
    # Before the cut (Thursday 17 December) the old meetings go ahead with their answers.
    assert statuses(world.occ(2)) == {regular.id: GOING}  # Tuesday 15 December
    # After it, the old meetings will never happen: their answers are cancelled and their counters are 0.
    replaced = world.occ(3)
    assert replaced.superseded
    assert statuses(replaced) == {regular.id: CANCELLED, once.id: CANCELLED}
    assert (replaced.going_count, replaced.waitlist_count) == (0, 0)
    # The standing RSVP moved to the new series and answered for its meetings.
    standing = rsvps.standing_for(successor, regular)
    assert standing is not None and rsvps.standing_for(world.series, regular) is None
    new_first = world.occ(0, series=successor)
    assert new_first.starts_at == london(2026, 12, 17, 19, 0)
    assert statuses(new_first) == {regular.id: GOING}
    assert rsvps.rsvp_for(new_first, regular).standing_id == standing.id
    assert rsvps.stop_standing(successor, regular, later) == 1 + 25  # Tuesday 15 Dec + the new series
    assert_counters_match_rows()


def test_ending_a_series_drops_its_standing_rsvps_and_keeps_the_answers(world):
    mia = world.member()
    rsvps.start_standing(world.series, mia, clock.now_utc())

    scheduling.end_series(world.series, clock.now_utc())

    assert rsvps.standing_for(world.series, mia) is None
    assert db.session.scalar(select(func.count()).select_from(StandingRsvp)) == 0
    assert statuses(world.occ(0)) == {mia.id: GOING}
    assert world.occ(0).status == OccurrenceStatus.CANCELLED
    assert_counters_match_rows()
