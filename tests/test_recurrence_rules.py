"""Meeting schedules as stored RRULE strings, their validation, and their friendly descriptions."""


from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from supportnet.recurrence import (
    Frequency,
    Recurrence,
    RecurrenceError,
    describe,
    expand,
    first_occurrence_on_or_after,
    from_rrule,
    to_rrule,
    validate,
)
from tests.recurrences import (
    FRI,
    LONDON,
    LOS_ANGELES,
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


