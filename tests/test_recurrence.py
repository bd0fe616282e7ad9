"""Meeting schedules: friendly specs, stored RRULEs, and the UTC instants members see."""

from __future__ import annotations

import re
import time as clock
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as dateutil_rrule

from supportnet.recurrence import (
    Frequency,
    Recurrence,
    RecurrenceError,
    describe,
    expand,
    first_occurrence_on_or_after,
    from_rrule,
    resolve_local,
    to_rrule,
    validate,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(*days: int, **kwargs) -> Recurrence:
    return Recurrence(Frequency.WEEKLY, weekdays=days, **kwargs)


def monthly_nth(nth: int, day: int, **kwargs) -> Recurrence:
    return Recurrence(Frequency.MONTHLY_WEEKDAY, nth=nth, weekday=day, **kwargs)


def monthly_day(day: int, **kwargs) -> Recurrence:
    return Recurrence(Frequency.MONTHLY_DAY, month_day=day, **kwargs)


def meetings(rec: Recurrence, first_local: datetime, tz: ZoneInfo, start: datetime, end: datetime):
    """Store the schedule the way the app does, then expand the stored string."""
    dtstart = first_occurrence_on_or_after(rec, first_local)
    return expand(to_rrule(rec, dtstart, tz), dtstart, tz, start, end)


def local_times(instants: list[datetime], tz: ZoneInfo) -> list[datetime]:
    return [i.astimezone(tz).replace(tzinfo=None) for i in instants]


# --- meetings keep their local wall time across daylight saving --------------------------------------


def test_weekly_london_evening_meeting_stays_at_19_00_local_across_both_dst_changes():
    found = meetings(weekly(THU), datetime(2026, 1, 1, 19, 0), LONDON, utc(2026, 3, 20), utc(2026, 11, 6))

    assert {t.hour for t in local_times(found, LONDON)} == {19}
    by_day = {i.date(): i for i in found}
    assert by_day[date(2026, 3, 26)] == utc(2026, 3, 26, 19)  # last Thursday on GMT: 19:00Z
    assert by_day[date(2026, 4, 2)] == utc(2026, 4, 2, 18)  # first Thursday on BST: 18:00Z
    assert by_day[date(2026, 10, 22)] == utc(2026, 10, 22, 18)  # last Thursday on BST
    assert by_day[date(2026, 10, 29)] == utc(2026, 10, 29, 19)  # back on GMT
    assert len(found) == 33


def test_weekly_new_york_evening_meeting_stays_at_19_00_local_across_both_dst_changes():
    found = meetings(weekly(THU), datetime(2026, 1, 1, 19, 0), NEW_YORK, utc(2026, 3, 1), utc(2026, 11, 10))

    assert {t.hour for t in local_times(found, NEW_YORK)} == {19}
    assert utc(2026, 3, 6, 0) in found  # Thu 5 Mar 19:00 EST is already Friday in UTC
    assert utc(2026, 3, 12, 23) in found  # Thu 12 Mar 19:00 EDT
    assert utc(2026, 10, 29, 23) in found  # Thu 29 Oct 19:00 EDT
    assert utc(2026, 11, 6, 0) in found  # Thu 5 Nov 19:00 EST


# --- nonexistent and ambiguous local times -----------------------------------------------------------


def test_new_york_meeting_at_0230_on_spring_forward_day_moves_to_0330_local():
    found = meetings(weekly(SUN), datetime(2027, 3, 7, 2, 30), NEW_YORK, utc(2027, 3, 1), utc(2027, 3, 25))

    assert found == [utc(2027, 3, 7, 7, 30), utc(2027, 3, 14, 7, 30), utc(2027, 3, 21, 6, 30)]
    assert found[1].astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"
    # The gap does not stick: the next week is back at 02:30.
    assert found[2].astimezone(NEW_YORK).strftime("%H:%M %Z") == "02:30 EDT"


def test_new_york_meeting_at_0130_on_fall_back_day_takes_the_first_earlier_instant():
    found = meetings(
        weekly(SUN), datetime(2026, 10, 25, 1, 30), NEW_YORK, utc(2026, 10, 20), utc(2026, 11, 12)
    )

    assert found == [utc(2026, 10, 25, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 8, 6, 30)]
    assert found[1].astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EDT"


def test_london_meeting_at_0130_on_spring_forward_day_moves_to_0230_local():
    found = meetings(weekly(SUN), datetime(2027, 3, 21, 1, 30), LONDON, utc(2027, 3, 15), utc(2027, 4, 8))

    assert found == [utc(2027, 3, 21, 1, 30), utc(2027, 3, 28, 1, 30), utc(2027, 4, 4, 0, 30)]
    assert found[1].astimezone(LONDON).strftime("%H:%M %Z") == "02:30 BST"


def test_london_meeting_at_0130_on_fall_back_day_takes_the_first_earlier_instant():
    found = meetings(weekly(SUN), datetime(2026, 10, 18, 1, 30), LONDON, utc(2026, 10, 15), utc(2026, 11, 5))

    assert found == [utc(2026, 10, 18, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30)]
    assert found[1].astimezone(LONDON).strftime("%H:%M %Z") == "01:30 BST"


def test_resolve_local_returns_the_wall_time_people_will_actually_see():
    assert resolve_local(datetime(2027, 3, 14, 2, 30), NEW_YORK) == utc(2027, 3, 14, 7, 30)
    assert resolve_local(datetime(2027, 3, 14, 2, 30), NEW_YORK).hour == 3
    assert resolve_local(datetime(2026, 11, 1, 1, 30), NEW_YORK).utcoffset() == timedelta(hours=-4)
    # Lord Howe springs forward by only 30 minutes: 02:15 does not exist and becomes 02:45.
    lord_howe = resolve_local(datetime(2026, 10, 4, 2, 15), LORD_HOWE)
    assert (lord_howe.hour, lord_howe.minute) == (2, 45)


def test_resolve_local_rejects_a_datetime_that_already_has_a_zone():
    with pytest.raises(TypeError):
        resolve_local(utc(2026, 1, 1), LONDON)


def _gaps(tz: ZoneInfo, year: int) -> list[tuple[datetime, timedelta]]:
    """Local wall time where each spring-forward gap starts, and how long it is."""
    gaps = []
    instant = utc(year, 1, 1)
    while instant.year == year:
        before, after = instant.astimezone(tz), (instant + timedelta(minutes=15)).astimezone(tz)
        jump = after.utcoffset() - before.utcoffset()
        if jump > timedelta(0):
            gaps.append(((instant + timedelta(minutes=15)).astimezone(tz).replace(tzinfo=None) - jump, jump))
        instant += timedelta(minutes=15)
    return gaps


@pytest.mark.parametrize(
    "zone",
    ["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago"],
)
def test_every_nonexistent_time_moves_forward_by_exactly_the_gap(zone):
    # This is the property the design relies on from zoneinfo's fold=0 (and RFC 5545 section 3.3.5).
    tz = ZoneInfo(zone)
    gaps = _gaps(tz, 2026) + _gaps(tz, 2027)
    assert gaps, f"{zone} should have DST gaps in 2026-2027"
    for gap_start, length in gaps:
        for into in (timedelta(0), length / 2, length - timedelta(minutes=1)):
            wall = gap_start + into
            resolved = resolve_local(wall, tz)
            assert resolved.replace(tzinfo=None) == wall + length, (zone, wall)


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


# --- stored strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rec", "expected"),
    [
        (
            weekly(TUE, THU, interval=2, until=date(2027, 1, 5)),
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;UNTIL=20270105T235959Z",
        ),
        (weekly(MON), "FREQ=WEEKLY;BYDAY=MO"),
        (weekly(SUN, MON, SAT), "FREQ=WEEKLY;BYDAY=MO,SA,SU"),
        (weekly(FRI, count=10), "FREQ=WEEKLY;BYDAY=FR;COUNT=10"),
        (monthly_nth(2, TUE), "FREQ=MONTHLY;BYDAY=2TU"),
        (monthly_nth(-1, FRI), "FREQ=MONTHLY;BYDAY=-1FR"),
        (monthly_day(31), "FREQ=MONTHLY;BYMONTHDAY=31"),
        (monthly_day(-1, interval=3), "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=-1"),
        (
            monthly_nth(1, MON, until=date(2026, 7, 1)),
            "FREQ=MONTHLY;BYDAY=1MO;UNTIL=20260701T225959Z",  # 23:59:59 BST
        ),
    ],
)
def test_rrule_strings_are_canonical(rec, expected):
    assert to_rrule(rec, datetime(2026, 1, 5, 19, 0), LONDON) == expected


