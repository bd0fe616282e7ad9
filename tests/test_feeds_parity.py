"""Parity: independent parsers read SupportNet's feeds as exactly the meetings SupportNet shows.

Each feed is parsed with icalendar and expanded with recurring-ical-events (Python) and with Mozilla's ical.js
(Thunderbird's parser, under Node, from tests/js). Both must return the same occurrences, start and end in UTC
to the second, over the next 24 months; and those must be SupportNet's own occurrence rows: the meetings that go
ahead (not cancelled, not replaced by a schedule edit), plus, for groups that show cancellations, the
cancelled ones marked cancelled.

ical.js knows no time zones of its own: it uses the feed's VTIMEZONE components, so these tests also check the
VTIMEZONEs on both sides of every clock change. `make test` installs ical.js (npm ci in tests/js); without Node
the ical.js half is skipped, unless SUPPORTNET_REQUIRE_NODE=1 (CI) makes that a failure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events
from ical.calendar_stream import IcsCalendarStream
from sqlalchemy import select

from supportnet import clock, demo, feeds, groups, memberships, scheduling, timetable
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    MeetingSeries,
    Occurrence,
    OccurrenceStatus,
    Rsvp,
    RsvpStatus,
    Visibility,
)
from supportnet.recurrence import Frequency, Recurrence, expand
from tests.builders import weekly
from tests.conftest import PINNED_NOW, login, post
from tests.worlds.feeds import HOST, NEWLINE_TITLE, UNICODE_TITLE, FeedWorld, build_feed_world

JS_DIR = Path(__file__).resolve().parent / "js"
REQUIRE_NODE = "SUPPORTNET_REQUIRE_NODE"
NEXT_24_MONTHS = timedelta(days=731)


@dataclass(frozen=True, order=True)
class Seen:
    """One occurrence as a parser (or SupportNet) sees it: UTC instants to the second."""

    start: str
    end: str
    uid: str
    cancelled: bool


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_missing() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed (apt-get install nodejs npm), so ical.js cannot run"
    if not (JS_DIR / "node_modules" / "ical.js" / "package.json").is_file():
        return "ical.js is not installed in tests/js: `make test` runs `npm ci` there"
    return None


@pytest.fixture(scope="session")
def ical_js():
    """Expand a feed with Mozilla's ical.js: (body, start, end) -> [(Seen, summary)]."""
    reason = _node_missing()
    if reason:
        # CI sets SUPPORTNET_REQUIRE_NODE=1 so that a missing Node or ical.js is a failure, not a quiet skip.
        if os.environ.get(REQUIRE_NODE) == "1":
            pytest.fail(f"{REQUIRE_NODE}=1 but {reason}", pytrace=False)
        pytest.skip(reason)

    def run(body: bytes, start: datetime, end: datetime) -> list[tuple[Seen, str]]:
        done = subprocess.run(
            ["node", str(JS_DIR / "expand.mjs"), _iso(start), _iso(end)],
            input=body, capture_output=True, timeout=120, check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        return sorted(
            (Seen(o["start"], o["end"], o["uid"], o["status"] == "CANCELLED"), o["summary"])
            for o in json.loads(done.stdout)
        )

    return run


def by_recurring_ical_events(body: bytes, start: datetime, end: datetime) -> list[tuple[Seen, str]]:
    """Expand a feed with icalendar + recurring-ical-events, keeping occurrences that start in [start, end)."""
    calendar = icalendar.Calendar.from_ical(body)
    found = []
    for event in recurring_ical_events.of(calendar).between(start - timedelta(days=2), end + timedelta(days=2)):
        begins, ends = event["DTSTART"].dt, event["DTEND"].dt
        if start <= begins < end:
            seen = Seen(_iso(begins), _iso(ends), str(event["UID"]), str(event.get("STATUS", "")) == "CANCELLED")
            found.append((seen, str(event.get("SUMMARY", ""))))
    return sorted(found)


def by_ical_library(body: bytes, start: datetime, end: datetime) -> list[tuple[Seen, str]]:
    """Expand a feed with `ical` (Home Assistant's parser, its own data model and recurrence code)."""
    calendar = IcsCalendarStream.calendar_from_ics(body.decode())
    found = []
    for event in calendar.timeline_tz(UTC).overlapping(start - timedelta(days=2), end + timedelta(days=2)):
        begins, ends = event.start, event.end
        if start <= begins < end:
            cancelled = event.status is not None and str(event.status.value) == "CANCELLED"
            found.append((Seen(_iso(begins), _iso(ends), str(event.uid), cancelled), str(event.summary or "")))
    return sorted(found)


def assert_parsers_agree(ical_js, body: bytes, start: datetime, end: datetime) -> list[tuple[Seen, str]]:
    python, mozilla = by_recurring_ical_events(body, start, end), ical_js(body, start, end)
    only_python = sorted(set(python) - set(mozilla))
    only_mozilla = sorted(set(mozilla) - set(python))
    assert not only_python and not only_mozilla, f"recurring-ical-events only: {only_python[:5]}; " \
        f"ical.js only: {only_mozilla[:5]}"
    assert python == mozilla  # and the same number of each
    third = by_ical_library(body, start, end)
    only_third, not_third = sorted(set(third) - set(python)), sorted(set(python) - set(third))
    assert not only_third and not not_third, f"ical only: {only_third[:5]}; ical lacks: {not_third[:5]}"
    assert third == python
    return python


def _rows_through(group: Group, end: datetime) -> None:
    """Materialize every running series of the group through `end`, as the scheduler would over time."""
    for series in db.session.scalars(select(MeetingSeries).where(MeetingSeries.group_id == group.id)):
        scheduling.materialize(series, end, PINNED_NOW)
    db.session.commit()


def _in_rule(series: MeetingSeries, instant: datetime) -> bool:
    return bool(expand(series.rrule, series.dtstart_local, series.tz, instant, instant + timedelta(seconds=1)))


def supportnet_group_occurrences(app, slug: str, start: datetime, end: datetime) -> list[Seen]:
    """What SupportNet shows of a group in [start, end): its occurrence rows, cancelled ones where shown."""
    with app.app_context():
        group = db.session.scalar(select(Group).where(Group.slug == slug))
        _rows_through(group, end)
        rows = db.session.scalars(
            select(Occurrence)
            .join(Occurrence.series)
            .where(
                MeetingSeries.group_id == group.id,
                Occurrence.superseded.is_(False),
                Occurrence.starts_at >= start,
                Occurrence.starts_at < end,
            )
        ).all()
        seen = []
        for occ in rows:
            cancelled = occ.status == OccurrenceStatus.CANCELLED
            if cancelled and not (group.calendar_shows_cancellations and _in_rule(occ.series, occ.original_start)):
                continue  # left out of the feed (EXDATE), or past the end of an ended series' rule
            seen.append(Seen(_iso(occ.starts_at), _iso(occ.ends_at), f"series-{occ.series_id}@{HOST}", cancelled))
        return sorted(seen)


def assert_group_feed_is_what_supportnet_shows(app, ical_js, slug: str) -> list[tuple[Seen, str]]:
    start = feeds.window(PINNED_NOW).start
    end = PINNED_NOW + NEXT_24_MONTHS
    expected = supportnet_group_occurrences(app, slug, start, end)
    response = app.test_client().get(f"/groups/{slug}/calendar.ics")
    assert response.status_code == 200
    parsed = assert_parsers_agree(ical_js, response.data, start, end)
    got = [seen for seen, _ in parsed]
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    assert not missing and not extra, f"SupportNet shows but the feed lacks: {missing[:5]}; feed only: {extra[:5]}"
    assert got == expected
    return parsed


# --- the tricky world ---


@pytest.fixture
def world(app, facilitator, member) -> FeedWorld:
    return build_feed_world(app, facilitator, member)


@pytest.mark.parametrize("which", ["london", "new_york", "sydney"])
def test_both_parsers_read_a_group_feed_as_the_meetings_supportnet_shows(app, ical_js, world, which):
    parsed = assert_group_feed_is_what_supportnet_shows(app, ical_js, world.slugs[which])
    assert len(parsed) > 100  # two years of several weekly series: the comparison is not vacuous


def test_london_meetings_stay_at_local_time_on_both_sides_of_both_clock_changes(app, ical_js, world):
    parsed = assert_group_feed_is_what_supportnet_shows(app, ical_js, world.slugs["london"])
    uid = f"series-{world.series['sunday']}@{HOST}"
    sundays = {seen.start for seen, summary in parsed if seen.uid == uid}
    # 28 March 2027 (spring forward) and 31 October 2027 (fall back) are Sundays: 10:00 local each time.
    assert {"2027-03-21T10:00:00Z", "2027-03-28T09:00:00Z", "2027-10-24T09:00:00Z", "2027-10-31T10:00:00Z"} <= sundays
    summaries = {summary for seen, summary in parsed if seen.uid == uid}
    assert summaries == {UNICODE_TITLE}
    newline = {summary for seen, summary in parsed if seen.uid == f"series-{world.series['newline']}@{HOST}"}
    assert newline == {" ".join(NEWLINE_TITLE.split())}


def test_new_york_and_sydney_change_clocks_on_their_own_days(app, ical_js, world):
    ny = assert_group_feed_is_what_supportnet_shows(app, ical_js, world.slugs["new_york"])
    sunday = f"series-{world.series['ny_sunday_10']}@{HOST}"
    starts = {seen.start for seen, _ in ny if seen.uid == sunday}
    assert {"2027-03-07T15:00:00Z", "2027-03-14T14:00:00Z", "2027-11-07T15:00:00Z", "2028-03-12T14:00:00Z"} <= starts
    # 02:30 does not exist on 14 March 2027: the meeting is at 03:30 EDT, as RFC 5545 and SupportNet say.
    missing_time = f"series-{world.series['ny_sunday_0230']}@{HOST}"
    assert "2027-03-14T07:30:00Z" in {seen.start for seen, _ in ny if seen.uid == missing_time}
    # 01:30 happens twice on 7 November 2027: the first one (EDT).
    twice = f"series-{world.series['ny_sunday_0130']}@{HOST}"
    assert "2027-11-07T05:30:00Z" in {seen.start for seen, _ in ny if seen.uid == twice}
    cancelled = {(seen.start, summary) for seen, summary in ny if seen.cancelled}
    assert ("2026-12-08T00:00:00Z", "Cancelled: Monday night") in cancelled
    assert ("2026-12-23T00:00:00Z", "Cancelled: Monday night") in cancelled  # moved to Tuesday, then cancelled
    sydney = assert_group_feed_is_what_supportnet_shows(app, ical_js, world.slugs["sydney"])
    syd = f"series-{world.series['syd_sunday']}@{HOST}"
    starts = {seen.start for seen, _ in sydney if seen.uid == syd}
    # Daylight time ends on 4 April 2027 and starts on 3 October 2027: 09:00 in Sydney throughout.
    assert {"2027-03-27T22:00:00Z", "2027-04-03T23:00:00Z", "2027-09-25T23:00:00Z", "2027-10-02T22:00:00Z"} <= starts


def test_edits_cancellations_and_moves_made_later_show_up_the_same_in_both_parsers(app, ical_js, world, facilitator):
    client = app.test_client()
    login(client, facilitator)
    slug = world.slugs["london"]
    with app.app_context():
        sunday = db.session.get(MeetingSeries, world.series["sunday"])
        occ = db.session.scalars(
            select(Occurrence).where(Occurrence.series_id == sunday.id).order_by(Occurrence.starts_at).offset(8)
        ).first()
        occ_id = occ.id
    assert post(client, f"/meetings/{occ_id}/move",
                {"date": "2027-03-28", "start_time": "23:30", "duration_minutes": "60"}).status_code == 302
    spec = {"title": "Evening circle", "first_date": "2026-12-01", "start_time": "19:15", "duration_minutes": "60",
            "timezone": "Europe/London", "frequency": "weekly", "interval": "1", "weekdays": ["1", "3"],
            "ends": "never", "venue": "Community room", "address": "12 Canal Street", "online_visibility": "members",
            "nth": "1", "weekday": "0", "month_day": "1"}
    edit = f"/groups/{slug}/meetings/{world.series['evening']}/edit"
    assert post(client, edit, spec).status_code == 302
    assert_group_feed_is_what_supportnet_shows(app, ical_js, slug)


# --- demo data ---


def test_both_parsers_read_the_demo_groups_feeds_as_supportnet_shows_them(app, ical_js):
    with app.app_context():
        demo.seed(PINNED_NOW)
        db.session.commit()
        slugs = list(db.session.scalars(select(Group.slug).where(Group.visibility != Visibility.PRIVATE)))
    assert len(slugs) >= 4
    for slug in slugs:
        assert_group_feed_is_what_supportnet_shows(app, ical_js, slug)


# --- private feeds ---


def test_both_parsers_read_a_private_feed_as_the_members_meetings(app, ical_js, world, member):
    client = app.test_client()
    login(client, member)
    for scope in ("rsvp", "all"):
        post(client, "/account/calendar", {"discreet": "y", "scope": scope})
        page = post(client, "/account/calendar-address").get_data(as_text=True)
        token = page.split("/calendar/", 1)[1].split(".ics", 1)[0]
        span = feeds.window(PINNED_NOW)
        body = app.test_client().get(f"/calendar/{token}.ics").data
        parsed = assert_parsers_agree(ical_js, body, span.start, span.end)
        got = sorted(seen for seen, _ in parsed)
        with app.app_context():
            user = member.user()
            rows = db.session.scalars(
                select(Occurrence)
                .join(Occurrence.series)
                .join(MeetingSeries.group)
                .where(Occurrence.superseded.is_(False), Occurrence.ends_at > span.start,
                       Occurrence.starts_at < span.end)
            ).all()
            mine = {r.occurrence_id: r.status for r in db.session.scalars(select(Rsvp).where(Rsvp.user_id == user.id))}
            member_of = {m.group_id for m in user_memberships(user)}
            expected = sorted(
                Seen(_iso(o.starts_at), _iso(o.ends_at), f"occurrence-{o.id}@{HOST}",
                     o.status == OccurrenceStatus.CANCELLED)
                for o in rows
                if o.series.group_id in member_of
                and (scope == "all" or mine.get(o.id) in (RsvpStatus.GOING, RsvpStatus.WAITLISTED))
                and (o.status != OccurrenceStatus.CANCELLED or o.series.group.calendar_shows_cancellations)
            )
        assert got == expected
        assert len(got) > (60 if scope == "all" else 20)
        assert {summary for _, summary in parsed} <= {s for s in summaries_for_discreet(parsed)}


def summaries_for_discreet(parsed) -> set[str]:
    """Discreet titles only: "Group · Tue 19:00", possibly "Cancelled: " before it."""
    return {summary for _, summary in parsed if summary.removeprefix("Cancelled: ").startswith("Group \u00b7 ")}


def user_memberships(user):
    from supportnet.models import Membership, MemberStatus

    return db.session.scalars(
        select(Membership).where(Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE)
    ).all()


# --- the whole life of a series: splits, exceptions older than the window, clock changes ---

# The day a Thursday 19:00 London series is edited "from now on", and what changes.
SPLIT_WHEN = {
    "day_of": datetime(2026, 12, 10, 9, tzinfo=UTC),
    "day_before": datetime(2026, 12, 9, 12, tzinfo=UTC),
    "week_before": datetime(2026, 12, 4, 12, tzinfo=UTC),
}
SPLIT_CHANGE = {
    "time": {"start_time": time(19, 30)},
    "weekday": {"start_time": time(19, 30), "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(0, 3))},
    "zone": {"start_time": time(15, 0), "timezone": "America/New_York"},
}
LIFE_START = datetime(2026, 11, 26, tzinfo=UTC)
MUCH_LATER = datetime(2027, 9, 1, 12, tzinfo=UTC)  # every one-off change below is long out of the feed window


def assert_whole_life_agrees(app, ical_js, slug: str) -> list[tuple[Seen, str]]:
    """Every meeting of the group from its first one to the end of today's feed window: rows = all three parsers."""
    end = feeds.window(clock.now_utc()).end
    expected = supportnet_group_occurrences(app, slug, LIFE_START, end)
    response = app.test_client().get(f"/groups/{slug}/calendar.ics")
    assert response.status_code == 200
    parsed = assert_parsers_agree(ical_js, response.data, LIFE_START, end)
    got = [seen for seen, _ in parsed]
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    assert not missing and not extra, f"SupportNet shows but the feed lacks: {missing[:5]}; feed only: {extra[:5]}"
    return parsed


@pytest.mark.parametrize("when", list(SPLIT_WHEN))
@pytest.mark.parametrize("change", list(SPLIT_CHANGE))
def test_every_meeting_of_a_groups_life_reads_the_same_in_every_parser(app, ical_js, facilitator, change, when):
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(facilitator.user(), name="Life circle", kind=GroupKind.PEER_SUPPORT,
                                    timezone="Europe/London", now=now)
        thursday = scheduling.create_series(group, weekly(3), now)
        counted = scheduling.create_series(group, weekly(1, recurrence=Recurrence(
            Frequency.WEEKLY, weekdays=(1,), count=20)), now)
        until = scheduling.create_series(group, weekly(2, recurrence=Recurrence(
            Frequency.WEEKLY, weekdays=(2,), until=date(2027, 4, 30))), now)
        # Sundays 00:30 for 90 minutes: on 28 March 2027 the clocks jump from 01:00 to 02:00 during the meeting.
        night = scheduling.create_series(group, weekly(6, start_time=time(0, 30)), now)
        rows = {s.id: db.session.scalars(select(Occurrence).where(Occurrence.series_id == s.id)
                                          .order_by(Occurrence.original_start)).all()
                for s in (counted, until, night)}
        scheduling.cancel_occurrence(rows[counted.id][1], "Snow.", now)
        scheduling.move_occurrence(rows[counted.id][3], new_start_local=datetime(2026, 12, 23, 18), now=now)
        scheduling.move_occurrence(rows[until.id][2], new_start_local=datetime(2027, 3, 28, 0, 15), now=now)
        scheduling.cancel_occurrence(rows[night.id][1], "", now)
        slug, thursday_id = group.slug, thursday.id
        db.session.commit()

    clock.set_frozen(SPLIT_WHEN[when])
    with app.app_context():
        old = db.session.get(MeetingSeries, thursday_id)
        scheduling.update_series(old, dataclasses.replace(timetable.spec_for(old), **SPLIT_CHANGE[change]),
                                 clock.now_utc())
        db.session.commit()
    assert len(assert_whole_life_agrees(app, ical_js, slug)) > 100
    # Nine months on, the cancelled and moved weeks of last winter are still cancelled and moved everywhere.
    clock.set_frozen(MUCH_LATER)
    assert len(assert_whole_life_agrees(app, ical_js, slug)) > 150
    with app.app_context():
        groups.update_group(db.session.scalar(select(Group).where(Group.slug == slug)), now=clock.now_utc(),
                            calendar_shows_cancellations=True)
        db.session.commit()
    assert_whole_life_agrees(app, ical_js, slug)


def test_meetings_across_a_clock_change_read_the_same_in_private_feeds_and_downloads(app, ical_js, facilitator,
                                                                                      member):
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(facilitator.user(), name="Night owls", kind=GroupKind.PEER_SUPPORT,
                                    timezone="Europe/London", now=now)
        night = scheduling.create_series(group, weekly(6, start_time=time(0, 30), first_date=date(2027, 3, 21)), now)
        memberships.join(group, member.user(), now)
        occs = db.session.scalars(select(Occurrence).where(Occurrence.series_id == night.id)
                                  .order_by(Occurrence.original_start)).all()
        spring = occs[1]  # 28 March 2027, 00:30 to 02:30 on the clock: 90 minutes
        assert spring.starts_at == datetime(2027, 3, 28, 0, 30, tzinfo=UTC)
        # Moved to 00:45 on 31 October 2027: 01:00 to 02:00 happens twice that night; it ends at 01:15 GMT.
        autumn = occs[2]
        scheduling.move_occurrence(autumn, new_start_local=datetime(2027, 10, 31, 0, 45), now=now)
        ids = [spring.id, autumn.id]
        db.session.commit()
    client = app.test_client()
    login(client, member)
    post(client, "/account/calendar", {"scope": "all"})
    page = post(client, "/account/calendar-address").get_data(as_text=True)
    token = page.split("/calendar/", 1)[1].split(".ics", 1)[0]
    span = feeds.window(clock.now_utc())
    private = assert_parsers_agree(ical_js, app.test_client().get(f"/calendar/{token}.ics").data, span.start, span.end)
    with app.app_context():
        rows = [db.session.get(Occurrence, i) for i in ids]
        expected = {i: (_iso(r.starts_at), _iso(r.ends_at)) for i, r in zip(ids, rows, strict=True)}
    assert expected[ids[0]] == ("2027-03-28T00:30:00Z", "2027-03-28T02:00:00Z")
    assert expected[ids[1]] == ("2027-10-30T23:45:00Z", "2027-10-31T01:15:00Z")
    seen = {seen.uid: (seen.start, seen.end) for seen, _ in private}
    for occ_id in ids:
        assert seen[f"occurrence-{occ_id}@{HOST}"] == expected[occ_id]
        download = client.get(f"/meetings/{occ_id}/calendar.ics")
        assert download.status_code == 200
        parsed = assert_parsers_agree(ical_js, download.data, span.start, span.end)
        assert [(s.start, s.end) for s, _ in parsed] == [expected[occ_id]]
