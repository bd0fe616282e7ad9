"""Booking a coach's slot, cancelling and moving it, and the storm: nobody is ever double-booked.

A coach in UTC offers 09:00-17:00 every day in 60-minute sessions, with 12 hours' notice, two weeks ahead, and
asks for a note when a session is changed less than 12 hours before it. The clock stands at Thursday
26 November 2026, 12:00 UTC, so the first free slot is Friday 09:00.
"""

from __future__ import annotations

import html
import multiprocessing
import threading
import time
import traceback
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import delete, select

from supportnet import clock, crypto, groups, memberships
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
from tests.worlds.coaching_booking import add_window, booked, make_coach, make_member, overlapping_pairs, utc

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
    assert login(client, persona, remember=True).status_code == 302  # the tests move the clock by hours
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
    # The room is one address for all the coach's sessions: it shows from 30 minutes before her own session only.
    assert "https://rooms.example.org/cora" not in page and "30 minutes before" in page
    with clock.frozen(FRIDAY_9 - timedelta(minutes=29)):
        assert "https://rooms.example.org/cora" in text(client.get(f"/me/sessions/{sid}"))
    with clock.frozen(FRIDAY_9 + timedelta(hours=1)):
        assert "https://rooms.example.org/cora" not in text(client.get(f"/me/sessions/{sid}"))
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


# --- cancel and move, with the late-change rule ---


def _state(app, sid: int) -> tuple[str, datetime]:
    with app.app_context():
        session = db.session.get(CoachingSession, sid)
        return session.status, session.starts_at


def test_cancelling_early_needs_no_note_and_frees_the_slot(app, coach_id, member, outsider):
    mia = client_of(app, member)
    sid = session_id_of(book_via_web(mia, coach_id, FRIDAY_9))
    assert post(mia, f"/me/sessions/{sid}/cancel").status_code == 302
    assert _state(app, sid)[0] == SessionStatus.CANCELLED
    session_id_of(book_via_web(client_of(app, outsider), coach_id, FRIDAY_9))  # the slot is free again


def test_cancelling_late_needs_a_note(app, coach_id, member):
    mia = client_of(app, member)
    sid = session_id_of(book_via_web(mia, coach_id, FRIDAY_9))
    clock.set_frozen(FRIDAY_9 - timedelta(hours=10))
    refused = post(mia, f"/me/sessions/{sid}/cancel", follow_redirects=True)
    assert "please add a short note" in text(refused)
    assert _state(app, sid)[0] == SessionStatus.BOOKED
    assert post(mia, f"/me/sessions/{sid}/cancel", {"note": "Sorry, my shift changed"}).status_code == 302
    with app.app_context():
        session = db.session.get(CoachingSession, sid)
        assert session.status == SessionStatus.CANCELLED and session.cancel_note == "Sorry, my shift changed"
        assert session.cancelled_by_id == member.id


def test_the_coach_may_cancel_too_with_the_same_rule(app, coach_id, member):
    sid = session_id_of(book_via_web(client_of(app, member), coach_id, FRIDAY_9))
    with app.app_context():
        session = db.session.get(CoachingSession, sid)
        coach_user = session.coach.user
        clock.set_frozen(FRIDAY_9 - timedelta(hours=2))
        with pytest.raises(DomainError, match="short note"):
            booking.cancel(session, coach_user, "", clock.now_utc())
        db.session.rollback()
        booking.cancel(db.session.get(CoachingSession, sid), coach_user, "I am ill, so sorry", clock.now_utc())
        db.session.commit()
    assert _state(app, sid)[0] == SessionStatus.CANCELLED


def test_moving_makes_a_new_session_and_cancels_the_old_one(app, coach_id, member):
    mia = client_of(app, member)
    sid = session_id_of(book_via_web(mia, coach_id, FRIDAY_9, "about sleep"))
    later = utc(2026, 11, 28, 14, 0)
    moved = post(mia, f"/me/sessions/{sid}/move", {"starts_at": later.isoformat()})
    new_id = session_id_of(moved)
    assert new_id != sid
    with app.app_context():
        old, new = db.session.get(CoachingSession, sid), db.session.get(CoachingSession, new_id)
        assert old.status == SessionStatus.CANCELLED and new.status == SessionStatus.BOOKED
        assert (new.starts_at, new.moved_from_id, new.note) == (later, sid, "about sleep")


