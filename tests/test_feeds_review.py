"""Review of feed versions: writes that change what a feed shows without moving its version (a calendar app keeps
the stale feed for as long as nothing else moves it), and routine writes that move every version although no feed
changed (every poll rebuilds, so the 304 answered from versions never happens).

Each staleness case polls a feed (so the process keeps it), makes one write and commits, then polls with the ETag
it was given: the answer must be what a build from scratch says now. These tests fail on today's code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta

import pytest
from sqlalchemy import event, select, update

from supportnet import accounts, calendars, clock, scheduler
from supportnet.coaching import booking
from supportnet.extensions import db
from supportnet.models import FeedVersion, Group, MeetingSeries, Occurrence, User
from tests.conftest import PINNED_NOW
from tests.worlds.coaching_booking import make_coach
from tests.worlds.feeds import FeedWorld, build_feed_world

LATER = PINNED_NOW + timedelta(minutes=5)


@pytest.fixture
def feed_world(app, facilitator, member) -> FeedWorld:
    return build_feed_world(app, facilitator, member)


def _fresh(app, url: str) -> tuple[int, bytes, str | None]:
    """What the feed is now, built from scratch (as a process that kept nothing would build it)."""
    kept = {name: app.extensions.pop(name, None) for name in ("supportnet_feed_cache", "supportnet_feed_blocks")}
    try:
        response = app.test_client().get(url)
        return response.status_code, response.data, response.headers.get("ETag")
    finally:
        for name, value in kept.items():
            if value is not None:
                app.extensions[name] = value


def _poll_after(app, url: str, change: Callable[[], object]) -> None:
    """Poll, write and commit, poll again with the ETag: the second answer must be the feed as it is now."""
    first = app.test_client().get(url)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    clock.set_frozen(LATER)
    with app.app_context():
        change()
        db.session.commit()
    status, body, fresh_etag = _fresh(app, url)
    assert status == 200 and fresh_etag != etag, "the write must change the feed (else the case proves nothing)"
    answer = app.test_client().get(url, headers={"If-None-Match": etag})
    assert answer.status_code == 200, "a stale 304: the feed changed but its version did not"
    assert answer.data == body


def _group_url(world: FeedWorld) -> str:
    return f"/groups/{world.slugs['london']}/calendar.ics"


# --- 1. routine writes that move every feed's version --------------------------------------------------------


def _meeting_reads_of_a_304_poll(app, url: str, etag: str) -> list[str]:
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
    return [s for s in statements if "occurrence" in s or "meeting_series" in s]


def _everything_version(app) -> int:
    with app.app_context():
        return db.session.scalar(select(FeedVersion.version).where(FeedVersion.kind == "*")) or 0


def test_an_idle_scheduler_plan_pass_keeps_every_feed_answered_from_its_version(app, feed_world):
    """The plan pass (every SCHEDULER_PLAN_SECONDS, 5 minutes by default) deletes never-confirmed accounts with
    `DELETE FROM user WHERE ...`; that statement moves "*" whether or not it deletes anything, so every feed of every
    process is rebuilt on its next poll and the 304 target is never met in production."""
    url = _group_url(feed_world)
    etag = app.test_client().get(url).headers["ETag"]
    before = _everything_version(app)
    scheduler.plan_pass(app, LATER)  # nothing to purge, no horizon due: no feed can have changed
    assert _everything_version(app) == before, "an idle plan pass moved every feed's version"
    assert _meeting_reads_of_a_304_poll(app, url, etag) == []


def test_someone_signing_up_elsewhere_keeps_every_feed_answered_from_its_version(app, feed_world):
    """A new account is in nobody's feed, yet a new User row moves "*" (its display_name counts as changed)."""
    url = _group_url(feed_world)
    etag = app.test_client().get(url).headers["ETag"]
    before = _everything_version(app)
    with app.app_context():
        accounts.create_user("newcomer@example.org", "a long and quiet river", "Newcomer", LATER)
        db.session.commit()
    assert _everything_version(app) == before, "a sign-up moved every feed's version"
    assert _meeting_reads_of_a_304_poll(app, url, etag) == []


# --- 2. writes through SQLAlchemy that no listener sees ----------------------------------------------------------


def test_a_first_write_on_a_fresh_core_connection_gives_the_poll_the_new_group_feed(app, feed_world):
    """On a Connection from `engine.connect()`, `before_execute` runs before autobegin; the "begin" listener then
    forgets the scopes the first statement recorded, and the COMMIT moves nothing (`engine.begin()` works)."""

    def write() -> None:
        table = Occurrence.__table__
        with db.engine.connect() as connection:
            connection.execute(update(table).where(table.c.id == feed_world.occurrences["moved"])
                               .values(note="Written on its own connection."))
            connection.commit()

    _poll_after(app, _group_url(feed_world), write)


# --- 3. Core statements traced to the wrong feeds ---------------------------------------------------------------


def test_a_member_renamed_by_a_plain_update_gives_her_coach_the_new_feed(app, feed_world, member):
    """The ORM path moves "*" for a changed display_name (it is in the coach's feed); `UPDATE user ... WHERE id =`
    is traced to the member alone, so the coach's feed keeps her old name."""
    with app.app_context():
        coach = make_coach(every_day=(time(9), time(17)), notice_hours=1)
        coach_user = db.session.get(User, coach.user_id)
        calendars.set_preferences(coach_user, discreet=False, all_meetings=False)
        token = calendars.regenerate_token(coach_user)
        booking.book(member.user(), coach, PINNED_NOW.replace(hour=15) + timedelta(days=1), "", PINNED_NOW)
        db.session.commit()

    def rename() -> None:
        db.session.execute(update(User).where(User.id == member.user().id).values(display_name="Mia Renamed"))

    _poll_after(app, f"/calendar/{token}.ics", rename)


def test_a_series_moved_to_another_group_by_a_plain_update_leaves_the_old_group_s_feed(app, feed_world):
    """The ORM path moves "*" when a series changes group; `UPDATE meeting_series SET group_id = ... WHERE id =`
    is resolved at COMMIT, after the move, to the new group only: the old group's feed keeps the series."""
    with app.app_context():
        london = db.session.scalar(select(Group).where(Group.slug == feed_world.slugs["london"]))
        other = db.session.scalar(select(Group).where(Group.id != london.id).order_by(Group.id))
        other_id, series_id = other.id, feed_world.series["evening"]

    _poll_after(app, _group_url(feed_world), lambda: db.session.execute(
        update(MeetingSeries).where(MeetingSeries.id == series_id).values(group_id=other_id)))