def test_rrule_strings_are_byte_stable_however_the_form_was_filled_in():
    first = datetime(2026, 1, 5, 19, 0)
    variants = [
        Recurrence(Frequency.WEEKLY, 2, (1, 3), until=date(2027, 1, 5)),
        Recurrence(Frequency.WEEKLY, 2, (3, 1), until=date(2027, 1, 5)),
        Recurrence("weekly", 2, [3, 1, 3], until=date(2027, 1, 5)),
    ]

    strings = {to_rrule(rec, first, LONDON) for rec in variants for _ in range(3)}
    assert strings == {"FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;UNTIL=20270105T235959Z"}
    assert len(set(variants)) == 1


ROUND_TRIP = [
    Recurrence(Frequency.ONCE),
    weekly(MON),
    weekly(MON, TUE, WED, THU, FRI, SAT, SUN),
    weekly(TUE, THU, interval=2),
    weekly(SAT, interval=52, count=1000),
    weekly(WED, count=1),
    weekly(TUE, THU, until=date(2027, 1, 5)),
    weekly(SUN, until=date(2026, 3, 29)),  # London spring-forward day
    weekly(SUN, until=date(2026, 10, 25)),  # London fall-back day
    weekly(SUN, until=date(2026, 11, 1)),  # New York fall-back day
    monthly_nth(1, MON),
    monthly_nth(4, SUN, interval=6),
    monthly_nth(-1, FRI, until=date(2027, 12, 31)),
    monthly_day(1),
    monthly_day(31, count=12),
    monthly_day(-1, interval=2, until=date(2028, 2, 29)),
]