def test_a_refused_move_leaves_the_session_booked(app, coach_id, member, outsider):
    session_id_of(book_via_web(client_of(app, outsider), coach_id, utc(2026, 11, 28, 14, 0)))
    mia = client_of(app, member)
    sid = session_id_of(book_via_web(mia, coach_id, FRIDAY_9))
    refused = post(mia, f"/me/sessions/{sid}/move", {"starts_at": "2026-11-28T14:00:00+00:00"},
                   follow_redirects=True)
    assert "not free" in text(refused)
    assert _state(app, sid) == (SessionStatus.BOOKED, FRIDAY_9)
    # Late, a move needs a note like a cancellation.
    clock.set_frozen(FRIDAY_9 - timedelta(hours=1))
    late = post(mia, f"/me/sessions/{sid}/move", {"starts_at": "2026-11-28T15:00:00+00:00"}, follow_redirects=True)
    assert "please add a short note" in text(late)
    assert _state(app, sid) == (SessionStatus.BOOKED, FRIDAY_9)


def test_a_session_that_has_started_cannot_be_cancelled_or_moved(app, coach_id, member):
    mia = client_of(app, member)
    sid = session_id_of(book_via_web(mia, coach_id, FRIDAY_9))
    clock.set_frozen(FRIDAY_9 + timedelta(minutes=5))
    assert "has started" in text(post(mia, f"/me/sessions/{sid}/cancel", {"note": "x"}, follow_redirects=True))
    assert "has started" in text(post(mia, f"/me/sessions/{sid}/move",
                                      {"starts_at": "2026-11-28T15:00:00+00:00", "note": "x"},
                                      follow_redirects=True))
    assert _state(app, sid)[0] == SessionStatus.BOOKED


# --- who sees a session ---


def test_another_member_or_the_coach_gets_404_for_a_members_session(app, coach_id, member, outsider):
    sid = session_id_of(book_via_web(client_of(app, member), coach_id, FRIDAY_9))
    with app.app_context():
        coach_user = db.session.get(Coach, coach_id).user
        coach_persona = type(member)(email=coach_user.email, password=member.password, id=coach_user.id,
                                     display_name="")
    for persona in (outsider, coach_persona):
        other = client_of(app, persona)
        assert other.get(f"/me/sessions/{sid}").status_code == 404
        assert other.get(f"/me/sessions/{sid}.ics").status_code == 404
        assert post(other, f"/me/sessions/{sid}/cancel", {"note": "x"}).status_code == 404
        assert post(other, f"/me/sessions/{sid}/move", {"starts_at": "2026-11-28T15:00:00+00:00"}).status_code == 404
        assert "rooms.example.org" not in text(other.get("/me/sessions"))
    assert _state(app, sid)[0] == SessionStatus.BOOKED


def test_the_room_is_not_shown_once_the_session_is_cancelled(app, coach_id, member):
    mia = client_of(app, member)
    sid = session_id_of(book_via_web(mia, coach_id, FRIDAY_9))
    post(mia, f"/me/sessions/{sid}/cancel")
    assert "rooms.example.org" not in text(mia.get(f"/me/sessions/{sid}"))


