"""Meeting series and their occurrences: wall-clock time across DST, one-off changes, edits that keep the past."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError

from supportnet import clock, groups, scheduling, timetable
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import Group, GroupKind, MeetingSeries, Occurrence, OccurrenceStatus
from supportnet.recurrence import Frequency, Recurrence, expand
from supportnet.scheduling import HORIZON
from tests.builders import weekly

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
TUESDAY, THURSDAY, SUNDAY = 1, 3, 6



def make_group(facilitator_user, name: str = "Thursday Integration Circle", tz: str = "Europe/London") -> Group:
    return groups.create_group(facilitator_user, name=name, kind=GroupKind.AFTERCARE, timezone=tz, now=clock.now_utc())


@pytest.fixture
def group_id(app, facilitator) -> int:
    with app.app_context():
        group = make_group(facilitator.user())
        db.session.commit()
        return group.id


def occurrences(series: MeetingSeries) -> list[Occurrence]:
    return list(
        db.session.scalars(
            select(Occurrence).where(Occurrence.series_id == series.id).order_by(Occurrence.original_start)
        )
    )


def occurrence_at(series: MeetingSeries, when: datetime) -> Occurrence:
    return db.session.scalars(
        select(Occurrence).where(Occurrence.series_id == series.id, Occurrence.original_start == when)
    ).one()


def london(*args) -> datetime:
    """A London wall time as a UTC instant."""
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


def count_rows(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@contextmanager
def counting_selects() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


# --- wall-clock time across daylight saving changes ---


def test_weekly_london_meeting_is_scheduled_26_weeks_ahead_at_19_local_across_the_clock_change(app, group_id):
    with app.app_context():
        now = clock.now_utc()
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), now)
        rows = occurrences(series)

        assert len(rows) == 26  # Tuesdays 1 Dec 2026 .. 25 May 2027, all before now + 26 weeks
        assert rows[0].original_start == london(2026, 12, 1, 19, 0)
        assert rows[-1].starts_at < now + HORIZON <= rows[-1].starts_at + timedelta(weeks=1)
        assert series.materialized_until == now + HORIZON
        assert {row.starts_at.astimezone(LONDON).time() for row in rows} == {time(19, 0)}
        # London moves to BST on 28 March 2027: the meeting stays at 19:00 there, so its UTC hour moves.
        assert {row.starts_at.hour for row in rows if row.starts_at < datetime(2027, 3, 28, tzinfo=UTC)} == {19}
        assert {row.starts_at.hour for row in rows if row.starts_at > datetime(2027, 3, 28, tzinfo=UTC)} == {18}
        assert all(row.ends_at - row.starts_at == timedelta(minutes=90) for row in rows)
        assert all(row.status == OccurrenceStatus.SCHEDULED and row.sequence == 0 for row in rows)


def test_new_york_meeting_stays_at_19_local_when_america_springs_forward(app, group_id):
    with app.app_context():
        spec = weekly(timezone="America/New_York")
        series = scheduling.create_series(db.session.get(Group, group_id), spec, clock.now_utc())
        rows = occurrences(series)

        assert {row.starts_at.astimezone(NEW_YORK).time() for row in rows} == {time(19, 0)}
        before = {row.starts_at.hour for row in rows if row.starts_at < datetime(2027, 3, 14, tzinfo=UTC)}
        after = {row.starts_at.hour for row in rows if row.starts_at > datetime(2027, 3, 15, tzinfo=UTC)}
        assert before == {0}  # 19:00 EST is midnight UTC
        assert after == {23}  # 19:00 EDT is 23:00 UTC


def test_a_meeting_in_the_spring_forward_gap_moves_forward_by_an_hour(app, group_id):
    with app.app_context():
        spec = weekly(SUNDAY, first_date=date(2027, 3, 21), start_time=time(1, 30))
        series = scheduling.create_series(db.session.get(Group, group_id), spec, clock.now_utc())
        gap_day = occurrence_at(series, datetime(2027, 3, 28, 1, 30, tzinfo=UTC))

        # 01:30 does not exist in London on 28 March 2027; the meeting is at 02:30 BST, i.e. 01:30 UTC.
        assert gap_day.starts_at.astimezone(LONDON).time() == time(2, 30)
        assert occurrence_at(series, london(2027, 4, 4, 1, 30)).starts_at.hour == 0


def test_a_meeting_at_an_ambiguous_fall_back_time_takes_the_first_one(app, group_id):
    clock.set_frozen(datetime(2027, 9, 1, 12, tzinfo=UTC))
    with app.app_context():
        spec = weekly(SUNDAY, first_date=date(2027, 10, 24), start_time=time(1, 30))
        series = scheduling.create_series(db.session.get(Group, group_id), spec, clock.now_utc())
        starts = [row.starts_at for row in occurrences(series)]

        # 01:30 happens twice in London on 31 October 2027: the meeting is at the first (BST, 00:30 UTC).
        assert datetime(2027, 10, 31, 0, 30, tzinfo=UTC) in starts
        assert datetime(2027, 10, 31, 1, 30, tzinfo=UTC) not in starts


# --- one-off changes ---


def test_cancelled_meeting_keeps_its_original_start_and_moves_the_sequence(app, group_id):
    with app.app_context():
        now = clock.now_utc()
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), now)
        occ = occurrence_at(series, london(2026, 12, 22, 19, 0))

        scheduling.cancel_occurrence(occ, "Closed for the holidays.", now)

        assert occ.status == OccurrenceStatus.CANCELLED
        assert occ.note == "Closed for the holidays."
        assert occ.original_start == occ.starts_at == london(2026, 12, 22, 19, 0)
        assert occ.sequence == 1
        assert series.sequence == 1
        assert not occ.superseded

        scheduling.restore_occurrence(occ, now)

        assert occ.status == OccurrenceStatus.SCHEDULED
        assert occ.note == ""
        assert occ.sequence == 2
        assert series.sequence == 2


def test_moved_meeting_keeps_its_row_so_people_going_stay_going(app, group_id):
    with app.app_context():
        now = clock.now_utc()
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(capacity=12), now)
        occ = occurrence_at(series, london(2026, 12, 8, 19, 0))
        occ.going_count = 3  # three RSVPs already point at this row
        db.session.flush()
        row_id = occ.id

        scheduling.move_occurrence(
            occ,
            new_start_local=datetime(2026, 12, 9, 18, 30),
            venue="Library, room 2",
            note="The community room is being painted.",
            now=now,
        )
        scheduling.materialize(series, now + HORIZON, now)

        assert occ.id == row_id
        assert occ.going_count == 3
        assert occ.status == OccurrenceStatus.MOVED
        assert occ.original_start == london(2026, 12, 8, 19, 0)
        assert occ.starts_at == london(2026, 12, 9, 18, 30)
        assert occ.ends_at - occ.starts_at == timedelta(minutes=90)
        assert occ.effective_venue == "Library, room 2"
        assert occ.effective_address == "12 Canal Street"
        assert occ.sequence == 1
        # Materializing again does not bring back a meeting at the original time.
        assert len([row for row in occurrences(series) if row.original_start == occ.original_start]) == 1

        scheduling.restore_occurrence(occ, now)

        assert (occ.starts_at, occ.venue, occ.status) == (occ.original_start, None, OccurrenceStatus.SCHEDULED)
        assert occ.going_count == 3


def test_a_meeting_cannot_be_moved_into_the_past(app, group_id):
    with app.app_context():
        now = clock.now_utc()
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), now)
        occ = occurrence_at(series, london(2026, 12, 8, 19, 0))

        with pytest.raises(DomainError) as err:
            scheduling.move_occurrence(occ, new_start_local=datetime(2026, 11, 25, 19, 0), now=now)

        assert err.value.field == "new_start_local"
        assert occ.status == OccurrenceStatus.SCHEDULED


def test_a_meeting_that_has_started_can_no_longer_be_changed(app, group_id):
    with app.app_context():
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), clock.now_utc())
        db.session.commit()
        occ = occurrence_at(series, london(2026, 12, 1, 19, 0))
        during = london(2026, 12, 1, 19, 45)

        assert timetable.in_progress(occ, during)
        for change in (
            lambda: scheduling.cancel_occurrence(occ, "", during),
            lambda: scheduling.move_occurrence(occ, new_start_local=datetime(2026, 12, 2, 19, 0), now=during),
            lambda: scheduling.restore_occurrence(occ, during),
        ):
            with pytest.raises(DomainError, match="already started"):
                change()
        assert occ.sequence == 0


# --- editing a series ---


def test_editing_the_time_of_a_running_series_keeps_the_past_and_continues_in_a_new_series(app, group_id):
    with app.app_context():
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), clock.now_utc())
        scheduling.cancel_occurrence(occurrence_at(series, london(2026, 12, 8, 19, 0)), "Snow.", clock.now_utc())
        db.session.commit()
        old_id = series.id

    clock.set_frozen(datetime(2026, 12, 16, 12, tzinfo=UTC))  # three Tuesdays later
    with app.app_context():
        now = clock.now_utc()
        old = db.session.get(MeetingSeries, old_id)
        new = scheduling.update_series(old, dataclasses.replace(timetable.spec_for(old), start_time=time(18)), now)
        db.session.commit()

        assert new.id != old.id
        assert new.previous_id == old.id
        assert old.ended_at == now
        # The old rule now ends with its last meeting, 15 December; calendars keep the history.
        assert expand(old.rrule, old.dtstart_local, LONDON, now - timedelta(days=60), now + HORIZON) == [
            london(2026, 12, 1, 19, 0),
            london(2026, 12, 8, 19, 0),
            london(2026, 12, 15, 19, 0),
        ]
        past = [row for row in occurrences(old) if row.starts_at < now]
        assert [(row.starts_at, row.status, row.note) for row in past] == [
            (london(2026, 12, 1, 19, 0), OccurrenceStatus.SCHEDULED, ""),
            (london(2026, 12, 8, 19, 0), OccurrenceStatus.CANCELLED, "Snow."),
            (london(2026, 12, 15, 19, 0), OccurrenceStatus.SCHEDULED, ""),
        ]
        future = [row for row in occurrences(old) if row.starts_at > now]
        assert future
        assert all(row.superseded and row.status == OccurrenceStatus.CANCELLED for row in future)
        assert {row.note for row in future} == {scheduling.SCHEDULE_CHANGED_NOTE}
        # The new series picks up at the next Tuesday, at 18:00.
        assert new.dtstart_local == datetime(2026, 12, 22, 18, 0)
        new_rows = occurrences(new)
        assert new_rows[0].starts_at == london(2026, 12, 22, 18, 0)
        assert new_rows[-1].starts_at < now + HORIZON
        assert {row.starts_at.astimezone(LONDON).time() for row in new_rows} == {time(18)}


def test_a_split_series_keeps_its_every_other_week_rhythm_and_meetings_left(app, group_id):
    with app.app_context():
        every_other = Recurrence(Frequency.WEEKLY, interval=2, weekdays=(TUESDAY,), count=6)
        series = scheduling.create_series(
            db.session.get(Group, group_id), weekly(recurrence=every_other), clock.now_utc()
        )
        db.session.commit()
        old_id = series.id

    clock.set_frozen(datetime(2026, 12, 9, 12, tzinfo=UTC))  # after the first meeting on 1 December
    with app.app_context():
        now = clock.now_utc()
        old = db.session.get(MeetingSeries, old_id)
        new = scheduling.update_series(old, dataclasses.replace(timetable.spec_for(old), start_time=time(18)), now)

        starts = [row.starts_at for row in occurrences(new)]
        assert starts[0] == london(2026, 12, 15, 18, 0)  # not 8 or 22 December
        assert len(starts) == 5  # six meetings in all, one already held
        assert timetable.spec_for(new).recurrence.count == 5


def test_a_new_first_date_in_the_future_keeps_the_old_meetings_until_then(app, group_id):
    with app.app_context():
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), clock.now_utc())
        db.session.commit()
        old_id = series.id

    clock.set_frozen(datetime(2026, 12, 9, 12, tzinfo=UTC))
    with app.app_context():
        now = clock.now_utc()
        old = db.session.get(MeetingSeries, old_id)
        thursdays = dataclasses.replace(
            timetable.spec_for(old),
            first_date=date(2027, 1, 7),
            recurrence=Recurrence(Frequency.WEEKLY, weekdays=(THURSDAY,)),
        )
        new = scheduling.update_series(old, thursdays, now)

        going_ahead = [row.starts_at for row in occurrences(old) if row.starts_at > now and not row.superseded]
        assert going_ahead == [london(2026, 12, d, 19, 0) for d in (15, 22, 29)] + [london(2027, 1, 5, 19, 0)]
        assert occurrences(new)[0].starts_at == london(2027, 1, 7, 19, 0)


def test_a_series_that_has_not_started_is_edited_in_place_keeping_rows_and_one_off_changes(app, group_id):
    with app.app_context():
        now = clock.now_utc()
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), now)
        scheduling.cancel_occurrence(occurrence_at(series, london(2026, 12, 8, 19, 0)), "Snow.", now)
        going = occurrence_at(series, london(2026, 12, 15, 19, 0))
        going.going_count = 2
        tuesday_ids = {row.id for row in occurrences(series)}

        same = scheduling.update_series(
            series, weekly(TUESDAY, THURSDAY, duration_minutes=60, title="Integration circle (new format)"), now
        )

        assert same is series
        assert series.title == "Integration circle (new format)"
        rows = occurrences(series)
        assert tuesday_ids < {row.id for row in rows}  # Tuesday rows kept, Thursday rows added
        assert {row.starts_at.weekday() for row in rows} == {TUESDAY, THURSDAY}
        assert occurrence_at(series, london(2026, 12, 8, 19, 0)).status == OccurrenceStatus.CANCELLED
        assert going.going_count == 2
        assert going.ends_at - going.starts_at == timedelta(minutes=60)

        scheduling.update_series(series, weekly(THURSDAY, duration_minutes=60), now)

        tuesdays = [row for row in occurrences(series) if row.original_start.weekday() == TUESDAY]
        assert {row.id for row in tuesdays} == tuesday_ids  # cancelled, never deleted
        assert all(row.superseded and row.status == OccurrenceStatus.CANCELLED for row in tuesdays)

        scheduling.update_series(series, weekly(TUESDAY, THURSDAY, duration_minutes=60), now)

        back = occurrence_at(series, london(2026, 12, 15, 19, 0))
        assert (back.status, back.superseded, back.going_count) == (OccurrenceStatus.SCHEDULED, False, 2)


def test_lowering_capacity_below_the_people_already_going_is_refused(app, group_id):
    with app.app_context():
        now = clock.now_utc()
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(capacity=10), now)
        occurrence_at(series, london(2026, 12, 15, 19, 0)).going_count = 6
        db.session.flush()

        with pytest.raises(DomainError, match="6 people are already going") as err:
            scheduling.update_series(series, weekly(capacity=5), now)
        assert err.value.field == "capacity"
        assert series.capacity == 10

        scheduling.update_series(series, weekly(capacity=6), now)

        assert {row.capacity for row in occurrences(series)} == {6}


def test_ending_a_series_cancels_what_is_ahead_and_keeps_what_happened(app, group_id):
    with app.app_context():
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), clock.now_utc())
        db.session.commit()
        series_id = series.id

    clock.set_frozen(datetime(2026, 12, 9, 12, tzinfo=UTC))
    with app.app_context():
        now = clock.now_utc()
        series = db.session.get(MeetingSeries, series_id)
        scheduling.end_series(series, now)

        rows = occurrences(series)
        held, ahead = rows[:2], rows[2:]  # 1 and 8 December happened
        assert {row.status for row in held} == {OccurrenceStatus.SCHEDULED}
        assert all(row.status == OccurrenceStatus.CANCELLED and not row.superseded for row in ahead)
        assert {row.note for row in ahead} == {scheduling.SERIES_ENDED_NOTE}
        assert series.ended_at == now
        assert expand(series.rrule, series.dtstart_local, LONDON, now - timedelta(days=30), now + HORIZON) == [
            london(2026, 12, 1, 19, 0),
            london(2026, 12, 8, 19, 0),
        ]
        with pytest.raises(DomainError, match="ended"):
            scheduling.restore_occurrence(ahead[0], now)
        with pytest.raises(DomainError, match="ended"):
            scheduling.update_series(series, weekly(), now)


# --- the rolling horizon ---


def test_the_horizon_moves_forward_as_time_passes_and_extending_twice_adds_nothing(app, group_id):
    with app.app_context():
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), clock.now_utc())
        db.session.commit()
        series_id = series.id

        assert scheduling.extend_horizons(clock.now_utc()) == 0

    clock.set_frozen(datetime(2026, 12, 3, 12, tzinfo=UTC))  # a week later
    with app.app_context():
        now = clock.now_utc()
        assert scheduling.extend_horizons(now) == 1
        assert scheduling.extend_horizons(now) == 0
        series = db.session.get(MeetingSeries, series_id)
        assert series.materialized_until == now + HORIZON
        assert len(occurrences(series)) == 27


def statements_of(action) -> list[str]:
    """Every statement the engine runs while `action()` runs (BEGIN aside: it depends on what ran before)."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return statements


