"""A one-to-one session's pages on both sides, and what ends a session.

A member books by choosing a time on the coach's page and moves or cancels it on the session's page; the coach
sees their sessions, reads a member's note (each read audited), writes a follow-up note that is theirs alone
unless they share it, and cancels under the same late-change rule. A session ends with the coach's role, and a
session with a program's own coach ends when the member is no longer in any of the program's groups.

Cole coaches from New York, 09:00-17:00 every day (50 minutes and a 10-minute buffer, 12 hours' notice); Mia is
in London and a member of program A's group; the clock stands at Thursday 26 November 2026, 12:00 UTC, so the
first free time is Friday 09:00 in New York, 14:00 in London.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime, time, timedelta

import icalendar
import pytest
from sqlalchemy import select

from supportnet import clock, programs
from supportnet.coaching import booking, coaches, records
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    Coach,
    CoachingSession,
    CoachVisibility,
    Group,
    MemberRole,
    Membership,
    MemberStatus,
    Program,
    SessionStatus,
    User,
)
from tests.conftest import login, post
from tests.pages import html, text
from tests.worlds.coaching_coaches import audit_rows, build_coach_world, make_coach
from tests.worlds.notifications import run

EVERY_DAY = tuple((weekday, time(9), time(17)) for weekday in range(7))
FIRST = "2026-11-27T14:00:00+00:00"  # Friday 09:00 in New York
NOTE = "First time with a coach; I'd like to talk about sleep."


@pytest.fixture
def world(app):
    return build_coach_world(app)


@pytest.fixture
def cole_id(app, world) -> int:
    return make_coach(app, world, world.cole, weekly=EVERY_DAY)


def signed_in(app, persona):
    client = app.test_client()
    assert login(client, persona, remember=True).status_code == 302  # the tests move the clock by hours
    return client


def offered(response) -> list[str]:
    """The times the coach's page offers to book (UTC instants, as the form sends them)."""
    return re.findall(r'name="starts_at" value="([^"]+)"', html(response))


def move_options(response) -> list[str]:
    return re.findall(r'<option value="([^"]+)">', html(response))


def page_text(response) -> str:
    return html_lib.unescape(text(response))


def book(client, coach_id: int, starts_at: str, note: str = ""):
    return post(client, f"/coaches/{coach_id}/book", {"starts_at": starts_at, "note": note})


def booked_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    return int(response.location.rsplit("/", 1)[-1])


def status_of(app, session_id: int) -> SessionStatus:
    with app.app_context():
        return db.session.get(CoachingSession, session_id).status


# --- booking and changing it, as a member ---


def test_a_member_books_by_choosing_a_time_on_the_coachs_page(app, world, cole_id):
    mia = signed_in(app, world.mia)
    times = offered(mia.get(f"/coaches/{cole_id}"))
    assert times[0] == FIRST
    sid = booked_id(book(mia, cole_id, times[0], NOTE))
    page = page_text(mia.get(f"/me/sessions/{sid}"))
    assert "Fri 27 Nov 2026, 14:00\u201314:50" in page and "Europe/London" in page
    assert NOTE in page
    assert FIRST not in offered(mia.get(f"/coaches/{cole_id}")), "a booked time is still offered"
    listed = page_text(mia.get("/me/sessions"))
    assert "Fri 27 Nov 2026, 14:00" in listed and "Find a coach" in listed


def test_a_time_taken_meanwhile_comes_back_with_the_free_times_and_the_members_note(app, world, cole_id):
    mia, otto = signed_in(app, world.mia), signed_in(app, world.otto)
    assert FIRST in offered(mia.get(f"/coaches/{cole_id}"))  # Mia reads the page ...
    booked_id(book(otto, cole_id, FIRST))  # ... while Otto books that time
    refused = book(mia, cole_id, FIRST, NOTE)
    assert refused.status_code == 409
    shown = page_text(refused)
    assert "not free any more" in shown and NOTE in shown, "the member's note was lost"
    times = offered(refused)
    assert times and FIRST not in times


def test_a_member_moves_a_session_to_another_free_time_on_its_page(app, world, cole_id):
    mia = signed_in(app, world.mia)
    sid = booked_id(book(mia, cole_id, FIRST))
    choices = move_options(mia.get(f"/me/sessions/{sid}"))
    assert choices and FIRST not in choices
    moved = post(mia, f"/me/sessions/{sid}/move", {"starts_at": choices[1], "note": ""})
    new_id = booked_id(moved)
    assert new_id != sid and status_of(app, sid) == SessionStatus.CANCELLED
    assert status_of(app, new_id) == SessionStatus.BOOKED
    assert FIRST in offered(mia.get(f"/coaches/{cole_id}")), "the old time did not come free"


