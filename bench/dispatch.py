"""Benchmark: the notification dispatch tick (10,000 due reminders to a local SMTP server), and an idle tick
over 1,000,000 future pending rows.

Run from the project root:  .venv/bin/python bench/dispatch.py  [--reminders N] [--idle-rows N] [--ticks N]

Everything happens on a throwaway SQLite file (migrated with `flask_migrate.upgrade()`) and a real aiosmtpd
server on a free localhost port, in this process (its own thread). Two measurements, each with a baseline or a
plan taken in the same run:

1. 10,000 due meeting reminders (1,000 members, 5 meetings each, the 24-hour and 1-hour reminders, email only)
   delivered by `notifications.dispatch.tick`: claiming, re-checking, rendering text + HTML + .ics, sending over
   one SMTP connection per batch, and marking each row sent in its own transaction. Baseline: the same 10,000 messages,
   byte for byte (as the server received them), sent again with plain `smtplib` over one connection.
2. The idle tick: 1,000,000 pending rows all due in the future; the time of one `notifications.dispatch.tick` (which
   finds nothing), and SQLite's plan for its due query, which must read the (status, due_at) index.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import random
import smtplib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, insert, select, update  # noqa: E402

from supportnet import accounts, clock, create_app, groups, scheduling  # noqa: E402
from supportnet.extensions import db  # noqa: E402
from supportnet.models import (  # noqa: E402
    GroupKind,
    MemberRole,
    Membership,
    MemberStatus,
    Notification,
    NotificationSettings,
    NotificationStatus,
    Occurrence,
    Rsvp,
    RsvpStatus,
    SiteRole,
    User,
)
from supportnet.notifications import dispatch as notif_dispatch  # noqa: E402
from supportnet.notifications import planner as notif_planner  # noqa: E402
from supportnet.recurrence import Frequency, Recurrence  # noqa: E402
from supportnet.series_spec import SeriesSpec  # noqa: E402

# A Thursday noon; the meetings start two to four hours later.
NOW = datetime(2027, 1, 7, 12, 0, tzinfo=UTC)
MEETINGS = 5


class CountingHandler:
    """Keeps each message's bytes (for the baseline) and nothing else: the server must cost little."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos[0], envelope.original_content or envelope.content))
        return "250 OK"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_app(workdir: Path, port: int, url: str | None = None) -> Flask:
    return create_app({
        "ENV": "testing",
        "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{workdir / 'bench.db'}",
        "BASE_URL": "http://supportnet.bench",
        "MAIL_URL": f"smtp://127.0.0.1:{port}",
        "DEV_MAILBOX_DIR": str(workdir / "mailbox"),
        "LOG_LEVEL": "WARNING",
    })


# --- set-up (not measured) ---


def populate(members: int) -> list[int]:
    """One group, MEETINGS one-off meetings this afternoon, `members` members going to all of them."""
    facilitator = accounts.create_user("bench-facilitator@example.org", "a long and quiet river", "Fran F.", NOW,
                                       role=SiteRole.FACILITATOR)
    group = groups.create_group(facilitator, name="Bench group", kind=GroupKind.MEETUP, timezone="Europe/London",
                                now=NOW)
    occurrence_ids = []
    for n in range(MEETINGS):
        start = NOW + timedelta(hours=2, minutes=30 * n)
        spec = SeriesSpec(title=f"Meeting {n + 1}", first_date=start.date(), start_time=start.time(),
                          duration_minutes=60, timezone="UTC", recurrence=Recurrence(Frequency.ONCE),
                          venue="Community room")
        series = scheduling.create_series(group, spec, NOW - timedelta(days=2))
        db.session.flush()
        occurrence_ids.append(db.session.scalars(select(Occurrence.id).where(Occurrence.series_id == series.id)).one())
    # Members, memberships, preferences (reminders by email only) and RSVPs, bulk-inserted.
    db.session.execute(insert(User), [
        {"email": f"member{i}@example.org", "password_hash": "x", "display_name": f"Member {i}.",
         "timezone": "Europe/London", "role": SiteRole.MEMBER, "email_confirmed_at": NOW, "created_at": NOW,
         "password_changed_at": NOW}
        for i in range(members)
    ])
    user_ids = db.session.scalars(select(User.id).where(User.email.like("member%"))).all()
    db.session.execute(insert(Membership), [
        {"group_id": group.id, "user_id": uid, "role": MemberRole.MEMBER, "status": MemberStatus.ACTIVE,
         "created_at": NOW, "joined_at": NOW}
        for uid in user_ids
    ])
    db.session.execute(insert(NotificationSettings), [
        {"user_id": uid, "channels": {"reminder": ["email"], "digest": []}, "reminder_offsets": [1440, 60],
         "prompt_days": 0, "missed_after": 3, "descriptive_subjects": False, "updated_at": NOW}
        for uid in user_ids
    ])
    db.session.execute(insert(Rsvp), [
        {"occurrence_id": occ, "user_id": uid, "status": RsvpStatus.GOING, "created_at": NOW, "updated_at": NOW}
        for occ in occurrence_ids for uid in user_ids
    ])
    db.session.execute(update(Occurrence).where(Occurrence.id.in_(occurrence_ids)).values(going_count=len(user_ids)))
    db.session.commit()
    return occurrence_ids


