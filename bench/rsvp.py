"""Benchmark: RSVPs under gunicorn (2 workers) on a SQLite file, next to a baseline insert, and an RSVP storm.

Run from the project root:  .venv/bin/python bench/rsvp.py  [--clients 16] [--storm 40] [--rounds 3]

Everything runs on 127.0.0.1 against a throwaway SQLite file (migrated with `flask_migrate.upgrade()`):

1. Throughput: N clients, each signed in as a different member, say "going" to every one of 52 meetings (two weekly
   series, 50 seats each), each client in a different order, through `POST /meetings/<id>/rsvp` with the header
   the page's script sends (`X-Requested-With: fetch`: the answer is the updated RSVP box). Next to it, in the
   same run and with the same clients, `POST /bench/baseline-insert`: one INSERT and its commit, no sign-in, no
   CSRF, no rule, no template (a route only bench/rsvp_wsgi.py adds). Throughput, p50/p95/p99 latency, ratio.
2. Storm: S clients (30+) say "going" at the same moment (a barrier; connections opened beforehand) to a meeting
   with 5 seats, several rounds: exactly 5 must get a seat, the rest a waitlist place 1..S-5 each once, and no
   error (no 5xx, no "database is locked").

Every loop is bounded in count and in time; gunicorn is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from supportnet import accounts, clock, create_app, groups, memberships, scheduling  # noqa: E402
from supportnet.extensions import db  # noqa: E402
from supportnet.models import GroupKind, Occurrence, SiteRole  # noqa: E402
from supportnet.recurrence import Frequency, Recurrence  # noqa: E402
from supportnet.series_spec import SeriesSpec  # noqa: E402
from tests.http_harness import Browser, free_port, stop_gunicorn, wait_until_up  # noqa: E402

PASSWORD = "a long and quiet river"  # noqa: S105 - the throwaway accounts of a throwaway database
WORKERS, THREADS = 2, 4
SEATS = 5
PHASE_DEADLINE = 60.0  # seconds: a phase stops issuing requests after this, whatever is left
HTTP_TIMEOUT = 60.0
_POSITION = re.compile(rb"on the waitlist: number (\d+)")


# --- the world: members, a group, meetings ---


@dataclass
class World:
    emails: list[str]
    user_ids: list[int]
    many: list[int]  # the occurrences for the throughput run
    storm: list[int]  # one 5-seat occurrence per storm round


def build_world(app, members: int, rounds: int) -> World:
    """A public open group with two weekly series of 50 seats and a weekly 5-seat one, and its members."""
    tomorrow = (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=1)).date()
    with app.app_context():
        with contextlib.redirect_stderr(io.StringIO()):
            upgrade()  # alembic's INFO lines go to stderr; keep the output to the figures
        db.session.execute(db.text(
            "CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, occurrence_id INTEGER, user_id INTEGER, "
            "created_at TEXT NOT NULL)"
        ))
        now = clock.now_utc()
        fay = accounts.create_user("fay@example.org", PASSWORD, "Fay F.", now, role=SiteRole.FACILITATOR)
        group = groups.create_group(
            fay, name="Bench Circle", kind=GroupKind.PEER_SUPPORT, timezone="Europe/London", now=now
        )

        def series(title: str, weekday_offset: int, capacity: int) -> list[int]:
            first = tomorrow + timedelta(days=weekday_offset)
            spec = SeriesSpec(
                title=title, first_date=first, start_time=clock_time(19, 0), duration_minutes=90,
                timezone="Europe/London", recurrence=Recurrence(Frequency.WEEKLY, weekdays=(first.weekday(),)),
                venue="Community room", capacity=capacity,
            )
            made = scheduling.create_series(group, spec, now)
            return list(db.session.scalars(
                db.select(Occurrence.id).where(Occurrence.series_id == made.id).order_by(Occurrence.starts_at)
            ))

        many = series("Evening circle", 0, 50) + series("Morning walk", 1, 50)
        storm = series("Small room", 2, SEATS)[:rounds]
        emails, ids = [], []
        for n in range(members):
            email = f"member{n}@example.org"
            user = accounts.create_user(email, PASSWORD, f"Member {n}", now)
            memberships.join(group, user, now)
            emails.append(email)
            ids.append(user.id)
        db.session.commit()
        db.engine.dispose()
    return World(emails=emails, user_ids=ids, many=many, storm=storm)


# --- gunicorn ---


def start_gunicorn(tmp: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    # An empty config file, so the project's gunicorn.conf.py (production settings, access log) is not read;
    # everything that matters is on the command line.
    config = tmp / "gunicorn.bench.conf.py"
    config.write_text("")
    log = (tmp / "gunicorn.log").open("w")
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", str(config), "--pythonpath", str(ROOT / "bench"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "--worker-class", "gthread",
        "--threads", str(THREADS), "--keep-alive", "30", "--timeout", "60", "--graceful-timeout", "10",
        "--no-control-socket", "--error-logfile", "-", "--log-level", "warning", "rsvp_wsgi:app",
    ]
    if not Path(command[0]).exists():
        command[0] = "gunicorn"
    return subprocess.Popen(command, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)


# --- running clients ---


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    unfinished: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies)


def run_clients(jobs: list[list[Callable[[], str | None]]]) -> Result:
    """Run each client's jobs in its own thread, all starting together; a job returns an error or None."""
    result = Result()
    lock = threading.Lock()
    start = threading.Barrier(len(jobs) + 1)
    deadline: list[float] = []

    def client(mine: list[Callable[[], str | None]]) -> None:
        start.wait(timeout=30)
        for n, job in enumerate(mine):
            if time.monotonic() > deadline[0]:
                with lock:
                    result.unfinished += len(mine) - n
                return
            t0 = time.perf_counter()
            try:
                error = job()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - t0
            with lock:
                result.latencies.append(elapsed)
                if error:
                    result.errors.append(error)

    threads = [threading.Thread(target=client, args=(mine,), daemon=True) for mine in jobs]
    for thread in threads:
        thread.start()
    deadline.append(time.monotonic() + PHASE_DEADLINE)
    t0 = time.perf_counter()
    start.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=PHASE_DEADLINE + HTTP_TIMEOUT + 5)
    result.wall = time.perf_counter() - t0
    return result


