"""Several schedulers on PostgreSQL: three `flask scheduler run` processes share 2,000 due emails, each sent once.

Claims use FOR UPDATE SKIP LOCKED (supportnet.notifications.dispatch.claim), so scheduler processes on several hosts
can run at the same time: each due row goes to exactly one of them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from supportnet import accounts, clock, groups, memberships
from supportnet.extensions import db
from supportnet.models import Channel, Group, GroupKind, Notification, NotificationStatus, SiteRole, User
from supportnet.notifications import announcements as notif_announcements
from tests.conftest import PASSWORD, database_uri, make_app
from tests.worlds.notifications import inbox_notice_due, notice_status

SCHEDULERS = 3
MEMBERS = 200
ANNOUNCEMENTS = 10  # x 200 members = 2,000 emails (and as many in-app notices)
EMAILS = MEMBERS * ANNOUNCEMENTS
ROOT = Path(__file__).resolve().parent.parent


def _start_scheduler(database_url: str, smtp_port: int, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "SUPPORTNET_ENV": "production",
        "SUPPORTNET_SECRET_KEY": "scheduler-test-" + "k" * 40,
        "SUPPORTNET_DATA_KEY": Fernet.generate_key().decode(),
        "SUPPORTNET_BASE_URL": "https://support.example.org",
        "SUPPORTNET_DATABASE_URL": database_url,
        "SUPPORTNET_MAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        # Wake every second and claim small batches, so the three processes really interleave.
        "SUPPORTNET_SCHEDULER_DISPATCH_SECONDS": "1",
        "SUPPORTNET_NOTIFY_BATCH_SIZE": "20",
        "SUPPORTNET_LOG_LEVEL": "INFO",
    }
    flask = Path(sys.executable).with_name("flask")
    with log_path.open("w") as log:
        return subprocess.Popen(
            [str(flask), "--app", "supportnet", "scheduler", "run"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )


def _wait_for(condition, timeout: float, what: str, processes: list[subprocess.Popen]) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"a scheduler exited early with {process.returncode} while waiting for {what}")
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _write_announcements(app) -> None:
    """A group of 200 members; its facilitator sends 10 announcements, due now: 2,000 emails."""
    with app.app_context():
        now = clock.now_utc()
        fay = accounts.create_user("fay@example.org", PASSWORD, "Fay F.", now, role=SiteRole.FACILITATOR)
        group = groups.create_group(fay, name="Many hands", kind=GroupKind.MEETUP, timezone="UTC", now=now)
        for n in range(MEMBERS):
            memberships.join(group, accounts.create_user(f"member{n}@example.org", PASSWORD, f"Member {n}", now), now)
        db.session.commit()
        for n in range(ANNOUNCEMENTS):
            notif_announcements.announce(group, fay, f"Note {n}", f"Announcement number {n}.", clock.now_utc())
        db.session.commit()
        db.engine.dispose()


def _a_member_and_group(app) -> tuple[int, int]:
    with app.app_context():
        member_id = db.session.scalar(select(User.id).where(User.email == "member0@example.org"))
        group_id = db.session.scalar(select(Group.id).where(Group.name == "Many hands"))
        db.session.rollback()
        return member_id, group_id


def _email_counts(app) -> Counter:
    with app.app_context():
        rows = db.session.execute(
            select(Notification.status, func.count())
            .where(Notification.channel == Channel.EMAIL)
            .group_by(Notification.status)
        ).all()
        db.session.rollback()
        return Counter({status: count for status, count in rows})


@pytest.mark.postgres_only
@pytest.mark.slow
def test_three_schedulers_send_2000_due_emails_each_exactly_once(db_path, smtp_server, mailbox, tmp_path):
    clock.set_frozen(None)  # the schedulers run on the real clock; so do the notifications
    url = database_uri(db_path)
    app = make_app(db_path, smtp_server[0].port, SQLALCHEMY_DATABASE_URI=url)
    logs = [tmp_path / f"scheduler{n}.log" for n in range(SCHEDULERS)]
    processes = [_start_scheduler(url, smtp_server[0].port, log) for log in logs]
    try:
        # All three are up and polling before there is anything to send.
        _wait_for(lambda: all("scheduler started" in log.read_text() for log in logs), 120, "the schedulers",
                  processes)
        began = time.time()
        _write_announcements(app)
        _wait_for(lambda: len(mailbox.messages) >= EMAILS and _email_counts(app)[NotificationStatus.SENT] == EMAILS,
                  240, "every email to be sent", processes)
        elapsed = time.time() - began
        # Three more dispatch passes, one after another: nothing may be sent twice after the fact either.
        member_id, group_id = _a_member_and_group(app)
        for n in range(3):
            later = inbox_notice_due(app, member_id, group_id, datetime.now(UTC) + timedelta(seconds=1))
            _wait_for(lambda later=later: notice_status(app, later) == NotificationStatus.SENT, 60,
                      f"dispatch pass {n + 1} after every email was sent", processes)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)

    assert [process.returncode for process in processes] == [0] * SCHEDULERS
    messages = mailbox.messages
    assert len(messages) == EMAILS
    ids = Counter(message["Message-ID"] for message in messages)
    assert len(ids) == EMAILS, [mid for mid, count in ids.items() if count > 1][:5]
    received = Counter((message["To"], re.search(r"Announcement number (\d+)", mailbox.text(message)).group(1))
                       for message in messages)
    assert len(received) == EMAILS and set(received.values()) == {1}
    assert {to for to, _ in received} == {f"member{n}@example.org" for n in range(MEMBERS)}
    assert _email_counts(app) == Counter({NotificationStatus.SENT: EMAILS})

    # Each process logs what it sent; together they sent every email once, and they all took part.
    sent_by = [sum(int(n) for n in re.findall(r"dispatch: .*?\bsent (\d+)", log.read_text())) for log in logs]
    assert sum(sent_by) == EMAILS, sent_by
    assert all(sent > 0 for sent in sent_by), sent_by
    for log in logs:
        assert "Traceback" not in log.read_text()
    print(f"\n{SCHEDULERS} schedulers sent {EMAILS} emails in {elapsed:.1f}s, split {sent_by}")
    with app.app_context():
        db.engine.dispose()