def test_extending_many_horizons_takes_the_same_few_statements_as_extending_one(app, facilitator):
    now = clock.now_utc()
    with app.app_context():
        few = make_group(facilitator.user(), name="One meeting a week")
        scheduling.create_series(few, weekly(), now)
        db.session.commit()
    later = now + timedelta(weeks=1)
    with app.app_context():
        one = statements_of(lambda: scheduling.extend_horizons(later))
        db.session.commit()
        many = make_group(facilitator.user(), name="Many meetings a week")
        for day in range(7):
            scheduling.create_series(many, weekly(day, title=f"Day {day}"), now)
            scheduling.create_series(many, weekly(day, title=f"Late {day}", start_time=time(21, 0)), now)
        db.session.commit()
    with app.app_context():
        before = count_rows(Occurrence)
        created: list[int] = []
        fourteen = statements_of(lambda: created.append(scheduling.extend_horizons(later)))
        db.session.commit()
        # Every series got its next week: 14 new meetings, in as many statements as one series needed.
        assert created == [14] and count_rows(Occurrence) == before + 14
    assert len(fourteen) == len(one) == 5, fourteen


def test_a_meeting_made_by_extending_the_horizon_is_found_by_its_instant(app, group_id):
    with app.app_context():
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(), clock.now_utc())
        db.session.commit()
        series_id = series.id
    later = clock.now_utc() + timedelta(weeks=1)
    with app.app_context():
        series = db.session.get(MeetingSeries, series_id)
        assert len(series.occurrences) == 26
        assert scheduling.extend_horizons(later) == 1
        # The series the session had loaded shows the new horizon and the new meeting.
        assert series.materialized_until == later + HORIZON
        assert len(series.occurrences) == 27
        db.session.commit()
    with app.app_context():
        newest = london(2027, 6, 1, 19, 0)  # the 27th Tuesday
        # Written as every other instant is (SQLite compares the stored text), so equality queries find it.
        found = db.session.scalars(
            select(Occurrence).where(
                Occurrence.series_id == series_id,
                Occurrence.original_start == newest,
                Occurrence.starts_at == newest,
                Occurrence.ends_at == newest + timedelta(minutes=90),
                Occurrence.updated_at == later,
            )
        ).one()
        assert (found.status, found.note, found.capacity, found.going_count, found.superseded) == (
            OccurrenceStatus.SCHEDULED, "", None, 0, False)
        # Forgetting the horizon and extending again finds every meeting already there.
        db.session.execute(update(MeetingSeries).values(materialized_until=None))
        assert scheduling.extend_horizons(later) == 0
        assert count_rows(Occurrence) == 27


