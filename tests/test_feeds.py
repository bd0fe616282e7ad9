"""Group calendar feeds: one recurring event per series, cancelled and moved weeks, time zones, and HTTP.

The world built here (`feed_world`) is shared with test_feeds_private.py and test_feeds_parity.py: three public
or unlisted groups in London, New York and Sydney with meetings on both sides of each DST change, cancelled,
moved and moved-then-cancelled weeks, a series split by an edit and one ended, Unicode, commas, semicolons and
newlines in titles, and a title and a description that try to inject an alarm.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import select, update

from supportnet import clock, feeds, groups, memberships, rsvps, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    JoinPolicy,
    MeetingSeries,
    Occurrence,
    OnlineVisibility,
    User,
    Visibility,
)
from supportnet.recurrence import Frequency, Recurrence
from supportnet.scheduling import SeriesSpec
from tests.conftest import BASE_URL, PINNED_NOW, Persona, login, post

LONDON, NEW_YORK, SYDNEY = "Europe/London", "America/New_York", "Australia/Sydney"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
HOST = "supportnet.test"
EARLY = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # when the series that get split or ended were created
UNICODE_TITLE = "Café, tea; and talk \u2014 ünïcödé \U0001f331"
EVIL_TITLE = "Evil\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nEND:VALARM"
EVIL_DESCRIPTION = "Bring\r\nBEGIN:VALARM\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nnothing; really, \\nothing"
NEWLINE_TITLE = "Line one\nLine two; three, four"


def weekly(*days: int, **ends) -> Recurrence:
    return Recurrence(Frequency.WEEKLY, weekdays=days, **ends)


def spec(title: str, first: date, start: time, zone: str, recurrence: Recurrence, **changes) -> SeriesSpec:
    base = SeriesSpec(
        title=title,
        first_date=first,
        start_time=start,
        duration_minutes=90,
        timezone=zone,
        recurrence=recurrence,
        venue="Community room",
        address="12 Canal Street, Manchester M1 3HE",
    )
    return dataclasses.replace(base, **changes)


def local(zone: str, *args) -> datetime:
    """A wall time in a zone, as a UTC instant."""
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


@dataclass
class FeedWorld:
    """Slugs, series ids and occurrence ids of the feed tests' world, by name."""

    slugs: dict[str, str] = field(default_factory=dict)
    series: dict[str, int] = field(default_factory=dict)
    occurrences: dict[str, int] = field(default_factory=dict)
    invite_token: str = ""


def _occurrence(series: MeetingSeries, when: datetime) -> Occurrence:
    return db.session.scalars(
        select(Occurrence).where(Occurrence.series_id == series.id, Occurrence.original_start == when)
    ).one()


