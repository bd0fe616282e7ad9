"""Meeting schedules: weekly and monthly patterns, ending a series, and one-off meetings."""


from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from supportnet.recurrence import (
    Frequency,
    Recurrence,
    expand,
    from_rrule,
    to_rrule,
)
from tests.recurrences import (
    FRI,
    LONDON,
    LOS_ANGELES,
    MON,
    NEW_YORK,
    THU,
    TUE,
    WED,
    local_times,
    meetings,
    monthly_day,
    monthly_nth,
    utc,
    weekly,
)

# --- weekly and monthly patterns ---------------------------------------------------------------------


def test_every_two_weeks_on_tuesday_and_thursday():
    rec = weekly(TUE, THU, interval=2)
    found = meetings(rec, datetime(2026, 3, 3, 19, 0), LONDON, utc(2026, 3, 1), utc(2026, 4, 20))

    assert [d.date() for d in local_times(found, LONDON)] == [
        date(2026, 3, 3),
        date(2026, 3, 5),
        date(2026, 3, 17),
        date(2026, 3, 19),
        date(2026, 3, 31),
        date(2026, 4, 2),
        date(2026, 4, 14),
        date(2026, 4, 16),
    ]


def test_monthly_on_the_first_monday_for_fourteen_months():
    rec = monthly_nth(1, MON)
    found = meetings(rec, datetime(2026, 1, 1, 19, 0), LONDON, utc(2026, 1, 1), utc(2027, 3, 1))

    expected_days = [
        (2026, 1, 5), (2026, 2, 2), (2026, 3, 2), (2026, 4, 6), (2026, 5, 4), (2026, 6, 1), (2026, 7, 6),
        (2026, 8, 3), (2026, 9, 7), (2026, 10, 5), (2026, 11, 2), (2026, 12, 7), (2027, 1, 4), (2027, 2, 1),
    ]  # fmt: skip
    assert local_times(found, LONDON) == [datetime(*d, 19, 0) for d in expected_days]
    assert found[2] == utc(2026, 3, 2, 19)  # GMT
    assert found[3] == utc(2026, 4, 6, 18)  # BST


def test_monthly_on_the_last_friday_for_fourteen_months():
    rec = monthly_nth(-1, FRI)
    found = meetings(rec, datetime(2026, 1, 1, 19, 0), NEW_YORK, utc(2026, 1, 1), utc(2027, 3, 2))

    expected_days = [
        (2026, 1, 30), (2026, 2, 27), (2026, 3, 27), (2026, 4, 24), (2026, 5, 29), (2026, 6, 26),
        (2026, 7, 31), (2026, 8, 28), (2026, 9, 25), (2026, 10, 30), (2026, 11, 27), (2026, 12, 25),
        (2027, 1, 29), (2027, 2, 26),
    ]  # fmt: skip
    assert local_times(found, NEW_YORK) == [datetime(*d, 19, 0) for d in expected_days]


def test_monthly_on_day_31_skips_months_without_a_31st_like_calendar_clients_do():
    rec = monthly_day(31)
    found = meetings(rec, datetime(2026, 1, 1, 19, 0), LONDON, utc(2026, 1, 1), utc(2027, 3, 1))

    assert [d.date() for d in local_times(found, LONDON)] == [
        date(2026, 1, 31),
        date(2026, 3, 31),
        date(2026, 5, 31),
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 10, 31),
        date(2026, 12, 31),
        date(2027, 1, 31),
    ]


def test_monthly_on_the_last_day_includes_29_february_in_a_leap_year():
    rec = monthly_day(-1)
    found = meetings(rec, datetime(2027, 12, 1, 19, 0), LONDON, utc(2027, 12, 1), utc(2028, 5, 1))

    assert [d.date() for d in local_times(found, LONDON)] == [
        date(2027, 12, 31),
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
    ]


def test_monthly_on_day_29_skips_february_outside_leap_years():
    rec = monthly_day(29)
    found = meetings(rec, datetime(2027, 1, 1, 12, 0), LONDON, utc(2027, 1, 1), utc(2028, 4, 1))

    months = [(d.year, d.month) for d in local_times(found, LONDON)]
    assert (2027, 2) not in months
    assert (2028, 2) in months
    assert len(months) == 14


# --- ending a series ---------------------------------------------------------------------------------