def test_extending_horizons_skips_ended_series_and_archived_groups(app, group_id, facilitator):
    with app.app_context():
        now = clock.now_utc()
        group = db.session.get(Group, group_id)
        ended = scheduling.create_series(group, weekly(), now)
        scheduling.end_series(ended, now)
        other = make_group(facilitator.user(), name="Friday coffee")
        scheduling.create_series(other, weekly(), now)
        groups.archive_group(other, now)
        db.session.commit()

        assert scheduling.extend_horizons(now + timedelta(weeks=4)) == 0


def test_each_meeting_of_a_series_exists_once_and_the_database_guards_its_numbers(app, group_id):
    with app.app_context():
        now = clock.now_utc()
        series = scheduling.create_series(db.session.get(Group, group_id), weekly(capacity=2), now)
        db.session.commit()
        first = occurrences(series)[0]
        start = first.original_start
        bad_rows = [
            Occurrence(series_id=series.id, original_start=start, starts_at=start, ends_at=start + timedelta(hours=1)),
            Occurrence(series_id=series.id, original_start=start - timedelta(days=1), starts_at=start, ends_at=start),
        ]
        for row in bad_rows:
            db.session.add(row)
            with pytest.raises(IntegrityError):
                db.session.flush()
            db.session.rollback()

        with pytest.raises(IntegrityError):
            db.session.execute(update(Occurrence).where(Occurrence.id == first.id).values(going_count=3))
        db.session.rollback()


