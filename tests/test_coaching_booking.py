"""Booking a coach's slot, cancelling and moving it, and the storm: nobody is ever double-booked.

A coach in UTC offers 09:00-17:00 every day in 60-minute sessions, with 12 hours' notice, two weeks ahead, and
asks for a note when a session is changed less than 12 hours before it. The clock stands at Thursday
26 November 2026, 12:00 UTC, so the first free slot is Friday 09:00.
"""

from __future__ import annotations

import html
import multiprocessing
import time
import traceback
from datetime import UTC, datetime, time as clock_time, timedelta
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import delete, select

from supportnet import clock, groups, memberships
from supportnet.coaching import booking, coaches
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    AvailabilityWindow,
    Coach,
    CoachingSession,
    CoachVisibility,
    GroupKind,
    Membership,
    Program,
    SessionStatus,
    User,
)
from supportnet.notifications import links
from tests.conftest import ClosingClient, csrf_token, database_uri, login, make_app, make_persona, post
from tests.worlds.coaching_booking import booked, make_coach, make_member, overlapping_pairs, utc

FRIDAY_9 = utc(2026, 11, 27, 9, 0)
NINE_TO_FIVE = (clock_time(9, 0), clock_time(17, 0))


@pytest.fixture
def coach_id(app) -> int:
    with app.app_context():
        coach = make_coach(every_day=NINE_TO_FIVE, session_minutes=60, buffer_minutes=0, notice_hours=12,
                           horizon_days=14, late_change_hours=12)
        db.session.commit()
        return coach.id


def client_of(app, persona):
    app.test_client_class = ClosingClient
    client = app.test_client()
    assert login(client, persona).status_code == 302
    return client


def book_via_web(client, coach_id: int, starts_at: datetime, note: str = ""):
    return post(client, f"/coaches/{coach_id}/book", {"starts_at": starts_at.isoformat(), "note": note})


def session_id_of(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(response.location.rsplit("/", 1)[-1])


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- booking ---


def test_member_books_a_free_slot_and_sees_it_in_their_own_zone(app, coach_id):
    mia = make_persona(app, "Mia M.", tz="America/New_York")
    client = client_of(app, mia)
    response = book_via_web(client, coach_id, FRIDAY_9, "First time, a bit nervous")
    sid = session_id_of(response)
    page = text(client.get(f"/me/sessions/{sid}"))
    assert "Fri 27 Nov 2026, 04:00" in page  # 09:00 UTC is 04:00 in New York
    assert "https://rooms.example.org/cora" in page  # the room, now that it is booked
    assert "Fri 27 Nov 2026, 04:00" in text(client.get("/me/sessions"))
    with app.app_context():
        session = db.session.get(CoachingSession, sid)
        assert (session.starts_at, session.ends_at) == (FRIDAY_9, FRIDAY_9 + timedelta(hours=1))
        assert session.note == "First time, a bit nervous"
        assert FRIDAY_9 not in [s.starts for s in coaches.free_slots(db.session.get(Coach, coach_id),
                                                                     clock.now_utc())]


@pytest.mark.parametrize("starts_at, why", [
    (utc(2026, 11, 27, 18, 0), "outside the coach's windows"),
    (utc(2026, 11, 27, 9, 30), "not on the coach's grid"),
    (utc(2026, 11, 25, 9, 0), "in the past"),
    (utc(2026, 11, 26, 15, 0), "within the twelve hours' notice"),
    (utc(2026, 12, 11, 9, 0), "beyond the two weeks' horizon"),
])
def test_a_time_the_coach_does_not_offer_is_refused_and_the_note_kept(app, coach_id, member, starts_at, why):
    client = client_of(app, member)
    response = book_via_web(client, coach_id, starts_at, "my words")
    assert response.status_code == 409, why
    assert "not free" in text(response) and "my words" in text(response)
    with app.app_context():
        assert booked(coach_id) == []


def test_a_slot_overlapping_a_booked_one_with_its_buffer_is_refused(app, member, outsider):
    with app.app_context():
        coach = make_coach(every_day=NINE_TO_FIVE, session_minutes=50, buffer_minutes=10, notice_hours=0)
        db.session.commit()
        cid = coach.id
    session_id_of(book_via_web(client_of(app, member), cid, FRIDAY_9))
    otto = client_of(app, outsider)
    # 09:50 would end where the first one does plus its buffer: not offered.
    assert book_via_web(otto, cid, utc(2026, 11, 27, 9, 50)).status_code == 409
    assert book_via_web(otto, cid, FRIDAY_9).status_code == 409
    session_id_of(book_via_web(otto, cid, utc(2026, 11, 27, 10, 0)))  # after the buffer: free


def test_bad_input_is_a_4xx_never_a_500(app, coach_id, member):
    client = client_of(app, member)
    assert post(client, f"/coaches/{coach_id}/book", {"starts_at": "tomorrow-ish"}).status_code == 400
    assert post(client, f"/coaches/{coach_id}/book", {"starts_at": "2026-11-27T09:00"}).status_code == 400
    assert book_via_web(client, coach_id, FRIDAY_9, "x" * 501).status_code == 400
    assert book_via_web(client, 999999, FRIDAY_9).status_code == 404


def test_a_member_holds_at_most_three_future_sessions_with_one_coach(app, coach_id, member):
    client = client_of(app, member)
    for hour in (9, 10, 11):
        session_id_of(book_via_web(client, coach_id, utc(2026, 11, 27, hour, 0)))
    response = book_via_web(client, coach_id, utc(2026, 11, 27, 12, 0))
    assert response.status_code == 400 and "already have 3 sessions" in text(response)


def test_a_program_only_coach_is_bookable_only_by_the_programs_members(app, member, facilitator, outsider):
    with app.app_context():
        program = Program(name="Harbour aftercare")
        db.session.add(program)
        db.session.flush()
        group = groups.create_group(facilitator.user(), name="Harbour circle", kind=GroupKind.MEETUP,
                                    timezone="UTC", now=clock.now_utc())
        group.program_id = program.id
        memberships.join(group, member.user(), clock.now_utc())
        coach = make_coach(every_day=NINE_TO_FIVE, notice_hours=0)
        coach.visibility, coach.program_id = CoachVisibility.PROGRAM, program.id
        db.session.commit()
        cid = coach.id
        assert db.session.scalar(select(Membership.status).where(Membership.user_id == member.id)) == "active"
    assert book_via_web(client_of(app, outsider), cid, FRIDAY_9).status_code == 404
    session_id_of(book_via_web(client_of(app, member), cid, FRIDAY_9))
