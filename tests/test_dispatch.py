"""The dispatch tick against a real SMTP server (aiosmtpd) that misbehaves on purpose: exactly once across
repeated ticks and two processes, 451 retried, 550 failed, the server down and up again, a tick killed in the
middle of a batch, and the documented at-least-once window.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import Channel, NotificationKind, NotificationStatus
from supportnet.notifications import dispatch as notif_dispatch
from tests.conftest import BASE_URL, PINNED_NOW, database_uri, free_port
from tests.mail_harness import ScriptedHandler, use
from tests.worlds.notifications import FIRST, announce_to, email_rows, going, make_world, rows, tick

ROOT = Path(__file__).resolve().parent.parent
Kind = NotificationKind
SENT, PENDING, SENDING = NotificationStatus.SENT, NotificationStatus.PENDING, NotificationStatus.SENDING
FAILED, EXPIRED = NotificationStatus.FAILED, NotificationStatus.EXPIRED
NOW = PINNED_NOW


# --- exactly once ---


def test_repeated_ticks_send_each_notification_once(app, facilitator, servers):
    server = servers(ScriptedHandler())
    use(app, server.port)
    addresses = announce_to(app, facilitator, 5)
    for seconds in (0, 0, 1, 30, 3600):
        tick(app, NOW + timedelta(seconds=seconds))
    assert sorted(m["To"] for m in server.handler.accepted) == sorted(addresses)
    assert set(server.handler.ids().values()) == {1}
    assert {r.status for r in email_rows(app)} == {SENT}


def test_a_batch_goes_over_one_connection(app, facilitator, servers):
    server = servers(ScriptedHandler())
    use(app, server.port)
    announce_to(app, facilitator, 25)
    report = tick(app, NOW, batch_size=10)
    assert report.sent == 25
    assert server.handler.sessions == 3  # 10 + 10 + 5


@pytest.mark.sqlite_only("SQLite's write lock shows whether a transaction is open")
def test_nothing_is_held_open_while_the_server_answers(app, facilitator, servers, db_path):
    server = servers(ScriptedHandler())
    use(app, server.port)
    announce_to(app, facilitator, 3)
    free: list[bool] = []

    def try_to_write() -> None:
        con = sqlite3.connect(db_path, timeout=0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            free.append(True)
        except sqlite3.OperationalError:
            free.append(False)
        finally:
            con.close()

    server.handler.on_data = try_to_write
    tick(app, NOW)
    assert free == [True, True, True]


# --- failures ---


def test_a_451_is_retried_with_backoff_and_delivered_once(app, facilitator, servers):
    server = servers(ScriptedHandler(answers=["451 4.3.0 Try again later"]))
    use(app, server.port)
    announce_to(app, facilitator, 1)
    report = tick(app, NOW)
    assert (report.sent, report.retried) == (0, 1)
    (row,) = email_rows(app)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert row.last_error == "SMTP 451: 4.3.0 Try again later"
    base = app.config["NOTIFY_RETRY_BASE_SECONDS"]
    assert NOW + timedelta(seconds=base / 2) <= row.due_at <= NOW + timedelta(seconds=base)
    assert tick(app, NOW + timedelta(seconds=base / 2 - 1)).claimed == 0  # not yet
    tick(app, NOW + timedelta(seconds=base))
    tick(app, NOW + timedelta(seconds=base * 10))
    assert len(server.handler.accepted) == 1
    (row,) = email_rows(app)
    assert (row.status, row.attempts, row.last_error) == (SENT, 2, None)


def test_a_550_is_recorded_as_failed_without_the_address_and_never_retried(app, facilitator, servers):
    addresses = announce_to(app, facilitator, 3)
    refused = addresses[1]
    server = servers(ScriptedHandler(refuse={refused: f"550 5.1.1 <{refused}>: no such mailbox"}))
    use(app, server.port)
    tick(app, NOW)
    tick(app, NOW + timedelta(days=1))
    assert sorted(m["To"] for m in server.handler.accepted) == sorted([addresses[0], addresses[2]])
    assert server.handler.sessions == 1  # the refusal did not cost the connection
    failed = [r for r in email_rows(app) if r.status == FAILED]
    assert len(failed) == 1
    assert failed[0].last_error == "SMTP 550: 5.1.1 <[address]>: no such mailbox"
    assert failed[0].attempts == 1


def test_mail_server_down_then_up_delivers_once(app, facilitator, servers):
    port = free_port()  # nothing listens here yet
    use(app, port)
    addresses = announce_to(app, facilitator, 4)
    report = tick(app, NOW)
    assert (report.sent, report.retried) == (0, 4)
    assert all(r.status == PENDING and "cannot connect" in r.last_error for r in email_rows(app))
    assert tick(app, NOW + timedelta(seconds=5)).claimed == 0  # backing off
    server = servers(ScriptedHandler(), port=port)
    for minutes in (2, 3, 10, 60):
        tick(app, NOW + timedelta(minutes=minutes))
    assert sorted(m["To"] for m in server.handler.accepted) == sorted(addresses)
    assert set(server.handler.ids().values()) == {1}


def test_retries_back_off_exponentially_up_to_a_cap_then_give_up(app, facilitator):
    use(app, free_port())  # the server never comes
    app.config.update(NOTIFY_MAX_ATTEMPTS=4, NOTIFY_RETRY_BASE_SECONDS=60, NOTIFY_RETRY_MAX_SECONDS=200)
    announce_to(app, facilitator, 1)
    at, delays = NOW, []
    for _ in range(4):
        tick(app, at)
        (row,) = email_rows(app)
        if row.status != PENDING:
            break
        delays.append((row.due_at - at).total_seconds())
        at = row.due_at
    assert 30 <= delays[0] <= 60 and 60 <= delays[1] <= 120 and 100 <= delays[2] <= 200
    (row,) = email_rows(app)
    assert (row.status, row.attempts) == (FAILED, 4)
    assert row.last_error.startswith("gave up after 4 attempts: cannot connect")


def test_retry_delay_has_jitter_within_bounds():
    delays = {notif_dispatch.retry_delay(3, 60, 3600).total_seconds() for _ in range(50)}
    assert len(delays) > 1
    assert all(120 <= d <= 240 for d in delays)
    assert all(1800 <= notif_dispatch.retry_delay(20, 60, 3600).total_seconds() <= 3600 for _ in range(20))


def test_a_reminder_that_cannot_be_sent_before_the_meeting_expires(app, facilitator, member):
    use(app, free_port())
    world = make_world(app, facilitator)
    going(world, member, world.occurrence_id(0))
    tick(app, FIRST - timedelta(minutes=60))  # the 1-hour reminder: the server is down
    tick(app, FIRST + timedelta(minutes=1))  # the retry comes after the meeting began
    statuses = {r.payload["offset"]: r.status for r in rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL)}
    assert statuses == {1440: EXPIRED, 60: EXPIRED}


# --- crashes, leases, several processes ---

WORKER = """
import json, sys
from datetime import datetime
from supportnet import clock, create_app
from supportnet.notifications import dispatch as notif_dispatch
config, at, batch = json.loads(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])
app = create_app(config)
clock.set_frozen(at)
with app.app_context():
    print("ready", flush=True)
    sys.stdin.readline()
    report = notif_dispatch.tick(at, batch_size=batch)
    print(json.dumps(vars(report)), flush=True)