# --- reading ---


def test_upcoming_meetings_show_cancellations_but_not_replaced_meetings(app, group_id):
    with app.app_context():
        now = clock.now_utc()
        group = db.session.get(Group, group_id)
        series = scheduling.create_series(group, weekly(), now)
        scheduling.cancel_occurrence(occurrence_at(series, london(2026, 12, 1, 19, 0)), "Snow.", now)
        scheduling.update_series(series, weekly(THURSDAY), now)

        upcoming = timetable.upcoming_occurrences(group, now, limit=3)

        assert [row.starts_at for row in upcoming] == [london(2026, 12, d, 19, 0) for d in (3, 10, 17)]
        assert timetable.next_occurrence_for_groups([group.id], now)[group.id].starts_at == london(2026, 12, 3, 19)


def test_the_directory_gets_the_next_meeting_of_every_group_in_one_query(app, facilitator):
    with app.app_context():
        now = clock.now_utc()
        ids = []
        for n in range(6):
            group = make_group(facilitator.user(), name=f"Circle {n}")
            scheduling.create_series(group, weekly(first_date=date(2026, 12, 1 + n)), now)
            ids.append(group.id)
        quiet = make_group(facilitator.user(), name="No meetings yet")
        db.session.commit()

        for some in (ids[:2], [*ids, quiet.id]):
            db.session.expunge_all()
            with counting_selects() as selects:
                nexts = timetable.next_occurrence_for_groups(some, now)
                titles = {occ.series.title for occ in nexts.values()}
            assert len(selects) == 1
            assert set(nexts) == set(some) - {quiet.id}
            assert titles == {"Integration circle"}

        nexts = timetable.next_occurrence_for_groups(ids, now)
        # 1 December is a Tuesday: each group's first date is a day later, so its first Tuesday differs.
        assert nexts[ids[0]].starts_at == london(2026, 12, 1, 19)
        assert nexts[ids[1]].starts_at == london(2026, 12, 8, 19)


