"""Leases under a slow mail server: a batch that takes longer than its lease is not sent twice.

Two scheduler processes on the real clock, each with its own app and database connection, share the queue
while the SMTP server takes a while over each message; the lease is much shorter than a batch. The holder
renews its lease while it sends and checks its claim before each message, so the other scheduler never gets
rows that are still being worked on, and a scheduler that lost a row (paused past its lease) does not send it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import Notification, NotificationStatus
from supportnet.notifications import dispatch as notif_dispatch
from tests.conftest import BASE_URL, database_uri
from tests.mail_harness import ScriptedHandler, use
from tests.worlds.notifications import announce_to, email_rows

SENT, SENDING = NotificationStatus.SENT, NotificationStatus.SENDING
ROOT = Path(__file__).resolve().parent.parent

# Ticks on the real clock until no email is pending or being sent (or the time is up), then reports.
LOOPING_WORKER = """
import json, sys, time
from sqlalchemy import func, select
from supportnet import clock, create_app
from supportnet.notifications import dispatch as notif_dispatch
from supportnet.extensions import db
from supportnet.models import Channel, Notification, NotificationStatus
config, seconds = json.loads(sys.argv[1]), float(sys.argv[2])
app = create_app(config)
clock.set_frozen(None)
totals = {}
with app.app_context():
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        report = notif_dispatch.tick()
        for name, value in vars(report).items():
            totals[name] = totals.get(name, 0) + value
        open_rows = db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.channel == Channel.EMAIL,
            Notification.status.in_([NotificationStatus.PENDING, NotificationStatus.SENDING])))
        db.session.rollback()
        if not open_rows:
            break
        time.sleep(0.1)
print(json.dumps(totals), flush=True)
"""


def start_looping_worker(app, db_path, seconds: float, **overrides) -> subprocess.Popen:
    config = {
        "ENV": "testing",
        "SECRET_KEY": app.config["SECRET_KEY"],
        "DATA_KEY": app.config["DATA_KEY"],
        "SQLALCHEMY_DATABASE_URI": database_uri(db_path),
        "BASE_URL": BASE_URL,
        "MAIL_URL": app.config["MAIL_URL"],
        "DEV_MAILBOX_DIR": str(Path(db_path).parent / "mailbox"),
        **overrides,
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", LOOPING_WORKER, json.dumps(config), str(seconds)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SUPPORTNET_")},
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


@pytest.mark.slow
def test_two_schedulers_and_a_batch_slower_than_its_lease_send_each_email_once(app, facilitator, servers, db_path):
    # Each message takes 0.4 s; a batch of 12 takes about 5 s; the lease is 2 s.
    server = servers(ScriptedHandler(delay=0.4))
    use(app, server.port)
    addresses = announce_to(app, facilitator, 12)
    settings = {"NOTIFY_LEASE_SECONDS": 2, "NOTIFY_BATCH_SIZE": 12}
    first = start_looping_worker(app, db_path, 60, **settings)
    second = start_looping_worker(app, db_path, 60, **settings)
    first.stdin.write("go\n")
    first.stdin.flush()
    # The first scheduler claims the whole batch; the second keeps asking while it sends.
    deadline = time.monotonic() + 30
    while NotificationStatus.PENDING in {r.status for r in email_rows(app)}:
        assert time.monotonic() < deadline, "the first scheduler never claimed the batch"
        time.sleep(0.02)
    second.stdin.write("go\n")
    second.stdin.flush()
    reports = []
    for proc in (first, second):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    copies = server.handler.ids()
    assert [mid for mid, count in copies.items() if count > 1] == []
    assert sorted(m["To"] for m in server.handler.accepted) == sorted(addresses)
    assert {r.status for r in email_rows(app)} == {SENT}
    assert sum(r.get("sent", 0) for r in reports) == 12, reports
    # The first scheduler kept its lease alive for the whole batch: nothing was taken over, none was lost.
    assert reports[0].get("sent") == 12 and not reports[0].get("lost"), reports
    assert not reports[1].get("claimed"), reports


def test_a_scheduler_whose_claim_was_taken_over_sends_nothing_more_and_marks_nothing(app, facilitator, servers):
    """A scheduler paused past its lease (and taken over) finds its claim gone before the next message."""
    server = servers(ScriptedHandler())
    use(app, server.port)
    announce_to(app, facilitator, 4)
    taken_over: list[int] = []

    def another_scheduler_takes_the_rest() -> None:
        # While the first message is with the server, the lease runs out and another scheduler claims the
        # other rows (simulated by giving them a later claim, as its claim would).
        if server.handler.data_calls == 1:
            with app.app_context():
                ids = [r.id for r in email_rows(app) if r.status == SENDING][1:]
                later = clock.now_utc() + timedelta(hours=1)
                db.session.execute(update(Notification).where(Notification.id.in_(ids))
                                   .values(claimed_until=later, due_at=later))
                db.session.commit()
                taken_over.extend(ids)

    server.handler.on_data = another_scheduler_takes_the_rest
    with app.app_context():
        report = notif_dispatch.tick()
    assert report.sent == 1 and report.lost == 3, report
    assert len(server.handler.accepted) == 1
    statuses = Counter(r.status for r in email_rows(app))
    assert statuses == {SENT: 1, SENDING: 3}  # the other scheduler's claims are untouched