def test_until_includes_a_late_evening_meeting_on_the_local_end_date_even_when_it_is_tomorrow_in_utc():
    rec = weekly(TUE, until=date(2026, 12, 15))
    first = datetime(2026, 12, 1, 23, 30)
    stored = to_rrule(rec, first, LOS_ANGELES)

    assert stored == "FREQ=WEEKLY;BYDAY=TU;UNTIL=20261216T075959Z"  # 23:59:59 PST on 15 Dec
    found = expand(stored, first, LOS_ANGELES, utc(2026, 11, 1), utc(2027, 2, 1))
    assert found == [utc(2026, 12, 2, 7, 30), utc(2026, 12, 9, 7, 30), utc(2026, 12, 16, 7, 30)]


def test_until_end_of_day_uses_summer_time_when_the_end_date_is_in_summer():
    rec = weekly(TUE, until=date(2026, 7, 7))
    stored = to_rrule(rec, datetime(2026, 6, 2, 23, 30), LOS_ANGELES)

    assert stored == "FREQ=WEEKLY;BYDAY=TU;UNTIL=20260708T065959Z"  # 23:59:59 PDT on 7 Jul
    found = expand(stored, datetime(2026, 6, 2, 23, 30), LOS_ANGELES, utc(2026, 6, 1), utc(2026, 9, 1))
    assert local_times(found, LOS_ANGELES)[-1] == datetime(2026, 7, 7, 23, 30)
    assert len(found) == 6


def test_a_count_ends_the_series_after_that_many_meetings():
    rec = weekly(MON, WED, count=5)
    first = datetime(2026, 1, 5, 18, 0)
    found = meetings(rec, first, LONDON, utc(2025, 1, 1), utc(2030, 1, 1))

    assert [d.date() for d in local_times(found, LONDON)] == [
        date(2026, 1, 5),
        date(2026, 1, 7),
        date(2026, 1, 12),
        date(2026, 1, 14),
        date(2026, 1, 19),
    ]


def test_a_count_is_counted_from_the_first_meeting_not_from_the_window():
    rec = weekly(MON, count=3)
    first = datetime(2026, 1, 5, 18, 0)
    stored = to_rrule(rec, first, LONDON)

    assert expand(stored, first, LONDON, utc(2026, 1, 13), utc(2026, 12, 31)) == [utc(2026, 1, 19, 18)]


def test_a_series_that_ended_long_ago_has_no_meetings_in_a_current_window():
    rec = weekly(MON, until=date(2022, 6, 30))
    stored = to_rrule(rec, datetime(2021, 1, 4, 19, 0), LONDON)

    assert expand(stored, datetime(2021, 1, 4, 19, 0), LONDON, utc(2026, 1, 1), utc(2026, 7, 1)) == []


# --- one-off meetings --------------------------------------------------------------------------------


def test_a_one_off_meeting_has_no_rrule_and_expands_to_its_single_instant():
    once = Recurrence(Frequency.ONCE)
    first = datetime(2026, 7, 3, 19, 0)

    assert to_rrule(once, first, LONDON) is None
    assert from_rrule(None, LONDON) == once
    assert expand(None, first, LONDON, utc(2026, 7, 1), utc(2026, 7, 31)) == [utc(2026, 7, 3, 18)]
    assert expand(None, first, LONDON, utc(2026, 7, 4), utc(2026, 7, 31)) == []


def test_expansion_window_includes_its_start_and_excludes_its_end():
    stored = to_rrule(weekly(MON), datetime(2026, 1, 5, 19, 0), LONDON)
    first = datetime(2026, 1, 5, 19, 0)

    assert expand(stored, first, LONDON, utc(2026, 1, 12, 19), utc(2026, 1, 19, 19)) == [utc(2026, 1, 12, 19)]


def test_expansion_returns_sorted_utc_instants():
    found = meetings(weekly(MON, FRI), datetime(2026, 1, 1, 9, 0), NEW_YORK, utc(2026, 1, 1), utc(2026, 6, 1))

    assert found == sorted(found)
    assert all(i.utcoffset() == timedelta(0) for i in found)


def test_expansion_accepts_window_bounds_in_any_zone():
    stored = to_rrule(weekly(MON), datetime(2026, 1, 5, 19, 0), LONDON)
    plus_two = timezone(timedelta(hours=2))

    found = expand(
        stored,
        datetime(2026, 1, 5, 19, 0),
        LONDON,
        datetime(2026, 1, 12, 21, tzinfo=plus_two),
        utc(2026, 1, 20),
    )
    assert found == [utc(2026, 1, 12, 19), utc(2026, 1, 19, 19)]


def test_expansion_rejects_naive_window_bounds():
    with pytest.raises(TypeError):
        expand(None, datetime(2026, 1, 5, 19), LONDON, datetime(2026, 1, 1), utc(2026, 2, 1))
