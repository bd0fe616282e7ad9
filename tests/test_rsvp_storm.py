"""The RSVP storm: 32 separate processes say "going" to a meeting with 5 seats at the same moment, three times.

Each process is its own app with its own connection pool, like gunicorn workers on one machine, so the seat
limit can only hold through the database: the conditional UPDATE on going_count, and on SQLite the write
lock taken up front (BEGIN IMMEDIATE) so nobody fails with "database is locked".
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from supportnet import accounts, clock, groups, memberships, rsvps, scheduling
from supportnet.extensions import db
from supportnet.models import GroupKind, Occurrence, Rsvp, RsvpStatus, SiteRole, User
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import PASSWORD, ClosingClient, Persona, csrf_token, database_uri, login, make_app

STORMERS = 32
SEATS = 5
ROUNDS = 3
RSVP_RULE = "/meetings/<int:occurrence_id>/rsvp"


@pytest.fixture
def storm_database_url(db_path) -> str:
    """Where the storm runs: a copy of the migrated database (a SQLite file, or PostgreSQL with `--db postgres`)."""
    return database_uri(db_path)


def _has_rsvp_route(app) -> bool:
    return any(rule.rule == RSVP_RULE and "POST" in rule.methods for rule in app.url_map.iter_rules())


def _stormer(db_path: str, url: str, smtp_port: int, email: str, occurrence_ids: list[int], barrier, results) -> None:
    """One process: sign in through the web, then at each barrier release say "going" to the next meeting."""
    report: dict = {"email": email, "errors": [], "statuses": [], "started": [], "finished": [], "route": None}
    report["entered"] = time.time()
    try:
        app = make_app(Path(db_path), smtp_port, SQLALCHEMY_DATABASE_URI=url)
        report["app"] = time.time()
        app.test_client_class = ClosingClient
        client = app.test_client()
        signed_in = login(client, Persona(email=email, password=PASSWORD, id=0, display_name=""))
        if signed_in.status_code != 302:
            raise AssertionError(f"sign-in answered {signed_in.status_code}")
        report["route"] = _has_rsvp_route(app)
        report["ready"] = time.time()
        for occurrence_id in occurrence_ids:
            token = csrf_token(client)  # read before the barrier: the storm is the POSTs alone
            barrier.wait(timeout=180)
            report["started"].append(time.time())
            if report["route"]:
                response = client.post(f"/meetings/{occurrence_id}/rsvp", data={"csrf_token": token})
                report["statuses"].append(response.status_code)
                if response.status_code >= 500:
                    report["errors"].append(response.get_data(as_text=True)[:2000])
            else:
                # Without the web route, the domain call in a transaction of its own; outside a request,
                # writers begin with BEGIN IMMEDIATE as well (supportnet.db).
                with app.app_context():
                    user = db.session.scalar(select(User).where(User.email == email))
                    rsvps.rsvp(db.session.get(Occurrence, occurrence_id), user, clock.now_utc())
                    db.session.commit()
                report["statuses"].append(200)
            report["finished"].append(time.time())
        with app.app_context():
            db.engine.dispose()
    except BaseException:
        report["errors"].append(traceback.format_exc())
        barrier.abort()  # the others must not wait for a process that is gone
    results.put(report)


def _set_the_scene(app) -> tuple[list[str], list[int]]:
    """A facilitator, a public group meeting weekly with 5 seats from the day after tomorrow, 32 members."""
    with app.app_context():
        now = clock.now_utc()
        facilitator = accounts.create_user("fay@example.org", PASSWORD, "Fay F.", now, role=SiteRole.FACILITATOR)
        group = groups.create_group(facilitator, name="Storm circle", kind=GroupKind.MEETUP, timezone="UTC", now=now)
        first = (now + timedelta(days=2)).date()
        spec = weekly(
            first_date=first,
            timezone="UTC",
            capacity=SEATS,
            recurrence=Recurrence(Frequency.WEEKLY, weekdays=(first.weekday(),)),
        )
        series = scheduling.create_series(group, spec, now)
        emails = []
        for n in range(STORMERS):
            user = accounts.create_user(f"stormer{n}@example.org", PASSWORD, f"Stormer {n}", now)
            memberships.join(group, user, now)
            emails.append(user.email)
        occurrence_ids = list(
            db.session.scalars(
                select(Occurrence.id)
                .where(Occurrence.series_id == series.id)
                .order_by(Occurrence.starts_at)
                .limit(ROUNDS)
            )
        )
        db.session.commit()
        db.engine.dispose()
    return emails, occurrence_ids


@pytest.mark.slow
def test_32_processes_rsvp_at_once_for_5_seats_and_nobody_is_overbooked_or_locked_out(
    db_path, smtp_server, storm_database_url
):
    clock.set_frozen(None)  # the stormers run on the real clock; so does the scene
    app = make_app(db_path, smtp_server[0].port, SQLALCHEMY_DATABASE_URI=storm_database_url)
    emails, occurrence_ids = _set_the_scene(app)
    assert len(occurrence_ids) == ROUNDS

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(STORMERS)
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=_stormer,
            args=(str(db_path), storm_database_url, smtp_server[0].port, email, occurrence_ids, barrier, results),
        )
        for email in emails
    ]
    began = time.time()
    for process in processes:
        process.start()
    reports = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    elapsed = time.time() - began

    problems = [error for report in reports for error in report["errors"]]
    assert not problems, problems[0]
    assert not any("database is locked" in error for error in problems)
    assert all(status < 400 for report in reports for status in report["statuses"]), reports
    assert all(len(report["statuses"]) == ROUNDS for report in reports)

    with app.app_context():
        for occurrence_id in occurrence_ids:
            occ = db.session.get(Occurrence, occurrence_id)
            rows = db.session.scalars(select(Rsvp).where(Rsvp.occurrence_id == occurrence_id)).all()
            going = [row for row in rows if row.status == RsvpStatus.GOING]
            waiting = sorted(
                (row for row in rows if row.status == RsvpStatus.WAITLISTED), key=lambda row: (row.queued_at, row.id)
            )
            assert len(rows) == STORMERS and len({row.user_id for row in rows}) == STORMERS
            assert len(going) == SEATS
            assert len(waiting) == STORMERS - SEATS
            positions = rsvps.positions_for(waiting)
            assert [positions[row.id] for row in waiting] == list(range(1, STORMERS - SEATS + 1))
            assert [rsvps.waitlist_position(row) for row in waiting] == list(range(1, STORMERS - SEATS + 1))
            assert (occ.going_count, occ.waitlist_count) == (SEATS, STORMERS - SEATS)
        db.engine.dispose()

    rounds = []
    for i in range(ROUNDS):
        start = min(report["started"][i] for report in reports)
        end = max(report["finished"][i] for report in reports)
        rounds.append(end - start)
    worst = max(end - start for r in reports for start, end in zip(r["started"], r["finished"], strict=True))

    def slowest(key: str) -> float:
        return max(report[key] for report in reports) - began

    via = "POST /meetings/<id>/rsvp" if all(report["route"] for report in reports) else "rsvps.rsvp + commit"
    print(  # shown with -s: how long a storm takes on this machine
        f"\nRSVP storm via {via}: {STORMERS} processes x {ROUNDS} rounds, {SEATS} seats; "
        f"rounds took {', '.join(f'{s:.2f}s' for s in rounds)}, the slowest answer {worst:.2f}s; "
        f"{elapsed:.1f}s in all (last process running after {slowest('entered'):.1f}s, its app built after "
        f"{slowest('app'):.1f}s, all signed in after {slowest('ready'):.1f}s) at {datetime.now(UTC):%H:%M:%S} UTC"
    )
