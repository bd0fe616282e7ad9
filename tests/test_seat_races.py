"""Races on seats, in separate processes like gunicorn workers: nobody waits while a seat is free, and a
facilitator lowering a meeting's capacity while RSVPs arrive is answered, never shown an error page.

Both tests run on SQLite and on PostgreSQL. On SQLite a writer holds the database's single write lock, so the
race cannot happen there; on PostgreSQL they passed only once every change to one meeting's seats locked the
meeting's row first (rsvps.lock_meetings).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import re
import traceback
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from supportnet import accounts, clock, groups, memberships, rsvps, scheduling, timetable
from supportnet.errors import DomainError, Forbidden, NotFound
from supportnet.extensions import db
from supportnet.models import GroupKind, MeetingSeries, Membership, Occurrence, Rsvp, RsvpStatus, SiteRole, User
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import PASSWORD, database_uri, make_app

ROUNDS = 100
EVERY_DAY = Recurrence(Frequency.WEEKLY, weekdays=tuple(range(7)))


def _worker(db_path: str, url: str, smtp_port: int, role: str, plan: list, barrier, results) -> None:
    """One process: at each barrier release, do this round's step in a transaction of its own."""
    report = {"role": role, "errors": [], "outcomes": []}
    try:
        app = make_app(Path(db_path), smtp_port, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            for step in plan:
                barrier.wait(timeout=120)
                now = clock.now_utc()
                try:
                    report["outcomes"].append(_do(step, now))
                    db.session.commit()
                except (DomainError, Forbidden, NotFound) as exc:
                    db.session.rollback()
                    report["outcomes"].append(f"refused: {exc}")
                finally:
                    db.session.remove()
            db.engine.dispose()
    except BaseException:
        report["errors"].append(traceback.format_exc())
        barrier.abort()
    results.put(report)


def _do(step: tuple, now) -> str:
    kind, user_id, target = step
    user = db.session.get(User, user_id)
    if kind == "going":
        return rsvps.rsvp(db.session.get(Occurrence, target), user, now).status.value
    if kind == "cant go":
        rsvps.cancel(db.session.get(Occurrence, target), user, now)
        return "cancelled"
    if kind == "remove":
        group_id, member_id = target
        membership = db.session.scalar(
            select(Membership).where(Membership.group_id == group_id, Membership.user_id == member_id)
        )
        memberships.remove(membership, now)
        return "removed"
    if kind == "capacity":
        series_id, capacity = target
        series = db.session.get(MeetingSeries, series_id)
        scheduling.update_series(series, dataclasses.replace(timetable.spec_for(series), capacity=capacity), now)
        return f"capacity {capacity}"
    raise AssertionError(kind)


def _run(app, db_path, url, smtp_port, plans: dict[str, list]) -> list[dict]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(plans))
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_worker, args=(str(db_path), url, smtp_port, role, plan, barrier, results))
        for role, plan in plans.items()
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    problems = [error for report in reports for error in report["errors"]]
    assert not problems, problems[0]
    return reports


def _scene(app, members: int, capacity: int, series_count: int = 1):
    with app.app_context():
        now = clock.now_utc()
        host = accounts.create_user("host@example.org", PASSWORD, "Host H.", now, role=SiteRole.FACILITATOR)
        group = groups.create_group(host, name="Churn circle", kind=GroupKind.MEETUP, timezone="UTC", now=now)
        first = (now + timedelta(days=2)).date()
        series = [
            scheduling.create_series(group, weekly(first_date=first, timezone="UTC", capacity=capacity,
                                                   recurrence=EVERY_DAY, title=f"Circle {n}"), now)
            for n in range(series_count)
        ]
        people = []
        for n in range(members):
            user = accounts.create_user(f"churn{n}@example.org", PASSWORD, f"Churn {n}", now)
            memberships.join(group, user, now)
            people.append(user)
        db.session.commit()
        return [u.id for u in people], [s.id for s in series], now


def _meetings(series_id: int, limit: int) -> list[int]:
    return list(db.session.scalars(
        select(Occurrence.id).where(Occurrence.series_id == series_id).order_by(Occurrence.starts_at).limit(limit)
    ))


def _counts(occurrence_id: int) -> dict[RsvpStatus, int]:
    rows = db.session.execute(
        select(Rsvp.status, func.count()).where(Rsvp.occurrence_id == occurrence_id).group_by(Rsvp.status)
    ).all()
    return dict(rows)


@pytest.mark.slow
def test_a_cancel_racing_two_new_rsvps_never_leaves_a_seat_free_while_someone_waits(
    db_path, smtp_server
):
    clock.set_frozen(None)  # the workers run on the real clock; so does the scene
    url = database_uri(db_path)
    app = make_app(db_path, smtp_server[0].port, SQLALCHEMY_DATABASE_URI=url)
    (holder, first, second), (series_id,), now = _scene(app, 3, capacity=1)
    with app.app_context():
        meetings = _meetings(series_id, ROUNDS)
        assert len(meetings) == ROUNDS
        user = db.session.get(User, holder)
        for occurrence_id in meetings:  # every meeting full, nobody waiting
            rsvps.rsvp(db.session.get(Occurrence, occurrence_id), user, now)
        db.session.commit()
        db.engine.dispose()

    _run(app, db_path, url, smtp_server[0].port, {
        "holder": [("cant go", holder, m) for m in meetings],
        "first": [("going", first, m) for m in meetings],
        "second": [("going", second, m) for m in meetings],
    })

    with app.app_context():
        stranded = []
        for occurrence_id in meetings:
            occ = db.session.get(Occurrence, occurrence_id)
            counts = _counts(occurrence_id)
            going, waiting = counts.get(RsvpStatus.GOING, 0), counts.get(RsvpStatus.WAITLISTED, 0)
            assert (occ.going_count, occ.waitlist_count) == (going, waiting), occurrence_id
            if going < 1 and waiting:
                stranded.append(occurrence_id)
            assert (going, waiting) == (1, 1), (occurrence_id, counts)
        assert not stranded
        db.engine.dispose()


