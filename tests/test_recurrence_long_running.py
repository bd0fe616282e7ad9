"""Meeting schedules that run for years, and choosing the first meeting of a schedule."""


from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as dateutil_rrule

from supportnet.recurrence import (
    Frequency,
    Recurrence,
    describe,
    expand,
    first_occurrence_on_or_after,
    to_rrule,
)
from tests.recurrences import (
    FRI,
    LONDON,
    MON,
    NEW_YORK,
    SAT,
    SUN,
    THU,
    TUE,
    WED,
    local_times,
    monthly_day,
    monthly_nth,
    utc,
    weekly,
)

# --- long-running series -----------------------------------------------------------------------------


def _expand_the_slow_way(rec: Recurrence, first: datetime, tz: ZoneInfo, start: datetime, end: datetime):
    """Independent reference: walk dateutil from DTSTART with no shortcuts."""
    kwargs = {"dtstart": first, "interval": rec.interval, "wkst": dateutil_rrule.MO, "count": rec.count}
    if rec.frequency is Frequency.WEEKLY:
        rule = dateutil_rrule.rrule(dateutil_rrule.WEEKLY, byweekday=rec.weekdays, **kwargs)
    elif rec.frequency is Frequency.MONTHLY_WEEKDAY:
        byday = dateutil_rrule.weekday(rec.weekday, rec.nth)
        rule = dateutil_rrule.rrule(dateutil_rrule.MONTHLY, byweekday=byday, **kwargs)
    else:
        rule = dateutil_rrule.rrule(dateutil_rrule.MONTHLY, bymonthday=rec.month_day, **kwargs)
    found = []
    for local in rule:
        if rec.until is not None and local.date() > rec.until:
            break
        instant = local.replace(tzinfo=tz).astimezone(UTC)
        if instant >= end:
            break
        if instant >= start:
            found.append(instant)
    return found


LONG_RUNNING = [
    weekly(MON),
    weekly(TUE, THU, SUN),
    weekly(WED, interval=3),
    weekly(SAT, SUN, interval=2),
    monthly_nth(2, TUE),
    monthly_nth(-1, FRI, interval=5),
    monthly_day(31, interval=7),
    monthly_day(-1, interval=2),
    weekly(FRI, until=date(2026, 3, 13)),
    weekly(FRI, count=300),
]


@pytest.mark.parametrize("rec", LONG_RUNNING, ids=lambda rec: describe(rec, datetime(2021, 1, 1)))
def test_a_26_week_window_on_a_series_started_five_years_ago_matches_walking_from_the_start(rec):
    first = first_occurrence_on_or_after(rec, datetime(2021, 3, 1, 19, 0))
    stored = to_rrule(rec, first, NEW_YORK)
    start = utc(2026, 1, 1)
    end = start + timedelta(weeks=26)

    assert expand(stored, first, NEW_YORK, start, end) == _expand_the_slow_way(
        rec, first, NEW_YORK, start, end
    )


def test_a_26_week_window_on_a_series_started_five_years_ago_is_fast_and_correct():
    first = datetime(2021, 3, 1, 19, 0)  # a Monday
    stored = to_rrule(weekly(MON), first, LONDON)
    start = utc(2026, 1, 1)
    end = start + timedelta(weeks=26)

    began = clock.perf_counter()
    for _ in range(50):
        found = expand(stored, first, LONDON, start, end)
    per_call = (clock.perf_counter() - began) / 50

    assert len(found) == 26
    assert {t.weekday() for t in local_times(found, LONDON)} == {MON}
    assert {t.hour for t in local_times(found, LONDON)} == {19}
    assert per_call < 0.02, f"one window took {per_call * 1000:.1f} ms"


# --- choosing the first meeting ----------------------------------------------------------------------


def test_first_meeting_of_a_tuesday_thursday_group_starting_on_a_monday_is_that_tuesday():
    rec = weekly(TUE, THU)

    assert first_occurrence_on_or_after(rec, datetime(2026, 3, 2, 19, 0)) == datetime(2026, 3, 3, 19, 0)


def test_first_meeting_is_the_start_date_itself_when_it_matches():
    assert first_occurrence_on_or_after(weekly(MON), datetime(2026, 3, 2, 19, 0)) == datetime(
        2026, 3, 2, 19, 0
    )
    once = Recurrence(Frequency.ONCE)
    assert first_occurrence_on_or_after(once, datetime(2026, 3, 4, 7, 15)) == datetime(2026, 3, 4, 7, 15)


def test_first_meeting_of_an_every_other_month_rule_is_the_next_matching_day_not_two_months_later():
    rec = Recurrence(Frequency.MONTHLY_WEEKDAY, interval=2, nth=2, weekday=TUE)

    assert first_occurrence_on_or_after(rec, datetime(2026, 3, 20, 19, 0)) == datetime(2026, 4, 14, 19, 0)


def test_first_meeting_on_day_31_starting_in_april_is_31_may():
    rec = monthly_day(31)

    assert first_occurrence_on_or_after(rec, datetime(2026, 4, 1, 19, 0)) == datetime(2026, 5, 31, 19, 0)


def test_the_stored_first_meeting_is_the_first_expanded_meeting():
    # RFC 5545 clients always show DTSTART; expand must agree once DTSTART is normalised.
    rec = weekly(TUE, THU, interval=2)
    dtstart = first_occurrence_on_or_after(rec, datetime(2026, 3, 6, 19, 0))  # a Friday
    found = expand(to_rrule(rec, dtstart, LONDON), dtstart, LONDON, utc(2026, 1, 1), utc(2026, 4, 1))

    assert dtstart == datetime(2026, 3, 10, 19, 0)
    assert local_times(found, LONDON)[0] == dtstart
