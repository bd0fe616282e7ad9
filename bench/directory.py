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
from sqlalchemy import delete, event, func, insert, select, text, update  # noqa: E402

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


def make_app(workdir: Path, url: str | None = None) -> Flask:
    return create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench-secret-key-" + "x" * 32,
            "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{workdir / 'bench.db'}",
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


SCRATCH_COLUMNS = ("series_id", "original_start", "starts_at", "ends_at", "status", "note", "capacity",
                   "going_count", "waitlist_count", "superseded", "sequence", "updated_at")


def _scratch_table(kind: str) -> list[str]:
    """A table with the occurrence table's columns, unique key and indexes (no foreign key, no CHECKs)."""
    key = "id INTEGER PRIMARY KEY" if kind == "sqlite" else "id SERIAL PRIMARY KEY"
    stamp = "DATETIME" if kind == "sqlite" else "TIMESTAMP WITHOUT TIME ZONE"
    return [
        "DROP TABLE IF EXISTS scratch_occurrence",
        f"CREATE TABLE scratch_occurrence ({key}, series_id INTEGER NOT NULL, "
        f"original_start {stamp} NOT NULL, starts_at {stamp} NOT NULL, ends_at {stamp} NOT NULL, "
        "status VARCHAR(32) NOT NULL, note TEXT NOT NULL, capacity INTEGER, going_count INTEGER NOT NULL, "
        "waitlist_count INTEGER NOT NULL, superseded BOOLEAN NOT NULL, sequence INTEGER NOT NULL, "
        f"updated_at {stamp} NOT NULL, UNIQUE (series_id, original_start))",
        "CREATE INDEX ix_scratch_starts_at ON scratch_occurrence (starts_at)",
        "CREATE INDEX ix_scratch_series_starts_at ON scratch_occurrence (series_id, starts_at)",
    ]


def _baseline_params(kind: str) -> list[tuple]:
    """The rows extend_horizons created, as the driver stores them (SQLite: text; PostgreSQL: naive UTC)."""
    rows = db.session.execute(
        select(*(getattr(Occurrence, name) for name in SCRATCH_COLUMNS)).order_by(Occurrence.id)
    ).all()
    when = _naive if kind == "sqlite" else _naive_datetime
    return [(r[0], when(r[1]), when(r[2]), when(r[3]), r[4].value, *r[5:11], when(r[11])) for r in rows]


def run_baseline(app: Flask, kind: str, params: list[tuple]) -> tuple[float, float]:
    """A plain driver `executemany` of the same rows into a fresh scratch table, in one transaction."""
    marks = ", ".join(["?" if kind == "sqlite" else "%s"] * len(SCRATCH_COLUMNS))
    sql = f"INSERT INTO scratch_occurrence ({', '.join(SCRATCH_COLUMNS)}) VALUES ({marks})"  # noqa: S608
    with app.app_context():
        raw = db.engine.raw_connection()
    try:
        driver = raw.driver_connection
        if kind == "sqlite":
            for statement in _scratch_table(kind):
                driver.execute(statement)
            start, cpu = time.perf_counter(), time.process_time()
            driver.execute("BEGIN IMMEDIATE")
            driver.executemany(sql, params)
            driver.execute("COMMIT")
        else:
            driver.rollback()
            with driver.cursor() as cursor:
                for statement in _scratch_table(kind):
                    cursor.execute(statement)
            driver.commit()
            start, cpu = time.perf_counter(), time.process_time()
            with driver.cursor() as cursor:
                cursor.executemany(sql, params)  # psycopg 3 sends the rows in pipeline mode
            driver.commit()
        return time.perf_counter() - start, time.process_time() - cpu
    finally:
        raw.close()


def run_materialize(app: Flask) -> tuple[int, float, float]:
    with app.app_context():
        db.session.rollback()
        start, cpu = time.perf_counter(), time.process_time()
        created = scheduling.extend_horizons(NOW)
        db.session.commit()
        return created, time.perf_counter() - start, time.process_time() - cpu


def forget_occurrences(app: Flask, kind: str) -> None:
    """Back to a database with series and no meetings (set-up between rounds, not measured)."""
    with app.app_context():
        if kind == "sqlite":
            db.session.execute(delete(Occurrence))
        else:  # no dead rows left behind for the next round's unique checks to step over
            db.session.execute(text("TRUNCATE occurrence CASCADE"))
        db.session.execute(update(MeetingSeries).values(materialized_until=None))
        db.session.commit()
        if kind == "postgres":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE occurrence")


def bench_materialize(app: Flask, kind: str, rounds: int) -> dict:
    """`rounds` rounds of extend_horizons and the baseline, alternating which goes first."""
    runs, bases, params, created = [], [], None, set()
    for r in range(rounds):
        if r:
            forget_occurrences(app, kind)
        feature_first = params is None or r % 2 == 0
        if not feature_first:
            bases.append(run_baseline(app, kind, params))
        n, wall, cpu = run_materialize(app)
        runs.append((wall, cpu))
        created.add(n)
        if params is None:
            with app.app_context():
                params = _baseline_params(kind)
                db.session.rollback()
        if feature_first:
            bases.append(run_baseline(app, kind, params))
    assert created == {len(params)}, (created, len(params))
    with app.app_context():
        # A second pass right away has nothing to do: that is what the scheduler runs every minute.
        start = time.perf_counter()
        again = scheduling.extend_horizons(NOW + timedelta(minutes=1))
        db.session.commit()
        idle_s = time.perf_counter() - start
        series = db.session.scalar(select(func.count()).select_from(MeetingSeries))
    return {"series": series, "created": len(params), "rows": len(params), "runs": runs, "bases": bases,
            "idle_created": again, "idle_seconds": idle_s}