def rsvp_job(browser: Browser, occurrence_id: int) -> Callable[[], str | None]:
    def job() -> str | None:
        status, _, body = browser.request(
            "POST", f"/meetings/{occurrence_id}/rsvp", {"csrf_token": browser.csrf}, {"X-Requested-With": "fetch"}
        )
        if status != 200 or b'class="rsvp"' not in body or b"You're going." not in body:
            return f"{status} {body[:120]!r}"
        return None

    return job


def baseline_job(browser: Browser, occurrence_id: int, user_id: int) -> Callable[[], str | None]:
    def job() -> str | None:
        status, _, body = browser.request(
            "POST", "/bench/baseline-insert", {"occurrence_id": occurrence_id, "user_id": user_id}
        )
        return None if status == 204 else f"{status} {body[:120]!r}"

    return job


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def describe(name: str, result: Result) -> tuple[str, float, float]:
    rate = result.count / result.wall if result.wall else 0.0
    p50 = percentile(result.latencies, 50) * 1000
    line = (
        f"   {name:<38} {result.count:>6} {len(result.errors):>6} {rate:>8.1f} {p50:>7.1f}ms "
        f"{percentile(result.latencies, 95) * 1000:>7.1f}ms {percentile(result.latencies, 99) * 1000:>7.1f}ms"
        f" {result.wall:>6.2f}s"
    )
    return line, rate, p50


# --- the storm ---


@dataclass
class Round:
    going: int = 0
    waitlisted: int = 0
    positions: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    spread: float = 0.0  # seconds between the first request sent and the last answer
    db_going: int = 0
    db_waitlisted: int = 0
    counters: tuple[int, int] = (0, 0)


