"""Load benchmark: gunicorn with 4 workers on SQLite and on PostgreSQL, a mixed workload, and an RSVP storm.

Run from the project root:  .venv/bin/python bench/load.py  [--databases sqlite,postgres] [--clients 16]
                                                             [--seconds 20] [--storm 40]

For each database, a throwaway one (a SQLite file in a temporary directory; PostgreSQL from tests/postgres.py: the
server in SUPPORTNET_TEST_POSTGRES_URL, else a throwaway `initdb` on 127.0.0.1) is migrated and filled: 60 public
groups meeting weekly, 5 of which the clients belong to (meetings of 50 seats), and one 5-seat meeting for the storm.
gunicorn then serves `wsgi:app` with the project's own gunicorn.conf.py (production settings, the redacted access
log), WEB_CONCURRENCY=4 workers x 4 threads, on 127.0.0.1 and a free port.

1. Mixed workload: N clients (threads with one keep-alive connection each, every one a signed-in member) send, for a
   bounded time and at most a bounded number of requests each, a mix like the site's own: directory pages (30 %),
   meeting pages (30 %), calendar feed polls with the ETag they were last given (25 %, so mostly 304 Not Modified),
   and RSVPs, "going" or "can't go" to one of their groups' meetings (15 %). Printed per request type: count,
   errors (a 5xx or an answer the type never gives), throughput, p50/p95/p99 latency; for feeds also the 304 share.
2. RSVP storm: S clients say "going" at the same moment to the 5-seat meeting. Printed: going, waitlisted, errors,
   and "overbooked" (seats taken beyond 5, by the answers and in the database): must be 0, with 0 errors.
3. Lowering a capacity: in each of 5 rounds the facilitator sends the meeting's edit form with its capacity lowered
   from 20 to 8 at the moment 20 members say "going". Printed: saved / refused with a message / errors, and any
   meeting with more going than its capacity: must be 0 errors and 0 overbooked.
4. Idle forms: the storm's clients, idle for longer than the session touch interval (SUPPORTNET_SESSION_TOUCH_SECONDS
   is set to 5 s here), all send a form at once while the mixed workload runs; then, right away, the same form again
   (not idle: the baseline). Printed: errors and p50/max latency of both, and their ratio.

Only the standard library talks HTTP; every loop is bounded in count and time, and gunicorn is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from supportnet import accounts, clock, create_app, groups, memberships, rsvps, scheduling  # noqa: E402
from supportnet.extensions import db  # noqa: E402
from supportnet.models import Group, GroupKind, Occurrence, Rsvp, RsvpStatus, SiteRole  # noqa: E402
from supportnet.recurrence import Frequency, Recurrence  # noqa: E402
from supportnet.series_spec import SeriesSpec  # noqa: E402
from tests.http_harness import (  # noqa: E402
    HTTP_TIMEOUT,
    Browser,
    form_values,
    free_port,
    production_env,
    start_gunicorn,
    stop_gunicorn,
    wait_until_up,
)

PASSWORD = "a long and quiet river"  # noqa: S105 - the throwaway accounts of a throwaway database
WORKERS, THREADS = 4, 4
GROUPS, HOME_GROUPS, SEATS = 60, 5, 5
CAPACITY_ROUNDS, CAPACITY_FROM, CAPACITY_TO, CAPACITY_JOINERS = 5, 20, 8, 20
TOUCH_SECONDS = 5
FEEDS = 10  # the groups whose calendar feeds the clients poll (a calendar app polls the same feeds again and again)
MAX_REQUESTS_PER_CLIENT = 2000
MIX = (("directory", 30), ("meeting", 30), ("feed", 25), ("rsvp", 15))
_POSITION = re.compile(rb"on the waitlist: number (\d+)")


# --- the world ---


@dataclass
class World:
    emails: list[str]
    slugs: list[str]
    meetings: list[int]  # upcoming meetings of every group (meeting pages)
    home_meetings: list[int]  # meetings of the clients' own groups (RSVPs)
    storm_meeting: int
    group_slug: str  # the group of the storm and capacity meetings, which every client belongs to
    capacity_series: list[int]  # one series per capacity round, CAPACITY_FROM seats
    capacity_meetings: list[int]  # the first meeting of each


def build_world(app, members: int) -> World:
    """60 public groups meeting weekly; every member belongs to the first 5; a 5-seat meeting for the storm."""
    london = ZoneInfo("Europe/London")
    tomorrow = (datetime.now(london) + timedelta(days=1)).date()
    rng = random.Random(8)
    with app.app_context():
        with contextlib.redirect_stderr(io.StringIO()):
            upgrade()  # alembic's INFO lines go to stderr; keep the output to the figures
        now = clock.now_utc()
        fay = accounts.create_user("fay@example.org", PASSWORD, "Fay F.", now, role=SiteRole.FACILITATOR)
        made: list[Group] = []
        home_series, all_series = [], []
        for n in range(GROUPS):
            group = groups.create_group(
                fay, name=f"Circle {n:02d} {rng.choice(['Harbour', 'Lantern', 'Willow', 'Meadow'])}",
                kind=rng.choice(list(GroupKind)), timezone="Europe/London", now=now,
            )
            first = tomorrow + timedelta(days=n % 7)
            spec = SeriesSpec(
                title="Weekly meeting", first_date=first, start_time=clock_time(18 + n % 3, 0), duration_minutes=90,
                timezone="Europe/London", recurrence=Recurrence(Frequency.WEEKLY, weekdays=(first.weekday(),)),
                venue="Community room", capacity=50,
            )
            series = scheduling.create_series(group, spec, now)
            all_series.append(series.id)
            if n < HOME_GROUPS:
                home_series.append(series.id)
            made.append(group)
        storm_spec = SeriesSpec(
            title="Small room", first_date=tomorrow, start_time=clock_time(12, 0), duration_minutes=60,
            timezone="Europe/London", recurrence=Recurrence(Frequency.WEEKLY, weekdays=(tomorrow.weekday(),)),
            venue="The small room", capacity=SEATS,
        )
        storm_series = scheduling.create_series(made[0], storm_spec, now)
        capacity_series = [
            scheduling.create_series(made[0], SeriesSpec(
                title=f"Room {n}", first_date=tomorrow + timedelta(days=1), start_time=clock_time(9 + n, 0),
                duration_minutes=45, timezone="Europe/London",
                recurrence=Recurrence(Frequency.WEEKLY, weekdays=((tomorrow + timedelta(days=1)).weekday(),)),
                venue=f"Room {n}", capacity=CAPACITY_FROM,
            ), now).id
            for n in range(CAPACITY_ROUNDS)
        ]
        emails = []
        for n in range(members):
            user = accounts.create_user(f"member{n}@example.org", PASSWORD, f"Member {n}", now)
            for group in made[:HOME_GROUPS]:
                memberships.join(group, user, now)
            emails.append(user.email)
        db.session.commit()

        def upcoming(series_ids: list[int], per_series: int) -> list[int]:
            ids: list[int] = []
            for series_id in series_ids:
                ids += db.session.scalars(
                    select(Occurrence.id).where(Occurrence.series_id == series_id)
                    .order_by(Occurrence.starts_at).limit(per_series)
                ).all()
            return ids

        world = World(
            emails=emails,
            slugs=[g.slug for g in made],
            meetings=upcoming(all_series, 4),
            home_meetings=upcoming(home_series, 8),
            storm_meeting=upcoming([storm_series.id], 1)[0],
            group_slug=made[0].slug,
            capacity_series=capacity_series,
            capacity_meetings=upcoming(capacity_series, 1),
        )
        db.session.commit()
        db.engine.dispose()
    return world


# --- the mixed workload ---


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)


def one_request(kind: str, browser: Browser, world: World, rng: random.Random) -> tuple[int, str | None]:
    """Send one request of this kind; return its status and an error, if the answer is one this kind never gives."""
    if kind == "directory":
        path = rng.choice(["/groups", "/groups?page=2", f"/groups?weekday={rng.randrange(7)}&time=evening",
                           "/groups?q=circle"])
        status, _, body = browser.request("GET", path)
        return status, None if status == 200 and b"Circle" in body else f"{path}: {status}"
    if kind == "meeting":
        path = f"/meetings/{rng.choice(world.meetings)}"
        status, _, _ = browser.request("GET", path)
        return status, None if status == 200 else f"{path}: {status}"
    if kind == "feed":
        path = f"/groups/{rng.choice(world.slugs[:FEEDS])}/calendar.ics"
        known = browser.etags.get(path)
        status, headers, body = browser.request("GET", path, headers={"If-None-Match": known} if known else None)
        if status == 200 and body.startswith(b"BEGIN:VCALENDAR") and headers.get("ETag"):
            browser.etags[path] = headers["ETag"]
            return status, None
        return status, None if status == 304 and known else f"{path}: {status}"
    occurrence_id = rng.choice(world.home_meetings)
    action = rng.choice(["rsvp", "rsvp/cancel"])
    status, _, body = browser.request("POST", f"/meetings/{occurrence_id}/{action}", {"csrf_token": browser.csrf},
                                      {"X-Requested-With": "fetch"})
    return status, None if status == 200 and b'class="rsvp"' in body else f"{action} {occurrence_id}: {status}"


def mixed(browsers: list[Browser], world: World, seconds: float) -> tuple[dict[str, Stats], float]:
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    stats = {kind: Stats() for kind in kinds}
    lock = threading.Lock()
    start = threading.Barrier(len(browsers) + 1)
    stop_at: list[float] = []

    def client(n: int, browser: Browser) -> None:
        rng = random.Random(n)
        start.wait(timeout=30)
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= stop_at[0]:
                return
            kind = rng.choices(kinds, weights)[0]
            t0 = time.perf_counter()
            try:
                status, error = one_request(kind, browser, world, rng)
            except Exception as exc:
                status, error = 0, f"{type(exc).__name__}: {exc}"
                browser.close()
            elapsed = time.perf_counter() - t0
            with lock:
                stats[kind].latencies.append(elapsed)
                stats[kind].statuses[status] += 1
                if error:
                    stats[kind].errors.append(error)

    threads = [threading.Thread(target=client, args=(n, b), daemon=True) for n, b in enumerate(browsers)]
    for thread in threads:
        thread.start()
    stop_at.append(time.monotonic() + seconds)
    t0 = time.perf_counter()
    start.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=seconds + HTTP_TIMEOUT + 10)
    return stats, time.perf_counter() - t0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def print_mixed(stats: dict[str, Stats], wall: float) -> bool:
    print(f"   {'request type':<34} {'count':>6} {'errors':>6} {'req/s':>7} {'p50':>8} {'p95':>8} {'p99':>8}  note")
    total = Stats()
    for kind, label in (("directory", "GET /groups (4 variants)"), ("meeting", "GET /meetings/<id>"),
                        ("feed", "GET /groups/<slug>/calendar.ics"), ("rsvp", "POST /meetings/<id>/rsvp[/cancel]")):
        s = stats[kind]
        total.latencies += s.latencies
        total.errors += s.errors
        note = ""
        if kind == "feed" and s.latencies:
            note = f"{s.statuses[304] / len(s.latencies):.0%} answered 304"
        print(f"   {label:<34} {len(s.latencies):>6} {len(s.errors):>6} {len(s.latencies) / wall:>7.1f} "
              f"{percentile(s.latencies, 50) * 1000:>6.1f}ms {percentile(s.latencies, 95) * 1000:>6.1f}ms "
              f"{percentile(s.latencies, 99) * 1000:>6.1f}ms  {note}")
    print(f"   {'all':<34} {len(total.latencies):>6} {len(total.errors):>6} {len(total.latencies) / wall:>7.1f} "
          f"{percentile(total.latencies, 50) * 1000:>6.1f}ms {percentile(total.latencies, 95) * 1000:>6.1f}ms "
          f"{percentile(total.latencies, 99) * 1000:>6.1f}ms  over {wall:.1f}s")
    for s in stats.values():
        if s.errors:
            print(f"   first errors: {s.errors[:3]}")
    return not total.errors


# --- the storm ---


def storm(browsers: list[Browser], app, occurrence_id: int) -> bool:
    barrier = threading.Barrier(len(browsers))
    lock = threading.Lock()
    going, waitlisted, errors, positions = 0, 0, [], []
    spread: list[float] = []

    def stormer(browser: Browser) -> None:
        nonlocal going, waitlisted
        try:
            browser.close()
            browser.conn = http.client.HTTPConnection("127.0.0.1", browser.port, timeout=HTTP_TIMEOUT)
            browser.conn.connect()  # connected beforehand: at the barrier only the request goes out
            barrier.wait(timeout=30)
            t0 = time.perf_counter()
            status, _, body = browser.request("POST", f"/meetings/{occurrence_id}/rsvp", {"csrf_token": browser.csrf},
                                              {"X-Requested-With": "fetch"})
            t1 = time.perf_counter()
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            spread.extend((t0, t1))
            position = _POSITION.search(body)
            if status == 200 and b"You're going." in body:
                going += 1
            elif status == 200 and position:
                waitlisted += 1
                positions.append(int(position.group(1)))
            else:
                errors.append(f"{status} {body[:160]!r}")

    threads = [threading.Thread(target=stormer, args=(b,), daemon=True) for b in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT + 40)
    with app.app_context():
        rows = db.session.scalars(select(Rsvp).where(Rsvp.occurrence_id == occurrence_id)).all()
        in_db = sum(row.status == RsvpStatus.GOING for row in rows)
        ranked = sorted(rsvps.positions_for(list(rows)).values())
        occ = db.session.get(Occurrence, occurrence_id)
        counters = (occ.going_count, occ.waitlist_count)
        db.session.rollback()
        db.engine.dispose()
    waiting = len(browsers) - SEATS
    overbooked = max(0, going - SEATS, in_db - SEATS, counters[0] - SEATS)
    db_places_ok = ranked == list(range(1, waiting + 1))
    shown = Counter(positions)
    took = (max(spread) - min(spread)) if spread else 0.0
    print(f"   {len(browsers)} clients at once for {SEATS} seats: going {going}, waitlisted {waitlisted}, "
          f"errors {len(errors)}, overbooked {overbooked}; all answered within {took:.2f}s")
    print(f"   database: {in_db} going rows, counters {counters}, waitlist places 1..{waiting} "
          f"{'each once' if db_places_ok else 'WRONG'}; places shown in the answers: "
          + (f"1..{waiting} each once" if sorted(positions) == list(range(1, waiting + 1)) else
             f"{len(shown)} distinct of {len(positions)} (shown before an earlier queuer's commit was visible)"))
    if errors:
        print(f"   first errors: {errors[:3]}")
    expected = (SEATS, waiting)
    return not errors and overbooked == 0 and going == SEATS and db_places_ok and counters == expected


# --- lowering a capacity while members say "going" ---


def lower_capacity(facilitator: Browser, members: list[Browser], app, world: World) -> bool:
    saved = refused = 0
    errors: list[str] = []
    waits: list[float] = []
    for series_id, occurrence_id in zip(world.capacity_series, world.capacity_meetings, strict=True):
        edit = f"/groups/{world.group_slug}/meetings/{series_id}/edit"
        fields = [(k, v) for k, v in form_values(facilitator.read(edit), edit) if k != "capacity"]
        fields.append(("capacity", str(CAPACITY_TO)))
        barrier = threading.Barrier(len(members) + 1)
        lock = threading.Lock()

        def join(browser: Browser, occurrence_id: int = occurrence_id, barrier=barrier, lock=lock) -> None:
            barrier.wait(timeout=30)
            status, _, _ = browser.request("POST", f"/meetings/{occurrence_id}/rsvp", {"csrf_token": browser.csrf},
                                           {"X-Requested-With": "fetch"})
            if status != 200:
                with lock:
                    errors.append(f"rsvp {status}")

        threads = [threading.Thread(target=join, args=(b,), daemon=True) for b in members]
        for thread in threads:
            thread.start()
        barrier.wait(timeout=30)
        t0 = time.perf_counter()
        status, _, body = facilitator.request("POST", edit, fields)
        waits.append(time.perf_counter() - t0)
        for thread in threads:
            thread.join(timeout=HTTP_TIMEOUT + 10)
        if status == 302:
            saved += 1
        elif status == 400 and b"already going" in body:
            refused += 1
        else:
            errors.append(f"edit {status}")
    with app.app_context():
        occs = [db.session.get(Occurrence, i) for i in world.capacity_meetings]
        overbooked = sum(o.capacity is not None and o.going_count > o.capacity for o in occs)
        db.engine.dispose()
    print(f"   {CAPACITY_ROUNDS} rounds, {CAPACITY_FROM} -> {CAPACITY_TO} seats while {len(members)} members say "
          f"going: saved {saved}, refused with a message {refused}, errors {len(errors)}, overbooked {overbooked}; "
          f"the facilitator waited p50 {percentile(waits, 50) * 1000:.0f}ms, max {max(waits) * 1000:.0f}ms")
    if errors:
        print(f"   first errors: {errors[:3]}")
    return not errors and overbooked == 0 and saved + refused == CAPACITY_ROUNDS


# --- forms sent after a pause longer than the session touch interval ---


def idle_forms(idle: list[Browser], busy: list[Browser], world: World) -> bool:
    time.sleep(TOUCH_SECONDS + 1)  # every idle client's session is now due a touch
    results: dict[str, list[tuple[int, float]]] = {"idle": [], "baseline": []}
    lock = threading.Lock()
    background = threading.Thread(target=mixed, args=(busy, world, 8.0), daemon=True)
    background.start()
    time.sleep(2)  # the mixed workload is under way: reads and RSVPs from other members
    barrier = threading.Barrier(len(idle))

    def send(browser: Browser, n: int) -> None:
        meeting = world.home_meetings[n % len(world.home_meetings)]
        barrier.wait(timeout=30)
        for label in ("idle", "baseline"):
            t0 = time.perf_counter()
            try:
                status, _, _ = browser.request("POST", f"/meetings/{meeting}/rsvp/cancel",
                                               {"csrf_token": browser.csrf}, {"X-Requested-With": "fetch"})
            except Exception:
                status = 0
            with lock:
                results[label].append((status, time.perf_counter() - t0))

    threads = [threading.Thread(target=send, args=(b, n), daemon=True) for n, b in enumerate(idle)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * HTTP_TIMEOUT + 10)
    background.join(timeout=HTTP_TIMEOUT + 20)
    ok = True
    figures = {}
    for label, rows in results.items():
        errors = sum(status != 200 for status, _ in rows)
        times = [took for _, took in rows]
        figures[label] = percentile(times, 50)
        print(f"   {label:<8} {len(rows):>3} forms at once: errors {errors}, p50 {percentile(times, 50) * 1000:.1f}ms, "
              f"max {max(times) * 1000:.1f}ms")
        ok &= errors == 0 and len(rows) == len(idle)
    print(f"   idle / baseline p50: {figures['idle'] / figures['baseline']:.2f}x")
    return ok


# --- one database ---


@contextlib.contextmanager
def database(kind: str, tmp: Path):
    """A throwaway database URL of this kind."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}", "SQLite file (WAL)"
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


