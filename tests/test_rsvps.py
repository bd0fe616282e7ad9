"""RSVPs: seats, the waitlist, "can't go", standing RSVPs, and the counters that always match the rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from supportnet import accounts, clock, groups, memberships, rsvps, scheduling
from supportnet import visibility as visibility_rules
from supportnet.errors import DomainError, Forbidden, NotFound
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    JoinPolicy,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    OccurrenceStatus,
    Rsvp,
    RsvpStatus,
    StandingRsvp,
    User,
    Visibility,
)
from tests.builders import weekly
from tests.conftest import PASSWORD

LONDON = ZoneInfo("Europe/London")
TUESDAY, THURSDAY = 1, 3
GOING, WAITLISTED, CANCELLED = RsvpStatus.GOING, RsvpStatus.WAITLISTED, RsvpStatus.CANCELLED


# --- building a world: a group, a weekly meeting, people ---


def london(*args) -> datetime:
    """A London wall time as a UTC instant."""
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)



@dataclass
class World:
    """One group with one weekly series (in an app context); `person` makes accounts, `member` members."""

    group: Group
    series: MeetingSeries
    facilitator: User
    made: int = 0

    def occ(self, when: datetime | int = 0, series: MeetingSeries | None = None) -> Occurrence:
        """An occurrence by its original start, or the n-th one of the series (0 = first)."""
        series = series or self.series
        query = select(Occurrence).where(Occurrence.series_id == series.id)
        if isinstance(when, datetime):
            return db.session.scalars(query.where(Occurrence.original_start == when)).one()
        return db.session.scalars(query.order_by(Occurrence.original_start).offset(when).limit(1)).one()

    def person(self, name: str | None = None) -> User:
        self.made += 1
        name = name or f"Person {self.made}"
        email = f"p{self.made}.{self.group.id}@example.org"
        return accounts.create_user(email, PASSWORD, name, clock.now_utc(), timezone="Europe/London")

    def member(self, name: str | None = None) -> User:
        user = self.person(name)
        now = clock.now_utc()
        db.session.add(
            Membership(
                group=self.group, user=user, role=MemberRole.MEMBER, status=MemberStatus.ACTIVE,
                created_at=now, joined_at=now,
            )
        )
        db.session.flush()
        return user


def make_world(facilitator_user: User, *, name: str = "Tuesday Integration Circle", **spec_changes) -> World:
    now = clock.now_utc()
    group_options = {key: spec_changes.pop(key) for key in ("visibility", "join_policy") if key in spec_changes}
    group = groups.create_group(
        facilitator_user, name=name, kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now, **group_options
    )
    series = scheduling.create_series(group, weekly(**spec_changes), now)
    return World(group=group, series=series, facilitator=facilitator_user)


@pytest.fixture
def world(app, facilitator) -> Iterator[World]:
    """A public, open group meeting on Tuesdays at 19:00 London with 2 seats, inside an app context."""
    with app.app_context():
        yield make_world(facilitator.user(), capacity=2)


def assert_counters_match_rows() -> None:
    """Every occurrence's going_count and waitlist_count equal the number of its going and waitlisted rows."""
    db.session.flush()
    counted = {
        (occurrence_id, status): n
        for occurrence_id, status, n in db.session.execute(
            select(Rsvp.occurrence_id, Rsvp.status, func.count()).group_by(Rsvp.occurrence_id, Rsvp.status)
        )
    }
    for occurrence_id, going, waiting in db.session.execute(
        select(Occurrence.id, Occurrence.going_count, Occurrence.waitlist_count)
    ):
        expected = (counted.get((occurrence_id, GOING), 0), counted.get((occurrence_id, WAITLISTED), 0))
        assert (going, waiting) == expected, f"occurrence {occurrence_id}"


def statuses(occ: Occurrence) -> dict[int, RsvpStatus]:
    return dict(db.session.execute(select(Rsvp.user_id, Rsvp.status).where(Rsvp.occurrence_id == occ.id)).all())


def waitlist(occ: Occurrence) -> list[int]:
    """The user ids on the waitlist, in order."""
    return list(
        db.session.scalars(
            select(Rsvp.user_id)
            .where(Rsvp.occurrence_id == occ.id, Rsvp.status == WAITLISTED)
            .order_by(Rsvp.queued_at, Rsvp.id)
        )
    )


@contextmanager
def counting_selects() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


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
    memberships.leave(visibility_rules.membership_for(world.group, mia), now)

    later = now + timedelta(weeks=2)
    clock.set_frozen(later)
    scheduling.extend_horizons(later)

    assert db.session.scalar(select(func.count()).select_from(Rsvp).where(Rsvp.user_id == mia.id)) == 26


def test_a_standing_rsvp_needs_a_running_series(world):
    mia = world.member()
    scheduling.end_series(world.series, clock.now_utc())

    with pytest.raises(DomainError, match="has ended"):
        rsvps.start_standing(world.series, mia, clock.now_utc())


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