def storm_round(browsers: list[Browser], occurrence_id: int, db_path: Path) -> Round:
    outcome = Round()
    lock = threading.Lock()
    barrier = threading.Barrier(len(browsers))
    sent: list[float] = []
    done: list[float] = []

    def stormer(browser: Browser) -> None:
        try:
            browser.close()
            browser.connect()  # connected beforehand: at the barrier only the request itself goes out
            barrier.wait(timeout=30)
            with lock:
                sent.append(time.perf_counter())
            status, _, body = browser.request(
                "POST", f"/meetings/{occurrence_id}/rsvp", {"csrf_token": browser.csrf}, {"X-Requested-With": "fetch"}
            )
        except Exception as exc:
            with lock:
                outcome.errors.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            done.append(time.perf_counter())
            position = _POSITION.search(body)
            if status == 200 and b"You're going." in body:
                outcome.going += 1
            elif status == 200 and position:
                outcome.waitlisted += 1
                outcome.positions.append(int(position.group(1)))
            else:
                outcome.errors.append(f"{status} {body[:160]!r}")
            if b"database is locked" in body:
                outcome.errors.append("database is locked")

    threads = [threading.Thread(target=stormer, args=(b,), daemon=True) for b in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT + 40)
    if sent and done:
        outcome.spread = max(done) - min(sent)
    with sqlite3.connect(db_path) as con:
        rows = dict(con.execute("SELECT status, count(*) FROM rsvp WHERE occurrence_id = ? GROUP BY status",
                                (occurrence_id,)).fetchall())
        outcome.db_going, outcome.db_waitlisted = rows.get("going", 0), rows.get("waitlisted", 0)
        outcome.counters = con.execute("SELECT going_count, waitlist_count FROM occurrence WHERE id = ?",
                                       (occurrence_id,)).fetchone()
    con.close()
    return outcome


# --- main ---


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients for the throughput run")
    parser.add_argument("--storm", type=int, default=40, help="clients in the storm (at least 30)")
    parser.add_argument("--rounds", type=int, default=3, help="storm rounds, each on a fresh 5-seat meeting")
    args = parser.parse_args()
    if not 1 <= args.clients <= 64 or not 30 <= args.storm <= 100 or not 1 <= args.rounds <= 10:
        parser.error("--clients 1..64, --storm 30..100, --rounds 1..10")

    started = time.perf_counter()
    import gunicorn

    print(
        f"SupportNet RSVP benchmark: gunicorn {gunicorn.__version__}, {WORKERS} gthread workers x {THREADS} threads, "
        f"SQLite file (WAL), python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="supportnet-bench-rsvp-") as tmpdir:
        tmp = Path(tmpdir)
        db_path = tmp / "bench.db"
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SUPPORTNET_")},
            "SUPPORTNET_ENV": "testing",
            "SUPPORTNET_DATABASE_URL": f"sqlite:///{db_path}",
            "SUPPORTNET_SECRET_KEY": "bench-" + "k" * 40,
            "SUPPORTNET_DATA_KEY": Fernet.generate_key().decode(),
            "SUPPORTNET_BASE_URL": f"http://127.0.0.1:{port}",
            "SUPPORTNET_AUTH_RATE_LIMIT": "100000 per minute",  # 50+ sign-ins from one address in a few seconds
            "SUPPORTNET_LOG_LEVEL": "WARNING",
        }
        t0 = time.perf_counter()
        app = create_app({
            "ENV": "testing", "SQLALCHEMY_DATABASE_URI": env["SUPPORTNET_DATABASE_URL"],
            "SECRET_KEY": env["SUPPORTNET_SECRET_KEY"], "DATA_KEY": env["SUPPORTNET_DATA_KEY"],
            "BASE_URL": env["SUPPORTNET_BASE_URL"],
        })
        world = build_world(app, args.clients + args.storm, args.rounds)
        print(
            f"set-up: migrated, {len(world.emails)} members, {len(world.many)} meetings of 50 seats, "
            f"{len(world.storm)} of {SEATS} seats: {time.perf_counter() - t0:.1f} s"
        )

        reconnects = 0
        proc = start_gunicorn(tmp, port, env)
        try:
            wait_until_up(port, proc)
            t0 = time.perf_counter()
            browsers = [Browser(port, timeout=HTTP_TIMEOUT) for _ in world.emails]
            for browser, email in zip(browsers, world.emails, strict=True):
                browser.sign_in(email, PASSWORD)
            print(f"{len(browsers)} clients signed in over HTTP: {time.perf_counter() - t0:.1f} s")
            ok &= throughput(browsers[: args.clients], world)
            ok &= storm(browsers[args.clients :], world, db_path, args.storm)
            reconnects = sum(b.reconnects for b in browsers)
            for browser in browsers:
                browser.close()
        finally:
            stop_gunicorn(proc)
        server_log = (tmp / "gunicorn.log").read_text(errors="replace")
        problems = [line for line in server_log.splitlines() if "Traceback" in line or "database is locked" in line]
        print(f"server log: {len(problems)} tracebacks or 'database is locked'; keep-alive reconnects: {reconnects}")
        if problems:
            ok = False
            print(server_log[-3000:])
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"total run time: {time.perf_counter() - started:.1f} s; {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def throughput(browsers: list[Browser], world: World) -> bool:
    meetings = world.many
    n = len(browsers)
    print(f"\n1. Throughput: {n} concurrent clients, each a different member, {len(meetings)} meetings each")
    # Warm-up: every worker thread has imported, connected and compiled its statements before we time anything.
    warm = run_clients([[baseline_job(b, 0, 0), lambda b=b: None if b.request("GET", "/healthz")[0] == 200 else "x"]
                        for b in browsers])
    assert not warm.errors, warm.errors[:3]

    def baseline() -> Result:
        return run_clients([
            [baseline_job(b, meetings[(i * 7 + k) % len(meetings)], world.user_ids[i]) for k in range(len(meetings))]
            for i, b in enumerate(browsers)
        ])

    first = baseline()
    # Each client in its own order, so at any moment the clients answer for different meetings.
    rsvp = run_clients([
        [rsvp_job(b, meetings[(i * 7 + k) % len(meetings)]) for k in range(len(meetings))]
        for i, b in enumerate(browsers)
    ])
    second = baseline()
    print(f"   {'request':<38} {'count':>6} {'errors':>6} {'req/s':>8} {'p50':>9} {'p95':>9} {'p99':>9} {'wall':>7}")
    line1, rate1, p50_1 = describe("POST /bench/baseline-insert (before)", first)
    line2, rate2, p50_2 = describe("POST /meetings/<id>/rsvp (fetch)", rsvp)
    line3, rate3, p50_3 = describe("POST /bench/baseline-insert (after)", second)
    print("\n".join((line1, line2, line3)))
    base_rate, base_p50 = (rate1 + rate3) / 2, (p50_1 + p50_3) / 2
    print(
        f"   ratio rsvp / baseline (mean of both baseline runs): throughput {rate2 / base_rate:.2f}x, "
        f"p50 latency {p50_2 / base_p50:.2f}x"
    )
    for result in (first, rsvp, second):
        if result.errors:
            print(f"   first errors: {result.errors[:3]}")
        if result.unfinished:
            print(f"   {result.unfinished} requests not sent: the phase hit its {PHASE_DEADLINE:.0f} s limit")
    return not (first.errors or rsvp.errors or second.errors or rsvp.unfinished)