IDLE_SQL = ("INSERT INTO notification (user_id, kind, channel, dedupe_key, due_at, status, attempts, payload, "
            "created_at) VALUES ({marks})")


def idle_rows(user_id: int, count: int, rng: random.Random, start: int = 0) -> Iterator[tuple]:
    """Pending reminder rows due 1 to 30 days from NOW (naive UTC, as the database stores them)."""
    stamp = NOW.replace(tzinfo=None)
    for i in range(start, start + count):
        due = (NOW + timedelta(seconds=rng.randrange(86400, 30 * 86400))).replace(tzinfo=None)
        yield (user_id, "reminder", "email", f"idle:{i}", due, "pending", 0, "{}", stamp)


def finished_rows(user_id: int, count: int, rng: random.Random) -> Iterator[tuple]:
    """Reminders sent over the last day (a finished row's due_at is when it finished): a busy day's traffic."""
    stamp = NOW.replace(tzinfo=None)
    for i in range(count):
        done = (NOW - timedelta(seconds=rng.randrange(60, 86400))).replace(tzinfo=None)
        yield (user_id, "reminder", "email", f"sent:{i}", done, "sent", 1, "{}", stamp)


def add_idle_rows(app: Flask, kind: str, count: int, rng: random.Random, finished: int = 0) -> float:
    """Bulk-insert `count` pending rows due 1 to 30 days from NOW, and `finished` sent rows (set-up; returns
    seconds), then ANALYZE."""
    started = time.perf_counter()
    with app.app_context():
        user_id = db.session.scalar(select(func.min(User.id)))
        db.session.commit()
        raw = db.engine.raw_connection()
    try:
        driver = raw.driver_connection
        rows = itertools.chain(finished_rows(user_id, finished, rng), idle_rows(user_id, count, rng))
        if kind == "sqlite":
            sql = IDLE_SQL.format(marks=", ".join(["?"] * 9))
            driver.execute("BEGIN IMMEDIATE")
            while batch := [(*r[:4], r[4].isoformat(" ", "microseconds"), *r[5:8], r[8].isoformat(" ", "microseconds"))
                            for r in itertools.islice(rows, 50_000)]:
                driver.executemany(sql, batch)
            driver.execute("COMMIT")
            driver.execute("ANALYZE")
        else:
            driver.rollback()
            with driver.cursor() as cursor, cursor.copy(
                "COPY notification (user_id, kind, channel, dedupe_key, due_at, status, attempts, payload, "
                "created_at) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            driver.commit()
            driver.autocommit = True
            driver.execute("VACUUM ANALYZE notification")
            driver.autocommit = False
    finally:
        raw.close()
    return time.perf_counter() - started


# --- measuring ---


def cpu() -> float:
    return time.process_time()


def rearm(app: Flask, due: int) -> None:
    """Every reminder pending and due a minute ago, as after an outage (set-up of a round; not measured)."""
    with app.app_context():
        db.session.execute(update(Notification).values(
            status=NotificationStatus.PENDING, due_at=NOW - timedelta(minutes=1), attempts=0, sent_at=None,
            claimed_until=None, last_error=None))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Notification)) == due


