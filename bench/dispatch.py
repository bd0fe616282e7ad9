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
import os
import random
import smtplib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, insert, select, text, update  # noqa: E402

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


def make_app(workdir: Path, port: int) -> Flask:
    return create_app({
        "ENV": "testing",
        "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.db'}",
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


def add_idle_rows(app: Flask, count: int, rng: random.Random) -> float:
    """Bulk-insert `count` pending reminder rows due 1 to 30 days from NOW (set-up; returns seconds)."""
    started = time.perf_counter()
    with app.app_context():
        user_id = db.session.scalar(select(func.min(User.id)))
        db.session.commit()
        raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        batch = []
        stamp = NOW.replace(tzinfo=None).isoformat(sep=" ")
        for i in range(count):
            due = (NOW + timedelta(seconds=rng.randrange(86400, 30 * 86400))).replace(tzinfo=None)
            batch.append((user_id, "reminder", "email", f"idle:{i}", due.isoformat(sep=" "), "pending", 0, "{}",
                          stamp))
            if len(batch) == 50_000:
                cursor.executemany(
                    "INSERT INTO notification (user_id, kind, channel, dedupe_key, due_at, status, attempts, "
                    "payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
                batch.clear()
        if batch:
            cursor.executemany(
                "INSERT INTO notification (user_id, kind, channel, dedupe_key, due_at, status, attempts, payload, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
        cursor.execute("COMMIT")
        cursor.execute("ANALYZE")
    finally:
        raw.close()
    return time.perf_counter() - started


# --- measuring ---


def cpu() -> float:
    return time.process_time()


def bench_delivery(app: Flask, handler: CountingHandler, port: int, members: int) -> None:
    with clock.frozen(NOW - timedelta(days=2)), app.app_context():
        started = time.perf_counter()
        report = notif_planner.plan(NOW - timedelta(days=2))
        db.session.commit()
        planned = time.perf_counter() - started
        due = db.session.scalar(select(func.count()).select_from(Notification))
        # Make every reminder due now (as if the scheduler had been away): the tick has 10,000 to send.
        db.session.execute(update(Notification).values(due_at=NOW - timedelta(minutes=1)))
        db.session.commit()
    print(f"   planner: wrote {report.reminders:,} reminder rows for {members:,} members x {MEETINGS} meetings "
          f"in {planned:.2f} s")
    assert due == members * MEETINGS * 2, due

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

    handler.messages.clear()
    wall0, cpu0 = time.perf_counter(), cpu()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for mail_from, rcpt, raw in received:
            client.sendmail(mail_from, [rcpt], raw)
    base_wall, base_cpu = time.perf_counter() - wall0, cpu() - cpu0
    assert len(handler.messages) == len(received)

    n = len(received)
    size = statistics.mean(len(raw) for *_x, raw in received)
    print(f"   {'what':<52}{'msgs':>7}{'wall':>9}{'CPU*':>9}{'msgs/s':>9}")
    print(f"   {'dispatch.tick (claim, check, render, send, mark)':<52}{n:>7,}{tick_wall:>8.2f}s"
          f"{tick_cpu:>8.2f}s{n / tick_wall:>9.0f}")
    print(f"   {'baseline: smtplib, same bytes, one connection':<52}{n:>7,}{base_wall:>8.2f}s"
          f"{base_cpu:>8.2f}s{n / base_wall:>9.0f}")
    print(f"   ratio tick / baseline: {tick_wall / base_wall:.1f}x wall; {result.claimed:,} claimed in batches of "
          f"{app.config['NOTIFY_BATCH_SIZE']}, one SMTP connection per batch; mean message {size / 1024:.1f} KiB "
          "(text + HTML + .ics)")
    print(f"   per message: tick {tick_wall / n * 1000:.2f} ms, baseline {base_wall / n * 1000:.2f} ms "
          "(*CPU of this process, which also runs the SMTP server's thread)")


def bench_idle(app: Flask, rows: int, ticks: int, rng: random.Random) -> None:
    seconds = add_idle_rows(app, rows, rng)
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Notification))
        pending = db.session.scalar(select(func.count()).select_from(Notification)
                                    .where(Notification.status == NotificationStatus.PENDING))
        statement = notif_dispatch.due_query(NOW, app.config["NOTIFY_BATCH_SIZE"]).compile(
            db.engine, compile_kwargs={"literal_binds": True})
        plan = [row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {statement}"))]
        lease = [row[-1] for row in db.session.execute(text(
            "EXPLAIN QUERY PLAN UPDATE notification SET status = 'pending' "
            "WHERE status = 'sending' AND due_at <= '2027-01-07 12:00:00'"))]
        db.session.commit()
    print(f"   set-up: {rows:,} pending rows due in 1 to 30 days inserted in {seconds:.1f} s "
          f"({total:,} rows in the table, {pending:,} pending)")
    print("   due query:  " + " ".join(str(statement).split()))
    print("   its plan:   " + " | ".join(plan))
    print("   lease reset plan: " + " | ".join(lease))
    assert any("ix_notification_status_due" in line for line in plan), plan
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
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"   idle tick over {rows:,} future rows, {ticks} ticks: median {statistics.median(times) * 1000:.2f} ms, "
          f"p95 {p95 * 1000:.2f} ms, CPU {statistics.median(cpus) * 1000:.2f} ms (each tick: one write "
          "transaction with the lease reset and the claim, both finding nothing)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000, help="due reminders to send (default 10,000)")
    parser.add_argument("--idle-rows", type=int, default=1_000_000, help="future rows for the idle tick")
    parser.add_argument("--ticks", type=int, default=200, help="idle ticks to time")
    args = parser.parse_args()
    members = max(1, args.reminders // (MEETINGS * 2))
    rng = random.Random(6)
    begun = time.perf_counter()
    print(f"SupportNet dispatch benchmark: SQLite file, aiosmtpd on localhost, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}, {os.getloadavg()[1]:.2f}, "
          f"{os.getloadavg()[2]:.2f}")
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory(prefix="supportnet-bench-") as tmp:
            app = make_app(Path(tmp), port)
            with app.app_context():
                upgrade()
                with clock.frozen(NOW - timedelta(days=2)):
                    populate(members)
            print(f"\n1. Delivering {members * MEETINGS * 2:,} due reminders")
            bench_delivery(app, handler, port, members)
            print(f"\n2. The idle tick over {args.idle_rows:,} future pending rows")
            bench_idle(app, args.idle_rows, args.ticks, rng)
            with app.app_context():
                db.engine.dispose()
    finally:
        controller.stop()
    load = os.getloadavg()
    print(f"\ntotal run time: {time.perf_counter() - begun:.1f} s; load average {load[0]:.2f}, {load[1]:.2f}, "
          f"{load[2]:.2f}")


if __name__ == "__main__":
    main()
