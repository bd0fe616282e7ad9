"""Booking a coach's slot, cancelling and moving it, and the session's notes. Booking locks the coach's row
first, so two members booking the same slot, or a coach changing availability while someone books, can never
produce overlapping sessions."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from supportnet import textsafety
from supportnet.coaching import coaches
from supportnet.errors import DomainError, Forbidden, NotFound
from supportnet.extensions import db
from supportnet.models import (
    Coach,
    CoachingSession,
    SessionStatus,
    User,
)
from supportnet.notifications import hooks

NOTE_MAX = 500
# A member holds at most this many future booked sessions with one coach: one person cannot fill a week.
MAX_FUTURE_PER_COACH = 3
TAKEN = "That time was just taken. Please choose another time."


def may_book(member: User, coach: Coach) -> bool:
    """Whether the member may book this coach: whoever may see the coach, but never the coach themselves."""
    return coach.user_id != member.id and coaches.may_see(member, coach)


def clean_note(note: str | None, field: str = "note", limit: int = NOTE_MAX) -> str | None:
    """A note for the other side: trimmed, within its length, and without invisible or control characters (a
    right-to-left override would make it read differently from what was typed)."""
    note = (note or "").strip()
    if len(note) > limit:
        raise DomainError(f"The note can be at most {limit} characters.", field)
    if textsafety.has_hidden(note):
        raise DomainError("Remove the invisible characters from the note.", field)
    return note or None


def _check_offered(coach: Coach, starts_at: datetime, now: datetime) -> datetime:
    """The slot's end, if the slot is one of the coach's free slots right now (under the lock)."""
    if starts_at.tzinfo is None:
        raise DomainError("That time is not one the coach offers.", "starts_at")
    for slot in coaches.free_slots(coach, now):
        if slot.starts == starts_at:
            return slot.ends
    raise DomainError("That time is not free any more. Please choose another time.", "starts_at")


def _insert(session: CoachingSession) -> None:
    # The partial unique index is the last word if two writers ever got past the lock together.
    try:
        with db.session.begin_nested():
            db.session.add(session)
            db.session.flush()
    except IntegrityError:
        raise DomainError(TAKEN, "starts_at") from None


def book(member: User, coach: Coach, starts_at: datetime, note: str | None, now: datetime) -> CoachingSession:
    """Book one of the coach's free slots for the member."""
    coach = coaches.lock_coach(coach.id)
    if not may_book(member, coach):
        raise NotFound("That coach is not taking bookings.")
    note = clean_note(note)
    held = db.session.scalar(select(func.count()).select_from(CoachingSession).where(
        CoachingSession.coach_id == coach.id, CoachingSession.member_id == member.id,
        CoachingSession.status == SessionStatus.BOOKED, CoachingSession.starts_at > now))
    if held >= MAX_FUTURE_PER_COACH:
        raise DomainError(f"You already have {MAX_FUTURE_PER_COACH} sessions booked with this coach.")
    ends_at = _check_offered(coach, starts_at, now)
    session = CoachingSession(coach_id=coach.id, member_id=member.id, starts_at=starts_at, ends_at=ends_at,
                              status=SessionStatus.BOOKED, note=note, created_at=now)
    _insert(session)
    hooks.session_booked(session, now)
    return session


def _check_change(session: CoachingSession, by_user: User, note: str | None, now: datetime) -> str | None:
    """The note of a cancel or move, after the rules: the member or coach, not started, a note when late."""
    if by_user.id not in (session.member_id, session.coach.user_id):
        raise NotFound("That session does not exist.")
    if session.status != SessionStatus.BOOKED:
        raise DomainError("That session is already cancelled.")
    if session.starts_at <= now:
        raise Forbidden("A session that has started cannot be cancelled or moved.")
    note = clean_note(note, "cancel_note")
    if session.starts_at - now < timedelta(hours=session.coach.late_change_hours) and not note:
        raise DomainError(f"Less than {session.coach.late_change_hours} hours before the session, please add a "
                          "short note for the other side.", "cancel_note")
    return note


def _cancel_row(session: CoachingSession, by_user: User, note: str | None, now: datetime) -> None:
    session.status = SessionStatus.CANCELLED
    session.cancelled_at = now
    session.cancelled_by_id = by_user.id
    session.cancel_note = note
    db.session.flush()


def cancel(session: CoachingSession, by_user: User, note: str | None, now: datetime) -> None:
    """Cancel a booked session (its member or coach); the slot becomes free."""
    coaches.lock_coach(session.coach_id)
    db.session.refresh(session)
    note = _check_change(session, by_user, note, now)
    _cancel_row(session, by_user, note, now)
    hooks.session_changed(session, "cancelled", now)


def move(session: CoachingSession, new_starts_at: datetime, by_user: User, note: str | None,
         now: datetime) -> CoachingSession:
    """Move a booked session to another free slot: a new booked session, the old one cancelled."""
    coach = coaches.lock_coach(session.coach_id)
    db.session.refresh(session)
    note = _check_change(session, by_user, note, now)
    # The new row keeps the old one's nonce: calendars see the same event move (and old links name the old row).
    # The old slot is freed first, so moving by a few minutes within one's own slot is possible; a refused move
    # rolls back to the savepoint and leaves the old session booked.
    with db.session.begin_nested():
        _cancel_row(session, by_user, note, now)
        ends_at = _check_offered(coach, new_starts_at, now)
        moved = CoachingSession(coach_id=coach.id, member_id=session.member_id, starts_at=new_starts_at,
                                ends_at=ends_at, status=SessionStatus.BOOKED, note=session.note,
                                created_at=now, moved_from_id=session.id, nonce=session.nonce)
        _insert(moved)
    hooks.session_changed(session, "moved", now, moved_to=moved)
    return moved


def sessions_of(member: User) -> list[CoachingSession]:
    """The member's sessions, soonest first."""
    return list(db.session.scalars(select(CoachingSession).where(CoachingSession.member_id == member.id)
                                   .order_by(CoachingSession.starts_at)))


def session_for(member: User, session_id: int) -> CoachingSession:
    """The member's own session; anyone else's is NotFound."""
    session = db.session.get(CoachingSession, session_id)
    if session is None or session.member_id != member.id:
        raise NotFound("That session does not exist.")
    return session


def sessions_with(coach: Coach) -> list[CoachingSession]:
    """The coach's sessions (booked and cancelled) of the role they hold now, soonest first, members loaded. A
    coach named again after their role ended does not see what members booked with the role that ended."""
    return list(db.session.scalars(select(CoachingSession).where(
        CoachingSession.coach_id == coach.id, CoachingSession.created_at >= coach.granted_at)
        .options(selectinload(CoachingSession.member)).order_by(CoachingSession.starts_at, CoachingSession.id)))


def session_of_coach(coach_user: User, session_id: int) -> CoachingSession:
    """A session of the coach's own current role; anyone else's (another coach's, a member's own, one booked
    with a role of theirs that ended) is NotFound."""
    session = db.session.get(CoachingSession, session_id)
    if (session is None or session.coach.user_id != coach_user.id or not session.coach.current
            or session.created_at < session.coach.granted_at):
        raise NotFound("That session does not exist.")
    return session
