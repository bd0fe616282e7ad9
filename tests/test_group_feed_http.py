"""A group calendar feed over HTTP: content type, ETag and 304, Last-Modified, HEAD, and which groups have one."""


from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from supportnet import clock, groups, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Group,
    MeetingSeries,
    Occurrence,
)
from tests.conftest import PINNED_NOW, login
from tests.worlds.feeds import (
    SYDNEY,
    FeedWorld,
    build_feed_world,
    get_feed,
    local,
    occurrence_at,
)


@pytest.fixture
def feed_world(app, facilitator, member) -> FeedWorld:
    return build_feed_world(app, facilitator, member)


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
                occ = occurrence_at(series, local(SYDNEY, 2027, 1, 10, 9))
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