def run_tick(app: Flask, handler: CountingHandler, due: int) -> tuple[float, float, list, object]:
    handler.messages.clear()
    with clock.frozen(NOW), app.app_context():
        wall0, cpu0 = time.perf_counter(), cpu()
        result = notif_dispatch.tick(NOW)
        tick_wall, tick_cpu = time.perf_counter() - wall0, cpu() - cpu0
        sent = db.session.scalar(
            select(func.count()).select_from(Notification).where(Notification.status == NotificationStatus.SENT))
        db.session.commit()
    received = list(handler.messages)
    ids = {raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0] for _f, _t, raw in received}
    assert result.sent == sent == len(received) == len(ids) == due, (result, sent, len(received), len(ids))
    return tick_wall, tick_cpu, received, result


def run_baseline(handler: CountingHandler, port: int, received: list) -> tuple[float, float]:
    handler.messages.clear()
    wall0, cpu0 = time.perf_counter(), cpu()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for mail_from, rcpt, raw in received:
            client.sendmail(mail_from, [rcpt], raw)
    base_wall, base_cpu = time.perf_counter() - wall0, cpu() - cpu0
    assert len(handler.messages) == len(received)
    return base_wall, base_cpu


def bench_delivery(app: Flask, handler: CountingHandler, port: int, members: int, rounds: int) -> None:
    with clock.frozen(NOW - timedelta(days=2)), app.app_context():
        started = time.perf_counter()
        report = notif_planner.plan(NOW - timedelta(days=2))
        db.session.commit()
        planned = time.perf_counter() - started
        due = db.session.scalar(select(func.count()).select_from(Notification))
    print(f"   planner: wrote {report.reminders:,} reminder rows for {members:,} members x {MEETINGS} meetings "
          f"in {planned:.2f} s")
    assert due == members * MEETINGS * 2, due

    ticks: list[tuple[float, float]] = []
    bases: list[tuple[float, float]] = []
    received: list = []
    for r in range(rounds):
        # The baseline sends the bytes the server received from the latest tick; it goes first in every other
        # round (after the first, which needs a tick's bytes).
        if r % 2 == 1:
            bases.append(run_baseline(handler, port, received))
        rearm(app, due)
        tick_wall, tick_cpu, received, result = run_tick(app, handler, due)
        ticks.append((tick_wall, tick_cpu))
        if r % 2 == 0:
            bases.append(run_baseline(handler, port, received))

    n = len(received)
    size = statistics.mean(len(raw) for *_x, raw in received)
    tick_wall, tick_cpu = (statistics.median(t[i] for t in ticks) for i in (0, 1))
    base_wall, base_cpu = (statistics.median(b[i] for b in bases) for i in (0, 1))
    print(f"   {'what (medians of ' + str(rounds) + ' rounds)':<52}{'msgs':>7}{'wall':>9}{'CPU*':>9}{'msgs/s':>9}"
          "   per round: wall/CPU")
    each = " ".join(f"{w:.2f}/{c:.2f}" for w, c in ticks)
    print(f"   {'dispatch.tick (claim, check, render, send, mark)':<52}{n:>7,}{tick_wall:>8.2f}s"
          f"{tick_cpu:>8.2f}s{n / tick_wall:>9.0f}   {each}")
    each = " ".join(f"{w:.2f}/{c:.2f}" for w, c in bases)
    print(f"   {'baseline: smtplib, same bytes, one connection':<52}{n:>7,}{base_wall:>8.2f}s"
          f"{base_cpu:>8.2f}s{n / base_wall:>9.0f}   {each}")
    print(f"   ratio tick / baseline: {tick_wall / base_wall:.2f}x wall, {tick_cpu / base_cpu:.2f}x CPU; "
          f"{result.claimed:,} claimed in batches of {app.config['NOTIFY_BATCH_SIZE']}; mean message "
          f"{size / 1024:.1f} KiB (text + HTML + .ics)")
    print(f"   per message: tick {tick_wall / n * 1000:.2f} ms, baseline {base_wall / n * 1000:.2f} ms "
          "(*CPU of this process, which also runs the SMTP server's thread)")


