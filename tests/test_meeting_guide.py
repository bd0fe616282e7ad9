"""/meeting-guide.json: public groups' weekly meetings, strictly in the code4recovery Meeting Guide format."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from sqlalchemy import select

from supportnet import demo, groups, scheduling, timetable
from supportnet.extensions import db
from supportnet.models import Group, MeetingSeries, User
from tests.builders import weekly
from tests.conftest import BASE_URL, PINNED_NOW
from tests.worlds.feeds import EVIL_TITLE, FeedWorld, build_feed_world

# The meeting types of the spec (github.com/code4recovery/spec, README "Meeting Types"), written out here
# independently of the code under test.
SPEC_TYPES = [
    "11", "12x12", "A", "ABSI", "AL", "AL-AN", "AM", "ASL", "B", "BA", "BE", "BI", "BRK", "C", "CAN", "CF", "D",
    "DA", "DB", "DD", "DE", "DR", "EL", "EN", "FA", "FF", "FR", "G", "GR", "H", "HE", "HI", "HR", "HU", "ITA", "JA",
    "KOR", "L", "LGBTQ", "LIT", "LS", "LT", "M", "MED", "ML", "N", "NB", "NDG", "NO", "O", "OUT", "P", "POA", "POC",
    "POL", "POR", "PUN", "RUS", "S", "SEN", "SK", "SM", "SP", "ST", "SV", "T", "TC", "TH", "TL", "TR", "UK", "W",
    "X", "XB", "XT", "Y",
]
_TEXT = {"type": "string"}
_HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_URL = {"type": "string", "format": "uri", "pattern": "^https?://"}
_WEEKDAY = {"type": "integer", "minimum": 0, "maximum": 6}

# The JSON Schema of the feed, from the spec's field definitions: an array of meetings; name and slug required;
# day (0 = Sunday) and time together for weekly meetings; HH:MM 24-hour times; types from the spec's table;
# "updated" as a UTC "YYYY-MM-DD HH:MM:SS". No field outside the spec.
MEETING_GUIDE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "slug"],
        "dependentRequired": {"day": ["time"], "time": ["day"], "end_time": ["time"], "sub_region": ["region"]},
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "slug": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"},
            "day": {"oneOf": [_WEEKDAY, {"type": "array", "items": _WEEKDAY, "minItems": 1, "uniqueItems": True}]},
            "time": _HHMM,
            "end_time": _HHMM,
            "timezone": {"type": "string", "pattern": "^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$"},
            "formatted_address": _TEXT,
            "address": _TEXT,
            "city": _TEXT,
            "state": _TEXT,
            "postal_code": _TEXT,
            "country": _TEXT,
            "region": _TEXT,
            "sub_region": _TEXT,
            "regions": {"type": "array", "items": _TEXT},
            "conference_url": _URL,
            "conference_url_notes": _TEXT,
            "conference_phone": {"type": "string", "pattern": r"^\+?[0-9,*#]+$"},
            "conference_phone_notes": _TEXT,
            "types": {"type": "array", "items": {"enum": SPEC_TYPES}, "uniqueItems": True},
            "notes": _TEXT,
            "location": _TEXT,
            "location_notes": _TEXT,
            "latitude": {"type": "number", "minimum": -90, "maximum": 90},
            "longitude": {"type": "number", "minimum": -180, "maximum": 180},
            "approximate": {"enum": ["yes", "no"]},
            "updated": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"},
            "group": _TEXT,
            "group_notes": _TEXT,
            "venmo": {"type": "string", "pattern": "^@"},
            "square": {"type": "string", "pattern": r"^\$"},
            "paypal": _TEXT,
            "url": _URL,
            "edit_url": _URL,
            "feedback_url": _TEXT,
            "entity": _TEXT,
            "entity_email": _TEXT,
            "entity_feedback_emails": {"type": "array", "items": _TEXT},
            "entity_location": _TEXT,
            "entity_logo": _URL,
            "entity_phone": _TEXT,
            "entity_url": _URL,
            "entity_website_url": _URL,
            **{f"contact_{n}_{what}": _TEXT for n in (1, 2, 3) for what in ("name", "email", "phone")},
        },
    },
}


def fetch(client) -> list[dict]:
    response = client.get("/meeting-guide.json")
    assert response.status_code == 200
    return json.loads(response.data)


def validate(meetings: list[dict]) -> None:
    jsonschema.validate(meetings, MEETING_GUIDE_SCHEMA, format_checker=jsonschema.FormatChecker())
    slugs = [m["slug"] for m in meetings]
    assert len(slugs) == len(set(slugs)), "slugs must be unique"
    for meeting in meetings:
        if "timezone" in meeting:
            ZoneInfo(meeting["timezone"])  # a real tz database name


@pytest.fixture
def world(app, facilitator, member) -> FeedWorld:
    return build_feed_world(app, facilitator, member)


def by_name(meetings: list[dict]) -> dict[str, dict]:
    return {m["name"]: m for m in meetings}


def test_the_schema_itself_is_valid_and_catches_mistakes():
    jsonschema.Draft202012Validator.check_schema(MEETING_GUIDE_SCHEMA)
    good = [{"name": "Sunday Serenity", "slug": "sunday-serenity-14", "day": 0, "time": "18:00"}]
    jsonschema.validate(good, MEETING_GUIDE_SCHEMA)
    for bad in (
        [{"name": "No slug", "day": 0, "time": "18:00"}],
        [{"name": "x", "slug": "x", "day": 7, "time": "18:00"}],
        [{"name": "x", "slug": "x", "day": 1, "time": "6pm"}],
        [{"name": "x", "slug": "x", "day": 1}],
        [{"name": "x", "slug": "x", "types": ["SPD"]}],
        [{"name": "x", "slug": "x", "attendees": ["Sam"]}],
        [{"name": "x", "slug": "x", "updated": "2026-11-26T12:00:00Z"}],
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, MEETING_GUIDE_SCHEMA)


def test_the_demo_feed_follows_the_spec(app, client):
    with app.app_context():
        demo.seed(PINNED_NOW)
        db.session.commit()
    meetings = fetch(client)
    validate(meetings)
    names = {m["name"] for m in meetings}
    # Weekly series of public groups; the fortnightly coffee and the monthly hike are left out.
    assert names == {"Integration circle", "Meditation and sharing", "Tuesday evening circle"}


def test_the_feed_lists_exactly_the_running_weekly_series_of_public_groups(client, world):
    meetings = fetch(client)
    validate(meetings)
    assert set(by_name(meetings)) == {
        # London (public): every-week series, the split one in its new form; not the ended ones or one-offs.
        "Café, tea; and talk \u2014 ünïcödé \U0001f331", "Evening circle", "Wednesday circle",
        " ".join(EVIL_TITLE.split()), "Line one Line two; three, four",
        # New York (public): every week; not the monthly ones, nor every other Friday.
        "Sunday 10:00", "Sunday 01:30", "Sunday 02:30", "Monday night",
        # Sydney is unlisted and Quiet Harbour private: none of theirs.
    }


def test_days_count_from_sunday_and_times_are_the_meetings_own_local_times(client, world):
    meetings = by_name(fetch(client))
    sunday = meetings["Café, tea; and talk \u2014 ünïcödé \U0001f331"]
    assert (sunday["day"], sunday["time"], sunday["end_time"]) == (0, "10:00", "11:30")
    assert sunday["timezone"] == "Europe/London"
    evening = meetings["Evening circle"]
    assert evening["day"] == [2, 4]  # Tuesday and Thursday
    assert meetings["Monday night"]["day"] == 1
    assert meetings["Sunday 01:30"]["timezone"] == "America/New_York"
    assert meetings["Wednesday circle"]["time"] == "17:30"


def test_the_online_link_is_listed_only_when_it_is_public(client, world):
    meetings = by_name(fetch(client))
    evening = meetings["Evening circle"]
    assert evening["conference_url"] == "https://meet.example.org/evening"
    assert evening["conference_url_notes"] == "Passcode 4242"
    monday = meetings["Monday night"]  # members only
    assert not {"conference_url", "conference_url_notes", "conference_phone"} & set(monday)
    assert "formatted_address" not in monday and "location" not in monday  # online only, no place known


def test_fields_come_from_the_group_and_the_series(client, world):
    meetings = by_name(fetch(client))
    evening = meetings["Evening circle"]
    assert evening["group"] == "Café Circle, London; Thursdays"
    assert evening["types"] == ["O", "W"]  # the free tag "walking" is not a Meeting Guide type
    assert evening["location"] == "Community room"
    assert evening["formatted_address"] == "12 Canal Street, Manchester M1 3HE"
    assert evening["url"] == f"{BASE_URL}/groups/{world.slugs['london']}"
    assert evening["updated"] == "2026-11-26 12:00:00"
    assert meetings["Sunday 10:00"]["types"] == ["LGBTQ", "O"]


def test_a_listing_keeps_its_slug_when_the_schedule_is_edited_or_the_group_renamed(app, client, world):
    slugs = {m["name"]: m["slug"] for m in fetch(client)}
    assert slugs["Wednesday circle"] == f"meeting-{world.series['wednesday']}"  # the first series of its line
    with app.app_context():
        group = db.session.scalar(select(Group).where(Group.slug == world.slugs["london"]))
        groups.update_group(group, now=PINNED_NOW, name="Renamed circle", slug="renamed-circle")
        evening = db.session.get(MeetingSeries, world.series["evening"])
        spec = dataclasses.replace(timetable.spec_for(evening), title="Evening circle (moved on)")
        db.session.commit()
    with app.app_context():  # a new time too (the series has not begun yet, so it is edited in place)
        later = PINNED_NOW.replace(day=27)
        evening = db.session.get(MeetingSeries, world.series["evening"])
        scheduling.update_series(evening, dataclasses.replace(spec, start_time=spec.start_time.replace(hour=18)),
                                 later)
        db.session.commit()
    after = {m["name"]: m["slug"] for m in fetch(client)}
    assert after["Evening circle (moved on)"] == slugs["Evening circle"]
    assert after["Wednesday circle"] == slugs["Wednesday circle"]


def test_no_member_data_in_the_feed(app, client, world):
    body = client.get("/meeting-guide.json").get_data(as_text=True)
    with app.app_context():
        for user in db.session.scalars(select(User)):
            assert user.email not in body and user.display_name not in body


def test_the_feed_is_json_with_a_strong_etag_304_and_cors(app, client, world):
    response = client.get("/meeting-guide.json")
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["ETag"] == '"' + hashlib.sha256(response.data).hexdigest() + '"'
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert client.get("/meeting-guide.json", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
    head = app.test_client().head("/meeting-guide.json")
    assert head.status_code == 200 and head.data == b""
    assert client.get("/meeting-guide.json").data == response.data  # the same data, the same bytes


def test_every_page_links_to_the_feed_for_meeting_finders(client):
    page = client.get("/").get_data(as_text=True)
    link = f'<link rel="alternate" type="application/json" title="Meetings Feed" href="{BASE_URL}/meeting-guide.json">'
    assert link in page  # a fully qualified address, with the title the spec requires


# --- what happens next: series that ran out, splits that start later, members-only links ---


def _meeting_guide_group(app, facilitator, name: str = "Guide circle"):
    from supportnet import clock
    from supportnet.models import GroupKind

    now = clock.now_utc()
    return groups.create_group(facilitator.user(), name=name, kind=GroupKind.PEER_SUPPORT, timezone="Europe/London",
                               now=now), now


def test_a_series_that_ran_out_by_count_or_end_date_is_not_listed(app, client, facilitator):
    from datetime import date, datetime, timedelta

    from supportnet import clock
    from supportnet.recurrence import Frequency, Recurrence
    with app.app_context():
        group, now = _meeting_guide_group(app, facilitator)
        scheduling.create_series(group, weekly(title="Counted", recurrence=Recurrence(
            Frequency.WEEKLY, weekdays=(1,), count=3)), now)
        scheduling.create_series(group, weekly(title="Until", recurrence=Recurrence(
            Frequency.WEEKLY, weekdays=(1,), until=date(2026, 12, 20))), now)
        scheduling.create_series(group, weekly(title="Ongoing"), now)
        db.session.commit()
    assert {"Counted", "Until", "Ongoing"} <= set(by_name(fetch(client)))
    clock.set_frozen(datetime(2026, 12, 23, tzinfo=PINNED_NOW.tzinfo) + timedelta(hours=1))
    names = set(by_name(fetch(client)))
    assert "Ongoing" in names
    assert not {"Counted", "Until"} & names


def test_a_split_that_starts_later_lists_both_schedules_while_both_have_meetings(app, client, facilitator):
    from datetime import date, datetime, time

    from supportnet import clock
    from supportnet.recurrence import Frequency, Recurrence
    with app.app_context():
        group, now = _meeting_guide_group(app, facilitator)
        series = scheduling.create_series(group, weekly(title="Tuesday circle"), now)
        db.session.commit()
        series_id = series.id
    clock.set_frozen(datetime(2026, 12, 9, 12, tzinfo=PINNED_NOW.tzinfo))
    with app.app_context():
        old = db.session.get(MeetingSeries, series_id)
        thursdays = dataclasses.replace(timetable.spec_for(old), first_date=date(2027, 1, 7), start_time=time(18),
                                        recurrence=Recurrence(Frequency.WEEKLY, weekdays=(3,)))
        scheduling.update_series(old, thursdays, clock.now_utc())
        db.session.commit()
    listed = [m for m in fetch(client) if m["name"] == "Tuesday circle"]
    validate(listed)
    assert sorted((m["day"], m["time"]) for m in listed) == [(2, "19:00"), (4, "18:00")]
    tuesday = next(m for m in listed if m["day"] == 2)
    thursday = next(m for m in listed if m["day"] == 4)
    assert "Last meeting at this time: Tue 5 Jan 2027." in tuesday["notes"]
    assert "From Thu 7 Jan 2027." in thursday["notes"]
    assert thursday["slug"] == f"meeting-{series_id}"  # the line keeps its slug
    # Once the old schedule has had its last meeting, only the new one is listed.
    clock.set_frozen(datetime(2027, 1, 6, 12, tzinfo=PINNED_NOW.tzinfo))
    listed = [m for m in fetch(client) if m["name"] == "Tuesday circle"]
    assert [(m["day"], m["slug"]) for m in listed] == [(4, f"meeting-{series_id}")]


def test_an_online_meeting_whose_link_is_for_members_says_how_to_ask(app, client, facilitator):
    from supportnet.models import OnlineVisibility
    with app.app_context():
        group, now = _meeting_guide_group(app, facilitator)
        scheduling.create_series(group, weekly(title="Online circle", venue="", address="",
                                               online_url="https://meet.example/abc",
                                               online_visibility=OnlineVisibility.MEMBERS), now)
        db.session.commit()
        slug = group.slug
    listing = by_name(fetch(client))["Online circle"]
    validate([listing])
    assert "conference_url" not in listing and "formatted_address" not in listing
    assert "Online meeting: the link is shared with the group's members." in listing["notes"]
    assert f"{BASE_URL}/groups/{slug}" in listing["notes"]


def test_a_group_feed_in_one_zone_names_it_for_calendar_apps(app, client, facilitator):
    with app.app_context():
        group, now = _meeting_guide_group(app, facilitator)
        scheduling.create_series(group, weekly(), now)
        db.session.commit()
        slug = group.slug
    body = client.get(f"/groups/{slug}/calendar.ics").data
    assert b"X-WR-TIMEZONE:Europe/London\r\n" in body
