"""Benchmark: the at-least-once window. A dispatch tick is killed with SIGKILL at random moments while it sends
due reminders to a counting SMTP server; a later tick (after the dead process's lease) finishes the queue.
Every duplicate is a kill that landed between the server's acceptance of a message and the commit that marks
its row sent.

Run from the project root:  .venv/bin/python bench/crash_window.py  [--db sqlite|postgres] [--runs N]
                                                                     [--messages N] [--server-delay MS]

Each run copies a prepared database (SQLite: a file; PostgreSQL: CREATE DATABASE … TEMPLATE on a throwaway
server started by tests/postgres.py), starts a worker process (its own app and connection) that runs
`notifications.dispatch.tick`, kills it with SIGKILL after a random delay within the time a whole tick takes, then
runs the recovery tick in this process and counts what the server received, by Message-ID. It checks that
every message arrived at least once and that every row ends sent. `--server-delay` makes the SMTP server
wait before it answers each message (its own processing time counts towards the window: it has the whole
message before it answers).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import dispatch as dispatch_bench  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from supportnet import clock, create_app  # noqa: E402
from supportnet.extensions import db  # noqa: E402
from supportnet.models import Notification, NotificationStatus  # noqa: E402
from supportnet.notifications import dispatch as notif_dispatch  # noqa: E402
from supportnet.notifications import planner as notif_planner  # noqa: E402

NOW = dispatch_bench.NOW
LEASE = 300

WORKER = """
import json, sys
from datetime import datetime
from supportnet import clock, create_app
from supportnet.notifications import dispatch as notif_dispatch
config, at = json.loads(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
app = create_app(config)
clock.set_frozen(at)
with app.app_context():
    print("ready", flush=True)
    sys.stdin.readline()
    report = notif_dispatch.tick(at)
    print(json.dumps(vars(report)), flush=True)
"""


class CountingHandler:
    """Counts each accepted message by Message-ID (the count is taken when the server answers 250)."""

    def __init__(self) -> None:
        self.ids: Counter = Counter()
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        raw = envelope.original_content or envelope.content
        self.ids[raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0]] += 1
        return "250 OK"


def config_for(url: str, port: int, workdir: Path) -> dict:
    return {
        "ENV": "testing",
        "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": url,
        "BASE_URL": "http://supportnet.bench",
        "MAIL_URL": f"smtp://127.0.0.1:{port}",
        "DEV_MAILBOX_DIR": str(workdir / "mailbox"),
        "LOG_LEVEL": "ERROR",
        "NOTIFY_LEASE_SECONDS": LEASE,
        "NOTIFY_BATCH_SIZE": 100,
    }


class Databases:
    """A prepared database with `messages` due reminders, copied afresh for each run."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind, self.workdir, self.server, self.count = kind, workdir, None, 0
        if kind == "postgres":
            from tests import postgres

            self.server = postgres.start_throwaway()
            self.template_name = "crash_template"
            self.template = self.server.create_database(self.template_name)
        else:
            self.template = f"sqlite:///{workdir / 'template.db'}"

    def prepare(self, port: int, messages: int) -> None:
        members = max(1, messages // (dispatch_bench.MEETINGS * 2))
        app = create_app(config_for(self.template, port, self.workdir))
        with app.app_context():
            upgrade()
            with clock.frozen(NOW - timedelta(days=2)):
                dispatch_bench.populate(members)
                notif_planner.plan(NOW - timedelta(days=2))
                db.session.commit()
            db.session.execute(update(Notification).values(due_at=NOW - timedelta(minutes=1)))
            db.session.commit()
            total = db.session.scalar(select(func.count()).select_from(Notification))
            db.session.commit()
            db.engine.dispose()
        if self.kind == "sqlite":
            import sqlite3

            con = sqlite3.connect(self.workdir / "template.db")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.close()
        return total

    def fresh(self) -> str:
        self.count += 1
        if self.kind == "postgres":
            if self.count > 1:
                self.server.drop_database(f"crash_run{self.count - 1}")
            return self.server.create_database(f"crash_run{self.count}", template=self.template_name)
        target = self.workdir / "run.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.workdir / "template.db", target)
        return f"sqlite:///{target}"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


def start_worker(url: str, port: int, workdir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(config_for(url, port, workdir)), NOW.isoformat()],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SUPPORTNET_")},
    )
    line = proc.stdout.readline().strip()
    assert line == "ready", proc.stderr.read()
    return proc


def statuses(url: str, port: int, workdir: Path) -> Counter:
    app = create_app(config_for(url, port, workdir))
    with app.app_context():
        rows = db.session.execute(select(Notification.status, func.count()).group_by(Notification.status)).all()
        db.session.commit()
        db.engine.dispose()
    return Counter({status: count for status, count in rows})


def recover(url: str, port: int, workdir: Path) -> None:
    """The next scheduler, once the dead one's lease has run out."""
    app = create_app(config_for(url, port, workdir))
    at = NOW + timedelta(seconds=LEASE)
    with clock.frozen(at), app.app_context():
        notif_dispatch.tick(at)
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=100, help="kills (default 100)")
    parser.add_argument("--messages", type=int, default=300, help="due reminders per run (default 300)")
    parser.add_argument("--server-delay", type=float, default=0.0, help="ms the SMTP server waits per message")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    began = time.perf_counter()
    print(f"SupportNet at-least-once window: {args.db}, aiosmtpd on localhost (answer delay {args.server_delay} ms), "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    handler = CountingHandler()
    handler.delay = args.server_delay / 1000
    port = dispatch_bench.free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    workdir = Path(tempfile.mkdtemp(prefix="supportnet-crash-"))
    databases = Databases(args.db, workdir)
    try:
        total = databases.prepare(port, args.messages)
        # Calibration: one whole tick, not killed, to know how long a tick takes.
        url = databases.fresh()
        proc = start_worker(url, port, workdir)
        started = time.perf_counter()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=600)
        whole = time.perf_counter() - started
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["sent"] == total
        assert set(handler.ids.values()) == {1} and len(handler.ids) == total
        print(f"   a whole tick (not killed): {total} messages in {whole:.2f} s, "
              f"{whole / total * 1000:.2f} ms per message including start-up of the tick")
        duplicates, while_sending = 0, 0
        for _run in range(args.runs):
            handler.ids.clear()
            url = databases.fresh()
            proc = start_worker(url, port, workdir)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            time.sleep(rng.uniform(0, whole))
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            at_kill = sum(handler.ids.values())
            if 0 < at_kill < total:
                while_sending += 1
            recover(url, port, workdir)
            extra = sum(handler.ids.values()) - len(handler.ids)
            assert len(handler.ids) == total, (len(handler.ids), total)
            assert statuses(url, port, workdir) == Counter({NotificationStatus.SENT: total})
            assert extra <= 1, extra  # only the message whose mark the kill interrupted can go twice
            duplicates += extra
        print(f"   {args.runs} kills at random moments ({while_sending} while messages were going out): "
              f"{duplicates} duplicate messages in all, each message delivered at least once, every row sent")
        # Kills are spread evenly over the time of a whole tick, which holds `total` windows of `w` seconds:
        # a kill repeats a message with probability total * w / whole.
        window = duplicates / args.runs * whole / total
        print(f"   duplicates per kill: {duplicates / args.runs:.3f} => the window is about {window * 1000:.3f} ms "
              f"per message, {window / (whole / total) * 100:.1f}% of the {whole / total * 1000:.2f} ms each "
              "message takes")
    finally:
        controller.stop()
        databases.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ntotal run time: {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