def test_the_session_page_offers_no_move_or_cancel_once_it_is_cancelled(app, world, cole_id):
    mia = signed_in(app, world.mia)
    sid = booked_id(book(mia, cole_id, FIRST))
    assert post(mia, f"/me/sessions/{sid}/cancel", {"note": ""}).status_code == 302
    page = mia.get(f"/me/sessions/{sid}")
    assert "Cancelled" in page_text(page)
    assert f"/me/sessions/{sid}/move" not in html(page) and f"/me/sessions/{sid}/cancel" not in html(page)


# --- the coach's side ---


def test_the_coach_sees_their_sessions_and_each_read_of_a_note_is_audited(app, world, cole_id):
    sid = booked_id(book(signed_in(app, world.mia), cole_id, FIRST, NOTE))
    cole = signed_in(app, world.cole)
    listing = cole.get("/coach/sessions")
    assert listing.status_code == 200
    assert "Mia M." in page_text(listing) and "Fri 27 Nov 2026, 09:00" in page_text(listing)  # his zone
    assert NOTE not in page_text(listing), "the list shows notes without a recorded read"
    assert audit_rows(app, AuditAction.SESSION_NOTE_VIEWED) == []
    for _ in range(2):
        page = cole.get(f"/coach/sessions/{sid}")
        assert page.status_code == 200 and NOTE in page_text(page)
    reads = audit_rows(app, AuditAction.SESSION_NOTE_VIEWED)
    assert [(actor, subject) for actor, subject, _ in reads] == [(world.cole.id, world.mia.id)] * 2
    assert all(NOTE not in str(details) for _, _, details in reads), "the audit log holds the note"


def test_nobody_else_reaches_a_coachs_session_pages(app, world, cole_id):
    sid = booked_id(book(signed_in(app, world.mia), cole_id, FIRST, NOTE))
    make_coach(app, world, world.rosa, weekly=EVERY_DAY)  # another coach
    for persona in (world.rosa, world.mia, world.otto, world.programs.admin):
        client = signed_in(app, persona)
        for url in (f"/coach/sessions/{sid}",):
            assert client.get(url).status_code == 404, (persona.display_name, url)
        for url, data in ((f"/coach/sessions/{sid}/follow-up", {"coach_note": "x", "shared": "1"}),
                          (f"/coach/sessions/{sid}/cancel", {"note": "x"})):
            assert post(client, url, data).status_code == 404, (persona.display_name, url)
    for persona in (world.mia, world.otto):  # not coaches at all
        assert signed_in(app, persona).get("/coach/sessions").status_code == 404
    assert "Mia M." not in page_text(signed_in(app, world.rosa).get("/coach/sessions"))
    assert status_of(app, sid) == SessionStatus.BOOKED
    assert audit_rows(app, AuditAction.SESSION_NOTE_VIEWED) == []


def test_a_follow_up_note_is_the_coachs_alone_until_shared(app, world, cole_id):
    mia = signed_in(app, world.mia)
    sid = booked_id(book(mia, cole_id, FIRST))
    cole = signed_in(app, world.cole)
    follow_up = "She sleeps better since the walks. Next: the evenings."
    assert post(cole, f"/coach/sessions/{sid}/follow-up", {"coach_note": follow_up}).status_code == 302
    assert follow_up in page_text(cole.get(f"/coach/sessions/{sid}"))
    assert follow_up not in page_text(mia.get(f"/me/sessions/{sid}")), "an unshared note reached the member"
    with app.app_context():
        assert [s["coach_note"] for s in records.member_sessions(db.session.get(User, world.mia.id))] == [None]
    assert post(cole, f"/coach/sessions/{sid}/follow-up",
                {"coach_note": follow_up, "shared": "1"}).status_code == 302
    assert follow_up in page_text(mia.get(f"/me/sessions/{sid}"))
    assert post(cole, f"/coach/sessions/{sid}/follow-up", {"coach_note": follow_up}).status_code == 302
    assert follow_up not in page_text(mia.get(f"/me/sessions/{sid}")), "unsharing left the note visible"


def test_a_too_long_follow_up_is_refused_and_comes_back_on_the_page(app, world, cole_id):
    sid = booked_id(book(signed_in(app, world.mia), cole_id, FIRST))
    cole = signed_in(app, world.cole)
    assert post(cole, f"/coach/sessions/{sid}/follow-up", {"coach_note": "Kept."}).status_code == 302
    long_note = "Long notes happen. " * 250
    refused = post(cole, f"/coach/sessions/{sid}/follow-up", {"coach_note": long_note, "shared": "1"})
    assert refused.status_code == 400
    assert "at most 4000 characters" in page_text(refused) and long_note.strip() in page_text(refused)
    with app.app_context():
        row = db.session.get(CoachingSession, sid)
        assert (row.coach_note, row.coach_note_shared) == ("Kept.", False)