def run_on(kind: str, clients: int, seconds: float, storm_size: int) -> bool:
    with tempfile.TemporaryDirectory(prefix=f"supportnet-bench-load-{kind}-") as tmpdir:
        tmp = Path(tmpdir)
        with database(kind, tmp) as (url, described):
            print(f"\n== {described}: gunicorn {WORKERS} workers x {THREADS} threads (gunicorn.conf.py) ==")
            port = free_port()
            env = production_env(
                url, port, WEB_CONCURRENCY=str(WORKERS), WEB_THREADS=str(THREADS), LOG_LEVEL="WARNING",
                SESSION_TOUCH_SECONDS=str(TOUCH_SECONDS),
                # The facilitator of the capacity phase signs in with a password alone (no authenticator app).
                REQUIRE_2FA_FOR_STAFF="false",
            )
            t0 = time.perf_counter()
            app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "DATA_KEY": env["SUPPORTNET_DATA_KEY"],
                              "BASE_URL": env["SUPPORTNET_BASE_URL"]})
            world = build_world(app, clients + storm_size)
            print(f"   set-up: migrated; {GROUPS} groups, {len(world.emails)} members: {time.perf_counter() - t0:.1f}s")
            log_path = tmp / "gunicorn.log"
            process = start_gunicorn(env, log_path)
            ok = True
            try:
                wait_until_up(port, process)
                t0 = time.perf_counter()
                browsers = [Browser(port) for _ in world.emails]
                with ThreadPoolExecutor(max_workers=WORKERS * 2) as pool:  # Argon2 is slow on purpose: in parallel
                    list(pool.map(lambda b, e: b.sign_in(e, PASSWORD), browsers, world.emails))
                facilitator = Browser(port)
                facilitator.sign_in("fay@example.org", PASSWORD)
                print(f"   {len(browsers)} members signed in over HTTP: {time.perf_counter() - t0:.1f}s")
                rng = random.Random(1)
                for browser in browsers[:clients]:  # warm-up: every worker imports, connects, compiles
                    for kind_ in ("directory", "meeting"):
                        one_request(kind_, browser, world, rng)
                    for slug in world.slugs[:FEEDS]:  # the calendar app subscribed earlier: it has the ETags
                        path = f"/groups/{slug}/calendar.ics"
                        browser.etags[path] = browser.request("GET", path)[1]["ETag"]
                print(f"1. Mixed workload: {clients} clients for {seconds:.0f}s (at most "
                      f"{MAX_REQUESTS_PER_CLIENT} requests each)")
                stats, wall = mixed(browsers[:clients], world, seconds)
                ok &= print_mixed(stats, wall)
                print("2. RSVP storm")
                ok &= storm(browsers[clients:], app, world.storm_meeting)
                print("3. Lowering a capacity while members say going")
                ok &= lower_capacity(facilitator, browsers[clients:clients + CAPACITY_JOINERS], app, world)
                print(f"4. Forms sent after more than the session touch interval ({TOUCH_SECONDS}s) without a request")
                ok &= idle_forms(browsers[clients:], browsers[:clients], world)
                facilitator.close()
                for browser in browsers:
                    browser.close()
            finally:
                stop_gunicorn(process)
            server_log = log_path.read_text(errors="replace")
            problems = [line for line in server_log.splitlines() if "Traceback" in line or "database is locked" in line]
            print(f"   server log: {len(problems)} tracebacks or 'database is locked'; "
                  f"{sum(' 500 ' in line for line in server_log.splitlines())} answers 500")
            if problems:
                ok = False
                print(server_log[-3000:])
            return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients of the mixed workload (1..64)")
    parser.add_argument("--seconds", type=float, default=20, help="length of the mixed workload (5..120)")
    parser.add_argument("--storm", type=int, default=40, help="clients in the storm (30..100)")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    if (not 1 <= args.clients <= 64 or not 5 <= args.seconds <= 120 or not 30 <= args.storm <= 100
            or not kinds or set(kinds) - {"sqlite", "postgres"}):
        parser.error("--databases sqlite,postgres; --clients 1..64; --seconds 5..120; --storm 30..100")
    import gunicorn

    started = time.perf_counter()
    print(f"SupportNet load benchmark: gunicorn {gunicorn.__version__}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = {kind: run_on(kind, args.clients, args.seconds, args.storm) for kind in kinds}
    print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"total run time {time.perf_counter() - started:.1f}s; "
          + ", ".join(f"{kind} {'OK' if ok else 'FAILED'}" for kind, ok in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
