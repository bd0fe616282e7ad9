"""A calendar app's poll is answered from versions, not rows: every change to what a feed shows, made through the
domain (or any other write path), gives the poll the new feed; a change no feed shows keeps the 304.

Each case polls a feed (so the process keeps it), makes one change and commits, then polls with the ETag it was
given: the answer must be exactly what a build from scratch says now (200 with the new bytes, or 304 when the bytes
did not change).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, time, timedelta

import pytest
from sqlalchemy import event, select, update

from supportnet import accounts, calendars, clock, groups, memberships, rsvps, scheduling, timetable
from supportnet.coaching import booking
from supportnet.extensions import db
from supportnet.models import (
    FeedVersion,
    Group,
    MeetingSeries,
    Membership,
    Occurrence,
    User,
    Visibility,
)
from tests.conftest import PINNED_NOW
from tests.worlds.coaching_booking import make_coach
from tests.worlds.feeds import LONDON, FeedWorld, build_feed_world, local, occurrence_at, spec, weekly

LATER = PINNED_NOW + timedelta(minutes=5)


@pytest.fixture
def feed_world(app, facilitator, member) -> FeedWorld:
    return build_feed_world(app, facilitator, member)


def _fresh(app, url: str) -> tuple[int, bytes, str | None]:
    """What the feed is now, built from scratch (another process, nothing kept)."""
    kept = {name: app.extensions.pop(name, None) for name in ("supportnet_feed_cache", "supportnet_feed_blocks")}
    try:
        response = app.test_client().get(url)
        return response.status_code, response.data, response.headers.get("ETag")
    finally:
        for name, value in kept.items():
            if value is not None:
                app.extensions[name] = value


def _after(app, url: str, change: Callable[[], object]) -> tuple[bool, int]:
    """Poll, change and commit, poll again with the ETag: the answer must be the current feed. Returns whether
    the feed changed, and the answer's status."""
    first = app.test_client().get(url)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    clock.set_frozen(LATER)
    with app.app_context():
        change()
        db.session.commit()
    answer = app.test_client().get(url, headers={"If-None-Match": etag})
    status, body, fresh_etag = _fresh(app, url)
    if status == 404:
        assert answer.status_code == 404
        return True, 404
    if fresh_etag == etag:
        assert answer.status_code == 304, "a change no feed shows must keep the 304"
        return False, 304
    assert answer.status_code == 200, "a stale 304: the feed changed but its version did not"
    assert answer.headers["ETag"] == fresh_etag and answer.data == body
    return True, 200


def _group(world: FeedWorld, name: str = "london") -> Group:
    return db.session.scalar(select(Group).where(Group.slug == world.slugs[name]))


def _series(world: FeedWorld, name: str) -> MeetingSeries:
    return db.session.get(MeetingSeries, world.series[name])


def _week(world: FeedWorld, day: int) -> Occurrence:
    return occurrence_at(_series(world, "evening"), local(LONDON, 2027, 1, day, 19))


GROUP_CHANGES: dict[str, Callable[[FeedWorld], object]] = {
    "a meeting cancelled": lambda w: scheduling.cancel_occurrence(_week(w, 5), "Snow.", LATER),
    "a meeting moved": lambda w: scheduling.move_occurrence(
        _week(w, 12), new_start_local=local(LONDON, 2027, 1, 12, 20).replace(tzinfo=None), now=LATER),
    "a meeting moved to another venue": lambda w: scheduling.move_occurrence(
        _week(w, 19), new_start_local=local(LONDON, 2027, 1, 19, 19).replace(tzinfo=None), now=LATER,
        venue="The Library", address="1 Deansgate"),
    "a cancelled meeting restored": lambda w: scheduling.restore_occurrence(
        occurrence_at(_series(w, "evening"), local(LONDON, 2026, 12, 8, 19)), LATER),
    "a series' venue edited": lambda w: scheduling.update_series(
        _series(w, "evening"), dataclasses.replace(timetable.spec_for(_series(w, "evening")), venue="New Hall"),
        LATER),
    "a series ended": lambda w: scheduling.end_series(_series(w, "sunday"), LATER),
    "a series added": lambda w: scheduling.create_series(
        _group(w), spec("Saturday walk", date(2027, 1, 9), time(10, 0), LONDON, weekly(5)), LATER),
    "the group renamed": lambda w: groups.update_group(_group(w), now=LATER, name="The Renamed Circle"),
    "cancellations shown": lambda w: groups.update_group(_group(w), now=LATER, calendar_shows_cancellations=True),
    "the group unlisted": lambda w: groups.update_group(_group(w), now=LATER, visibility=Visibility.UNLISTED),
    "the group archived": lambda w: groups.archive_group(_group(w), LATER),
    # Writes that are not ORM flushes: a statement on the session's connection, and one nobody can trace.
    "a note written by a plain UPDATE": lambda w: db.session.connection().execute(
        update(Occurrence.__table__).where(Occurrence.__table__.c.id == w.occurrences["moved"])
        .values(note="Written directly.")),
    "a title changed by an untraceable UPDATE": lambda w: db.session.execute(
        update(MeetingSeries).where(MeetingSeries.title.like("Wednesday%")).values(title="Midweek")),
}


@pytest.mark.parametrize("name", GROUP_CHANGES)
def test_every_change_to_a_group_feed_gives_the_poll_the_new_feed(app, feed_world, name):
    changed, status = _after(app, f"/groups/{feed_world.slugs['london']}/calendar.ics",
                             lambda: GROUP_CHANGES[name](feed_world))
    # Unlisting keeps the same bytes (the feed never said who may find the group): the poll keeps its 304.
    assert changed == (name != "the group unlisted")
    assert status == {"the group archived": 404, "the group unlisted": 304}.get(name, 200)


