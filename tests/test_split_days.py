"""Editing a running series "from now on" never puts two meetings on one day.

A split ends the old rule on a day before the new rule's first meeting (in the new schedule's zone); a meeting
of the old rule that has already started on that day keeps its place and the new schedule begins on its next day.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from supportnet import clock, groups, scheduling, timetable
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import GroupKind, MeetingSeries, Occurrence, OccurrenceStatus
from supportnet.recurrence import Frequency, Recurrence, expand
from tests.builders import weekly

LONDON = ZoneInfo("Europe/London")
MONDAY, THURSDAY = 0, 3
FAR = timedelta(days=3660)

# A Thursday 19:00 London series from 3 December 2026; the meeting the edit is about is on 10 December.
CHANGES = {
    "time": dict(start_time=time(19, 30)),
    "weekday": dict(start_time=time(19, 30), recurrence=Recurrence(Frequency.WEEKLY, weekdays=(MONDAY, THURSDAY))),
    # 15:00 in New York is 20:00 in London: the same Thursday in both zones.
    "zone": dict(start_time=time(15, 0), timezone="America/New_York"),
}
WHEN = {
    "day_of": datetime(2026, 12, 10, 9, tzinfo=UTC),
    "day_before": datetime(2026, 12, 9, 12, tzinfo=UTC),
    "week_before": datetime(2026, 12, 4, 12, tzinfo=UTC),
    "during_the_meeting": datetime(2026, 12, 10, 19, 10, tzinfo=UTC),
}


def rows(series: MeetingSeries) -> list[Occurrence]:
    return list(
        db.session.scalars(
            select(Occurrence).where(Occurrence.series_id == series.id).order_by(Occurrence.original_start)
        )
    )


def rule_instants(series: MeetingSeries) -> list[datetime]:
    start = scheduling.first_start(series)
    return expand(series.rrule, series.dtstart_local, series.tz, start, start + FAR)


def start_series(app, facilitator) -> int:
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            facilitator.user(), name="Thursday circle", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now
        )
        series = scheduling.create_series(group, weekly(THURSDAY), now)
        db.session.commit()
        return series.id


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("change", CHANGES)
def test_a_from_now_on_edit_leaves_at_most_one_meeting_per_day(app, facilitator, change, when):
    old_id = start_series(app, facilitator)
    clock.set_frozen(WHEN[when])
    with app.app_context():
        now = clock.now_utc()
        old = db.session.get(MeetingSeries, old_id)
        new = scheduling.update_series(old, dataclasses.replace(timetable.spec_for(old), **CHANGES[change]), now)
        db.session.commit()
        old = db.session.get(MeetingSeries, old_id)
        zone = new.tz

        new_first = scheduling.first_start(new)
        old_rule = rule_instants(old)
        # The old rule ends strictly before the new one's first meeting, on an earlier day of the new zone.
        assert old_rule[-1] < new_first
        assert old_rule[-1].astimezone(zone).date() < new_first.astimezone(zone).date()
        # What the old rule says is exactly what the old series' rows say goes ahead (calendars agree with us).
        kept = [row for row in rows(old) if not row.superseded]
        assert [row.original_start for row in kept] == old_rule
        # One meeting a day at most, across both series, in the new schedule's zone.
        going = [row for row in kept + rows(new) if row.status != OccurrenceStatus.CANCELLED and not row.superseded]
        per_day = Counter(row.starts_at.astimezone(zone).date() for row in going)
        assert max(per_day.values()) == 1, [day for day, n in per_day.items() if n > 1]
        # Nothing that has started was replaced, and the new series starts after now.
        assert all(row.starts_at > now for row in rows(old) if row.superseded)
        assert new_first > now
        assert rows(new)[0].original_start == new_first


def test_an_edit_during_a_meeting_keeps_it_and_starts_the_new_time_the_week_after(app, facilitator):
    old_id = start_series(app, facilitator)
    clock.set_frozen(WHEN["during_the_meeting"])
    with app.app_context():
        now = clock.now_utc()
        old = db.session.get(MeetingSeries, old_id)
        new = scheduling.update_series(old, dataclasses.replace(timetable.spec_for(old), start_time=time(19, 30)), now)
        db.session.commit()
        old = db.session.get(MeetingSeries, old_id)
        assert rule_instants(old)[-1] == datetime(2026, 12, 10, 19, tzinfo=UTC)
        assert scheduling.first_start(new) == datetime(2026, 12, 17, 19, 30, tzinfo=UTC)


def test_an_edit_the_day_before_replaces_that_days_meeting_with_the_new_time(app, facilitator):
    old_id = start_series(app, facilitator)
    clock.set_frozen(WHEN["day_before"])
    with app.app_context():
        now = clock.now_utc()
        old = db.session.get(MeetingSeries, old_id)
        new = scheduling.update_series(old, dataclasses.replace(timetable.spec_for(old), start_time=time(19, 30)), now)
        db.session.commit()
        old = db.session.get(MeetingSeries, old_id)
        assert rule_instants(old)[-1] == datetime(2026, 12, 3, 19, tzinfo=UTC)
        assert scheduling.first_start(new) == datetime(2026, 12, 10, 19, 30, tzinfo=UTC)


def test_an_edit_during_a_meeting_of_a_counted_series_keeps_the_number_of_meetings(app, facilitator):
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            facilitator.user(), name="Counted circle", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now
        )
        six = weekly(THURSDAY, recurrence=Recurrence(Frequency.WEEKLY, weekdays=(THURSDAY,), count=6))
        old_id = scheduling.create_series(group, six, now).id
        db.session.commit()
    clock.set_frozen(WHEN["during_the_meeting"])
    with app.app_context():
        old = db.session.get(MeetingSeries, old_id)
        new = scheduling.update_series(old, dataclasses.replace(timetable.spec_for(old), start_time=time(19, 30)),
                                       clock.now_utc())
        db.session.commit()
        old = db.session.get(MeetingSeries, old_id)
        # 3 and 10 December were held at 19:00; four more at 19:30 from 17 December.
        assert len(rule_instants(old)) == 2
        assert rule_instants(new) == [datetime(2026, 12, d, 19, 30, tzinfo=UTC) for d in (17, 24, 31)] + [
            datetime(2027, 1, 7, 19, 30, tzinfo=UTC)
        ]


def test_a_first_date_at_the_start_of_the_calendar_is_refused_with_a_message(app, facilitator):
    old_id = start_series(app, facilitator)
    clock.set_frozen(WHEN["day_before"])
    with app.app_context():
        old = db.session.get(MeetingSeries, old_id)
        year_one = dataclasses.replace(
            timetable.spec_for(old), first_date=date(1, 1, 1), start_time=time(0, 30), timezone="Asia/Tokyo"
        )
        with pytest.raises(DomainError) as refused:
            scheduling.update_series(old, year_one, clock.now_utc())
        assert refused.value.field == "first_date"
