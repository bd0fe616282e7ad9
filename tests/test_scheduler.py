"""The scheduler process: its jobs, `scheduler tick`, retention, and a real `scheduler run` that is stopped in
the middle of a batch and started again without losing or duplicating a message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from supportnet import clock, scheduler
from supportnet.extensions import db
from supportnet.models import Channel, Group, Notification, NotificationKind, NotificationStatus
from supportnet.notifications import announcements as notif_announcements
from supportnet.notifications import dispatch as notif_dispatch
from tests.conftest import BASE_URL, PINNED_NOW, database_uri, free_port, make_persona
from tests.mail_harness import ScriptedHandler, Server
from tests.worlds.notifications import FIRST, going, inbox_notice_due, join, make_world, notice_status, rows

ROOT = Path(__file__).resolve().parent.parent
SENT, PENDING = NotificationStatus.SENT, NotificationStatus.PENDING


def test_the_scheduler_runs_three_interval_jobs_in_utc_from_memory(app):
    sched = scheduler.build_scheduler(app)
    try:
        assert str(sched.timezone) == "UTC"
        jobs = {job.id: job for job in sched.get_jobs()}
        assert set(jobs) == {"dispatch", "plan", "retention"}
        assert all(isinstance(job.trigger, IntervalTrigger) for job in jobs.values())
        assert jobs["dispatch"].trigger.interval == timedelta(seconds=30)
        assert jobs["plan"].trigger.interval == timedelta(minutes=5)
        assert jobs["retention"].trigger.interval == timedelta(days=1)
        assert isinstance(sched._jobstores["default"], MemoryJobStore)
    finally:
        if sched.running:
            sched.shutdown(wait=False)


def test_scheduler_tick_command_plans_and_sends_what_is_due(app, runner, facilitator, member, mailbox):
    world = make_world(app, facilitator)
    going(world, member, world.occurrence_id(0))
    with clock.frozen(FIRST - timedelta(hours=1)):
        result = runner.invoke(args=["scheduler", "tick"])
    assert result.exit_code == 0, result.output
    assert "scheduler pass done" in result.output and "sent 1" in result.output
    assert [m["Subject"] for m in mailbox.to(member.email)] == ["Reminder: Tuesday 19:00"]


def test_retention_deletes_finished_notifications_older_than_the_setting(app, facilitator, member):
    world = make_world(app, facilitator)
    join(world, member)
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        notif_announcements.announce(group, facilitator.user(), "", "Old news", PINNED_NOW - timedelta(days=100))
        notif_announcements.announce(group, facilitator.user(), "", "Recent news", PINNED_NOW - timedelta(days=10))
        db.session.commit()
    assert len(rows(app)) == 4  # two in-app (delivered) and two email (pending)
    removed = scheduler.retention_pass(app, PINNED_NOW)
    assert removed == 1  # only the old in-app one: pending rows are never purged, however old
    left = rows(app)
    assert sorted((r.channel, r.payload["body"]) for r in left) == [
        (Channel.EMAIL, "Old news"), (Channel.EMAIL, "Recent news"), (Channel.IN_APP, "Recent news"),
    ]


def test_a_failed_job_does_not_stop_the_next(app, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(notif_dispatch, "tick", broken)
    job = scheduler._safely(scheduler.dispatch_pass, app)
    job()  # logged, not raised
    assert "scheduler job dispatch_pass failed" in caplog.text


# --- the real process ---


def _start(db_path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTNET_")}
    env.update({
        "SUPPORTNET_ENV": "testing",
        "SUPPORTNET_DATABASE_URL": database_uri(db_path),
        "SUPPORTNET_SECRET_KEY": "s" * 40,
        "SUPPORTNET_BASE_URL": BASE_URL,
        "SUPPORTNET_MAIL_URL": f"smtp://127.0.0.1:{port}",
        "SUPPORTNET_SCHEDULER_DISPATCH_SECONDS": "1",
    })
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "supportnet", "scheduler", "run"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "scheduler stopped" in output, output
    return output


def test_stopping_and_restarting_the_scheduler_loses_and_duplicates_nothing(app, facilitator, db_path):
    handler = ScriptedHandler(delay=0.25)
    server = Server(handler, free_port()).start()
    try:
        world = make_world(app, facilitator)
        people = [make_persona(app, f"Member {n}.") for n in range(12)]
        for person in people:
            join(world, person)
        real_now = datetime.now(UTC) - timedelta(minutes=1)  # the process runs on the real clock
        with app.app_context():
            notif_announcements.announce(db.session.get(Group, world.group_id), facilitator.user(), "", "Hello",
                                   real_now)
            db.session.commit()
        first = _start(db_path, server.port)
        try:
            assert _wait_for(lambda: len(handler.accepted) >= 3, 60), "nothing was sent"
        finally:
            _stop(first)
        sent_before_restart = len(handler.accepted)
        assert sent_before_restart < 12
        with app.app_context():
            statuses = Counter(db.session.scalars(
                select(Notification.status).where(Notification.channel == Channel.EMAIL)
            ))
        # Stopped cleanly: what was not sent went back to the queue, nothing is left claimed.
        assert statuses == {SENT: sent_before_restart, PENDING: 12 - sent_before_restart}
        second = _start(db_path, server.port)
        try:
            assert _wait_for(lambda: len(handler.accepted) >= 12, 60)
            # A dispatch pass that begins after everything went out sends nothing more (checked below).
            later = inbox_notice_due(app, people[0].id, world.group_id, datetime.now(UTC) + timedelta(seconds=1))
            assert _wait_for(lambda: notice_status(app, later) == SENT, 60), "no dispatch pass ran after the last email"
        finally:
            _stop(second)
    finally:
        server.stop()
    assert sorted(m["To"] for m in handler.accepted) == sorted(p.email for p in people)
    assert set(Counter(m["Message-ID"] for m in handler.accepted).values()) == {1}
    with app.app_context():
        assert db.session.scalar(
            select(func.count()).select_from(Notification).where(
                Notification.kind == NotificationKind.ANNOUNCEMENT, Notification.status != SENT)
        ) == 0