def test_the_coach_cancels_late_only_with_a_note_the_member_reads_on_the_session_page(app, world, cole_id, mailbox):
    sid = booked_id(book(signed_in(app, world.mia), cole_id, FIRST))
    cole = signed_in(app, world.cole)
    late = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)  # three hours before
    with clock.frozen(late):
        refused = post(cole, f"/coach/sessions/{sid}/cancel", {"note": ""})
        assert refused.status_code == 400 and "short note" in page_text(refused)
        assert status_of(app, sid) == SessionStatus.BOOKED
        assert post(cole, f"/coach/sessions/{sid}/cancel", {"note": "I am ill, so sorry."}).status_code == 302
    assert status_of(app, sid) == SessionStatus.CANCELLED
    mailbox.clear()
    run(app, late + timedelta(minutes=1))
    told = [m for m in mailbox.to(world.mia.email) if m["Subject"].endswith("is cancelled")]
    # The email says a note is waiting on the session's page; what people write never travels by email.
    assert len(told) == 1 and "left a note about it on the session's page" in mailbox.text(told[0])
    assert "I am ill" not in told[0].as_string() and f"/me/sessions/{sid}" in mailbox.text(told[0])
    assert "Cole" not in told[0]["Subject"], "the subject names the coach"
    assert not [m for m in mailbox.to(world.cole.email) if m["Subject"].endswith("is cancelled")], \
        "the coach was told of his own change"
    with clock.frozen(late):
        assert "I am ill, so sorry." in page_text(signed_in(app, world.mia).get(f"/me/sessions/{sid}"))


# --- what ends a session ---


def test_ending_the_coach_role_cancels_the_sessions_ahead_and_tells_the_members(app, world, cole_id, mailbox):
    sid = booked_id(book(signed_in(app, world.mia), cole_id, FIRST))
    with app.app_context():
        coaches.end(db.session.get(Coach, cole_id), by=world.programs.admin.user(), now=clock.now_utc())
        db.session.commit()
    assert status_of(app, sid) == SessionStatus.CANCELLED
    mailbox.clear()
    run(app, clock.now_utc())
    assert [m["Subject"] for m in mailbox.to(world.mia.email) if m["Subject"].endswith("is cancelled")] == [
        "Your session on Friday 14:00 is cancelled"]
    assert signed_in(app, world.mia).get(f"/coaches/{cole_id}").status_code == 404


def test_a_group_given_to_another_program_ends_sessions_with_the_old_programs_coach(app, world):
    program_coach = make_coach(app, world, world.cole, program="a", weekly=EVERY_DAY)
    public_coach = make_coach(app, world, world.rosa, weekly=EVERY_DAY)
    mia = signed_in(app, world.mia)
    with_program = booked_id(book(mia, program_coach, FIRST))
    with_public = booked_id(book(mia, public_coach, "2026-11-27T09:00:00+00:00"))  # Rosa is in London
    with app.app_context():
        group = db.session.get(Group, world.programs.group_a)
        programs.set_group_program(group, db.session.get(Program, world.programs.program_b),
                                   by=world.programs.admin.user(), now=clock.now_utc())
        db.session.commit()
    assert status_of(app, with_program) == SessionStatus.CANCELLED, "the old program's coach still expects her"
    assert status_of(app, with_public) == SessionStatus.BOOKED
    assert mia.get(f"/coaches/{program_coach}").status_code == 404


def test_a_member_still_in_another_of_the_programs_groups_keeps_her_session(app, world):
    program_coach = make_coach(app, world, world.cole, program="a", weekly=EVERY_DAY)
    mia = signed_in(app, world.mia)
    sid = booked_id(book(mia, program_coach, FIRST))
    with app.app_context():
        # A second group of program A, where she is an active member too; then she leaves the first.
        now = clock.now_utc()
        second = db.session.get(Group, world.programs.group_b)
        programs.set_group_program(second, db.session.get(Program, world.programs.program_a),
                                   by=world.programs.admin.user(), now=now)
        db.session.add(Membership(group_id=second.id, user_id=world.mia.id, created_at=now, role=MemberRole.MEMBER,
                                  status=MemberStatus.ACTIVE, joined_at=now))
        db.session.commit()
        first = db.session.scalar(select(Group.slug).where(Group.id == world.programs.group_a))
    assert post(mia, f"/groups/{first}/leave").status_code == 302
    assert status_of(app, sid) == SessionStatus.BOOKED