@pytest.mark.parametrize("tz", [LONDON, NEW_YORK, LOS_ANGELES, ZoneInfo("Pacific/Auckland")], ids=str)
@pytest.mark.parametrize("rec", ROUND_TRIP, ids=lambda rec: describe(rec, datetime(2026, 1, 1)))
def test_reading_back_a_stored_rule_gives_the_same_schedule(rec, tz):
    first = first_occurrence_on_or_after(rec, datetime(2026, 1, 1, 23, 30))
    stored = to_rrule(rec, first, tz)

    assert from_rrule(stored, tz) == rec
    assert to_rrule(from_rrule(stored, tz), first, tz) == stored


def test_reading_a_rule_tolerates_prefix_case_and_order():
    assert from_rrule("RRULE:byday=th,tu;interval=2;freq=weekly", LONDON) == weekly(TUE, THU, interval=2)
    assert from_rrule("FREQ=MONTHLY;BYDAY=+2TU;WKST=MO", LONDON) == Recurrence(
        Frequency.MONTHLY_WEEKDAY, nth=2, weekday=TUE
    )


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=DAILY",
        "FREQ=WEEKLY",
        "FREQ=WEEKLY;BYDAY=2TU",
        "FREQ=MONTHLY;BYDAY=TU",
        "FREQ=MONTHLY;BYDAY=5TU",
        "FREQ=MONTHLY;BYDAY=1MO,3MO",
        "FREQ=MONTHLY;BYDAY=1MO;BYSETPOS=1",
        "FREQ=MONTHLY;BYMONTHDAY=32",
        "FREQ=WEEKLY;BYDAY=MO;WKST=SU",
        "FREQ=WEEKLY;BYDAY=MO;COUNT=0",
        "FREQ=WEEKLY;BYDAY=MO;UNTIL=tomorrow",
        "FREQ=WEEKLY;FREQ=WEEKLY;BYDAY=MO",
        "nonsense",
    ],
)
def test_reading_an_unsupported_rule_raises_a_recurrence_error(text):
    with pytest.raises(RecurrenceError):
        from_rrule(text, LONDON)


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;BYDAY=TU,TH;INTERVAL=2",
        "interval=2;byday=tu,th;freq=weekly",
        "rrule:Freq=Weekly;ByDay=Th,Tu;Interval=2;",
        " FREQ = WEEKLY ; BYDAY = TU, TH ; INTERVAL = 2 ;;",
        "FREQ=WEEKLY;BYDAY=TU,TH;INTERVAL=+2;WKST=mo",
    ],
)
def test_reading_a_rule_tolerates_case_order_spaces_and_empty_parts(text):
    assert from_rrule(text, LONDON) == weekly(TUE, THU, interval=2)


