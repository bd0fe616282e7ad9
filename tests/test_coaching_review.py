"""A reviewer's attacks on one-to-one sessions, each through the web client as an outsider, a member or a coach
would send it. Each attack worked against the feature's first version; the honest path is checked alongside.

A coach in UTC offers 09:00-17:00 every day in 60-minute sessions with 12 hours' notice, two weeks ahead, and asks
for a note when a session is changed less than 12 hours before it. The clock stands at Thursday 26 November 2026,
12:00 UTC, so the first free slot is Friday 09:00.
"""

from __future__ import annotations

import csv
import io
import threading
import zipfile
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

import pytest
from sqlalchemy import select

from supportnet import clock, memberships
from supportnet.coaching import booking
from supportnet.extensions import db
from supportnet.models import Coach, CoachingSession, Group, Membership, SessionStatus
from supportnet.notifications import dispatch, planner
from tests.conftest import PASSWORD, Persona, login, make_persona, post
from tests.pages import browser, html
from tests.pages import text as page_text
from tests.worlds.coaching_booking import make_coach
from tests.worlds.coaching_coaches import build_coach_world
from tests.worlds.coaching_coaches import make_coach as grant_coach

FRIDAY_9 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NINE_TO_FIVE = (clock_time(9, 0), clock_time(17, 0))
ROOM = "https://rooms.example.org/cora"


def _coach(app, zone: str = "UTC") -> tuple[int, Persona]:
    with app.app_context():
        coach = make_coach(zone=zone, every_day=NINE_TO_FIVE, session_minutes=60, buffer_minutes=0,
                           notice_hours=12, horizon_days=14, late_change_hours=12)
        db.session.commit()
        user = coach.user
        return coach.id, Persona(email=user.email, password=PASSWORD, id=user.id, display_name=user.display_name)


@pytest.fixture
def cora(app) -> tuple[int, Persona]:
    return _coach(app)


def _book(client, coach_id: int, starts_at: str, note: str = ""):
    return post(client, f"/coaches/{coach_id}/book", {"starts_at": starts_at, "note": note})


def _session_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    return int(response.location.rsplit("/", 1)[-1])


def tick(app, now=None):
    with app.app_context():
        return dispatch.tick(now)


# --- odd input: a 4xx with a message, never a 500 ---