def test_a_program_only_coach_cannot_make_themselves_public(app, world):
    # A coordinator may only name coaches for her own program's members; the coach's own profile form must not
    # widen that to everyone signed in.
    program_coach = make_coach(app, world, world.cole, program="a", weekly=EVERY_DAY)
    cole = signed_in(app, world.cole)
    assert "Only members of" in page_text(cole.get("/coach/profile"))
    form = {"display_name": "Cole C.", "offers": "", "languages": "", "online": "y", "place": "",
            "timezone": "America/New_York", "session_minutes": "50", "buffer_minutes": "10", "notice_hours": "12",
            "horizon_days": "28", "late_change_hours": "12", "online_url": "", "public": "y"}
    assert post(cole, "/coach/profile", form).status_code == 302
    with app.app_context():
        assert db.session.get(Coach, program_coach).visibility == CoachVisibility.PROGRAM
    assert signed_in(app, world.otto).get(f"/coaches/{program_coach}").status_code == 404


def _calendar_of(message) -> icalendar.Event:
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "one calendar file"
    return icalendar.Calendar.from_ical(parts[0].get_content()).walk("VEVENT")[0]


def test_calendar_files_move_and_cancel_the_one_event_the_confirmation_added(app, world, cole_id, mailbox):
    mia = signed_in(app, world.mia)
    sid = booked_id(book(mia, cole_id, FIRST))
    run(app, clock.now_utc())
    confirmed = _calendar_of(next(m for m in mailbox.to(world.mia.email) if "booked" in mailbox.text(m)))
    uid = str(confirmed["uid"])
    downloaded = icalendar.Calendar.from_ical(mia.get(f"/me/sessions/{sid}.ics").data).walk("VEVENT")[0]
    assert str(downloaded["uid"]) == uid, "importing the download and the email would give two events"

    # Cole moves it: Mia's email carries the same event at its new time, a newer SEQUENCE.
    cole = signed_in(app, world.cole)
    later = move_options(mia.get(f"/me/sessions/{sid}"))[2]
    with app.app_context():
        new_id = booking.move(db.session.get(CoachingSession, sid), datetime.fromisoformat(later),
                              world.cole.user(), None, clock.now_utc()).id
        db.session.commit()
    mailbox.clear()
    run(app, clock.now_utc())
    moved = _calendar_of(next(m for m in mailbox.to(world.mia.email) if m["Subject"].endswith("has moved")))
    assert str(moved["uid"]) == uid and int(moved["sequence"]) == 1
    assert moved.decoded("dtstart") == datetime.fromisoformat(later)
    assert str(moved["status"]) == "CONFIRMED"

    # Then he cancels it: the same event, cancelled, newer again.
    assert post(cole, f"/coach/sessions/{new_id}/cancel", {"note": ""}).status_code == 302
    mailbox.clear()
    run(app, clock.now_utc())
    cancelled = _calendar_of(next(m for m in mailbox.to(world.mia.email) if m["Subject"].endswith("is cancelled")))
    assert str(cancelled["uid"]) == uid and int(cancelled["sequence"]) == 2
    assert str(cancelled["status"]) == "CANCELLED"
    assert "Cole" not in str(cancelled["summary"])


def test_a_coordinators_invitation_says_the_same_whatever_the_address_and_waits_for_an_answer(app, world):
    coordinator = signed_in(app, world.programs.coordinator_a)
    url = f"/programs/{world.programs.program_a}/coaches"
    answers = [post(coordinator, url, {"email": email}, follow_redirects=True)
               for email in (world.otto.email, "nobody-here@example.org", world.otto.email)]
    said = [re.sub(r"\S+@example\.org", "ADDRESS", page_text(a)) for a in answers]
    assert {a.status_code for a in answers} == {200} and said[0] == said[1] == said[2], "the answers differ"
    assert world.otto.display_name not in said[0]
    # Otto is asked; until he answers he is no coach, nobody can book him, and the program does not list him.
    otto = signed_in(app, world.otto)
    with app.app_context():
        invited = db.session.scalar(select(Coach).where(Coach.user_id == world.otto.id))
        invited_id = invited.id
    assert signed_in(app, world.mia).get(f"/coaches/{invited_id}").status_code == 404
    assert otto.get("/coach/sessions").status_code == 404
    # Someone else cannot answer his invitation; he declines it and nobody is told.
    assert post(signed_in(app, world.mia), f"/coach/invitations/{invited_id}/accept").status_code == 404
    assert post(otto, f"/coach/invitations/{invited_id}/decline").status_code == 302
    assert "An invitation to coach" not in page_text(otto.get("/me/sessions"))
    assert post(otto, f"/coach/invitations/{invited_id}/accept").status_code == 404, "a declined one came back"
    assert "Otto" not in page_text(coordinator.get(url))
