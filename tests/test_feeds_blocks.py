"""A group feed rebuilt after a change re-renders only the series that changed, and gives exactly the bytes of a
build from scratch (the parts it keeps are serialized events and VTIMEZONEs, keyed by every column they come from)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from supportnet import calendars, clock, feeds, groups, scheduling
from supportnet.extensions import db
from supportnet.models import Group, MeetingSeries
from supportnet.web.feeds import WebLinks, uid_host
from tests.conftest import PINNED_NOW
from tests.worlds.feeds import LONDON, FeedWorld, build_feed_world, local, occurrence_at


class CountingCache(feeds.BlockCache):
    """A block cache that counts how many series it was asked to keep, i.e. how many were rendered."""

    def __init__(self) -> None:
        super().__init__()
        self.rendered = 0

    def put(self, key, value) -> None:
        self.rendered += 1
        super().put(key, value)


@pytest.fixture
def feed_world(app, facilitator, member) -> FeedWorld:
    return build_feed_world(app, facilitator, member)


def _builds(group: Group, cache: CountingCache) -> tuple[bytes, bytes, int]:
    """The feed rebuilt with the kept parts, the same feed built whole from scratch, and how many series rendered."""
    db.session.expire_all()
    span = feeds.window(clock.now_utc())
    links, host = WebLinks(), uid_host()
    entries = calendars.group_entries(group, span)
    before = cache.rendered
    kept = feeds.group_calendar(group, entries, links=links, host=host, span=span, blocks=cache)
    whole = feeds.group_calendar_component(group, entries, links=links, host=host, span=span).to_ical()
    return kept, whole, cache.rendered - before


def test_one_change_re_renders_one_series_and_the_bytes_equal_a_build_from_scratch(app, feed_world):
    with app.test_request_context():
        group = db.session.scalar(select(Group).where(Group.slug == feed_world.slugs["london"]))
        cache = CountingCache()
        kept, whole, rendered = _builds(group, cache)
        series_count = len(calendars.group_entries(group, feeds.window(clock.now_utc())))
        assert kept == whole and rendered == series_count > 5
        assert _builds(group, cache)[2] == 0  # nothing changed, nothing rendered

        def step(minutes: int, change, expected_renders: int | None) -> bytes:
            clock.set_frozen(PINNED_NOW + timedelta(minutes=minutes))
            change(clock.now_utc())
            db.session.commit()
            kept, whole, rendered = _builds(group, cache)
            assert kept == whole
            if expected_renders is not None:
                assert rendered == expected_renders
            return kept

        evening = db.session.get(MeetingSeries, feed_world.series["evening"])
        week = occurrence_at(evening, local(LONDON, 2027, 1, 5, 19))
        step(1, lambda now: scheduling.cancel_occurrence(week, "Snow.", now), 1)
        step(2, lambda now: scheduling.restore_occurrence(week, now), 1)
        later = local(LONDON, 2027, 1, 12, 19).astimezone(evening.tz).replace(tzinfo=None) + timedelta(hours=1)
        step(3, lambda now: scheduling.move_occurrence(
            occurrence_at(evening, local(LONDON, 2027, 1, 12, 19)), new_start_local=later, now=now, note="Late"), 1)
        step(4, lambda now: scheduling.end_series(db.session.get(MeetingSeries, feed_world.series["sunday"]), now), 1)
        # The group's own text is in the calendar's header only: no series renders again, the header says it.
        renamed = step(5, lambda now: groups.update_group(group, now=now, name="Renamed Circle"), 0)
        assert b"X-WR-CALNAME:Renamed Circle" in renamed
        # Showing cancellations changes every series (and its SEQUENCE): all render again.
        step(6, lambda now: groups.update_group(group, now=now, calendar_shows_cancellations=True), series_count)
        # Nothing kept for one feed is used for another group's (their series differ), and that feed is whole too.
        other = db.session.scalar(select(Group).where(Group.slug == feed_world.slugs["sydney"]))
        kept, whole, _ = _builds(other, cache)
        assert kept == whole

