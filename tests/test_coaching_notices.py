"""A one-to-one session's notices through the outbox (confirmation to both sides with an .ics, reminders exactly
once at the member's offsets across a clock change, a move or cancellation told to the other side), and the
coach's audited reads of a member's note."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from supportnet import calendars, crypto
from supportnet.coaching import notices
from supportnet.db import Base
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    AuditEntry,
    Coach,
    CoachingSession,
    Notification,
    NotificationKind,
    NotificationStatus,
)
from supportnet.notifications import dispatch, hooks, planner
from supportnet.notifications.preferences import Preferences
from tests.conftest import login, post
from tests.worlds.coaching_notices import ROOM, add_session, build_coaching_world, cancel_session

Kind = NotificationKind
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TUESDAY_2PM = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # London is on GMT in December
JS_DIR = Path(__file__).resolve().parent / "js"
RECOVERY_WORDS = ("recovery", "ketamine", "integration", "coach", "addiction", "cora")


@pytest.fixture
def world(app):
    return build_coaching_world(app)


def tick(app, now=None):
    with app.app_context():
        return dispatch.tick(now)


def plan(app, now):
    with app.app_context():
        report = planner.plan(now)
        db.session.commit()
        return report


def book(app, world, member, starts_at, now=NOW, note=None) -> int:
    with app.app_context():
        row = add_session(world, member, starts_at, note=note)
        hooks.session_booked(row, now)
        db.session.commit()
        return row.id


def ics(message) -> Calendar:
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "one calendar file"
    return Calendar.from_ical(parts[0].get_content())


def test_a_booked_session_confirms_to_member_and_coach_with_a_calendar_file(app, world, mailbox):
    session_id = book(app, world, world.mia, TUESDAY_2PM)
    assert mailbox.messages == [], "never sent while the member waits: through the outbox"
    tick(app)
    (to_mia,), (to_cora,) = mailbox.to(world.mia.email), mailbox.to(world.cora.email)
    with app.app_context():
        nonce = db.session.get(CoachingSession, session_id).nonce
    for message in (to_mia, to_cora):
        assert message["Subject"] == "Your session on Tuesday 14:00"
        assert not any(word in message["Subject"].lower() for word in RECOVERY_WORDS), "a neutral subject"
        event = ics(message).walk("VEVENT")[0]
        assert str(event["UID"]).startswith(f"session-{nonce}@"), "the UID names the session's nonce only"
        assert event.decoded("DTSTART") == TUESDAY_2PM
        assert str(event["SUMMARY"]) in ("Session", "Session with Mia M.")
    # The room is on the session's page shortly before it, never in an email (anyone may book and cancel).
    assert "/me/sessions/" in mailbox.text(to_mia) and "30 minutes before" in mailbox.text(to_mia)
    for message in (to_mia, to_cora):
        assert ROOM not in message.as_string()
    assert "Mia M. booked a session with you" in mailbox.text(to_cora)
    assert not mailbox.to(world.otto.email), "nobody else hears of it"
    tick(app)
    assert len(mailbox.messages) == 2, "once"


def test_the_online_link_is_in_no_reminder_and_not_after_cancelling(app, world, mailbox):
    session_id = book(app, world, world.mia, TUESDAY_2PM)
    with app.app_context():
        row = db.session.get(CoachingSession, session_id)
        cancel_session(row, world.mia.id, NOW)
        hooks.session_changed(row, "cancelled", NOW)
        db.session.commit()
    tick(app)
    assert not mailbox.to(world.mia.email), "the member who cancelled hears nothing, and gets no link"
    (to_cora,) = mailbox.to(world.cora.email)
    assert to_cora["Subject"] == "Your session on Tuesday 14:00 is cancelled"
    for hour in range(0, 6 * 24, 3):
        plan(app, NOW + timedelta(hours=hour))
        tick(app, NOW + timedelta(hours=hour))
    assert not mailbox.to(world.mia.email), "a cancelled session gets no reminders"
    assert all(ROOM not in m.as_string() for m in mailbox.messages)


def test_reminders_arrive_exactly_once_across_the_clock_change_at_the_members_offsets(app, world, mailbox):
    start = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
    monday = datetime(2027, 3, 29, 13, 0, tzinfo=UTC)  # 14:00 in London, the day after clocks go forward
    with app.app_context():
        user = world.mia.user()
        hooks.save_preferences(user, Preferences(reminder_offsets=(10080, 1440, 60)), start)
        db.session.commit()
    book(app, world, world.mia, monday, now=start)
    tick(app, start)
    mailbox.clear()

    def reminders():
        return [m for m in mailbox.to(world.mia.email) if m["Subject"].startswith("Reminder")]

    sent_at: list[datetime] = []
    now = start
    while now <= monday + timedelta(hours=1):
        plan(app, now)
        before = len(reminders())
        tick(app, now)
        sent_at += [now] * (len(reminders()) - before)
        now += timedelta(hours=1)
    reminders = reminders()
    assert len(reminders) == 3, [m["Subject"] for m in reminders]
    # A week before is Monday 22 March 13:00 UTC (GMT), a day before 28 March 13:00 UTC (BST), an hour before 12:00.
    assert sent_at == [datetime(2027, 3, 22, 13, 0, tzinfo=UTC), datetime(2027, 3, 28, 13, 0, tzinfo=UTC),
                       datetime(2027, 3, 29, 12, 0, tzinfo=UTC)]
    assert all("Monday 14:00" in m["Subject"] for m in reminders), "in the member's own clock time"
    assert all(ROOM not in m.as_string() for m in reminders)
    assert not [m for m in mailbox.to(world.cora.email) if m["Subject"].startswith("Reminder")]


def test_a_moved_session_gets_fresh_reminders_and_the_old_ones_are_cancelled(app, world, mailbox):
    old_id = book(app, world, world.mia, TUESDAY_2PM)
    tick(app)
    mailbox.clear()
    thursday = TUESDAY_2PM + timedelta(days=2)
    with app.app_context():
        old = db.session.get(CoachingSession, old_id)
        cancel_session(old, world.cora.id, NOW)
        new = add_session(world, world.mia, thursday)
        new.moved_from_id = old.id
        hooks.session_changed(old, "moved", NOW, moved_to=new)
        db.session.commit()
        rows = db.session.scalars(select(Notification).where(Notification.kind == Kind.SESSION_REMINDER)).all()
        old_rows = [r for r in rows if f":{old_id}:" in r.dedupe_key]
        assert old_rows and all(r.status == NotificationStatus.CANCELLED for r in old_rows)
        assert {r.payload["starts_at"] for r in rows if r.status == NotificationStatus.PENDING} == {
            thursday.isoformat()}
    tick(app)
    (to_mia,) = mailbox.to(world.mia.email)
    assert to_mia["Subject"] == "Your session on Tuesday 14:00 has moved"
    assert "Thursday 3 December 2026, 14:00" in mailbox.text(to_mia)
    assert not mailbox.to(world.cora.email), "the coach moved it: only the other side is told"
    for hour in range(1, 8 * 24, 2):  # on the hour in UTC, so each reminder finds its tick
        plan(app, NOW + timedelta(hours=hour))
        tick(app, NOW + timedelta(hours=hour))
    subjects = [m["Subject"] for m in mailbox.to(world.mia.email) if m["Subject"].startswith("Reminder")]
    assert subjects == ["Reminder: your session on Thursday 14:00"] * 2, subjects


def test_a_reminder_row_for_an_old_start_is_not_sent_even_if_left_pending(app, world, mailbox):
    session_id = book(app, world, world.mia, TUESDAY_2PM)
    tick(app)
    mailbox.clear()
    with app.app_context():
        row = db.session.get(CoachingSession, session_id)
        row.starts_at, row.ends_at = row.starts_at + timedelta(hours=3), row.ends_at + timedelta(hours=3)
        db.session.commit()  # moved behind the outbox's back: the dispatcher re-checks the start
    for hour in range(0, 6 * 24, 3):
        tick(app, NOW + timedelta(hours=hour))
    assert not [m for m in mailbox.to(world.mia.email) if "Tuesday 14:00" in m["Subject"]]


def test_the_coach_reading_a_members_note_is_audited_with_ids_only(app, world):
    session_id = book(app, world, world.mia, TUESDAY_2PM, note="I relapsed on Friday")
    with app.app_context():
        row = db.session.get(CoachingSession, session_id)
        assert notices.read_notes(row, world.cora.user(), NOW).booking == "I relapsed on Friday"
        with pytest.raises(PermissionError):
            notices.read_notes(row, world.otto.user(), NOW)
        db.session.commit()
        (entry,) = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == AuditAction.SESSION_NOTE_VIEWED)).all()
        assert (entry.actor_id, entry.subject_id, entry.details) == (world.cora.id, world.mia.id,
                                                                     {"session_id": session_id})
        notices.write_coach_note(row, world.cora.user(), "Follow up on sleep", shared=False)
        assert notices.coach_note_for_member(row) is None, "the coach's note is theirs until shared"
        notices.write_coach_note(row, world.cora.user(), "Follow up on sleep", shared=True)
        assert notices.coach_note_for_member(row) == "Follow up on sleep"
        db.session.commit()
        raw = db.session.execute(
            db.text("select note, coach_note from coaching_session where id = :id"), {"id": session_id}).one()
        assert "relapsed" not in str(raw[0]) and "sleep" not in str(raw[1]), "notes are encrypted at rest"
        # Rotating the key re-encrypts them with every other encrypted column (the coach's room link too).
        assert crypto.rotate_all(db.session, Base.metadata) >= 3
        db.session.commit()
        after = db.session.execute(
            db.text("select note from coaching_session where id = :id"), {"id": session_id}).scalar()
        assert after != raw[0] and db.session.get(CoachingSession, session_id).note == "I relapsed on Friday"



# --- the export and deletion ---


def export(client) -> zipfile.ZipFile:
    response = post(client, "/account/data/export")
    assert response.status_code == 200, response.status_code
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def signed_in(app, persona):
    client = app.test_client()
    assert login(client, persona).status_code == 302
    return client


def test_the_members_export_has_their_sessions_and_the_coachs_note_only_if_shared(app, world):
    first = book(app, world, world.mia, TUESDAY_2PM, note="Hard week")
    book(app, world, world.mia, TUESDAY_2PM + timedelta(days=7))
    book(app, world, world.otto, TUESDAY_2PM + timedelta(days=1), note="Otto's own words")
    with app.app_context():
        row = db.session.get(CoachingSession, first)
        notices.write_coach_note(row, world.cora.user(), "Private thoughts", shared=False)
        db.session.commit()
    archive = export(signed_in(app, world.mia))
    data = json.loads(archive.read("data.json"))
    sessions = data["coaching_sessions"]
    week_later = TUESDAY_2PM + timedelta(days=7)
    assert [s["starts_at"] for s in sessions] == [TUESDAY_2PM.isoformat(), week_later.isoformat()]
    assert sessions[0]["your_note"] == "Hard week" and sessions[0]["coach"] == "Cora (peer coach)"
    assert sessions[0]["coach_note"] is None, "the coach's note is the coach's until shared"
    table = list(csv.DictReader(io.StringIO(archive.read("sessions.csv").decode())))
    assert len(table) == 2 and table[0]["your_note"] == "Hard week" and table[0]["status"] == "booked"
    assert "sessions.csv" in archive.read("README.txt").decode()
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"Otto" not in everything and b"Private thoughts" not in everything
    with app.app_context():
        notices.write_coach_note(db.session.get(CoachingSession, first), world.cora.user(), "Sleep first",
                                 shared=True)
        db.session.commit()
    data = json.loads(export(signed_in(app, world.mia)).read("data.json"))
    assert data["coaching_sessions"][0]["coach_note"] == "Sleep first"


def test_the_coachs_export_has_their_coaching_data_and_no_member_notes(app, world):
    book(app, world, world.mia, TUESDAY_2PM, note="Hard week")
    archive = export(signed_in(app, world.cora))
    coaching = json.loads(archive.read("data.json"))["coaching"]
    assert coaching["profile"]["display_name"] == "Cora (peer coach)"
    assert [(s["member"], s["starts_at"]) for s in coaching["sessions"]] == [("Mia M.", TUESDAY_2PM.isoformat())]
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"Hard week" not in everything and world.mia.email.encode() not in everything


def test_deleting_the_members_account_deletes_their_sessions_and_pending_notices(app, world, mailbox):
    book(app, world, world.mia, TUESDAY_2PM, note="Hard week")
    otto_session = book(app, world, world.otto, TUESDAY_2PM + timedelta(days=1))
    assert post(signed_in(app, world.mia), "/account/delete", {"confirm": "DELETE"}).status_code == 302
    with app.app_context():
        assert db.session.scalars(select(CoachingSession.id)).all() == [otto_session]
        left = db.session.scalars(select(Notification.dedupe_key).where(Notification.kind.in_(notices.SESSION_KINDS)))
        assert all(f":{otto_session}:" in key for key in left), "the member's sessions leave no notice behind"
    mailbox.clear()
    tick(app)
    assert not any(m["To"] == world.cora.email and "Mia" in mailbox.text(m) for m in mailbox.messages)


def test_deleting_the_coachs_account_tells_members_their_sessions_are_cancelled(app, world, mailbox):
    book(app, world, world.mia, TUESDAY_2PM)
    book(app, world, world.otto, TUESDAY_2PM + timedelta(days=1))
    tick(app)
    mailbox.clear()
    assert post(signed_in(app, world.cora), "/account/delete", {"confirm": "DELETE"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CoachingSession)) == 0
        assert db.session.scalar(select(func.count()).select_from(Coach)) == 0
    tick(app)
    assert [m["Subject"] for m in mailbox.to(world.mia.email)] == ["Your session on Tuesday 14:00 is cancelled"]
    assert [m["Subject"] for m in mailbox.to(world.otto.email)] == ["Your session on Wednesday 14:00 is cancelled"]
    for hour in range(1, 6 * 24, 2):
        plan(app, NOW + timedelta(hours=hour))
        tick(app, NOW + timedelta(hours=hour))
    assert not [m for m in mailbox.messages if m["Subject"].startswith("Reminder")], "no reminders afterwards"


# --- private calendar feeds ---


def feed_of(app, persona) -> bytes:
    with app.app_context():
        token = calendars.regenerate_token(persona.user())
        db.session.commit()
    response = app.test_client().get(f"/calendar/{token}.ics")
    assert response.status_code == 200
    return response.get_data()


def session_events(body: bytes) -> list[tuple[str, datetime, str]]:
    return [(str(e["UID"]), e.decoded("DTSTART"), str(e["SUMMARY"]))
            for e in Calendar.from_ical(body).walk("VEVENT") if str(e["UID"]).startswith("session-")]


def test_a_session_is_in_the_coachs_and_the_members_own_feeds_only(app, world):
    session_id = book(app, world, world.mia, TUESDAY_2PM, note="Hard week")
    with app.app_context():
        nonce = db.session.get(CoachingSession, session_id).nonce
    assert [s for _, _, s in session_events(feed_of(app, world.cora))] == ["Session"], "a discreet feed: no name"
    with app.app_context():
        world.cora.user().calendar_discreet = False  # the coach chose names in their own feed
        db.session.commit()
    coach_feed, mia_feed, otto_feed = feed_of(app, world.cora), feed_of(app, world.mia), feed_of(app, world.otto)
    (uid, start, summary), = session_events(coach_feed)
    assert uid.startswith(f"session-{nonce}@") and start == TUESDAY_2PM and summary == "Session: Mia M."
    assert session_events(mia_feed) == [(uid, TUESDAY_2PM, "Session")], "neutral in the member's own feed"
    assert session_events(otto_feed) == []
    for body in (coach_feed, mia_feed):
        assert b"Hard week" not in body and ROOM.encode() not in body and b"ketamine" not in body.lower()
    if shutil.which("node") and (JS_DIR / "node_modules" / "ical.js").exists():
        done = subprocess.run(["node", str(JS_DIR / "expand.mjs"), "2026-11-20T00:00:00Z", "2026-12-20T00:00:00Z"],
                              input=coach_feed, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode()
        seen = [(o["uid"], o["start"]) for o in json.loads(done.stdout)]
        assert seen == [(uid, "2026-12-01T14:00:00Z")], "Mozilla's ical.js reads the same session"
    with app.app_context():
        cancel_session(db.session.get(CoachingSession, session_id), world.mia.id, NOW)
        db.session.commit()
    assert session_events(feed_of(app, world.cora)) == [], "a cancelled session leaves the feed"
