"""Benchmark: materializing occurrences for 3,000 series, and the group directory page over 1,000 groups.

Run from the project root:  .venv/bin/python bench/directory.py  [--groups N] [--requests N]

Everything happens on a throwaway SQLite file (migrated with `flask_migrate.upgrade()`), so the figures
include real disk writes and the real query plans. Groups, tags and series are bulk-inserted (that part is
set-up, not measured); occurrences are created by the code under test, `scheduling.extend_horizons`.
Each measurement has a baseline taken in the same run, so the ratios say something on any machine:

* materialize  vs. a plain `executemany` INSERT of the same rows into a scratch table;
* GET /groups  vs. GET /healthz (one trivial query, no template) through the same Flask test client.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import event, func, insert, select  # noqa: E402

from supportnet import accounts, clock, create_app, scheduling  # noqa: E402
from supportnet.extensions import db  # noqa: E402
from supportnet.models import (  # noqa: E402
    Group,
    GroupKind,
    GroupTag,
    JoinPolicy,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    OnlineVisibility,
    SiteRole,
    Visibility,
)
from supportnet.models.meeting import schedule_index  # noqa: E402
from supportnet.recurrence import Frequency, Recurrence, first_occurrence_on_or_after, to_rrule  # noqa: E402

# A Monday morning, so "the next 26 weeks" are the same for every run and every machine.
NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
SERIES_PER_GROUP = 3
ZONES = ("Europe/London", "America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/Berlin",
         "Australia/Sydney")
CODES = ("O", "C", "D", "BE", "W", "M", "MED", "OUT", "LGBTQ", "Y", "SP", "ST", "X")
FREE_TAGS = ("aftercare", "family", "social", "online", "mindfulness")
WORDS = ("Harbour", "Lantern", "Willow", "Riverside", "Northside", "Morning", "Evening", "Hillside", "Canal",
         "Meadow", "Quiet", "Open Door", "Bridge", "Oak", "Station")
KINDS = ("Aftercare Circle", "Sober Coffee", "Peer Support", "Recovery Walk", "Meditation Group")


# --- set-up (not measured) ---


def make_app(workdir: Path) -> Flask:
    return create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench-secret-key-" + "x" * 32,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.db'}",
            "BASE_URL": "http://supportnet.bench",
            "DEV_MAILBOX_DIR": str(workdir / "mailbox"),
            "LOG_LEVEL": "WARNING",
        }
    )


def recurrence_for(i: int, rng: random.Random) -> Recurrence:
    """Weekly, every-2-weeks and monthly-nth-weekday, in turn."""
    kind = i % 3
    if kind == 0:
        days = sorted(rng.sample(range(7), rng.choice((1, 1, 1, 2))))
        return Recurrence(Frequency.WEEKLY, weekdays=tuple(days))
    if kind == 1:
        return Recurrence(Frequency.WEEKLY, interval=2, weekdays=(rng.randrange(7),))
    return Recurrence(Frequency.MONTHLY_WEEKDAY, nth=rng.choice((1, 2, 3, 4, -1)), weekday=rng.randrange(7))


def populate(n_groups: int, rng: random.Random) -> tuple[int, int]:
    """Bulk-insert groups (with a facilitator and tags) and their series; return (groups, series)."""
    facilitator = accounts.create_user(
        "bench-facilitator@example.org", "a long and quiet river", "Fran F.", NOW, role=SiteRole.FACILITATOR
    )
    db.session.flush()
    group_rows = []
    for i in range(n_groups):
        name = f"{rng.choice(WORDS)} {rng.choice(KINDS)} {i + 1}"
        group_rows.append(
            {
                "slug": f"bench-group-{i + 1}",
                "name": name,
                "description": f"{name}: a friendly group for people in recovery and those who support them.",
                "kind": rng.choice(list(GroupKind)),
                "visibility": Visibility.PUBLIC,
                "join_policy": rng.choice((JoinPolicy.OPEN, JoinPolicy.OPEN, JoinPolicy.APPROVAL)),
                "timezone": rng.choice(ZONES),
                "venue": "",
                "address": "",
                "contact_note": "",
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
    db.session.execute(insert(Group), group_rows)
    groups = db.session.execute(select(Group.id, Group.timezone).order_by(Group.id)).all()

    tag_rows, member_rows, series_rows = [], [], []
    start_day = NOW.date() + timedelta(days=1)
    for gid, tz_name in groups:
        for code in rng.sample(CODES, 2) + rng.sample(FREE_TAGS, 1):
            tag_rows.append({"group_id": gid, "code": code})
        member_rows.append(
            {"group_id": gid, "user_id": facilitator.id, "role": MemberRole.FACILITATOR,
             "status": MemberStatus.ACTIVE, "created_at": NOW, "joined_at": NOW}
        )
        tz = ZoneInfo(tz_name)
        for j in range(SERIES_PER_GROUP):
            rec = recurrence_for(gid * SERIES_PER_GROUP + j, rng)
            wall = clock_time(rng.choice((7, 9, 10, 12, 14, 17, 18, 19, 20)), rng.choice((0, 30)))
            first = date.fromordinal(start_day.toordinal() + rng.randrange(14))
            dtstart = first_occurrence_on_or_after(rec, datetime.combine(first, wall))
            rrule = to_rrule(rec, dtstart, tz)
            online = rng.random() < 0.3
            # Core inserts skip the ORM's before_insert hook that derives these two, so compute them here.
            day_mask, start_minute = schedule_index(dtstart, rrule, tz_name)
            series_rows.append(
                {
                    "group_id": gid,
                    "title": f"Meeting {j + 1}",
                    "description": "",
                    "dtstart_local": dtstart,
                    "timezone": tz_name,
                    "duration_minutes": rng.choice((60, 75, 90, 120)),
                    "rrule": rrule,
                    "venue": "" if online else "Community room",
                    "address": "" if online else f"{rng.randrange(1, 200)} High Street",
                    "location_notes": "",
                    "online_url": f"https://meet.example.org/bench-{gid}-{j}" if online else "",
                    "online_phone": "",
                    "online_notes": "",
                    "online_visibility": OnlineVisibility.MEMBERS,
                    "capacity": rng.choice((None, None, 8, 12, 20)),
                    "sequence": 0,
                    "day_mask": day_mask,
                    "start_minute": start_minute,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
    db.session.execute(insert(GroupTag), tag_rows)
    db.session.execute(insert(Membership), member_rows)
    db.session.execute(insert(MeetingSeries), series_rows)
    db.session.commit()
    return len(groups), len(series_rows)


# --- measuring ---


class StatementLog:
    """Count the SQL statements the engine runs, and the time spent in them, while listening."""

    def __init__(self, app: Flask) -> None:
        with app.app_context():
            self.engine = db.engine
        self.statements: list[str] = []
        self.seconds = 0.0
        self._started = 0.0

    def _before(self, _conn, _cursor, statement, _params, _context, _executemany) -> None:
        self.statements.append(statement)
        self._started = time.perf_counter()

    def _after(self, *_args) -> None:
        self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.statements = []
        self.seconds = 0.0

    @contextmanager
    def listening(self) -> Iterator[StatementLog]:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self._before)
            event.remove(self.engine, "after_cursor_execute", self._after)


def bench_materialize(app: Flask) -> dict:
    with app.app_context():
        start, cpu = time.perf_counter(), time.process_time()
        created = scheduling.extend_horizons(NOW)
        db.session.commit()
        materialize_s, materialize_cpu = time.perf_counter() - start, time.process_time() - cpu
        rows = db.session.execute(
            select(
                Occurrence.series_id, Occurrence.original_start, Occurrence.starts_at, Occurrence.ends_at,
                Occurrence.status, Occurrence.note, Occurrence.capacity, Occurrence.going_count,
                Occurrence.waitlist_count, Occurrence.superseded, Occurrence.sequence, Occurrence.updated_at,
            )
        ).all()
        # The same values, in the form the driver stores them, for the baseline.
        params = [
            (r[0], _naive(r[1]), _naive(r[2]), _naive(r[3]), r[4].value, *r[5:11], _naive(r[11])) for r in rows
        ]
        # Outside a request the session begins transactions with BEGIN IMMEDIATE: end it to free the write lock.
        db.session.rollback()
        raw = db.engine.raw_connection()
        try:
            sqlite = raw.driver_connection
            sqlite.execute(
                "CREATE TABLE scratch_occurrence (id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL, "
                "original_start DATETIME NOT NULL, starts_at DATETIME NOT NULL, ends_at DATETIME NOT NULL, "
                "status VARCHAR(32) NOT NULL, note TEXT NOT NULL, capacity INTEGER, going_count INTEGER NOT NULL, "
                "waitlist_count INTEGER NOT NULL, superseded BOOLEAN NOT NULL, sequence INTEGER NOT NULL, "
                "updated_at DATETIME NOT NULL, UNIQUE (series_id, original_start))"
            )
            sqlite.execute("CREATE INDEX ix_scratch_starts_at ON scratch_occurrence (starts_at)")
            sqlite.execute("CREATE INDEX ix_scratch_series_starts_at ON scratch_occurrence (series_id, starts_at)")
            start, cpu = time.perf_counter(), time.process_time()
            sqlite.execute("BEGIN IMMEDIATE")
            sqlite.executemany(
                "INSERT INTO scratch_occurrence (series_id, original_start, starts_at, ends_at, status, note, "
                "capacity, going_count, waitlist_count, superseded, sequence, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            sqlite.execute("COMMIT")
            baseline_s, baseline_cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            raw.close()
        # A second pass right away has nothing to do: that is what the scheduler runs every minute.
        start = time.perf_counter()
        again = scheduling.extend_horizons(NOW + timedelta(minutes=1))
        db.session.commit()
        idle_s = time.perf_counter() - start
        series = db.session.scalar(select(func.count()).select_from(MeetingSeries))
    return {"series": series, "created": created, "rows": len(rows), "seconds": materialize_s,
            "cpu": materialize_cpu, "baseline": baseline_s, "baseline_cpu": baseline_cpu,
            "idle_created": again, "idle_seconds": idle_s}


def _naive(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def time_requests(app: Flask, url: str, n: int, check: Callable[[str], None] | None = None) -> dict:
    client = app.test_client()
    for _ in range(3):  # warm up: templates compiled, statements cached, pages in the OS cache
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if check:
            check(response.get_data(as_text=True))
    log = StatementLog(app)
    times, cpu_times, sql_times, counts = [], [], [], set()
    with log.listening():
        for _ in range(n):
            log.reset()
            start, cpu = time.perf_counter(), time.thread_time()
            response = client.get(url)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.thread_time() - cpu)
            assert response.status_code == 200
            sql_times.append(log.seconds)
            counts.add(len(log.statements))
    assert len(counts) == 1, f"{url}: the number of statements changed between requests: {counts}"
    selects = [s for s in log.statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    times.sort()
    return {
        "url": url,
        "median": statistics.median(times),
        "p95": times[math.ceil(0.95 * len(times)) - 1],  # nearest rank
        "cpu": statistics.median(cpu_times),
        "sql": statistics.median(sql_times),
        "statements": len(log.statements),
        "selects": len(selects),
    }


def expect_cards(minimum: int) -> Callable[[str], None]:
    def check(page: str) -> None:
        cards = page.count('class="card group-card"')
        assert cards >= minimum, f"only {cards} group cards on the page"
        assert "No upcoming meetings" not in page, "a group without upcoming meetings: materializing went wrong"

    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20270104)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    clock.set_frozen(NOW)
    total_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="supportnet-bench-") as tmp:
        workdir = Path(tmp)
        app = make_app(workdir)
        with app.app_context(), contextlib.redirect_stderr(io.StringIO()):
            upgrade()  # alembic's INFO lines go to stderr; keep the output to the figures
            start = time.perf_counter()
            n_groups, n_series = populate(args.groups, rng)
            setup_s = time.perf_counter() - start
        print(f"SupportNet directory benchmark: SQLite file, {n_groups} public groups, {n_series} series, "
              f"now = {NOW:%Y-%m-%d %H:%M} UTC, python {sys.version.split()[0]}")
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"set-up (bulk insert of groups, tags, series): {setup_s:.2f} s; load average before: {load}\n")

        m = bench_materialize(app)
        assert m["created"] == m["rows"], m
        print("1. Materializing 26 weeks (scheduling.extend_horizons, one transaction, commit included)")
        print(f"   {'what':<44} {'rows':>7} {'wall':>8} {'CPU':>8} {'rows/s':>8}")
        table = [
            (f"extend_horizons for {m['series']} series", m["created"], m["seconds"], m["cpu"]),
            ("baseline: executemany INSERT, same rows", m["rows"], m["baseline"], m["baseline_cpu"]),
        ]
        for what, rows, wall, cpu in table:
            print(f"   {what:<44} {rows:>7} {wall:>7.2f}s {cpu:>7.2f}s {rows / wall:>8.0f}")
        print(f"   {'second pass (nothing due)':<44} {m['idle_created']:>7} {m['idle_seconds']:>7.3f}s")
        print(f"   ratio materialize / baseline: {m['seconds'] / m['baseline']:.1f}x wall, "
              f"{m['cpu'] / max(m['baseline_cpu'], 1e-9):.1f}x CPU "
              f"({m['created'] / m['series']:.1f} meetings per series)\n")

        n = args.requests
        health = time_requests(app, "/healthz", n)
        pages = [
            time_requests(app, "/groups", n, expect_cards(20)),
            time_requests(app, "/groups?weekday=1&time=evening", n, expect_cards(1)),
            time_requests(app, "/groups?tag=W&format=in_person", n, expect_cards(1)),
            time_requests(app, f"/groups?page={max(1, args.groups // 40)}", n, expect_cards(20)),
        ]
        print(f"2. Directory page, anonymous, Flask test client, {n} requests each (server time)")
        print(f"   {'request':<36} {'median':>8} {'p95':>8} {'CPU':>8} {'in SQL':>8} {'stmts':>5} {'SELECTs':>7} "
              f"{'vs healthz':>10}")
        for row in [health, *pages]:
            ratio = row["median"] / health["median"]
            print(f"   GET {row['url']:<32} {row['median'] * 1000:>6.1f}ms {row['p95'] * 1000:>6.1f}ms "
                  f"{row['cpu'] * 1000:>6.1f}ms {row['sql'] * 1000:>6.1f}ms {row['statements']:>5} "
                  f"{row['selects']:>7} {ratio:>9.1f}x")
        print("   median/p95: wall time of the whole request through the test client; CPU: median CPU time of it;")
        print("   in SQL: median time inside the driver; stmts: every statement incl. BEGIN (the same on every")
        print("   request); SELECTs: the queries among them; vs healthz: median / median of GET /healthz")
        with app.app_context():
            db.engine.dispose()
    clock.set_frozen(None)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal run time: {time.perf_counter() - total_start:.1f} s; load average (1, 5, 15 min): {load} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
