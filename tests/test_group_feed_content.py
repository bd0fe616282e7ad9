"""What a group calendar feed says: one recurring event per series, cancelled and moved weeks, split and
ended series, time zones, folding, and no injected alarms."""


from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import select

from supportnet import clock, groups, scheduling, timetable, timezones
from supportnet.extensions import db
from supportnet.models import (
    GroupKind,
    MeetingSeries,
    Occurrence,
    User,
)
from tests.conftest import BASE_URL, PINNED_NOW
from tests.worlds.feeds import (
    HOST,
    LONDON,
    NEW_YORK,
    SAT,
    SYDNEY,
    THU,
    UNICODE_TITLE,
    FeedWorld,
    build_feed_world,
    events,
    exdates,
    get_feed,
    local,
    master,
    overrides,
    parse,
    raw_lines,
    spec,
    weekly,
)


@pytest.fixture
def feed_world(app, facilitator, member) -> FeedWorld:
    return build_feed_world(app, facilitator, member)


# --- 1. what a group feed says ---


def test_each_series_is_one_recurring_event_starting_at_its_first_meeting_in_local_time(client, feed_world):
    body = get_feed(client, feed_world.slugs["london"]).data
    cal = parse(body)
    sunday = master(cal, feed_world.series["sunday"])
    assert sunday["DTSTART"].dt == datetime(2026, 11, 29, 10, 0, tzinfo=ZoneInfo(LONDON))
    assert sunday["DTSTART"].params["TZID"] == LONDON
    assert sunday["DTEND"].dt == datetime(2026, 11, 29, 11, 30, tzinfo=ZoneInfo(LONDON))
    assert sunday["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=SU"
    assert str(sunday["SUMMARY"]) == UNICODE_TITLE
    assert f"DTSTART;TZID={LONDON}:20261129T100000" in raw_lines(body, "DTSTART")
    evening = master(cal, feed_world.series["evening"])
    assert evening["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=TU,TH"
    # A one-off meeting is a plain event; a cancelled one-off is simply gone.
    walk = master(cal, feed_world.series["walk"])
    assert "RRULE" not in walk
    assert walk["DTSTART"].dt == datetime(2027, 1, 16, 11, 0, tzinfo=ZoneInfo(LONDON))
    assert events(cal, f"series-{feed_world.series['carols']}@{HOST}") == []


def test_a_cancelled_week_is_an_exdate_by_default(client, feed_world):
    cal = parse(get_feed(client, feed_world.slugs["london"]).data)
    evening = master(cal, feed_world.series["evening"])
    # The cancelled week, and the week that was moved and then cancelled, at their original starts.
    assert exdates(evening) == [local(LONDON, 2026, 12, 8, 19), local(LONDON, 2026, 12, 15, 19)]
    assert all(str(e.get("STATUS")) != "CANCELLED" for e in events(cal))


def test_a_group_that_shows_cancellations_gets_cancelled_overrides_titled_cancelled(client, feed_world):
    cal = parse(get_feed(client, feed_world.slugs["new_york"]).data)
    monday = master(cal, feed_world.series["ny_monday"])
    assert exdates(monday) == []
    changed = overrides(cal, feed_world.series["ny_monday"])
    cancelled = changed[local(NEW_YORK, 2026, 12, 7, 19)]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert str(cancelled["SUMMARY"]) == "Cancelled: Monday night"
    assert "Snow" in str(cancelled["DESCRIPTION"])
    assert cancelled["DTSTART"].dt.astimezone(UTC) == local(NEW_YORK, 2026, 12, 7, 19)
    # Moved, then cancelled: cancelled at the time it had been moved to, still tied to its original week.
    moved_cancelled = changed[local(NEW_YORK, 2026, 12, 21, 19)]
    assert str(moved_cancelled["STATUS"]) == "CANCELLED"
    assert moved_cancelled["DTSTART"].dt.astimezone(UTC) == local(NEW_YORK, 2026, 12, 22, 19)


def test_a_moved_week_is_an_override_with_the_same_uid_and_its_original_start(client, feed_world):
    body = get_feed(client, feed_world.slugs["london"]).data
    cal = parse(body)
    changed = overrides(cal, feed_world.series["evening"])
    assert set(changed) == {local(LONDON, 2026, 12, 10, 19), local(LONDON, 2027, 3, 25, 19)}
    moved = changed[local(LONDON, 2026, 12, 10, 19)]
    assert moved["DTSTART"].dt == datetime(2026, 12, 11, 18, 0, tzinfo=ZoneInfo(LONDON))
    assert moved["DTEND"].dt == datetime(2026, 12, 11, 19, 30, tzinfo=ZoneInfo(LONDON))
    assert str(moved["STATUS"]) == "CONFIRMED"
    assert "Room, moved" in str(moved["DESCRIPTION"])
    assert f"RECURRENCE-ID;TZID={LONDON}:20261210T190000" in raw_lines(body, "RECURRENCE-ID")
    # Moved from GMT into BST, and to another room: the override carries the new place.
    across = changed[local(LONDON, 2027, 3, 25, 19)]
    assert across["DTSTART"].dt.astimezone(UTC) == local(LONDON, 2027, 3, 29, 19)
    assert str(across["LOCATION"]).startswith("Library")
    assert int(moved["SEQUENCE"]) >= int(master(cal, feed_world.series["evening"])["SEQUENCE"])


def test_a_split_series_is_two_events_and_the_old_one_ends_with_until_in_utc(client, feed_world):
    cal = parse(get_feed(client, feed_world.slugs["london"]).data)
    old = master(cal, feed_world.series["wednesday"])
    new = master(cal, feed_world.series["wednesday_later"])
    until = old["RRULE"]["UNTIL"][0]
    assert until.tzinfo is not None and until.utcoffset() == timedelta(0)
    # The old series keeps its meetings up to the last Wednesday before the new schedule (25 November).
    assert until.astimezone(ZoneInfo(LONDON)).date() == date(2026, 11, 25)
    assert new["DTSTART"].dt == datetime(2026, 12, 2, 17, 30, tzinfo=ZoneInfo(LONDON))
    assert "UNTIL" not in new["RRULE"]
    # The superseded 18:00 meetings (2 December on) are past UNTIL already: no needless EXDATEs.
    assert exdates(old) == []


def test_an_ended_series_ends_with_until_and_keeps_no_exdates(client, feed_world):
    cal = parse(get_feed(client, feed_world.slugs["london"]).data)
    monday = master(cal, feed_world.series["monday"])
    assert monday["RRULE"]["UNTIL"][0].astimezone(ZoneInfo(LONDON)).date() == date(2026, 11, 23)
    assert exdates(monday) == []


def test_vtimezones_are_standard_and_daylight_with_yearly_rules_for_every_tzid(client, feed_world):
    for which in ("london", "new_york", "sydney"):
        body = get_feed(client, feed_world.slugs[which]).data
        cal = parse(body)
        used = {
            str(e[key].params["TZID"])
            for e in events(cal)
            for key in ("DTSTART", "DTEND", "RECURRENCE-ID")
            if key in e and "TZID" in e[key].params
        }
        assert used
        zones = {str(tz["TZID"]): tz for tz in cal.walk("VTIMEZONE")}
        assert set(zones) == used
        for tz in zones.values():
            parts = [c.name for c in tz.subcomponents]
            assert sorted(set(parts)) == ["DAYLIGHT", "STANDARD"], parts
            for part in tz.subcomponents:
                assert "RDATE" not in part
                rule = part["RRULE"]
                assert rule["FREQ"] == ["YEARLY"] and len(rule["BYMONTH"]) == 1 and len(rule["BYDAY"]) == 1
        assert b"RDATE" not in body


@pytest.mark.parametrize(
    "zone",
    [LONDON, NEW_YORK, SYDNEY, "Australia/Lord_Howe", "Europe/Dublin", "America/Sao_Paulo", "Asia/Tokyo",
     "America/Santiago", "Africa/Casablanca", "Pacific/Chatham", "UTC"],
)
def test_a_vtimezone_gives_the_same_offsets_as_the_iana_data(zone):
    # icalendar turns the VTIMEZONE back into a tzinfo; every hour of 2025 to 2028 must agree with zoneinfo.
    calendar = icalendar.Calendar()
    calendar.add_component(timezones.vtimezone(zone, 2026, 2027))
    parsed = icalendar.Calendar.from_ical(calendar.to_ical()).walk("VTIMEZONE")[0].to_tz()
    iana = ZoneInfo(zone)
    instant = datetime(2025, 1, 1, tzinfo=UTC)
    wrong = []
    while instant < datetime(2029, 1, 1, tzinfo=UTC):
        if instant.astimezone(parsed).utcoffset() != instant.astimezone(iana).utcoffset():
            wrong.append(instant)
        instant += timedelta(minutes=30)
    assert not wrong, f"{len(wrong)} instants differ, the first at {wrong[:3]}"


def test_the_calendar_says_what_it_is_and_how_often_to_look_again(client, feed_world):
    body = get_feed(client, feed_world.slugs["london"]).data
    cal = parse(body)
    assert str(cal["METHOD"]) == "PUBLISH"
    assert str(cal["VERSION"]) == "2.0"
    # Both are TEXT, escaped as such (icalendar's parser does not know NAME and leaves it escaped).
    assert "\r\nNAME:Café Circle\\, London\\; Thursdays\r\n" in body.decode()
    assert "\r\nX-WR-CALNAME:Café Circle\\, London\\; Thursdays\r\n" in body.decode()
    assert "quiet" in str(cal["DESCRIPTION"])
    assert str(cal["URL"]) == f"{BASE_URL}/groups/{feed_world.slugs['london']}"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in body.decode()
    assert "X-PUBLISHED-TTL:PT1H" in body.decode()


def test_location_is_the_full_address_and_the_online_link_only_when_everyone_may_see_it(client, feed_world):
    london = parse(get_feed(client, feed_world.slugs["london"]).data)
    evening = master(london, feed_world.series["evening"])
    assert str(evening["LOCATION"]) == "Community room, 12 Canal Street, Manchester M1 3HE"
    assert "https://meet.example.org/evening" in str(evening["DESCRIPTION"])
    assert "Passcode 4242" in str(evening["DESCRIPTION"])
    new_york = get_feed(client, feed_world.slugs["new_york"]).data
    # Members only: neither the link nor where it would be; an online-only meeting is just "Online".
    assert b"meet.example.org/monday" not in new_york
    assert str(master(parse(new_york), feed_world.series["ny_monday"])["LOCATION"]) == "Online"


def test_a_group_feed_carries_no_member_data(app, client, feed_world, facilitator, member):
    with app.app_context():
        people = db.session.scalars(select(User)).all()
        secrets = [s for user in people for s in (user.email, user.display_name)]
    assert facilitator.email in secrets and member.display_name in secrets
    for which in ("london", "new_york", "sydney"):
        body = get_feed(client, feed_world.slugs[which]).data.decode()
        for secret in secrets:
            assert secret not in body, (which, secret)
        for name in ("ORGANIZER", "ATTENDEE", "CONTACT"):
            assert f"\r\n{name}" not in body


def test_the_feed_covers_90_days_back_to_12_months_ahead(app, client, facilitator):
    with app.app_context():
        group = groups.create_group(facilitator.user(), name="Window", kind=GroupKind.MEETUP, timezone=LONDON,
                                    now=PINNED_NOW)
        far = scheduling.create_series(
            group, spec("Next winter", date(2027, 12, 30), time(19, 0), LONDON, weekly(THU)), PINNED_NOW
        )
        soon = scheduling.create_series(
            group, spec("Soon", date(2027, 11, 20), time(19, 0), LONDON, weekly(SAT)), PINNED_NOW
        )
        db.session.commit()
        far_id, soon_id, slug = far.id, soon.id, group.slug
    cal = parse(get_feed(client, slug).data)
    assert events(cal, f"series-{soon_id}@{HOST}")
    assert not events(cal, f"series-{far_id}@{HOST}")  # its first meeting is 13 months ahead
    # An ended series stays, its rule ending with its last meeting: subscribers' history does not change.
    clock.set_frozen(PINNED_NOW + timedelta(days=400))
    with app.app_context():
        scheduling.end_series(db.session.get(MeetingSeries, soon_id), clock.now_utc())
        db.session.commit()
    ended = events(parse(get_feed(client, slug).data), f"series-{soon_id}@{HOST}")
    clock.set_frozen(PINNED_NOW + timedelta(days=400 + 91))
    assert events(parse(get_feed(client, slug).data), f"series-{soon_id}@{HOST}") == ended
    assert "UNTIL=" in ended[0]["RRULE"].to_ical().decode()


def test_lines_are_folded_at_75_octets_and_end_with_crlf(client, feed_world):
    for which in ("london", "new_york", "sydney"):
        body = get_feed(client, feed_world.slugs[which]).data
        assert body.endswith(b"\r\n")
        lines = body.split(b"\r\n")[:-1]
        assert max(len(line) for line in lines) <= 75
        if which == "london":
            assert sum(len(line) >= 74 for line in lines) >= 3  # long values really are folded
        assert b"\r" not in body.replace(b"\r\n", b"") and b"\n" not in body.replace(b"\r\n", b"")
        for line in lines:
            line.decode("utf-8")  # folding never splits a character


def test_a_title_or_description_cannot_inject_an_alarm(client, feed_world):
    body = get_feed(client, feed_world.slugs["london"]).data
    assert not any(line.startswith(b"BEGIN:VALARM") for line in body.split(b"\r\n"))
    cal = parse(body)
    assert cal.walk("VALARM") == []
    evil = master(cal, feed_world.series["evil"])
    assert str(evil["SUMMARY"]) == "Evil BEGIN:VALARM ACTION:DISPLAY END:VALARM"
    assert str(evil["DESCRIPTION"]).startswith("Bring\nBEGIN:VALARM\nTRIGGER:-PT5M\nEND:VALARM\nnothing; really, \\")
    assert str(master(cal, feed_world.series["newline"])["SUMMARY"]) == "Line one Line two; three, four"


def test_a_change_keeps_the_uid_and_moves_sequence_and_last_modified_forward(app, client, feed_world):
    slug, series_id = feed_world.slugs["london"], feed_world.series["evening"]
    uid = f"series-{series_id}@{HOST}"
    week = local(LONDON, 2027, 1, 12, 19)

    def snapshot() -> tuple[int, datetime, dict]:
        cal = parse(get_feed(client, slug).data)
        event = master(cal, series_id)
        assert str(event["UID"]) == uid
        return int(event["SEQUENCE"]), event["LAST-MODIFIED"].dt, overrides(cal, series_id)

    seen = [snapshot()]
    steps = [
        lambda occ, now: scheduling.cancel_occurrence(occ, "Closed", now),
        lambda occ, now: scheduling.restore_occurrence(occ, now),
        lambda occ, now: scheduling.move_occurrence(occ, new_start_local=datetime(2027, 1, 13, 19), now=now),
        lambda occ, now: scheduling.update_series(
            occ.series, dataclasses.replace(timetable.spec_for(occ.series), title="Evening circle (new room)"), now
        ),
    ]
    for number, step in enumerate(steps, 1):
        clock.set_frozen(PINNED_NOW + timedelta(minutes=number))
        with app.app_context():
            occ = db.session.scalars(
                select(Occurrence).where(Occurrence.series_id == series_id, Occurrence.original_start == week)
            ).one()
            step(occ, clock.now_utc())
            db.session.commit()
        seen.append(snapshot())
    sequences = [s for s, _, _ in seen]
    modified = [m for _, m, _ in seen]
    assert sequences == sorted(set(sequences)), sequences  # strictly increasing, never back
    assert modified == sorted(modified) and len(set(modified)) == len(modified), modified
    # The moved week's override also moves forward when the series' title changes.
    moved_before, moved_after = seen[3][2][week], seen[4][2][week]
    assert int(moved_after["SEQUENCE"]) > int(moved_before["SEQUENCE"])
    assert str(moved_after["SUMMARY"]) == "Evening circle (new room)"


def test_dtstamp_comes_from_the_data_and_the_same_data_gives_the_same_bytes(app, client, feed_world):
    slug = feed_world.slugs["london"]
    first = get_feed(client, slug).data
    clock.set_frozen(PINNED_NOW + timedelta(hours=9))  # later the same day: nothing changed
    assert get_feed(client, slug).data == first
    with app.app_context():
        series = db.session.get(MeetingSeries, feed_world.series["sunday"])
        updated = series.updated_at
    event = master(parse(first), feed_world.series["sunday"])
    assert event["DTSTAMP"].dt == event["LAST-MODIFIED"].dt == updated
    assert updated == PINNED_NOW != clock.now_utc()