def _naive(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _naive_datetime(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


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


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[tuple[str, str]]:
    """A throwaway database of this kind: its URL and a description."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}", "SQLite file"
        return
    from tests import postgres

    server = postgres.connect_or_start()
    name = postgres.unique_name("supportnet_bench")
    try:
        url = server.create_database(name)
        version = server._connection().info.server_version
        yield url, f"PostgreSQL {version // 10000}.{version % 10000} on 127.0.0.1:{server.port}"
    finally:
        with contextlib.suppress(Exception):
            server.drop_database(name)
        server.stop()


def print_materialize(m: dict) -> None:
    print(f"1. Materializing 26 weeks (scheduling.extend_horizons, one transaction, commit included), "
          f"{len(m['runs'])} rounds alternating with the baseline")
    print(f"   {'what':<44} {'rows':>7} {'wall':>8} {'CPU':>8} {'rows/s':>8}   per round (wall/CPU)")
    walls, cpus = [w for w, _c in m["runs"]], [c for _w, c in m["runs"]]
    base_walls, base_cpus = [w for w, _c in m["bases"]], [c for _w, c in m["bases"]]
    table = [
        (f"extend_horizons for {m['series']} series", m["runs"]),
        ("baseline: executemany INSERT, same rows", m["bases"]),
    ]
    for what, runs in table:
        wall = statistics.median(w for w, _c in runs)
        cpu = statistics.median(c for _w, c in runs)
        each = " ".join(f"{w:.2f}/{c:.2f}" for w, c in runs)
        print(f"   {what:<44} {m['rows']:>7} {wall:>7.2f}s {cpu:>7.2f}s {m['rows'] / wall:>8.0f}   {each}")
    print(f"   {'second pass (nothing due)':<44} {m['idle_created']:>7} {m['idle_seconds']:>7.3f}s")
    ratios = [c / max(b, 1e-9) for c, b in zip(cpus, base_cpus, strict=True)]
    print(f"   ratio materialize / baseline (medians): "
          f"{statistics.median(walls) / statistics.median(base_walls):.1f}x wall, "
          f"{statistics.median(cpus) / max(statistics.median(base_cpus), 1e-9):.1f}x CPU; CPU ratio per round: "
          f"{' '.join(f'{x:.1f}x' for x in ratios)} ({m['created'] / m['series']:.1f} meetings per series)\n")


def run_on(kind: str, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="supportnet-bench-") as tmp, database(kind, Path(tmp)) as (url, name):
        workdir = Path(tmp)
        app = make_app(workdir, url)
        with app.app_context(), contextlib.redirect_stderr(io.StringIO()):
            upgrade()  # alembic's INFO lines go to stderr; keep the output to the figures
            start = time.perf_counter()
            n_groups, _n_series = populate(args.groups, rng)
            setup_s = time.perf_counter() - start
        print(f"== {name}: {n_groups} public groups ==")
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"set-up (bulk insert of groups, tags, series): {setup_s:.2f} s; load average before: {load}\n")

        print_materialize(bench_materialize(app, kind, args.rounds))

        n = args.requests
        if n:
            health = time_requests(app, "/healthz", n)
            pages = [
                time_requests(app, "/groups", n, expect_cards(20)),
                time_requests(app, "/groups?weekday=1&time=evening", n, expect_cards(1)),
                time_requests(app, "/groups?tag=W&format=in_person", n, expect_cards(1)),
                time_requests(app, f"/groups?page={max(1, args.groups // 40)}", n, expect_cards(20)),
            ]
            print(f"2. Directory page, anonymous, Flask test client, {n} requests each (server time)")
            print(f"   {'request':<36} {'median':>8} {'p95':>8} {'CPU':>8} {'in SQL':>8} {'stmts':>5} "
                  f"{'SELECTs':>7} {'vs healthz':>10}")
            for row in [health, *pages]:
                ratio = row["median"] / health["median"]
                print(f"   GET {row['url']:<32} {row['median'] * 1000:>6.1f}ms {row['p95'] * 1000:>6.1f}ms "
                      f"{row['cpu'] * 1000:>6.1f}ms {row['sql'] * 1000:>6.1f}ms {row['statements']:>5} "
                      f"{row['selects']:>7} {ratio:>9.1f}x")
            print("   median/p95: wall time of the whole request through the test client; CPU: median CPU time of "
                  "it;")
            print("   in SQL: median time inside the driver; stmts: every statement incl. BEGIN (the same on every")
            print("   request); SELECTs: the queries among them; vs healthz: median / median of GET /healthz")
        with app.app_context():
            db.engine.dispose()
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50, help="requests per page (0: skip the pages)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of materializing and its baseline")
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--seed", type=int, default=20270104)
    args = parser.parse_args()
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    if not kinds or set(kinds) - {"sqlite", "postgres"} or not 1 <= args.rounds <= 20:
        parser.error("--databases sqlite,postgres; --rounds 1..20")
    clock.set_frozen(NOW)
    total_start = time.perf_counter()
    print(f"SupportNet directory benchmark: {args.groups} public groups, {args.groups * SERIES_PER_GROUP} series, "
          f"now = {NOW:%Y-%m-%d %H:%M} UTC, python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    for kind in kinds:
        run_on(kind, args)
    clock.set_frozen(None)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"total run time: {time.perf_counter() - total_start:.1f} s; load average (1, 5, 15 min): {load} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