def plans(app: Flask, kind: str) -> dict[str, list[str]]:
    """The database's plan of each statement of an idle tick, with the values the tick binds."""
    lease_end = NOW + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"])
    with app.app_context():
        engine = db.engine
        due = notif_dispatch.due_query(NOW, app.config["NOTIFY_BATCH_SIZE"])
        if kind == "postgres":
            due = due.with_for_update(skip_locked=True)
        table = Notification.__table__
        statements = {
            "lease reset": update(table).where(table.c.status == "sending", table.c.due_at <= NOW)
            .values(status="pending", claimed_until=None),
            "claim": update(table).where(table.c.id.in_(due.scalar_subquery()))
            .values(status="sending", claimed_until=lease_end, due_at=lease_end, attempts=table.c.attempts + 1)
            .returning(table.c.id),
        }
        if hasattr(notif_dispatch, "scrub_query"):  # (older code built it inside scrub_account_links)
            statements["scrub"] = notif_dispatch.scrub_query(NOW)
        found = {}
        with engine.connect() as connection:
            for name, statement in statements.items():
                sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
                prefix = "EXPLAIN QUERY PLAN " if kind == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
                found[name] = [str(row[-1]) for row in connection.exec_driver_sql(prefix + sql)]
            connection.rollback()  # EXPLAIN ANALYZE runs the UPDATEs (they change nothing here): undo anyway
    return found


def time_ticks(app: Flask, ticks: int) -> tuple[list[float], list[float]]:
    times, cpus = [], []
    with clock.frozen(NOW), app.app_context():
        for _ in range(3):
            notif_dispatch.tick(NOW)
        for _ in range(ticks):
            wall0, cpu0 = time.perf_counter(), cpu()
            result = notif_dispatch.tick(NOW)
            times.append(time.perf_counter() - wall0)
            cpus.append(cpu() - cpu0)
            assert result.claimed == 0
    return times, cpus