# --- refusing bad input, storing nothing ---


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 1441}, "duration_minutes"),
        ({"recurrence": Recurrence(Frequency.WEEKLY, weekdays=(TUESDAY,), until=date(2026, 11, 30))}, "recurrence"),
        ({"recurrence": Recurrence(Frequency.WEEKLY, weekdays=())}, "recurrence"),
        # Wednesday 2 to Monday 7 December holds no Tuesday.
        (
            {
                "first_date": date(2026, 12, 2),
                "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(1,), until=date(2026, 12, 7)),
            },
            "recurrence",
        ),
        ({"first_date": date(2026, 11, 20)}, "first_date"),
        (
            {"first_date": date(2026, 11, 26), "start_time": time(9, 0), "recurrence": Recurrence(Frequency.ONCE)},
            "start_time",
        ),
        ({"venue": "", "address": "", "online_url": ""}, "venue"),
        ({"online_url": "javascript:alert(1)"}, "online_url"),
        ({"capacity": 0}, "capacity"),
        ({"title": "   "}, "title"),
    ],
)
def test_a_series_with_bad_input_is_refused_and_nothing_is_stored(app, group_id, changes, field):
    with app.app_context():
        with pytest.raises(DomainError) as err:
            scheduling.create_series(db.session.get(Group, group_id), weekly(**changes), clock.now_utc())

        assert err.value.field == field
        assert count_rows(MeetingSeries) == 0
        assert count_rows(Occurrence) == 0