def test_seats_taken_change_no_group_feed_and_its_poll_stays_304(app, feed_world, member, outsider):
    def answers():
        occ = _week(feed_world, 5)
        rsvps.rsvp(occ, member.user(), LATER)
        rsvps.rsvp(occ, outsider.user(), LATER)  # joins the open group on the way

    assert _after(app, f"/groups/{feed_world.slugs['london']}/calendar.ics", answers) == (False, 304)


def test_a_poll_that_gets_304_reads_no_meeting_rows(app, feed_world):
    url = f"/groups/{feed_world.slugs['london']}/calendar.ics"
    etag = app.test_client().get(url).headers["ETag"]
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert app.test_client().get(url, headers={"If-None-Match": etag}).status_code == 304
    finally:
        event.remove(engine, "before_cursor_execute", record)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2  # the group by its slug, and its versions by their primary key
    assert not any("occurrence" in s or "meeting_series" in s for s in statements)


# --- private feeds ---


def _mia(member) -> User:
    return member.user()


def _answered(world: FeedWorld) -> Occurrence:
    return db.session.get(Occurrence, world.occurrences["moved"])  # Mia said she is going


def _mia_in_london(world: FeedWorld, member) -> Membership:
    return db.session.scalar(select(Membership).where(Membership.user_id == member.user().id,
                                                      Membership.group_id == _group(world).id))


PRIVATE_CHANGES: dict[str, Callable[[FeedWorld, object], object]] = {
    "she says she is going": lambda w, m: rsvps.rsvp(_week(w, 5), _mia(m), LATER),
    "she can't go after all": lambda w, m: rsvps.cancel(_answered(w), _mia(m), LATER),
    "a meeting she is going to is cancelled": lambda w, m: scheduling.cancel_occurrence(_answered(w), "", LATER),
    "she leaves the group": lambda w, m: memberships.leave(_mia_in_london(w, m), LATER),
    "she asks for every meeting": lambda w, m: calendars.set_preferences(_mia(m), discreet=True, all_meetings=True),
    "she turns discreet titles off": lambda w, m: calendars.set_preferences(_mia(m), discreet=False,
                                                                            all_meetings=False),
    "her group is archived": lambda w, m: groups.archive_group(_group(w), LATER),
    "she books a session with a coach": lambda w, m: booking.book(
        _mia(m), make_coach(every_day=(time(9), time(17)), notice_hours=1), PINNED_NOW.replace(hour=15) +
        timedelta(days=1), "", LATER),
}


@pytest.mark.parametrize("name", PRIVATE_CHANGES)
def test_every_change_to_a_private_feed_gives_the_poll_the_new_feed(app, feed_world, member, name):
    with app.app_context():
        token = calendars.regenerate_token(member.user())
        db.session.commit()
    assert _after(app, f"/calendar/{token}.ics", lambda: PRIVATE_CHANGES[name](feed_world, member)) == (True, 200)


def test_meetings_materialized_further_ahead_reach_an_every_meeting_feed(app, feed_world, member):
    with app.app_context():
        user = member.user()
        calendars.set_preferences(user, discreet=True, all_meetings=True)
        token = calendars.regenerate_token(user)
        db.session.commit()

    def materialize():  # the scheduler's path: one INSERT ... ON CONFLICT on the session's connection
        series = _series(feed_world, "evening")
        assert scheduling.materialize(series, LATER + timedelta(days=300), LATER) > 0

    assert _after(app, f"/calendar/{token}.ics", materialize) == (True, 200)


def test_a_coach_feed_follows_the_member_s_sessions_and_name(app, feed_world, member):
    with app.app_context():
        coach = make_coach(every_day=(time(9), time(17)), notice_hours=1)
        coach_user, coach_id = db.session.get(User, coach.user_id), coach.id
        calendars.set_preferences(coach_user, discreet=False, all_meetings=False)
        token = calendars.regenerate_token(coach_user)
        db.session.commit()
    url = f"/calendar/{token}.ics"
    starts = PINNED_NOW.replace(hour=15) + timedelta(days=1)
    assert _after(app, url, lambda: booking.book(member.user(), db.session.get(type(coach), coach_id), starts, "",
                                                 LATER)) == (True, 200)
    assert b"Session: " in app.test_client().get(url).data
    # The member's name is in the title of the coach's event: renaming moves the coach's feed too.
    assert _after(app, url, lambda: accounts.update_profile(member.user(), "Mia Renamed", "Europe/London")) == \
        (True, 200)
    assert b"Mia Renamed" in app.test_client().get(url).data


def test_versions_move_once_per_transaction_at_commit_and_not_for_a_rollback(app, feed_world):
    with app.app_context():
        group_id = _group(feed_world).id

        def version() -> int:
            return db.session.scalar(select(FeedVersion.version).where(FeedVersion.kind == "g",
                                                                       FeedVersion.ref_id == group_id)) or 0

        before = version()
        scheduling.cancel_occurrence(_week(feed_world, 5), "", LATER)
        scheduling.cancel_occurrence(_week(feed_world, 12), "", LATER)
        db.session.rollback()
        assert version() == before
        scheduling.cancel_occurrence(_week(feed_world, 5), "", LATER)
        scheduling.cancel_occurrence(_week(feed_world, 12), "", LATER)
        db.session.commit()
        assert version() == before + 1
