"""One meeting as an .ics file, subscribing from the pages, and feeds that stay right across clock changes and
any change to their rows."""


from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from supportnet import feeds, groups, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    MeetingSeries,
)
from tests.conftest import BASE_URL, PINNED_NOW, login, post
from tests.worlds.feeds import (
    HOST,
    LONDON,
    NEW_YORK,
    SUN,
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