def build_feed_world(app, facilitator: Persona, member: Persona) -> FeedWorld:
    """Build the world (see the module docstring); returns the names of what is in it."""
    world = FeedWorld()
    with app.app_context():
        fac, mia = facilitator.user(), member.user()
        clock.set_frozen(EARLY)
        try:
            london = groups.create_group(
                fac, name="Café Circle, London; Thursdays", kind=GroupKind.PEER_SUPPORT, timezone=LONDON, now=EARLY,
                description="Tea; talk, and \u201cquiet\u201d company.\nAll welcome.", venue="Friends House",
                address="6 Mount Street, Manchester", tags=["O", "W", "walking"],
            )
            wednesday = scheduling.create_series(
                london, spec("Wednesday circle", date(2026, 11, 4), time(18, 0), LONDON, weekly(WED)), EARLY
            )
            monday = scheduling.create_series(
                london, spec("Monday lunch", date(2026, 11, 2), time(12, 0), LONDON, weekly(MON)), EARLY
            )
            db.session.commit()
        finally:
            clock.set_frozen(PINNED_NOW)
        now = PINNED_NOW

        # London: Sundays across both clock changes, a Tue+Thu series with every kind of one-off change, one-offs.
        sunday = scheduling.create_series(
            london, spec(UNICODE_TITLE, date(2026, 11, 29), time(10, 0), LONDON, weekly(SUN)), now
        )
        evening = scheduling.create_series(
            london,
            spec(
                "Evening circle", date(2026, 12, 1), time(19, 0), LONDON, weekly(TUE, THU),
                online_url="https://meet.example.org/evening", online_visibility=OnlineVisibility.EVERYONE,
                online_notes="Passcode 4242",
            ),
            now,
        )
        scheduling.cancel_occurrence(
            _occurrence(evening, local(LONDON, 2026, 12, 8, 19)), "Holiday; no meeting, sorry", now
        )
        moved = _occurrence(evening, local(LONDON, 2026, 12, 10, 19))
        scheduling.move_occurrence(moved, new_start_local=datetime(2026, 12, 11, 18, 0), now=now, note="Room, moved")
        moved_cancelled = _occurrence(evening, local(LONDON, 2026, 12, 15, 19))
        scheduling.move_occurrence(moved_cancelled, new_start_local=datetime(2026, 12, 16, 19, 0), now=now)
        scheduling.cancel_occurrence(moved_cancelled, "Cancelled after all", now)
        across = _occurrence(evening, local(LONDON, 2027, 3, 25, 19))  # GMT, moved into BST
        scheduling.move_occurrence(across, new_start_local=datetime(2027, 3, 29, 19, 0), now=now, venue="Library")
        walk = scheduling.create_series(
            london, spec("Winter walk", date(2027, 1, 16), time(11, 0), LONDON, Recurrence(Frequency.ONCE)), now
        )
        carols = scheduling.create_series(
            london, spec("Carol evening", date(2026, 12, 17), time(18, 0), LONDON, Recurrence(Frequency.ONCE)), now
        )
        scheduling.cancel_occurrence(_occurrence(carols, local(LONDON, 2026, 12, 17, 18)), "", now)
        evil = scheduling.create_series(
            london,
            spec("placeholder", date(2026, 12, 3), time(7, 0), LONDON, weekly(THU), description=EVIL_DESCRIPTION),
            now,
        )
        newline = scheduling.create_series(
            london, spec("placeholder", date(2026, 12, 5), time(9, 0), LONDON, weekly(SAT)), now
        )
        # Titles the form would have tidied up, as older or imported data might hold them.
        evil.title, newline.title = EVIL_TITLE, NEWLINE_TITLE
        later = scheduling.update_series(wednesday, dataclasses.replace(scheduling.spec_for(wednesday),
                                                                        start_time=time(17, 30)), now)
        assert later.id != wednesday.id and later.previous_id == wednesday.id  # split: the old one has begun
        scheduling.end_series(monday, now)

        # New York shows cancellations in calendars; Sundays at 01:30 (twice on the fall-back night) and 02:30
        # (missing on the spring-forward night) as well as at 10:00; monthly rules; every other week.
        new_york = groups.create_group(
            fac, name="Brooklyn Peer Support", kind=GroupKind.PEER_SUPPORT, timezone=NEW_YORK, now=now,
            calendar_shows_cancellations=True, tags=["O", "LGBTQ"],
        )
        ny = {}
        for name, start in (("ny_sunday_10", time(10, 0)), ("ny_sunday_0130", time(1, 30)),
                            ("ny_sunday_0230", time(2, 30))):
            ny[name] = scheduling.create_series(
                new_york, spec(f"Sunday {start:%H:%M}", date(2026, 11, 29), start, NEW_YORK, weekly(SUN)), now
            )
        ny_monday = scheduling.create_series(
            new_york,
            spec("Monday night", date(2026, 11, 30), time(19, 0), NEW_YORK, weekly(MON), venue="", address="",
                 online_url="https://meet.example.org/monday", online_visibility=OnlineVisibility.MEMBERS),
            now,
        )
        scheduling.cancel_occurrence(_occurrence(ny_monday, local(NEW_YORK, 2026, 12, 7, 19)), "Snow", now)
        ny_moved = _occurrence(ny_monday, local(NEW_YORK, 2026, 12, 14, 19))
        scheduling.move_occurrence(ny_moved, new_start_local=datetime(2026, 12, 15, 20, 0), now=now)
        ny_moved_cancelled = _occurrence(ny_monday, local(NEW_YORK, 2026, 12, 21, 19))
        scheduling.move_occurrence(ny_moved_cancelled, new_start_local=datetime(2026, 12, 22, 19, 0), now=now)
        scheduling.cancel_occurrence(ny_moved_cancelled, "", now)
        ny["ny_first_saturday"] = scheduling.create_series(
            new_york,
            spec("First Saturday hike", date(2026, 12, 1), time(9, 0), NEW_YORK,
                 Recurrence(Frequency.MONTHLY_WEEKDAY, nth=1, weekday=SAT, count=12), duration_minutes=240),
            now,
        )
        ny["ny_fortnight"] = scheduling.create_series(
            new_york,
            spec("Fortnightly Friday", date(2026, 12, 4), time(18, 0), NEW_YORK,
                 Recurrence(Frequency.WEEKLY, interval=2, weekdays=(FRI,), until=date(2027, 6, 30))),
            now,
        )
        ny["ny_31st"] = scheduling.create_series(
            new_york,
            spec("On the 31st", date(2026, 12, 1), time(12, 0), NEW_YORK,
                 Recurrence(Frequency.MONTHLY_DAY, month_day=31)),
            now,
        )
        ny["ny_last_day"] = scheduling.create_series(
            new_york,
            spec("Last day", date(2026, 12, 1), time(23, 0), NEW_YORK,
                 Recurrence(Frequency.MONTHLY_DAY, month_day=-1)),
            now,
        )

        # Sydney (unlisted): the southern hemisphere changes clocks in April and October.
        sydney = groups.create_group(
            fac, name="Harbour Circle", kind=GroupKind.AFTERCARE, timezone=SYDNEY, now=now,
            visibility=Visibility.UNLISTED,
        )
        syd_sunday = scheduling.create_series(
            sydney, spec("Sunday morning", date(2026, 11, 29), time(9, 0), SYDNEY, weekly(SUN)), now
        )
        syd_wednesday = scheduling.create_series(
            sydney, spec("Wednesday evening", date(2026, 12, 2), time(19, 0), SYDNEY, weekly(WED)), now
        )
        scheduling.cancel_occurrence(_occurrence(syd_wednesday, local(SYDNEY, 2026, 12, 2, 19)), "", now)
        syd_moved = _occurrence(syd_wednesday, local(SYDNEY, 2027, 3, 31, 19))
        scheduling.move_occurrence(syd_moved, new_start_local=datetime(2027, 4, 5, 19, 0), now=now)

        # A private group: its meetings are in members' private feeds only.
        private = groups.create_group(
            fac, name="Quiet Harbour", kind=GroupKind.AFTERCARE, timezone=LONDON, now=now,
            visibility=Visibility.PRIVATE, join_policy=JoinPolicy.INVITE,
        )
        quiet = scheduling.create_series(
            private,
            spec("Quiet circle", date(2026, 12, 3), time(19, 0), LONDON, weekly(THU), venue="", address="",
                 online_url="https://meet.example.org/quiet", online_visibility=OnlineVisibility.RSVP),
            now,
        )
        world.invite_token = memberships.regenerate_invite(private, now, days=30)

        # Mia joins London and New York, comes every Sunday in London, and says yes to a few meetings.
        for group in (london, new_york):
            memberships.join(group, mia, now)
        memberships.join(private, mia, now, invite_token=world.invite_token)
        rsvps.start_standing(sunday, mia, now)
        for occ_id in (moved.id, across.id):
            rsvps.rsvp(db.session.get(Occurrence, occ_id), mia, now)
        rsvps.rsvp(_occurrence(quiet, local(LONDON, 2026, 12, 3, 19)), mia, now)
        rsvps.rsvp(ny_moved, mia, now)
        db.session.commit()

        world.slugs = {"london": london.slug, "new_york": new_york.slug, "sydney": sydney.slug,
                       "private": private.slug}
        world.series = {
            "wednesday": wednesday.id, "wednesday_later": later.id, "monday": monday.id, "sunday": sunday.id,
            "evening": evening.id, "walk": walk.id, "carols": carols.id, "evil": evil.id, "newline": newline.id,
            "ny_monday": ny_monday.id, "syd_sunday": syd_sunday.id, "syd_wednesday": syd_wednesday.id,
            "quiet": quiet.id, **{name: s.id for name, s in ny.items()},
        }
        world.occurrences = {
            "moved": moved.id, "moved_cancelled": moved_cancelled.id, "across": across.id,
            "ny_moved": ny_moved.id, "ny_moved_cancelled": ny_moved_cancelled.id, "syd_moved": syd_moved.id,
        }
    return world


