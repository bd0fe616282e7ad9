"""Calendar apps ignore an update that does not raise SEQUENCE: no instance of any feed ever goes back.

Every kind of change is made in turn; before and after each, every meeting a calendar app would show (each UID
and RECURRENCE-ID, whether written as an override or produced by the repeating event) is read with its SEQUENCE.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

import icalendar
import recurring_ical_events
from sqlalchemy import select

from supportnet import clock, groups, memberships, rsvps, scheduling, timetable
from supportnet.extensions import db
from supportnet.models import GroupKind, MeetingSeries, Occurrence, User
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import login, post
from tests.worlds.feeds import make_address

FAR = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC))


def instances(body: bytes) -> dict[tuple[str, datetime | None], tuple[int, str, str]]:
    """(UID, original start) -> (SEQUENCE, start, status) for every meeting the feed gives a calendar app.

    The SEQUENCE of a meeting is its override's where it has one (UID and RECURRENCE-ID), else its repeating
    event's: what a calendar app compares, component by component.
    """
    cal = icalendar.Calendar.from_ical(body)
    own = {}
    for component in cal.walk("VEVENT"):
        rid = component.get("RECURRENCE-ID")
        key = (str(component["UID"]), rid.dt.astimezone(UTC) if rid is not None else None)
        own[key] = int(component.get("SEQUENCE", 0))
    # A meeting that happens once is one plain event: it is the same meeting wherever it moves.
    single = {str(c["UID"]) for c in cal.walk("VEVENT") if "RRULE" not in c and "RECURRENCE-ID" not in c}
    seen = {}
    for event in recurring_ical_events.of(cal).between(*FAR):
        uid, rid = str(event["UID"]), event.get("RECURRENCE-ID")
        original = None if uid in single else (rid or event["DTSTART"]).dt.astimezone(UTC)
        sequence = own.get((uid, original), own.get((uid, None)))
        seen[(uid, original)] = (sequence, str(event["DTSTART"].dt.astimezone(UTC)), str(event.get("STATUS")))
    return seen


def masters(body: bytes) -> dict[str, int]:
    cal = icalendar.Calendar.from_ical(body)
    return {
        str(e["UID"]): int(e["SEQUENCE"]) for e in cal.walk("VEVENT") if "RRULE" in e and "RECURRENCE-ID" not in e
    }


def assert_moved_forward(before: dict, after: dict, what: str) -> None:
    for key, (sequence, *state) in before.items():
        if key not in after:
            continue
        new_sequence, *new_state = after[key]
        assert new_sequence >= sequence, (what, key, sequence, new_sequence)
        if new_state != state:
            assert new_sequence > sequence, (what, key, state, new_state, sequence, new_sequence)


def test_every_kind_of_change_moves_sequence_forward_and_never_back(app, facilitator, member):
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            facilitator.user(), name="Tuesday circle", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now
        )
        weekly_id = scheduling.create_series(group, weekly(), now).id
        once = weekly(first_date=datetime(2027, 1, 6).date(), recurrence=Recurrence(Frequency.ONCE))
        once_id = scheduling.create_series(group, once, now).id
        memberships.join(group, db.session.get(User, member.id), now)
        slug = group.slug
        db.session.commit()

    client = app.test_client()

    def feed() -> bytes:
        response = client.get(f"/groups/{slug}/calendar.ics")
        assert response.status_code == 200
        return response.data

    def week(series_id: int, n: int) -> Occurrence:
        return db.session.scalars(
            select(Occurrence).where(Occurrence.series_id == series_id).order_by(Occurrence.original_start).offset(n)
        ).first()

    def shows_cancellations(on: bool):
        group = db.session.get(MeetingSeries, weekly_id).group
        groups.update_group(group, now=clock.now_utc(), calendar_shows_cancellations=on)

    def edit_title():
        series = db.session.get(MeetingSeries, weekly_id)
        scheduling.update_series(series, dataclasses.replace(timetable.spec_for(series), title="Evening circle"),
                                 clock.now_utc())

    def move(series_id: int, n: int):
        occ = week(series_id, n)
        local = occ.starts_at.astimezone(occ.series.tz).replace(tzinfo=None)
        scheduling.move_occurrence(occ, new_start_local=local + timedelta(hours=1), now=clock.now_utc())

    def latest() -> MeetingSeries:
        return db.session.scalars(
            select(MeetingSeries).where(MeetingSeries.title == "Evening circle").order_by(MeetingSeries.id.desc())
        ).first()

    def change_time():
        clock.set_frozen(datetime(2026, 12, 16, 12, tzinfo=UTC))  # after a few meetings: the series splits
        series = latest()
        scheduling.update_series(series, dataclasses.replace(timetable.spec_for(series), start_time=time(18)),
                                 clock.now_utc())

    changes = [
        ("cancel a week (EXDATE)", lambda: scheduling.cancel_occurrence(week(weekly_id, 3), "Snow.", clock.now_utc())),
        ("show cancelled meetings", lambda: shows_cancellations(True)),
        ("restore the week", lambda: scheduling.restore_occurrence(week(weekly_id, 3), clock.now_utc())),
        ("cancel another week (shown)", lambda: scheduling.cancel_occurrence(week(weekly_id, 5), "", clock.now_utc())),
        ("hide cancelled meetings", lambda: shows_cancellations(False)),
        ("move a week", lambda: move(weekly_id, 4)),
        ("restore the moved week", lambda: scheduling.restore_occurrence(week(weekly_id, 4), clock.now_utc())),
        ("change the title", edit_title),
        ("move the one-off meeting", lambda: move(once_id, 0)),
        ("restore the one-off meeting", lambda: scheduling.restore_occurrence(week(once_id, 0), clock.now_utc())),
        ("change the time from now on", change_time),
        ("end the series", lambda: scheduling.end_series(latest(), clock.now_utc())),
    ]
    before, before_masters = instances(feed()), masters(feed())
    for what, change in changes:
        clock.set_frozen(clock.now_utc() + timedelta(minutes=5))
        with app.app_context():
            change()
            db.session.commit()
        body = feed()
        after, after_masters = instances(body), masters(body)
        assert after != before or what == "hide cancelled meetings", what
        assert_moved_forward(before, after, what)
        if what in ("show cancelled meetings", "hide cancelled meetings"):
            # The repeating event's EXDATEs changed: calendar apps only take that from a higher SEQUENCE.
            assert all(after_masters[uid] > seq for uid, seq in before_masters.items()), what
        before, before_masters = after, after_masters


def test_the_private_feed_is_never_modified_earlier_than_before(app, facilitator, member, client):
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            facilitator.user(), name="Tuesday circle", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now
        )
        series = scheduling.create_series(group, weekly(), now)
        memberships.join(group, db.session.get(User, member.id), now)
        occ_id = db.session.scalars(select(Occurrence.id).where(Occurrence.series_id == series.id)).first()
        db.session.commit()
    login(client, member)
    _url, token = make_address(client)
    path = f"/calendar/{token}.ics"
    clock.set_frozen(clock.now_utc() + timedelta(hours=1))
    assert post(client, f"/meetings/{occ_id}/rsvp").status_code in (302, 303)
    first = client.get(path)
    assert b"BEGIN:VEVENT" in first.data
    clock.set_frozen(clock.now_utc() + timedelta(hours=1))
    with app.app_context():
        rsvps.cancel(db.session.get(Occurrence, occ_id), db.session.get(User, member.id), clock.now_utc())
        db.session.commit()
    second = client.get(path)
    assert second.last_modified >= first.last_modified
    # Withdrawing is the latest change to what this feed shows.
    assert second.last_modified == clock.now_utc().replace(microsecond=0)