def storm(browsers: list[Browser], world: World, db_path: Path, size: int) -> bool:
    print(f"\n2. Storm: {size} clients say \"going\" at the same moment to a meeting with {SEATS} seats")
    print("   round  going  waitlisted  errors  waitlist places        in the database (rows / counters)   spread")
    ok = True
    for n, occurrence_id in enumerate(world.storm, start=1):
        r = storm_round(browsers[:size], occurrence_id, db_path)
        places_ok = sorted(r.positions) == list(range(1, size - SEATS + 1))
        places = f"1..{size - SEATS} each once" if places_ok else f"WRONG {sorted(r.positions)}"
        in_db = f"{r.db_going} going, {r.db_waitlisted} waiting / {r.counters[0]}, {r.counters[1]}"
        print(f"   {n:>5}  {r.going:>5}  {r.waitlisted:>10}  {len(r.errors):>6}  {places:<21}  {in_db:<34}  "
              f"{r.spread:.2f}s")
        good = (
            r.going == SEATS and r.waitlisted == size - SEATS and not r.errors and places_ok
            and (r.db_going, r.db_waitlisted) == (SEATS, size - SEATS) and tuple(r.counters) == (SEATS, size - SEATS)
        )
        if not good:
            ok = False
            print(f"   round {n} FAILED: {r.errors[:3]}")
    print(f"   exactly {SEATS} going and 0 errors in every round: {'yes' if ok else 'NO'}")
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