@pytest.mark.parametrize("starts_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_booking_or_moving_to_an_instant_off_the_calendar_is_refused_not_a_500(app, cora, starts_at):
    coach_id, _ = cora
    mia = browser(app, make_persona(app, "Mia M."))
    # Honest path: a free slot books.
    session_id = _session_id(_book(mia, coach_id, FRIDAY_9.isoformat()))
    # Attack: an ISO time with an offset that takes it past year 1 or 9999 when turned into UTC.
    refused = _book(mia, coach_id, starts_at)
    assert refused.status_code in (400, 409), refused.status_code
    moved = post(mia, f"/me/sessions/{session_id}/move", {"starts_at": starts_at})
    assert moved.status_code in (302, 303, 400, 409), moved.status_code
    with app.app_context():
        assert db.session.get(CoachingSession, session_id).status == SessionStatus.BOOKED


@pytest.mark.parametrize("data", [
    {"action": "add_window", "weekday": "\u00b2", "starts": "09:00", "ends": "10:00"},  # "²".isdigit() is True
    {"action": "remove", "kind": "window", "row_id": "\u00b2"},
    {"action": "remove", "kind": "window", "row_id": "9" * 30},  # past any integer column
    {"action": "add_time_off", "off_starts": "9999-12-31T20:00", "off_ends": "9999-12-31T23:00"},
    {"action": "add_time_off", "off_starts": "0001-01-01T00:00", "off_ends": "0001-01-01T01:00"},
], ids=["superscript-weekday", "superscript-row-id", "huge-row-id", "time-off-year-9999", "time-off-year-1"])
def test_odd_values_on_the_availability_page_are_refused_not_a_500(app, data):
    # A coach east of UTC (Tokyo) sees year 1 underflow; west of UTC (New York) sees year 9999 overflow.
    zone = "Asia/Tokyo" if data.get("off_starts", "").startswith("0001") else "America/New_York"
    _, coach = _coach(app, zone)
    client = browser(app, coach)
    # Honest path: a window on a real weekday is added.
    ok = post(client, "/coach/availability", {"action": "add_window", "weekday": "0", "starts": "18:00",
                                              "ends": "19:00"})
    assert ok.status_code == 302
    response = post(client, "/coach/availability", data)
    assert response.status_code in (400, 404), response.status_code


# --- the "can't make it" link: promised, never delivered ---


def test_the_members_session_emails_carry_a_cant_make_it_link_that_cancels(app, cora, mailbox):
    coach_id, _ = cora
    mia_persona = make_persona(app, "Mia M.")
    mia = browser(app, mia_persona)
    session_id = _session_id(_book(mia, coach_id, FRIDAY_9.isoformat()))
    # The session page promises it: "Your reminder emails have a "can't make it" link that does the same."
    assert "can't make it" in page_text(mia.get(f"/me/sessions/{session_id}")).replace("&#39;", "'")
    tick(app)
    now = clock.now_utc()
    for hour in range(0, 24):  # the planner and dispatcher run through the day before the session
        with app.app_context():
            planner.plan(now + timedelta(hours=hour))
            db.session.commit()
        tick(app, now + timedelta(hours=hour))
    to_mia = mailbox.to(mia_persona.email)
    assert to_mia, "the member got her confirmation"
    with_link = [m for m in to_mia if "/sessions/cant-make-it/" in mailbox.text(m)]
    assert with_link, "no email to the member carries the session's \"can't make it\" link"
    link = mailbox.link(with_link[0], "/sessions/cant-make-it/")
    outsider = app.test_client()  # the link works without signing in, as links in emails do
    page = outsider.get(link)
    assert page.status_code == 200


# --- what a late change's note reaches ---


def test_a_members_late_cancel_note_is_not_emailed_to_the_coach_unaudited(app, cora, mailbox):
    coach_id, coach = cora
    mia_persona = make_persona(app, "Mia M.")
    mia = browser(app, mia_persona)
    session_id = _session_id(_book(mia, coach_id, FRIDAY_9.isoformat(), note="Hard week"))
    tick(app)
    mailbox.clear()
    # 21 hours later the session is 12 hours away less 0: a note is required to cancel now.
    clock.set_frozen(FRIDAY_9 - timedelta(hours=3))
    mia = app.test_client()
    assert login(mia, mia_persona, remember=True).status_code == 302
    secret = "I relapsed last night and I am in detox"
    assert post(mia, f"/me/sessions/{session_id}/cancel", {"note": secret}).status_code == 302
    tick(app, FRIDAY_9 - timedelta(hours=3))
    (to_coach,) = mailbox.to(coach.email)
    assert "cancelled" in to_coach["Subject"]
    # The member's booking note reaches the coach only on the session's page, each read audited; the note a
    # late cancel forces them to write is just as sensitive and must not travel by email (nor unaudited).
    assert secret not in mailbox.text(to_coach) and secret not in to_coach.as_string()


# --- the room of a coach who no longer meets online ---


def test_an_in_person_only_coachs_old_room_link_is_not_shown_to_members(app, cora):
    coach_id, coach = cora
    cora_client = browser(app, coach)
    # The coach stops offering online sessions; the profile form still carries the old room link.
    profile = {"display_name": "Cora C.", "offers": "", "languages": "", "place": "Room 4, Main St",
               "in_person": "y", "timezone": "UTC", "session_minutes": "60", "buffer_minutes": "0",
               "notice_hours": "12", "horizon_days": "14", "late_change_hours": "12", "online_url": ROOM}
    assert post(cora_client, "/coach/profile", profile).status_code == 302
    with app.app_context():
        row = db.session.get(Coach, coach_id)
        assert not row.online and row.in_person
    mia = browser(app, make_persona(app, "Mia M."))
    session_id = _session_id(_book(mia, coach_id, FRIDAY_9.isoformat()))
    page = html(mia.get(f"/me/sessions/{session_id}"))
    assert "Room 4, Main St" in page, "honest path: the place is shown"
    assert ROOM not in page, "an in-person session shows a room link the coach no longer offers"


# --- data rights: what the member wrote is in their export ---


def test_the_members_export_has_the_note_they_wrote_when_cancelling(app, cora):
    coach_id, _ = cora
    mia_persona = make_persona(app, "Mia M.")
    mia = browser(app, mia_persona)
    session_id = _session_id(_book(mia, coach_id, FRIDAY_9.isoformat(), note="Hard week"))
    clock.set_frozen(FRIDAY_9 - timedelta(hours=3))
    mia = app.test_client()
    assert login(mia, mia_persona, remember=True).status_code == 302
    assert post(mia, f"/me/sessions/{session_id}/cancel", {"note": "Sick, sorry"}).status_code == 302
    response = post(mia, "/account/data/export")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    table = list(csv.DictReader(io.StringIO(archive.read("sessions.csv").decode())))
    assert table[0]["your_note"] == "Hard week" and table[0]["status"] == "cancelled"
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"Sick, sorry" in everything, "the note the member wrote when cancelling is missing from their export"


# --- naming a coach: an address oracle for program coordinators ---


def _coach_world(app):
    return build_coach_world(app)


def test_a_coordinator_cannot_learn_whether_an_address_has_an_account(app):
    world = _coach_world(app)
    coordinator = browser(app, world.programs.coordinator_a)
    url = f"/programs/{world.programs.program_a}/coaches"
    # Otto is in none of program A's groups: the coordinator has no business knowing he uses SupportNet.
    known = post(coordinator, url, {"email": world.otto.email}, follow_redirects=True)
    unknown = post(coordinator, url, {"email": "nobody-here@example.org"}, follow_redirects=True)
    assert world.otto.display_name not in page_text(known), "the page names the account behind the address"
    assert known.status_code == unknown.status_code, "an existing account answers differently from none"


# --- derived state: the member's note after the program place ends, and after the role is named again ---


def _program_coach_and_booking(app, world, note: str) -> tuple[int, int]:
    coach_id = grant_coach(app, world, world.cole, program="a",
                           weekly=tuple((day, clock_time(9), clock_time(17)) for day in range(7)))
    mia = browser(app, world.mia)
    # Friday 09:00 in New York, Cole's zone.
    session_id = _session_id(_book(mia, coach_id, "2026-11-27T14:00:00+00:00", note=note))
    return coach_id, session_id


def test_a_program_coach_no_longer_reads_the_note_of_a_member_who_left_the_program(app):
    world = _coach_world(app)
    note = "My partner must not know I am coming"
    _, session_id = _program_coach_and_booking(app, world, note)
    cole = browser(app, world.cole)
    assert note in page_text(cole.get(f"/coach/sessions/{session_id}")), "honest path: the coach reads it"
    with app.app_context():
        slug = db.session.scalar(select(Group.slug).where(Group.id == world.programs.group_a))
    mia = browser(app, world.mia)
    assert post(mia, f"/groups/{slug}/leave").status_code == 302
    with app.app_context():
        assert db.session.get(CoachingSession, session_id).status == SessionStatus.CANCELLED
    # Her place in the program ended, and with it the session that never took place: what she wrote for it
    # should no longer reach the program's coach (as check-ins shared with a group's facilitators stop).
    page = cole.get(f"/coach/sessions/{session_id}")
    assert note not in page_text(page), "the program's coach still reads the note of a member who left"


def test_a_coach_named_again_does_not_regain_the_notes_of_the_old_roles_members(app):
    world = _coach_world(app)
    note = "Please do not call my work number"
    coach_id, session_id = _program_coach_and_booking(app, world, note)
    admin = browser(app, world.programs.admin)
    # The program's coordinator ends Cole's role; the session ahead is cancelled and the page closes to him.
    coordinator = browser(app, world.programs.coordinator_a)
    assert post(coordinator, f"/programs/{world.programs.program_a}/coaches/{coach_id}/end").status_code == 302
    cole = browser(app, world.cole)
    assert cole.get(f"/coach/sessions/{session_id}").status_code == 404, "honest path: the role ended"
    # Months later an admin names him a public coach, a new role for everyone: the old program's member's note
    # was written for a role that ended.
    assert post(admin, "/admin/coaches", {"email": world.cole.email, "visibility": "public"}).status_code == 302
    page = cole.get(f"/coach/sessions/{session_id}")
    assert note not in page_text(page), "a coach named again reads the notes written to the role that ended"


# --- races: the program place ends while a booking with the program's coach is in flight ---


def test_leaving_the_program_while_a_booking_with_its_coach_is_in_flight_leaves_no_session(app):
    world = _coach_world(app)
    coach_id = grant_coach(app, world, world.cole, program="a",
                           weekly=tuple((day, clock_time(9), clock_time(17)) for day in range(7)))
    booked_one, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def mia_books():
        # The booking checked her place and holds the coach's lock, not yet committed (a slow request).
        with app.app_context():
            try:
                booking.book(world.mia.user(), db.session.get(Coach, coach_id),
                             datetime(2026, 11, 27, 14, 0, tzinfo=UTC), "", clock.now_utc())
                outcome["session"] = "booked"
            finally:
                booked_one.set()
            release.wait(timeout=30)
            db.session.commit()

    def mia_leaves():
        # Her other tab: she leaves program A's only group she is in.
        with app.app_context():
            membership = db.session.scalar(select(Membership).where(
                Membership.group_id == world.programs.group_a, Membership.user_id == world.mia.id))
            memberships.leave(membership, clock.now_utc())
            db.session.commit()
            outcome["left"] = True

    first = threading.Thread(target=mia_books, daemon=True)
    first.start()
    assert booked_one.wait(timeout=30) and outcome.get("session") == "booked"
    second = threading.Thread(target=mia_leaves, daemon=True)
    second.start()
    second.join(timeout=2)  # SQLite's single writer makes her wait; PostgreSQL lets her through
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert outcome.get("left")
    with app.app_context():
        still = db.session.scalars(select(CoachingSession).where(
            CoachingSession.member_id == world.mia.id, CoachingSession.status == SessionStatus.BOOKED)).all()
    assert still == [], "a booked session with a program-only coach outlived her last place in the program"


# --- the coach's room: harvested by booking and cancelling ---


def test_a_stranger_cannot_harvest_the_coachs_room_by_booking_far_ahead_and_cancelling(app, cora, mailbox):
    coach_id, _ = cora
    # Anyone can open an account, and a public coach is bookable by anyone signed in.
    stranger_persona = make_persona(app, "Sam S.")
    stranger = browser(app, stranger_persona)
    far_ahead = FRIDAY_9 + timedelta(days=12)
    session_id = _session_id(_book(stranger, coach_id, far_ahead.isoformat()))
    seen_on_page = ROOM in html(stranger.get(f"/me/sessions/{session_id}"))
    tick(app)
    seen_by_email = any(ROOM in mailbox.text(m) for m in mailbox.to(stranger_persona.email))
    assert post(stranger, f"/me/sessions/{session_id}/cancel").status_code == 302
    # The room is one fixed address for all the coach's sessions, and the coach's page shows when they are
    # booked (the missing times): whoever holds the room can walk into another member's session. It should
    # reach a member only close to their own session, not twelve days ahead to anyone who books and cancels.
    assert not seen_on_page and not seen_by_email, "the room reached someone twelve days before any session"


# --- odd input on the admin's grant form ---


def test_an_odd_program_id_on_the_grant_form_is_refused_not_a_500(app, admin):
    olga = make_persona(app, "Olga O.")
    client = browser(app, admin)
    response = post(client, "/admin/coaches", {"email": olga.email, "visibility": "program",
                                               "program_id": "\u00b2"})
    assert response.status_code == 400, response.status_code


# --- calendars filled from the confirmation's .ics after a move ---


def _calendars(message) -> list[bytes]:
    return [p.get_content() if isinstance(p.get_content(), bytes) else p.get_content().encode()
            for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]


def test_after_a_move_the_coachs_calendar_learns_the_new_time(app, cora, mailbox):
    coach_id, coach = cora
    mia = browser(app, make_persona(app, "Mia M."))
    session_id = _session_id(_book(mia, coach_id, FRIDAY_9.isoformat()))
    tick(app)
    (confirmation,) = mailbox.to(coach.email)
    assert _calendars(confirmation), "honest path: the confirmation carries the session's .ics"
    mailbox.clear()
    new_start = FRIDAY_9 + timedelta(days=1)
    assert post(mia, f"/me/sessions/{session_id}/move", {"starts_at": new_start.isoformat()}).status_code == 302
    tick(app)
    (moved,) = mailbox.to(coach.email)
    assert "moved" in moved["Subject"]
    # The coach added the first .ics to their calendar; without an update it keeps the old time for ever.
    assert _calendars(moved), "the 'moved' email carries no calendar update: the coach's calendar keeps the old time"


# --- text that reaches the other side: invisible and control characters ---


@pytest.mark.parametrize("field", ["booking note", "cancel note", "follow-up"])
def test_invisible_characters_in_text_for_the_other_side_are_refused(app, cora, field):
    coach_id, coach = cora
    mia = browser(app, make_persona(app, "Mia M."))
    # A right-to-left override makes the words read differently from what was typed (as a supporter's message
    # or a display name may not); a late cancel note is even emailed to the coach.
    spoof = "call me at \u202e0987 654 321\u202c please"
    if field == "booking note":
        assert _book(mia, coach_id, FRIDAY_9.isoformat(), note=spoof).status_code == 400
        return
    session_id = _session_id(_book(mia, coach_id, FRIDAY_9.isoformat()))
    if field == "cancel note":
        post(mia, f"/me/sessions/{session_id}/cancel", {"note": spoof})
        with app.app_context():
            row = db.session.get(CoachingSession, session_id)
            assert row.status == SessionStatus.BOOKED, "the spoofing note was taken and sent to the coach"
        return
    response = post(browser(app, coach), f"/coach/sessions/{session_id}/follow-up",
                    {"coach_note": spoof, "shared": "1"})
    assert response.status_code == 400