def test_reading_the_ends_of_a_rule_written_by_another_tool():
    # An UNTIL in floating local time means that wall time in the series' zone.
    floating = from_rrule("FREQ=MONTHLY;BYMONTHDAY=-1;UNTIL=20270131T235959", NEW_YORK)
    utc_until = from_rrule("freq=monthly;bymonthday=-1;until=20270201t045959z", NEW_YORK)

    assert floating == utc_until == monthly_day(-1, until=date(2027, 1, 31))
    assert from_rrule("FREQ=MONTHLY;BYDAY=-1SU;COUNT=1000", LONDON) == monthly_nth(-1, SUN, count=1000)
    assert from_rrule("FREQ=MONTHLY;BYDAY=02TU", LONDON) == monthly_nth(2, TUE)
    assert from_rrule("FREQ=WEEKLY;BYDAY=MO,TU,MO", LONDON) == weekly(MON, TUE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nonsense", "This repeat rule can't be read: 'nonsense'."),
        ("FREQ=WEEKLY;BYDAY", "This repeat rule can't be read: 'FREQ=WEEKLY;BYDAY'."),
        ("FREQ=;BYDAY=MO", "This repeat rule can't be read: 'FREQ=;BYDAY=MO'."),
        ("FREQ=WEEKLY;freq=weekly;BYDAY=MO", "This repeat rule sets FREQ twice."),
        ("FREQ=WEEKLY;BYDAY=MO;X-FOO=1;BYSETPOS=x", "SupportNet can't edit repeat rules using BYSETPOS, X-FOO."),
        ("FREQ=YEARLY;BYMONTH=3", "SupportNet can't edit repeat rules using BYMONTH."),
        ("FREQ=WEEKLY;BYDAY=MO;WKST=SU", "SupportNet only supports weeks starting on Monday (WKST=MO)."),
        ("FREQ=WEEKLY;BYDAY=MO;INTERVAL=x", "This repeat rule has an unreadable interval: 'X'."),
        ("FREQ=WEEKLY;BYDAY=MO;INTERVAL=1,2", "This repeat rule has an unreadable interval: '1,2'."),
        ("FREQ=WEEKLY;BYDAY=MO;INTERVAL=0", "Repeat every 1 to 52 weeks."),
        ("FREQ=MONTHLY;BYDAY=1MO;INTERVAL=53", "Repeat every 1 to 52 months."),
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=ten", "This repeat rule has an unreadable count: 'TEN'."),
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=1001", "The number of meetings must be between 1 and 1000."),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=tomorrow", "This repeat rule has an unreadable end date: 'TOMORROW'."),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20270230", "This repeat rule has an unreadable end date: '20270230'."),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20271215T240000Z", "unreadable end date: '20271215T240000Z'."),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20271215T120000+0100", "unreadable end date: '20271215T120000+0100'."),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=P1W", "This repeat rule has an unreadable end date: 'P1W'."),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=190000", "This repeat rule has an unreadable end date: '190000'."),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20271215/P1D", "unreadable end date: '20271215/P1D'."),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20271215,20271216", "unreadable end date: '20271215,20271216'."),
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=2;UNTIL=20271215", "Choose either an end date or a number of meetings, not both."),
        ("FREQ=DAILY;COUNT=x", "This repeat rule has an unreadable count: 'X'."),
        ("FREQ=DAILY", "SupportNet can't edit repeat rules with FREQ=DAILY."),
        ("FREQ=FORTNIGHTLY", "SupportNet can't edit repeat rules with FREQ=FORTNIGHTLY."),
        ("BYDAY=MO", "SupportNet can't edit repeat rules with FREQ=None."),
        ("FREQ=WEEKLY", "This weekly repeat rule doesn't say which weekdays."),
        ("FREQ=WEEKLY;BYDAY=MO;BYMONTHDAY=1", "SupportNet can't edit weekly rules restricted to days of the month."),
        ("FREQ=WEEKLY;BYDAY=MO,2TU", "This weekly repeat rule has an unreadable weekday: '2TU'."),
        ("FREQ=WEEKLY;BYDAY=+MO", "This weekly repeat rule has an unreadable weekday: '+MO'."),
        ("FREQ=WEEKLY;BYDAY=0MO", "This weekly repeat rule has an unreadable weekday: '0MO'."),
        ("FREQ=WEEKLY;BYDAY=MO,,TU", "This weekly repeat rule has an unreadable weekday: ''."),
        ("FREQ=WEEKLY;BYDAY=MONDAY", "This weekly repeat rule has an unreadable weekday: 'MONDAY'."),
        ("FREQ=MONTHLY", "A monthly repeat rule needs exactly one of BYDAY or BYMONTHDAY."),
        ("FREQ=MONTHLY;BYDAY=1MO;BYMONTHDAY=1", "A monthly repeat rule needs exactly one of BYDAY or BYMONTHDAY."),
        ("FREQ=MONTHLY;BYDAY=TU", "This monthly repeat rule has an unreadable weekday: 'TU'."),
        ("FREQ=MONTHLY;BYDAY=+TU", "This monthly repeat rule has an unreadable weekday: '+TU'."),
        ("FREQ=MONTHLY;BYDAY=1MO,3MO", "This monthly repeat rule has an unreadable weekday: '1MO,3MO'."),
        ("FREQ=MONTHLY;BYDAY=100MO", "This monthly repeat rule has an unreadable weekday: '100MO'."),
        ("FREQ=MONTHLY;BYDAY=5TU", "Choose the 1st, 2nd, 3rd, 4th or last weekday of the month."),
        ("FREQ=MONTHLY;BYDAY=-2TU", "Choose the 1st, 2nd, 3rd, 4th or last weekday of the month."),
        ("FREQ=MONTHLY;BYMONTHDAY=x", "This repeat rule has an unreadable day of the month: 'X'."),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15", "This repeat rule has an unreadable day of the month: '1,15'."),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "Choose a day of the month from 1 to 31, or the last day."),
        ("FREQ=MONTHLY;BYMONTHDAY=-2", "Choose a day of the month from 1 to 31, or the last day."),
        # RFC 5545 digits are ASCII: an Arabic-Indic "2" is not a 2nd Tuesday nor part of a date.
        ("FREQ=MONTHLY;BYDAY=\u0662TU", "This monthly repeat rule has an unreadable weekday: '\u0662TU'."),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=2027121\u0665", "unreadable end date: '2027121\u0665'."),
    ],
)
def test_an_unreadable_rule_is_refused_with_a_message_naming_the_part(text, message):
    with pytest.raises(RecurrenceError, match=re.escape(message)):
        from_rrule(text, LONDON)
    with pytest.raises(RecurrenceError, match=re.escape(message)):
        expand(text, datetime(2026, 1, 5, 19), LONDON, utc(2026, 1, 1), utc(2027, 1, 1))