@pytest.fixture
def feed_world(app, facilitator, member) -> FeedWorld:
    return build_feed_world(app, facilitator, member)


def get_feed(client, slug: str, **kwargs):
    return client.get(f"/groups/{slug}/calendar.ics", **kwargs)


def parse(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def events(cal: icalendar.Calendar, uid: str | None = None) -> list[icalendar.Event]:
    return [e for e in cal.walk("VEVENT") if uid is None or str(e["UID"]) == uid]


def master(cal: icalendar.Calendar, series_id: int) -> icalendar.Event:
    [event] = [e for e in events(cal, f"series-{series_id}@{HOST}") if "RECURRENCE-ID" not in e]
    return event


def overrides(cal: icalendar.Calendar, series_id: int) -> dict[datetime, icalendar.Event]:
    return {
        e["RECURRENCE-ID"].dt.astimezone(UTC): e
        for e in events(cal, f"series-{series_id}@{HOST}")
        if "RECURRENCE-ID" in e
    }


def exdates(event: icalendar.Event) -> list[datetime]:
    values = event.get("EXDATE", [])
    values = values if isinstance(values, list) else [values]
    return sorted(d.dt.astimezone(UTC) for v in values for d in v.dts)


def raw_lines(body: bytes, name: str) -> list[str]:
    """The unfolded content lines of a feed that start with `name` (e.g. "DTSTART")."""
    unfolded = body.replace(b"\r\n ", b"").decode()
    return [line for line in unfolded.split("\r\n") if line.split(";")[0].split(":")[0] == name]


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
    calendar.add_component(feeds.vtimezone(zone, 2026, 2027))
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
            occ.series, dataclasses.replace(scheduling.spec_for(occ.series), title="Evening circle (new room)"), now
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


# --- 2. HTTP ---


def test_the_feed_is_text_calendar_inline_with_a_strong_etag_from_its_body(client, feed_world):
    response = get_feed(client, feed_world.slugs["london"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("inline")
    etag = response.headers["ETag"]
    assert etag == '"' + hashlib.sha256(response.data).hexdigest() + '"'
    assert not etag.startswith("W/")
    assert response.headers["Last-Modified"]


def test_a_matching_if_none_match_gets_304_and_a_change_gets_the_new_feed(app, client, feed_world):
    slug = feed_world.slugs["london"]
    first = get_feed(client, slug)
    etag = first.headers["ETag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = get_feed(client, slug, headers={"If-None-Match": value})
        assert again.status_code == 304, value
        assert again.data == b""
        assert again.headers["ETag"] == etag
    assert get_feed(client, slug, headers={"If-None-Match": '"something-else"'}).status_code == 200
    # If-Modified-Since alone never gets a 304: the window moves without any timestamp saying so.
    assert get_feed(client, slug, headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 200
    clock.set_frozen(PINNED_NOW + timedelta(minutes=5))
    with app.app_context():
        occ = db.session.get(Occurrence, feed_world.occurrences["across"])
        scheduling.cancel_occurrence(occ, "", clock.now_utc())
        db.session.commit()
    changed = get_feed(client, slug, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


def test_last_modified_moves_when_a_week_is_cancelled_or_a_series_ends(app, client, feed_world):
    slug = feed_world.slugs["sydney"]
    times = [get_feed(client, slug).headers["Last-Modified"]]
    for minutes, change in ((7, "cancel"), (11, "end")):
        clock.set_frozen(PINNED_NOW + timedelta(minutes=minutes))
        with app.app_context():
            series = db.session.get(MeetingSeries, feed_world.series["syd_sunday"])
            if change == "cancel":
                occ = _occurrence(series, local(SYDNEY, 2027, 1, 10, 9))
                scheduling.cancel_occurrence(occ, "", clock.now_utc())
            else:
                scheduling.end_series(series, clock.now_utc())
            db.session.commit()
        times.append(get_feed(client, slug).headers["Last-Modified"])
    parsed = [datetime.strptime(t, "%a, %d %b %Y %H:%M:%S GMT") for t in times]
    assert parsed[0] < parsed[1] < parsed[2]
    assert parsed[2] == datetime(2026, 11, 26, 12, 11)


def test_head_works_and_no_accept_header_or_login_is_needed(app, feed_world):
    client = app.test_client()
    slug = feed_world.slugs["london"]
    get = client.get(f"/groups/{slug}/calendar.ics", headers={"Accept": ""})
    head = client.head(f"/groups/{slug}/calendar.ics")
    assert get.status_code == head.status_code == 200
    assert head.data == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert int(head.headers["Content-Length"]) == len(get.data)
    odd = client.get(f"/groups/{slug}/calendar.ics", headers={"Accept": "application/json"})
    assert odd.status_code == 200 and odd.data == get.data


def test_private_archived_and_unknown_groups_have_no_public_feed(app, client, feed_world, facilitator, member):
    assert get_feed(client, feed_world.slugs["private"]).status_code == 404
    login(client, member)  # even for a member: their meetings are in their private feed
    assert get_feed(client, feed_world.slugs["private"]).status_code == 404
    assert get_feed(client, "no-such-group").status_code == 404
    assert get_feed(client, feed_world.slugs["sydney"]).status_code == 200  # unlisted
    with app.app_context():
        groups.archive_group(db.session.scalar(select(Group).where(Group.slug == feed_world.slugs["sydney"])),
                             PINNED_NOW)
        db.session.commit()
    assert get_feed(app.test_client(), feed_world.slugs["sydney"]).status_code == 404


# --- 3. one meeting, and subscribing from the pages ---


def test_one_meeting_downloads_as_an_ics_file_with_the_link_the_viewer_may_see(app, client, feed_world, member):
    occ_id = feed_world.occurrences["moved"]
    response = client.get(f"/meetings/{occ_id}/calendar.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="meeting.ics"'
    [event] = events(parse(response.data))
    assert str(event["UID"]) == f"occurrence-{occ_id}@{HOST}"
    assert event["DTSTART"].dt.astimezone(UTC) == local(LONDON, 2026, 12, 11, 18)
    assert str(event["SUMMARY"]) == "Evening circle"  # a visitor: full title
    assert "https://meet.example.org/evening" in str(event["DESCRIPTION"])  # everyone may see this link
    # New York's link is for members: a visitor's download leaves it out, a member's has it (discreet: LOCATION).
    ny = feed_world.occurrences["ny_moved"]
    assert b"meet.example.org/monday" not in client.get(f"/meetings/{ny}/calendar.ics").data
    login(client, member)
    [mine] = events(parse(client.get(f"/meetings/{ny}/calendar.ics").data))
    assert str(mine["LOCATION"]) == "https://meet.example.org/monday"
    # Discreet by default, and in Mia's own zone: 20:00 in New York is 01:00 the next day in London.
    assert str(mine["SUMMARY"]) == "Group \u00b7 Wed 01:00"
    assert "DESCRIPTION" not in mine


def test_the_meeting_page_offers_the_download_and_add_to_google_calendar(client, feed_world):
    occ_id = feed_world.occurrences["moved"]
    page = client.get(f"/meetings/{occ_id}").get_data(as_text=True)
    assert f'href="/meetings/{occ_id}/calendar.ics"' in page
    [link] = re.findall(r'href="(https://calendar\.google\.com/calendar/render\?action=TEMPLATE[^"]+)"', page)
    link = link.replace("&amp;", "&")
    assert "text=Evening+circle" in link
    assert "dates=20261211T180000Z%2F20261211T193000Z" in link
    assert "ctz=Europe%2FLondon" in link
    # A cancelled meeting has no "add" link, only the download that marks it cancelled.
    cancelled = client.get(f"/meetings/{feed_world.occurrences['moved_cancelled']}").get_data(as_text=True)
    assert "calendar.google.com" not in cancelled
    [event] = events(parse(client.get(f"/meetings/{feed_world.occurrences['moved_cancelled']}/calendar.ics").data))
    assert str(event["STATUS"]) == "CANCELLED" and str(event["SUMMARY"]).startswith("Cancelled: ")


def test_the_group_page_offers_every_way_to_subscribe(client, feed_world):
    slug = feed_world.slugs["london"]
    page = client.get(f"/groups/{slug}").get_data(as_text=True).replace("&amp;", "&")
    feed_url = f"{BASE_URL}/groups/{slug}/calendar.ics"
    webcal = feed_url.replace("http://", "webcal://")
    assert f'href="{webcal}"' in page
    assert "https://calendar.google.com/calendar/render?cid=" + "webcal%3A%2F%2Fsupportnet.test%2Fgroups%2F" in page
    assert (
        "https://outlook.live.com/calendar/0/addfromweb?url=http%3A%2F%2Fsupportnet.test%2Fgroups%2F"
        f"{slug}%2Fcalendar.ics&name=Caf%C3%A9+Circle%2C+London%3B+Thursdays"
    ) in page
    assert f'value="{feed_url}"' in page  # the address to copy
    assert "A downloaded .ics file is a one-time copy" in page
    assert '<link rel="alternate" type="application/json" title="Meetings Feed"' in page


def test_a_private_groups_page_points_members_to_their_private_calendar(client, feed_world, member):
    login(client, member)
    page = client.get(f"/groups/{feed_world.slugs['private']}").get_data(as_text=True)
    assert "calendar.ics" not in page
    assert "This group has no public calendar" in page


def test_a_facilitator_chooses_to_show_cancellations_in_calendars(app, client, feed_world, facilitator):
    slug = feed_world.slugs["london"]
    login(client, facilitator)
    form = client.get(f"/groups/{slug}/edit").get_data(as_text=True)
    assert 'name="calendar_shows_cancellations"' in form
    data = {"name": "Café Circle, London; Thursdays", "kind": "peer_support", "visibility": "public",
            "join_policy": "open", "timezone": LONDON, "types": ["O", "W"], "other_tags": "walking",
            "calendar_shows_cancellations": "y"}
    assert post(client, f"/groups/{slug}/edit", data).status_code == 302
    cal = parse(app.test_client().get(f"/groups/{slug}/calendar.ics").data)
    changed = overrides(cal, feed_world.series["evening"])
    assert str(changed[local(LONDON, 2026, 12, 8, 19)]["SUMMARY"]) == "Cancelled: Evening circle"
    assert exdates(master(cal, feed_world.series["evening"])) == []
    with app.app_context():
        assert db.session.scalar(select(Group).where(Group.slug == slug)).calendar_shows_cancellations


def test_the_window_keeps_whole_days_so_a_poll_later_the_same_day_matches():
    span = feeds.window(datetime(2026, 11, 26, 23, 59, tzinfo=UTC))
    assert span == feeds.window(datetime(2026, 11, 26, 0, 0, tzinfo=UTC))
    assert span.start == datetime(2026, 8, 28, tzinfo=UTC)
    assert span.end == datetime(2027, 11, 27, tzinfo=UTC)



def test_meetings_at_the_edge_of_a_clock_change_are_spelled_out_for_every_calendar_app(client, feed_world):
    body = get_feed(client, feed_world.slugs["new_york"]).data
    cal = parse(body)
    # 02:30 does not exist on 14 March 2027: the rule says 02:30, the override says when it really is (03:30).
    ids = raw_lines(body, "RECURRENCE-ID")
    assert len(overrides(cal, feed_world.series["ny_sunday_0230"])) == 2
    assert {f"RECURRENCE-ID;TZID={NEW_YORK}:{day}T023000" for day in ("20270314", "20280312")} <= set(ids)
    assert f"DTSTART;TZID={NEW_YORK}:20270314T033000" in raw_lines(body, "DTSTART")
    # 01:30 happens twice on 7 November 2027: a local time can't say which, so the override says it in UTC.
    # (And on the spring-forward nights 01:30 to 03:00 on the clock is only 30 minutes: corrected too.)
    assert len(overrides(cal, feed_world.series["ny_sunday_0130"])) == 4
    assert {f"RECURRENCE-ID;TZID={NEW_YORK}:{day}T013000" for day in ("20271107", "20281105")} <= set(ids)
    assert "DTSTART:20271107T053000Z" in raw_lines(body, "DTSTART")
    # It ends 90 minutes later, at 02:00 EST, not at 03:00 on the clock; a meeting a clock change touches is
    # written in UTC at both ends, which every parser reads alike.
    assert "DTEND:20271107T070000Z" in raw_lines(body, "DTEND")
    # Meetings away from the change need nothing; corrections stop two years ahead.
    assert overrides(cal, feed_world.series["ny_sunday_10"]) == {}
    assert not any(line.endswith(("2029", "2029Z")) for line in raw_lines(body, "RECURRENCE-ID"))


def test_a_series_whose_first_meeting_spans_a_clock_change_gives_its_length_as_a_duration(app, client, facilitator):
    with app.app_context():
        group = groups.create_group(facilitator.user(), name="Night owls", kind=GroupKind.MEETUP, timezone=LONDON,
                                    now=PINNED_NOW)
        series = scheduling.create_series(
            group, spec("Night walk", date(2027, 3, 28), time(0, 30), LONDON, weekly(SUN)), PINNED_NOW
        )
        db.session.commit()
        series_id, slug = series.id, group.slug
    cal = parse(get_feed(client, slug).data)
    event = master(cal, series_id)
    assert "DTEND" not in event and event["DURATION"].dt == timedelta(minutes=90)
    first = overrides(cal, series_id)[local(LONDON, 2027, 3, 28, 0, 30)]
    assert first["DTEND"].dt.astimezone(UTC) - first["DTSTART"].dt.astimezone(UTC) == timedelta(minutes=90)


def test_a_feed_is_rebuilt_after_any_change_to_its_rows_even_one_made_behind_the_domains_back(app, client, feed_world):
    slug = feed_world.slugs["london"]
    first = get_feed(client, slug)
    assert get_feed(client, slug).data == first.data  # built once, then served from memory: the same bytes
    with app.app_context():
        # No SEQUENCE or updated_at moves here: the feed must notice anyway.
        db.session.execute(
            update(MeetingSeries).where(MeetingSeries.id == feed_world.series["sunday"]).values(title="Quietly renamed")
        )
        db.session.commit()
    second = get_feed(client, slug, headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert str(master(parse(second.data), feed_world.series["sunday"])["SUMMARY"]) == "Quietly renamed"