@pytest.mark.slow
def test_lowering_capacity_while_rsvps_arrive_is_refused_with_a_message_or_done_never_an_error(
    db_path, smtp_server
):
    clock.set_frozen(None)  # the workers run on the real clock; so does the scene
    url = database_uri(db_path)
    app = make_app(db_path, smtp_server[0].port, SQLALCHEMY_DATABASE_URI=url)
    rounds, joiners, lowered = 30, 4, 2
    people, series_ids, _now = _scene(app, joiners, capacity=10, series_count=rounds)
    with app.app_context():
        host_id = db.session.scalar(select(User.id).where(User.email == "host@example.org"))
        firsts = [_meetings(series_id, 1)[0] for series_id in series_ids]
        db.engine.dispose()

    plans = {f"joiner {n}": [("going", person, m) for m in firsts] for n, person in enumerate(people)}
    plans["facilitator"] = [("capacity", host_id, (series_id, lowered)) for series_id in series_ids]
    reports = _run(app, db_path, url, smtp_server[0].port, plans)

    outcomes = next(r["outcomes"] for r in reports if r["role"] == "facilitator")
    assert len(outcomes) == rounds
    with app.app_context():
        for series_id, occurrence_id, outcome in zip(series_ids, firsts, outcomes, strict=True):
            occ = db.session.get(Occurrence, occurrence_id)
            counts = _counts(occurrence_id)
            going, waiting = counts.get(RsvpStatus.GOING, 0), counts.get(RsvpStatus.WAITLISTED, 0)
            assert going + waiting == joiners
            assert (occ.going_count, occ.waitlist_count) == (going, waiting)
            series = db.session.get(MeetingSeries, series_id)
            if outcome.startswith("refused"):
                # Refused because more people were going than the new capacity at that moment, and it says how
                # many (more may have come after).
                found = re.search(r"Set the capacity to at least (\d+)\.", outcome)
                assert found and lowered < int(found.group(1)) <= going, outcome
                assert series.capacity == 10 and occ.capacity == 10 and waiting == 0
            else:
                assert outcome == f"capacity {lowered}"
                assert series.capacity == lowered and occ.capacity == lowered
                assert going <= lowered and waiting == joiners - going
        db.engine.dispose()


@pytest.mark.slow
def test_a_member_saying_going_while_being_removed_never_deadlocks_and_keeps_no_seat(db_path, smtp_server):
    clock.set_frozen(None)
    url = database_uri(db_path)
    app = make_app(db_path, smtp_server[0].port, SQLALCHEMY_DATABASE_URI=url)
    rounds = 20
    people, (series_id,), now = _scene(app, rounds + 1, capacity=3)
    with app.app_context():
        host_id = db.session.scalar(select(User.id).where(User.email == "host@example.org"))
        group_id = db.session.get(MeetingSeries, series_id).group_id
        meetings = _meetings(series_id, 4)
        waiting = db.session.get(User, people[-1])
        for person in people[:rounds]:  # every member has a seat in the first meetings...
            for occurrence_id in meetings[:3]:
                rsvps.rsvp(db.session.get(Occurrence, occurrence_id), db.session.get(User, person), now)
        for occurrence_id in meetings[:3]:  # ...full, so one more member waits for each
            rsvps.rsvp(db.session.get(Occurrence, occurrence_id), waiting, now)
        db.session.commit()
        db.engine.dispose()

    # Each round, the facilitator removes one member at the moment that member says "going" again to a meeting
    # she already has a seat in: the removal gives up her answers, her click locks the meeting first.
    plans = {
        "facilitator": [("remove", host_id, (group_id, person)) for person in people[:rounds]],
        "member": [("going", person, meetings[n % 3]) for n, person in enumerate(people[:rounds])],
    }
    reports = _run(app, db_path, url, smtp_server[0].port, plans)

    removals = next(r["outcomes"] for r in reports if r["role"] == "facilitator")
    assert removals == ["removed"] * rounds
    with app.app_context():
        for occurrence_id in meetings[:3]:
            occ = db.session.get(Occurrence, occurrence_id)
            counts = _counts(occurrence_id)
            going, waiting_count = counts.get(RsvpStatus.GOING, 0), counts.get(RsvpStatus.WAITLISTED, 0)
            assert (occ.going_count, occ.waitlist_count) == (going, waiting_count)
            active_removed = db.session.scalar(
                select(func.count()).select_from(Rsvp).where(
                    Rsvp.occurrence_id == occurrence_id, Rsvp.user_id.in_(people[:rounds]),
                    Rsvp.status.in_((RsvpStatus.GOING, RsvpStatus.WAITLISTED)),
                )
            )
            assert active_removed == 0  # nobody removed keeps a seat or a place
            assert going == 1 and waiting_count == 0  # the member who waited got a seat
        db.engine.dispose()