def test_a_date_only_until_from_another_tool_means_through_that_local_day():
    first = datetime(2026, 12, 1, 23, 30)
    found = expand(
        "FREQ=WEEKLY;BYDAY=TU;UNTIL=20261215", first, LOS_ANGELES, utc(2026, 11, 1), utc(2027, 2, 1)
    )

    assert from_rrule("FREQ=WEEKLY;BYDAY=TU;UNTIL=20261215", LOS_ANGELES).until == date(2026, 12, 15)
    assert len(found) == 3


def test_an_exact_until_instant_from_another_tool_is_respected():
    # Ends at midnight UTC on 15 Dec = 16:00 on 14 Dec in Los Angeles, before Tuesday 15 Dec 23:30 local.
    first = datetime(2026, 12, 1, 23, 30)
    found = expand(
        "FREQ=WEEKLY;BYDAY=TU;UNTIL=20261215T000000Z", first, LOS_ANGELES, utc(2026, 11, 1), utc(2027, 2, 1)
    )

    assert local_times(found, LOS_ANGELES) == [datetime(2026, 12, 1, 23, 30), datetime(2026, 12, 8, 23, 30)]


# --- validation --------------------------------------------------------------------------------------

START = datetime(2026, 3, 2, 19, 0)  # a Monday


@pytest.mark.parametrize(
    ("rec", "first", "message"),
    [
        (Recurrence(Frequency.WEEKLY), START, "Choose at least one weekday."),
        (weekly(MON, until=date(2026, 3, 1)), START, "The end date is before the first meeting."),
        (weekly(MON, count=0), START, "The number of meetings must be between 1 and 1000."),
        (weekly(MON, count=1001), START, "The number of meetings must be between 1 and 1000."),
        (monthly_nth(5, TUE), START, "Choose the 1st, 2nd, 3rd, 4th or last weekday of the month."),
        (monthly_nth(0, TUE), START, "Choose the 1st, 2nd, 3rd, 4th or last weekday of the month."),
        (monthly_nth(1, 7), START, "Choose a weekday from Monday to Sunday."),
        (monthly_day(0), START, "Choose a day of the month from 1 to 31, or the last day."),
        (monthly_day(-2), START, "Choose a day of the month from 1 to 31, or the last day."),
        (weekly(MON, interval=0), START, "Repeat every 1 to 52 weeks."),
        (monthly_day(1, interval=53), START, "Repeat every 1 to 52 months."),
        (weekly(MON, 9), START, "Choose weekdays from Monday to Sunday."),
        (weekly(MON, until=date(2026, 6, 1), count=5), START, "Choose either an end date or a number of"),
        (Recurrence(Frequency.ONCE, count=2), START, "A one-off meeting can't have an end date"),
        (Recurrence("fortnightly"), START, "Choose how often the meeting repeats."),
        (monthly_day(15, weekdays=(MON,)), START, "Weekdays can only be chosen for weekly meetings."),
        # Tuesdays only, from Wednesday 4 March to Monday 9 March: no Tuesday in between.
        (weekly(TUE, until=date(2026, 3, 9)), datetime(2026, 3, 4, 19), "This schedule has no meetings."),
        # Day 31, from 1 April to 30 April.
        (
            monthly_day(31, until=date(2026, 4, 30)),
            datetime(2026, 4, 1, 19),
            "This schedule has no meetings.",
        ),
    ],
)
def test_validation_rejects_schedules_people_need_to_fix(rec, first, message):
    with pytest.raises(RecurrenceError, match=re.escape(message)):
        validate(rec, first, LONDON)
    # Nothing invalid can ever be stored.
    with pytest.raises(RecurrenceError, match=re.escape(message)):
        to_rrule(rec, first, LONDON)