@contextlib.contextmanager
def idle_databases(kind: str, tmp: Path, names: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """Throwaway databases of this kind, one per name: their URLs and a description."""
    if kind == "sqlite":
        yield [f"sqlite:///{tmp / f'{name}.db'}" for name in names], "SQLite file"
        return
    from tests import postgres

    server = postgres.connect_or_start()
    made = []
    try:
        urls = []
        for name in names:
            made.append(postgres.unique_name(f"supportnet_bench_{name}"))
            urls.append(server.create_database(made[-1]))
        version = server._connection().info.server_version
        yield urls, f"PostgreSQL {version // 10000}.{version % 10000} (throwaway server on 127.0.0.1)"
    finally:
        for name in made:
            with contextlib.suppress(Exception):
                server.drop_database(name)
        server.stop()


def bench_idle(kind: str, sizes: Sequence[int], finished: int, ticks: int, rounds: int, port: int) -> dict:
    """Idle ticks over `sizes` pending rows (one database each), alternating between them, `rounds` times."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="supportnet-bench-idle-") as tmpdir, \
            idle_databases(kind, Path(tmpdir), [f"idle{size}" for size in sizes]) as (urls, described):
        apps = []
        print(f"   {described}")
        for size, url in zip(sizes, urls, strict=True):
            app = make_app(Path(tmpdir), port, url)
            with app.app_context(), contextlib.redirect_stderr(io.StringIO()):
                upgrade()
                accounts.create_user(f"idle{size}@example.org", "a long and quiet river", "Ida I.", NOW)
                db.session.commit()
            seconds = add_idle_rows(app, kind, size, rng, finished)
            with app.app_context():
                pending = db.session.scalar(select(func.count()).select_from(Notification)
                                            .where(Notification.status == NotificationStatus.PENDING))
                total = db.session.scalar(select(func.count()).select_from(Notification))
                db.session.commit()
            print(f"   set-up: {pending:,} pending rows due in 1 to 30 days and {finished:,} sent in the last day "
                  f"({total:,} rows) inserted in {seconds:.1f} s")
            apps.append(app)
        results: dict[int, list] = {size: [[], []] for size in sizes}
        for r in range(rounds):
            order = list(zip(sizes, apps, strict=True))
            for size, app in order if r % 2 == 0 else order[::-1]:
                times, cpus = time_ticks(app, ticks)
                results[size][0].append(statistics.median(times))
                results[size][1].append(statistics.median(cpus))
        found = plans(apps[-1], kind)
        for app in apps:
            with app.app_context():
                db.engine.dispose()
    return {"results": results, "plans": found}


def print_idle(kind: str, idle: dict, ticks: int) -> bool:
    results = idle["results"]
    sizes = sorted(results)
    print(f"   {'pending rows':>14} {'wall':>9} {'CPU':>9}   per round: median wall / CPU of {ticks} ticks")
    for size in sizes:
        walls, cpus = results[size]
        each = " ".join(f"{w * 1000:.2f}/{c * 1000:.2f}" for w, c in zip(walls, cpus, strict=True))
        print(f"   {size:>14,} {statistics.median(walls) * 1000:>7.2f}ms {statistics.median(cpus) * 1000:>7.2f}ms   "
              f"{each}")
    small, big = results[sizes[0]], results[sizes[-1]]
    wall_ratio = statistics.median(big[0]) / statistics.median(small[0])
    cpu_ratio = statistics.median(big[1]) / statistics.median(small[1])
    print(f"   ratio {sizes[-1]:,} / {sizes[0]:,} rows: {wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (medians of the "
          "rounds; each tick: the lease reset and the claim in one write transaction, then the scrub of finished "
          "account links)")
    how = "EXPLAIN QUERY PLAN" if kind == "sqlite" else "EXPLAIN ANALYZE"
    print(f"   plans over {sizes[-1]:,} pending rows ({how}):")
    for name, lines in idle["plans"].items():
        print(f"     {name}:")
        for line in lines:
            print(f"       {line}")
    if kind == "sqlite":
        assert any("ix_notification_status_due" in line for line in idle["plans"]["claim"]), idle["plans"]
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000, help="due reminders to send (0: skip part 1)")
    parser.add_argument("--delivery-rounds", type=int, default=3,
                        help="rounds of part 1, the tick and the baseline alternating")
    parser.add_argument("--idle-rows", type=int, default=1_000_000, help="future rows for the big idle database")
    parser.add_argument("--idle-small", type=int, default=1_000, help="future rows for the small idle database")
    parser.add_argument("--idle-finished", type=int, default=10_000, help="rows sent in the last day, in both")
    parser.add_argument("--ticks", type=int, default=200, help="idle ticks per round and database")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of idle ticks, alternating the databases")
    parser.add_argument("--databases", default="sqlite,postgres", help="idle tick on: comma-separated sqlite, postgres")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    if set(kinds) - {"sqlite", "postgres"} or not 1 <= args.rounds <= 20 or args.idle_small >= args.idle_rows:
        parser.error("--databases sqlite,postgres; --rounds 1..20; --idle-small below --idle-rows")
    members = max(1, args.reminders // (MEETINGS * 2))
    begun = time.perf_counter()
    print(f"SupportNet dispatch benchmark: aiosmtpd on localhost, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}, {os.getloadavg()[1]:.2f}, "
          f"{os.getloadavg()[2]:.2f}")
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        if args.reminders:
            with tempfile.TemporaryDirectory(prefix="supportnet-bench-") as tmp:
                app = make_app(Path(tmp), port)
                with app.app_context():
                    upgrade()
                    with clock.frozen(NOW - timedelta(days=2)):
                        populate(members)
                print(f"\n1. Delivering {members * MEETINGS * 2:,} due reminders (SQLite file)")
                bench_delivery(app, handler, port, members, args.delivery_rounds)
                with app.app_context():
                    db.engine.dispose()
        for kind in kinds:
            print(f"\n2. The idle tick over {args.idle_small:,} and {args.idle_rows:,} future pending rows, "
                  f"{args.rounds} rounds alternating between the two databases")
            idle = bench_idle(kind, (args.idle_small, args.idle_rows), args.idle_finished, args.ticks, args.rounds,
                              port)
            print_idle(kind, idle, args.ticks)
    finally:
        controller.stop()
    load = os.getloadavg()
    print(f"\ntotal run time: {time.perf_counter() - begun:.1f} s; load average {load[0]:.2f}, {load[1]:.2f}, "
          f"{load[2]:.2f}")


if __name__ == "__main__":
    main()