def test_the_ics_parses_with_the_right_utc_times_and_says_nothing_more(app, coach_id, member):
    mia = client_of(app, member)
    sid = session_id_of(book_via_web(mia, coach_id, FRIDAY_9, "private words"))
    response = mia.get(f"/me/sessions/{sid}.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    events = icalendar.Calendar.from_ical(response.get_data()).walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert event.decoded("dtstart") == FRIDAY_9 and event.decoded("dtend") == FRIDAY_9 + timedelta(hours=1)
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert str(event["summary"]) == "Session"
    with app.app_context():
        assert db.session.get(CoachingSession, sid).nonce in str(event["uid"])
    assert b"private words" not in response.get_data() and b"Cora" not in response.get_data()


def test_the_cant_make_it_link_confirms_then_cancels(app, coach_id, member):
    sid = session_id_of(book_via_web(client_of(app, member), coach_id, FRIDAY_9))
    with app.app_context():
        token = links.session_cant_make_it_token(db.session.get(CoachingSession, sid))
    app.test_client_class = ClosingClient
    browser = app.test_client()  # from an email: not signed in
    page = browser.get(f"/sessions/cant-make-it/{token}")
    assert page.status_code == 200 and "Can't make it?" in text(page)
    assert _state(app, sid)[0] == SessionStatus.BOOKED  # GET never writes
    assert browser.get(f"/sessions/cant-make-it/{token}x").status_code == 400
    done = browser.post(f"/sessions/cant-make-it/{token}", data={"csrf_token": csrf_token(browser)})
    assert done.status_code == 200 and "cancelled" in text(done)
    assert _state(app, sid)[0] == SessionStatus.CANCELLED


def test_a_cant_make_it_link_never_acts_on_another_row(app, coach_id, member):
    sid = session_id_of(book_via_web(client_of(app, member), coach_id, FRIDAY_9))
    with app.app_context():
        session = db.session.get(CoachingSession, sid)
        token = links.session_cant_make_it_token(session)
        session.nonce = "a-new-row-with-the-same-id"
        db.session.commit()
    app.test_client_class = ClosingClient
    assert app.test_client().get(f"/sessions/cant-make-it/{token}").status_code == 400


# --- the storm: separate processes, each its own app and connection pool, like gunicorn workers ---

STORMERS = 12


def _day_after_tomorrow_at(hour: int, minute: int = 0) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _storm_member(db_path: str, url: str, key: str, smtp_port: int, email: str, coach_id: int, rounds: list, barrier,
                  results) -> None:
    """One member: at each barrier release, book this round's time (or sit the round out)."""
    report: dict = {"who": email, "errors": [], "booked": [], "refused": []}
    try:
        app = make_app(Path(db_path), smtp_port, SQLALCHEMY_DATABASE_URI=url, DATA_KEY=key)
        for number, starts_at in enumerate(rounds):
            barrier.wait(timeout=180)
            if starts_at is None:
                continue
            # Outside a request, the first statement begins the transaction with BEGIN IMMEDIATE on SQLite.
            with app.app_context():
                try:
                    user = db.session.scalar(select(User).where(User.email == email))
                    booking.book(user, db.session.get(Coach, coach_id), starts_at, "", datetime.now(UTC))
                    held_lock_at = time.time()  # still inside the transaction, holding the coach's lock
                    db.session.commit()
                    report["booked"].append((number, starts_at, held_lock_at))
                except DomainError as error:
                    db.session.rollback()
                    report["refused"].append((number, starts_at, str(error)))
        with app.app_context():
            db.engine.dispose()
    except BaseException:
        report["errors"].append(traceback.format_exc())
        barrier.abort()
    results.put(report)


def _storm_coach(db_path: str, url: str, key: str, smtp_port: int, coach_id: int, weekday: int, barrier,
                 results) -> None:
    """The coach: round 2 shortens the session length to 45 minutes, round 3 removes the day's window."""
    report: dict = {"who": "coach", "errors": [], "locked_at": {}}
    try:
        app = make_app(Path(db_path), smtp_port, SQLALCHEMY_DATABASE_URI=url, DATA_KEY=key)
        for number in range(3):
            barrier.wait(timeout=180)
            if number == 0:
                continue
            with app.app_context():
                coach = coaches.lock_coach(coach_id)
                report["locked_at"][number] = time.time()
                if number == 1:
                    coach.session_minutes = 45
                else:
                    db.session.execute(delete(AvailabilityWindow).where(
                        AvailabilityWindow.coach_id == coach_id, AvailabilityWindow.weekday == weekday))
                db.session.commit()
        with app.app_context():
            db.engine.dispose()
    except BaseException:
        report["errors"].append(traceback.format_exc())
        barrier.abort()
    results.put(report)


@pytest.mark.slow
def test_a_storm_of_bookings_and_coach_changes_never_double_books(db_path, smtp_server):
    """Round 1: everyone books the same hour. Round 2: 60-minute and 45-minute slots that overlap while the coach
    changes the length. Round 3: members book evening slots while the coach removes that day's window."""
    clock.set_frozen(None)  # the processes run on the real clock; so does the scene
    url = database_uri(db_path)
    key = crypto.ephemeral_key()  # one key for all the processes: the coach's room is encrypted
    app = make_app(db_path, smtp_server[0].port, SQLALCHEMY_DATABASE_URI=url, DATA_KEY=key)
    with app.app_context():
        coach = make_coach(every_day=(clock_time(8, 0), clock_time(20, 0)), session_minutes=60,
                           buffer_minutes=0, notice_hours=0, horizon_days=7, late_change_hours=0)
        emails = [make_member(n).email for n in range(STORMERS)]
        db.session.commit()
        coach_id = coach.id
        db.engine.dispose()
    same_hour = _day_after_tomorrow_at(9)
    # 13:00 and 14:00 are slots while sessions last 60 minutes from 08:00; 13:15 and 14:00 once they last 45.
    round_two = [_day_after_tomorrow_at(13), _day_after_tomorrow_at(13, 15), _day_after_tomorrow_at(14)]
    # The 45-minute grid's evening slots, booked while the coach takes the day's window away.
    round_three = [_day_after_tomorrow_at(h, m) for h, m in ((16, 15), (17, 0), (17, 45), (18, 30), (19, 15))]
    plans = [[same_hour, round_two[n % 3], round_three[n % 5] if n < 10 else None] for n in range(STORMERS)]

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(STORMERS + 1)
    results = ctx.Queue()
    port = smtp_server[0].port
    processes = [ctx.Process(target=_storm_member, args=(str(db_path), url, key, port, email, coach_id, plan,
                                                         barrier, results))
                 for email, plan in zip(emails, plans, strict=True)]
    processes.append(ctx.Process(target=_storm_coach, args=(str(db_path), url, key, port, coach_id,
                                                            same_hour.weekday(), barrier, results)))
    for process in processes:
        process.start()
    reports = [results.get(timeout=400) for _ in processes]
    for process in processes:
        process.join(timeout=30)

    problems = [error for report in reports for error in report["errors"]]
    assert not problems, problems[0]
    members = [r for r in reports if r["who"] != "coach"]
    coach_report = next(r for r in reports if r["who"] == "coach")
    refusals = [why for r in members for *_n, why in r["refused"]]
    assert all("not free" in why or "just taken" in why for why in refusals), refusals

    made = [(n, starts, at) for r in members for n, starts, at in r["booked"]]
    # Round 1: exactly one of twelve got the hour.
    assert len([m for m in made if m[0] == 0]) == 1
    # Round 3: whoever booked held the lock before the coach took the window away.
    assert all(at < coach_report["locked_at"][2] for n, _s, at in made if n == 2)
    with app.app_context():
        sessions = booked(coach_id)
        assert len(sessions) == len(made)
        assert overlapping_pairs(sessions) == []
        assert len([s for s in sessions if s.starts_at == same_hour]) == 1
        db.engine.dispose()
    print(f"\nbooking storm: {len(made)} sessions made, {len(refusals)} refused, none overlapping")


def test_a_booking_that_overlaps_one_in_flight_waits_for_it_and_is_then_refused(app):
    """Two windows on one day offer 13:00-14:00 and 13:30-14:30. While one member's booking of 13:00 is not yet
    committed, another's of 13:30 must wait for the coach's lock, then see 13:00 taken: never both."""
    with app.app_context():
        coach = make_coach(every_day=NINE_TO_FIVE, session_minutes=60, buffer_minutes=0, notice_hours=0)
        add_window(coach, FRIDAY_9.weekday(), clock_time(13, 30), clock_time(15, 30))
        first, second = make_member("first"), make_member("second")
        db.session.commit()
        ids = coach.id, first.id, second.id
    booked_first, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def first_books():
        with app.app_context():
            booking.book(db.session.get(User, ids[1]), db.session.get(Coach, ids[0]), utc(2026, 11, 27, 13, 0),
                         "", clock.now_utc())
            booked_first.set()
            release.wait(timeout=30)
            db.session.commit()

    def second_books():
        with app.app_context():
            try:
                booking.book(db.session.get(User, ids[2]), db.session.get(Coach, ids[0]),
                             utc(2026, 11, 27, 13, 30), "", clock.now_utc())
                db.session.commit()
                outcome["second"] = "booked"
            except DomainError as error:
                db.session.rollback()
                outcome["second"] = str(error)

    with db_thread(first_books) as a:
        assert booked_first.wait(timeout=30)
        with db_thread(second_books) as b:
            b.join(timeout=1.5)
            assert b.is_alive(), "the second booking did not wait for the coach's lock"
            release.set()
            a.join(timeout=30)
    assert "not free" in outcome["second"]
    with app.app_context():
        assert [s.starts_at for s in booked(ids[0])] == [utc(2026, 11, 27, 13, 0)]


@contextmanager
def db_thread(target):
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=40)
