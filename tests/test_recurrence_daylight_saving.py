"""Meeting schedules across daylight saving: the local wall time is kept, and nonexistent and ambiguous
local times resolve to the instants members expect."""


from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from supportnet.recurrence import (
    resolve_local,
)
from tests.recurrences import (
    LONDON,
    LORD_HOWE,
    NEW_YORK,
    SUN,
    THU,
    local_times,
    meetings,
    utc,
    weekly,
)

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
