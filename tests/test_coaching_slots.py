"""A coach's free slots: laid end to end from each weekly window in the coach's zone, a session always its
full length across a clock change, shown in the member's zone, with day exceptions, time off, buffers around
booked sessions, a minimum notice and a horizon."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from supportnet.slots import Availability, DayChange, Span, Window, free_slots

LONDON, NEW_YORK, TOKYO = ZoneInfo("Europe/London"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
HOUR = timedelta(hours=1)


def local(zone: ZoneInfo, slots: list[Span]) -> list[str]:
    return [s.starts.astimezone(zone).strftime("%a %d %H:%M %Z") for s in slots]


def at(zone: ZoneInfo, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def tuesday_mornings(**changes) -> Availability:
    values = {"zone": LONDON, "windows": [Window(1, time(9), time(12))], "length": timedelta(minutes=50),
              "buffer": timedelta(minutes=10), "horizon": timedelta(days=7)}
    values.update(changes)
    return Availability(**values)


MONDAY = date(2026, 11, 30)
TUESDAY = date(2026, 12, 1)


def test_slots_are_laid_end_to_end_with_the_buffer_between_them():
    slots = free_slots(tuesday_mornings(), [], at(LONDON, MONDAY, 12))
    assert local(LONDON, slots) == ["Tue 01 09:00 GMT", "Tue 01 10:00 GMT", "Tue 01 11:00 GMT"]
    assert all(s.ends - s.starts == timedelta(minutes=50) for s in slots)


def test_a_booked_session_and_its_buffer_block_only_what_they_touch():
    booked = [Span(at(LONDON, TUESDAY, 10), at(LONDON, TUESDAY, 10, 50))]
    assert local(LONDON, free_slots(tuesday_mornings(), booked, at(LONDON, MONDAY, 12))) == [
        "Tue 01 09:00 GMT", "Tue 01 11:00 GMT"]
    # A session booked off the grid (before the coach changed their length) blocks both neighbours' buffers.
    booked = [Span(at(LONDON, TUESDAY, 9, 55), at(LONDON, TUESDAY, 10, 45))]
    assert local(LONDON, free_slots(tuesday_mornings(), booked, at(LONDON, MONDAY, 12))) == ["Tue 01 11:00 GMT"]


def test_notice_and_horizon_bound_the_slots():
    now = at(LONDON, TUESDAY, 8, 30)
    # An hour's notice: 09:00 is too soon. Seven days ahead ends at 08:30 next Tuesday: none of that morning fits.
    assert local(LONDON, free_slots(tuesday_mornings(notice=HOUR), [], now)) == ["Tue 01 10:00 GMT", "Tue 01 11:00 GMT"]
    # Two hours more of horizon: next Tuesday's 09:00 (ending 09:50) fits, 10:00 (ending 10:50) does not.
    longer = free_slots(tuesday_mornings(notice=HOUR, horizon=timedelta(days=7, hours=2)), [], now)
    assert local(LONDON, longer) == ["Tue 01 10:00 GMT", "Tue 01 11:00 GMT", "Tue 08 09:00 GMT"]


def test_a_day_off_removes_a_days_windows_and_an_extra_window_adds_one():
    changes = [DayChange(TUESDAY, off=True), DayChange(date(2026, 12, 3), starts=time(14), ends=time(15))]
    assert local(LONDON, free_slots(tuesday_mornings(changes=changes), [], at(LONDON, MONDAY, 12))) == [
        "Thu 03 14:00 GMT"]


def test_an_extra_window_over_a_weekly_one_offers_no_overlapping_slots():
    # Tuesday 09:00-12:00 every week, and 11:30-14:00 added this Tuesday: one window, 09:00-14:00.
    extra = [DayChange(TUESDAY, starts=time(11, 30), ends=time(14))]
    slots = free_slots(tuesday_mornings(changes=extra), [], at(LONDON, MONDAY, 12))
    assert local(LONDON, slots) == ["Tue 01 09:00 GMT", "Tue 01 10:00 GMT", "Tue 01 11:00 GMT", "Tue 01 12:00 GMT",
                                    "Tue 01 13:00 GMT"]
    assert not any(a.overlaps(b) for i, a in enumerate(slots) for b in slots[i + 1:])


def test_time_off_removes_the_slots_it_overlaps():
    off = [Span(at(LONDON, TUESDAY, 10, 30), at(LONDON, TUESDAY, 23))]
    assert local(LONDON, free_slots(tuesday_mornings(time_off=off), [], at(LONDON, MONDAY, 12))) == [
        "Tue 01 09:00 GMT"]


def test_spring_forward_a_window_across_the_gap_holds_its_real_hours():
    # London, Sunday 28 March 2027: 01:00 GMT becomes 02:00 BST. A window 00:30-03:30 on the wall clock is two
    # real hours long: two one-hour sessions, at 00:30 GMT and 02:30 BST, each a full hour.
    availability = Availability(LONDON, [Window(6, time(0, 30), time(3, 30))], HOUR, horizon=timedelta(days=2))
    slots = free_slots(availability, [], at(LONDON, date(2027, 3, 27), 12))
    assert local(LONDON, slots) == ["Sun 28 00:30 GMT", "Sun 28 02:30 BST"]
    assert [s.ends - s.starts for s in slots] == [HOUR, HOUR]


def test_fall_back_a_window_across_the_repeated_hour_holds_its_real_hours():
    # London, Sunday 31 October 2027: 02:00 BST becomes 01:00 GMT. 00:30-02:30 on the wall clock is three real
    # hours: 00:30 BST, 01:30 BST and 01:30 GMT.
    sunday = date(2027, 10, 31)
    availability = Availability(LONDON, [Window(6, time(0, 30), time(2, 30))], HOUR, horizon=timedelta(days=2))
    slots = free_slots(availability, [], at(LONDON, date(2027, 10, 30), 12))
    assert local(LONDON, slots) == ["Sun 31 00:30 BST", "Sun 31 01:30 BST", "Sun 31 01:30 GMT"]
    assert slots[0].starts.astimezone(LONDON).date() == sunday


def test_the_member_sees_the_coachs_slot_in_their_own_zone_across_different_clock_changes():
    # New York moved to summer time on 14 March 2027, London waits until 28 March: a 09:00 EDT slot on Tuesday
    # 16 March is 13:00 in London (GMT), where a week earlier 09:00 EST was 14:00.
    availability = Availability(NEW_YORK, [Window(1, time(9), time(10))], HOUR, horizon=timedelta(days=10))
    slots = free_slots(availability, [], at(NEW_YORK, date(2027, 3, 8), 12))
    assert local(LONDON, slots) == ["Tue 09 14:00 GMT", "Tue 16 13:00 GMT"]
    assert local(TOKYO, slots) == ["Tue 09 23:00 JST", "Tue 16 22:00 JST"]


def test_now_must_be_aware():
    with pytest.raises(ValueError):
        free_slots(tuesday_mornings(), [], datetime(2026, 11, 30, 12))