"""


def start_worker(app, db_path, at, batch: int) -> subprocess.Popen:
    config = {
        "ENV": "testing",
        "SECRET_KEY": app.config["SECRET_KEY"],
        "DATA_KEY": app.config["DATA_KEY"],
        "SQLALCHEMY_DATABASE_URI": database_uri(db_path),
        "BASE_URL": BASE_URL,
        "MAIL_URL": app.config["MAIL_URL"],
        "DEV_MAILBOX_DIR": str(Path(db_path).parent / "mailbox"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(config), at.isoformat(), str(batch)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SUPPORTNET_")},
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


@pytest.mark.slow
def test_two_tick_processes_at_once_send_each_notification_once(app, facilitator, servers, db_path):
    server = servers(ScriptedHandler(delay=0.01))
    use(app, server.port)
    addresses = announce_to(app, facilitator, 80)
    workers = [start_worker(app, db_path, NOW, batch=5) for _ in range(2)]
    for proc in workers:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = []
    for proc in workers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(m["To"] for m in server.handler.accepted) == sorted(addresses)
    assert set(server.handler.ids().values()) == {1}
    assert sum(r["sent"] for r in reports) == 80
    assert all(r["claimed"] > 0 for r in reports), reports  # both really worked on the queue
    assert {r.status for r in email_rows(app)} == {SENT}


@pytest.mark.slow
def test_a_tick_killed_mid_batch_leaves_its_claims_to_expire_and_each_row_is_delivered_once(
    app, facilitator, servers, db_path
):
    handler = ScriptedHandler()
    handler.gate_at = 3  # the third message hangs until the process is dead; it is never accepted
    server = servers(handler)
    use(app, server.port)
    addresses = announce_to(app, facilitator, 10)
    proc = start_worker(app, db_path, NOW, batch=10)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert handler.reached.wait(30)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    handler.release.set()
    statuses = Counter(r.status for r in email_rows(app))
    assert statuses == {SENT: 2, SENDING: 8}
    lease = app.config["NOTIFY_LEASE_SECONDS"]
    assert tick(app, NOW + timedelta(seconds=lease - 1)).claimed == 0  # the dead process's claims still hold
    report = tick(app, NOW + timedelta(seconds=lease))
    assert report.sent == 8
    assert sorted(m["To"] for m in handler.accepted) == sorted(addresses)
    assert set(handler.ids().values()) == {1}


def test_the_at_least_once_window_a_crash_after_the_server_accepted(app, facilitator, servers, monkeypatch):
    """Documented: if the process dies between the server's 250 and marking the row, it is sent again."""
    server = servers(ScriptedHandler())
    use(app, server.port)
    announce_to(app, facilitator, 1)

    def crash(*args):
        raise SystemExit("killed right after the server accepted")

    monkeypatch.setattr(notif_dispatch, "_mark_sent", crash)
    with pytest.raises(SystemExit):
        tick(app, NOW)
    monkeypatch.undo()
    assert [r.status for r in email_rows(app)] == [SENDING]
    tick(app, NOW + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"]))
    ((_message_id, copies),) = server.handler.ids().items()
    assert copies == 2  # the same message twice, recognisably so: one Message-ID
    assert [r.status for r in email_rows(app)] == [SENT]


def test_a_stop_request_puts_the_rest_of_the_batch_back(app, facilitator, servers):
    server = servers(ScriptedHandler())
    use(app, server.port)
    announce_to(app, facilitator, 5)
    server.handler.on_data = lambda: notif_dispatch.request_stop() if server.handler.data_calls == 2 else None
    try:
        report = tick(app, NOW)
    finally:
        notif_dispatch.allow_running()
    assert (report.sent, report.released) == (2, 3)
    assert Counter(r.status for r in email_rows(app)) == {SENT: 2, PENDING: 3}
    assert all(r.attempts == 0 for r in email_rows(app) if r.status == PENDING)
    tick(app, NOW)
    assert len(server.handler.accepted) == 5 and set(server.handler.ids().values()) == {1}


# --- the queue's query ---


def test_in_app_rows_due_later_are_delivered_by_the_tick_without_smtp(app, facilitator, member, servers):
    server = servers(ScriptedHandler())
    use(app, server.port)
    world = make_world(app, facilitator)
    going(world, member, world.occurrence_id(0))
    report = tick(app, FIRST - timedelta(hours=24))
    assert (report.sent, report.delivered_in_app) == (1, 1)


@pytest.mark.sqlite_only("reads SQLite's query plan")
def test_the_due_query_reads_the_status_due_index_without_sorting(app):
    with app.app_context():
        statement = notif_dispatch.due_query(NOW, 100).compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = " ".join(row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
    assert "ix_notification_status_due" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


@pytest.mark.sqlite_only("reads SQLite's query plan")
def test_the_idle_scrub_of_links_reads_only_account_and_referral_rows(app):
    # Every tick looks for finished sign-up and referral emails whose link must go; through (status, due_at) it
    # would read every reminder sent in the last three days, on every tick.
    with app.app_context():
        statement = notif_dispatch.scrub_query(NOW).compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = " ".join(row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
    assert "USING INDEX ix_notification_links_due" in plan, plan


@pytest.mark.postgres_only
def test_postgres_claims_skip_rows_another_claimer_holds(app, facilitator):
    announce_to(app, facilitator, 6)
    with app.app_context():
        other = db.engine.connect()
        try:
            locked = other.execute(
                notif_dispatch.due_query(NOW, 2).with_for_update(skip_locked=True)
            ).scalars().all()
            assert len(locked) == 2
            claimed = notif_dispatch.claim(NOW, 100)
            assert set(claimed).isdisjoint(locked) and len(claimed) == 4
        finally:
            other.rollback()
            other.close()


def test_claimed_rows_are_not_claimed_again_until_the_lease_ends(app, facilitator):
    announce_to(app, facilitator, 3)
    with clock.frozen(NOW), app.app_context():
        first = notif_dispatch.claim(NOW, 10)
        assert len(first) == 3
        assert notif_dispatch.claim(NOW + timedelta(seconds=1), 10) == []
        lease = app.config["NOTIFY_LEASE_SECONDS"]
        assert notif_dispatch.claim(NOW + timedelta(seconds=lease), 10) == first


def test_killing_is_not_needed_for_a_hung_server_the_timeout_frees_the_batch(app, facilitator, servers):
    server = servers(ScriptedHandler())
    server.handler.gate_at = 1
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{server.port}?timeout=1"
    announce_to(app, facilitator, 2)
    started = time.monotonic()
    report = tick(app, NOW)
    server.handler.release.set()
    assert time.monotonic() - started < 10
    assert report.retried == 2 and report.sent == 0


# --- the transport ---


def test_mail_urls_give_smtp_settings():
    from supportnet.mail import parse_mail_url

    plain = parse_mail_url("smtp://localhost:1025")
    assert (plain.host, plain.port, plain.implicit_tls, plain.starttls, plain.username) == (
        "localhost", 1025, False, False, None)
    submission = parse_mail_url("smtp://me%40example.org:p%40ss%3Aword@mail.example.org:587?starttls=1&timeout=5")
    assert (submission.port, submission.starttls, submission.username, submission.password, submission.timeout) == (
        587, True, "me@example.org", "p@ss:word", 5.0)
    tls = parse_mail_url("smtps://user:secret@mail.example.org")
    assert (tls.port, tls.implicit_tls, tls.starttls) == (465, True, False)
    with pytest.raises(ValueError, match="smtp:// or smtps://"):
        parse_mail_url("http://mail.example.org")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_credentials_in_the_mail_url_are_used_and_a_wrong_password_is_retried_later(app, facilitator, servers):
    from aiosmtpd.smtp import AuthResult

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"mailer", b"s3cret:pass"))

    handler = ScriptedHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        announce_to(app, facilitator, 2)
        app.config["MAIL_URL"] = f"smtp://mailer:wrong@127.0.0.1:{port}?timeout=3"
        report = tick(app, NOW)
        assert (report.sent, report.retried) == (0, 2)  # the operator's mistake, not the messages': retried
        for row in email_rows(app):
            assert row.last_error.startswith("cannot connect to the mail server") and "wrong" not in row.last_error
        app.config["MAIL_URL"] = f"smtp://mailer:s3cret%3Apass@127.0.0.1:{port}"
        tick(app, NOW + timedelta(hours=1))
    finally:
        controller.stop()
    assert len(handler.accepted) == 2