def test_validation_accepts_an_end_date_on_the_only_meeting_day():
    validate(weekly(TUE, until=date(2026, 3, 3)), START, LONDON)
    validate(weekly(MON, until=START.date()), START, LONDON)


def test_recurrence_errors_are_value_errors_so_forms_can_catch_them_generically():
    assert issubclass(RecurrenceError, ValueError)


def test_validation_requires_a_naive_local_start():
    with pytest.raises(TypeError):
        validate(weekly(MON), utc(2026, 3, 2, 19), LONDON)


# --- descriptions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rec", "expected"),
    [
        (Recurrence(Frequency.ONCE), "Once on Tue 3 Mar 2026"),
        (weekly(TUE, THU), "Weekly on Tuesday and Thursday"),
        (weekly(MON, WED, FRI), "Weekly on Monday, Wednesday and Friday"),
        (weekly(MON, interval=2), "Every 2 weeks on Monday"),
        (monthly_nth(-1, FRI), "Monthly on the last Friday"),
        (monthly_nth(2, TUE), "Monthly on the 2nd Tuesday"),
        (monthly_nth(3, SUN, interval=3), "Every 3 months on the 3rd Sunday"),
        (monthly_day(31), "Monthly on day 31 (months without it are skipped)"),
        (monthly_day(15), "Monthly on day 15"),
        (monthly_day(-1), "Monthly on the last day"),
        (
            weekly(TUE, THU, interval=2, until=date(2027, 1, 5)),
            "Every 2 weeks on Tuesday and Thursday, until 5 Jan 2027",
        ),
        (weekly(FRI, count=10), "Weekly on Friday, 10 times"),
        (weekly(FRI, count=1), "Weekly on Friday, 1 time"),
    ],
)
def test_schedules_are_described_in_plain_english(rec, expected):
    assert describe(rec, datetime(2026, 3, 3, 19, 0)) == expected