def test_an_archived_group_gets_no_new_meetings(app, group_id):
    with app.app_context():
        group = db.session.get(Group, group_id)
        groups.archive_group(group, clock.now_utc())

        with pytest.raises(DomainError, match="archived"):
            scheduling.create_series(group, weekly(), clock.now_utc())
        assert count_rows(MeetingSeries) == 0


def test_an_online_only_meeting_needs_no_place(app, group_id):
    with app.app_context():
        spec = weekly(venue="", address="", online_url="https://meet.example.org/circle")
        series = scheduling.create_series(db.session.get(Group, group_id), spec, clock.now_utc())

        assert series.online_url == "https://meet.example.org/circle"
        assert timetable.describe_series(series) == "Weekly on Tuesday, 19:00\u201320:30 (Europe/London)"


def test_the_directory_can_find_series_by_local_weekday_and_time_of_day(app, group_id):
    with app.app_context():
        now = clock.now_utc()
        group = db.session.get(Group, group_id)
        twice_weekly = scheduling.create_series(group, weekly(TUESDAY, THURSDAY, timezone="America/New_York"), now)
        once = scheduling.create_series(
            group,
            weekly(first_date=date(2026, 12, 6), start_time=time(9, 30), recurrence=Recurrence(Frequency.ONCE)),
            now,
        )
        db.session.flush()

        # Local weekdays and wall time, even though 19:00 in New York is the next day in UTC.
        assert (twice_weekly.day_mask, twice_weekly.start_minute) == (1 << TUESDAY | 1 << THURSDAY, 19 * 60)
        assert (once.day_mask, once.start_minute) == (1 << SUNDAY, 9 * 60 + 30)

        monthly = Recurrence(Frequency.MONTHLY_DAY, month_day=15)
        scheduling.update_series(twice_weekly, weekly(timezone="America/New_York", recurrence=monthly), now)
        db.session.flush()

        assert twice_weekly.day_mask == 0b1111111  # the 15th can be any weekday
        assert timetable.active_series(group) == [twice_weekly, once]
        scheduling.end_series(once, now)
        assert timetable.active_series(group) == [twice_weekly]
