"""What a one-to-one session tells its coach and its member, and when: the reminders the planner writes, the
re-check before a notice goes out, the wording (subjects neutral unless the member chose descriptive ones), the
session's .ics, and the coach's reads of a member's note (each one audited, ids only).

Flush only; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy import func, select

from supportnet import audit, mail, textsafety
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    Coach,
    CoachingSession,
    Notification,
    NotificationKind,
    SessionStatus,
    User,
)
from supportnet.notifications import hooks
from supportnet.notifications.outbox import LOOKAHEAD, MAX_OFFSET
from supportnet.notifications.preferences import preferences_for

Kind = NotificationKind
FOLLOW_UP_MAX = 4000
# The coach's online room shows on the member's session page from this long before the session.
ROOM_OPENS_MINUTES = 30
SESSION_KINDS = frozenset({Kind.SESSION_BOOKED, Kind.SESSION_REMINDER, Kind.SESSION_CHANGED})


# --- the planner: reminders that have come within the outbox's lookahead ---


def reminder_rows(now: datetime) -> list[dict]:
    """Every session reminder due within the lookahead, at each member's chosen offsets."""
    found = db.session.execute(
        select(CoachingSession.id, CoachingSession.member_id, CoachingSession.starts_at)
        .where(CoachingSession.status == SessionStatus.BOOKED, CoachingSession.starts_at >= now,
               CoachingSession.starts_at <= now + LOOKAHEAD + MAX_OFFSET)
    ).all()
    prefs = preferences_for(row.member_id for row in found)
    rows: list[dict] = []
    for session_id, member_id, starts_at in found:
        rows.extend(hooks.session_reminder_rows(session_id, member_id, starts_at, prefs[member_id], now))
    return rows


# --- the dispatcher's re-check ---


def session_problem(n: Notification, offsets: tuple[int, ...], now: datetime) -> str | None:
    """Why a session notice no longer makes sense (cancelled, moved, begun, not this person's), or None."""
    if n.kind == Kind.SESSION_CHANGED:
        return None  # the session may be gone (the coach's account deleted): the notice says so all the same
    session = db.session.get(CoachingSession, (n.payload or {}).get("session_id") or 0)
    if session is None or session.status != SessionStatus.BOOKED:
        return "the session is cancelled"
    if (n.payload or {}).get("starts_at") != session.starts_at.isoformat():
        return "the session moved"
    if now >= session.starts_at:
        return "the session has begun"
    coach_user_id = db.session.scalar(select(Coach.user_id).where(Coach.id == session.coach_id))
    if n.user_id not in (session.member_id, coach_user_id):
        return "not this person's session"
    if n.kind == Kind.SESSION_REMINDER:
        offset = n.payload.get("offset")
        if offset not in offsets:
            return "reminder time no longer chosen"
        # Late (the scheduler or the mail server was down): a nearer reminder already due replaces this one.
        if any(o < offset and session.starts_at - timedelta(minutes=o) <= now for o in offsets):
            return "a nearer reminder replaces it"
    return None


# --- the wording ---


@dataclass
class Wording:
    subject: str
    paragraphs: list[str]
    calendar: bytes | None = None
    session: CoachingSession | None = None  # the row whose page the notice links to
    as_member: bool = True


def _short(instant: datetime, tz: ZoneInfo) -> str:
    local = instant.astimezone(tz)
    return f"{local:%A %H:%M}"


def _long(start: datetime, end: datetime | None, tz: ZoneInfo) -> str:
    s = start.astimezone(tz)
    text = f"{s:%A} {s.day} {s:%B %Y}, {s:%H:%M}"
    if end is not None:
        text += f"\u2013{end.astimezone(tz):%H:%M}"
    return f"{text} ({tz.key} time)"


def _sequence(session: CoachingSession) -> int:
    """How many times the session was moved before this row: a moved session keeps its nonce, so its calendar
    event keeps its UID and a calendar app moves the event instead of adding another."""
    return db.session.scalar(select(func.count()).select_from(CoachingSession).where(
        CoachingSession.nonce == session.nonce, CoachingSession.id < session.id)) or 0


def session_calendar(session: CoachingSession, summary: str, domain: str, stamp: datetime) -> bytes:
    """A minimal iCalendar file with this one session; its UID is the session's nonce, never its id or names. A
    cancelled session's file says so with a higher SEQUENCE, so a calendar that imported it drops the event."""
    cancelled = session.status == SessionStatus.CANCELLED
    cal = Calendar()
    cal.add("prodid", "-//SupportNet//Sessions//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"session-{session.nonce}@{domain}")
    event.add("dtstamp", stamp)
    event.add("dtstart", session.starts_at)
    event.add("dtend", session.ends_at)
    event.add("sequence", _sequence(session) + (1 if cancelled else 0))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("summary", summary)
    cal.add_component(event)
    return cal.to_ical()


def _moved_to(session: CoachingSession) -> CoachingSession | None:
    """The booked session this one was moved to (it carries the same nonce)."""
    return db.session.scalar(select(CoachingSession).where(
        CoachingSession.nonce == session.nonce, CoachingSession.id > session.id,
        CoachingSession.status == SessionStatus.BOOKED).order_by(CoachingSession.id.desc()).limit(1))


def wording(n: Notification, tz: ZoneInfo, now: datetime, descriptive: bool, email: bool,
            sender: str) -> Wording:
    """What one session notice says to its recipient, in their zone; discreet subjects unless they chose names.

    Nothing written by a person travels in a notice (the member's note, a late change's note) and neither does the
    coach's online room: they are on the session's page, behind sign-in, where the coach's reads are audited and
    the room shows only close to the session."""
    payload = n.payload or {}
    starts = datetime.fromisoformat(payload["starts_at"])
    short, kind = _short(starts, tz), n.kind
    as_member = payload.get("role") != "coach"
    session = db.session.get(CoachingSession, payload.get("session_id") or 0)
    other = payload.get("other_name") or ("your coach" if as_member else "a member")
    summary = f"Session with {other}" if descriptive or not as_member else "Session"
    if kind == Kind.SESSION_CHANGED:
        moved_to = payload.get("moved_to")
        row = (_moved_to(session) if moved_to else session) if session is not None else None
        # The email's calendar file updates the event the confirmation's file put in their calendar.
        calendar = session_calendar(row, summary, mail.sender_domain(sender), now) if row and email else None
        said = [f"{other[0].upper()}{other[1:]} left a note about it on the session's page."] if (
            session is not None and session.cancel_note) else []
        if moved_to:
            new = datetime.fromisoformat(moved_to)
            text = f"Your session on {_long(starts, None, tz)} has moved to {_long(new, None, tz)}."
            return Wording(f"Your session on {short} has moved", [text, *said], calendar, row, as_member)
        text = f"Your session on {_long(starts, None, tz)} is cancelled."
        return Wording(f"Your session on {short} is cancelled", [text, *said], calendar, row, as_member)
    if session is None:
        return Wording(f"Your session on {short}", ["This session no longer exists."])
    subject = f"Your session with {other}, {short}" if descriptive else f"Your session on {short}"
    when = _long(session.starts_at, session.ends_at, tz)
    if kind == Kind.SESSION_REMINDER:
        paragraphs = [f"A reminder of your session on {when}."]
        if session.coach.online:
            paragraphs.append(f"The online room's link is on the session's page from {ROOM_OPENS_MINUTES} minutes "
                              "before it starts.")
        return Wording(f"Reminder: {subject[0].lower()}{subject[1:]}", paragraphs, None, session, as_member)
    if as_member:
        paragraphs = [f"Your session with {other} is booked for {when}."]
        if session.coach.online:
            paragraphs.append(f"The online room's link will be on the session's page from {ROOM_OPENS_MINUTES} "
                              "minutes before it starts.")
        elif session.coach.in_person and session.coach.place and descriptive:
            paragraphs.append(f"Where: {session.coach.place}")
    else:
        paragraphs = [f"{other} booked a session with you for {when}."]
    calendar = session_calendar(session, summary, mail.sender_domain(sender), now) if email else None
    return Wording(subject, paragraphs, calendar, session, as_member)


def room_for(session: CoachingSession, now: datetime) -> str | None:
    """The coach's online room, for the session's member: only while it is booked, from shortly before it starts
    until it ends, and only if the coach meets online. The room is one address for all of a coach's sessions,
    so whoever holds it early could walk into someone else's."""
    if session.status != SessionStatus.BOOKED or not session.coach.online:
        return None
    if not session.starts_at - timedelta(minutes=ROOM_OPENS_MINUTES) <= now < session.ends_at:
        return None
    return session.coach.online_url


# --- notes ---


@dataclass(frozen=True)
class MemberNotes:
    """What the member wrote that the session's coach may read."""

    booking: str | None  # the note with the booking: only while the session stands (it ends with a cancellation)
    change: str | None  # the note the member wrote when cancelling or moving it


def read_notes(session: CoachingSession, by_coach: User, now: datetime) -> MemberNotes:
    """The member's notes on a session, for its coach; a read that shows any is in the audit log (ids only)."""
    if session.coach.user_id != by_coach.id:
        raise PermissionError("only the session's coach reads its notes")
    notes = MemberNotes(
        booking=session.note if session.status == SessionStatus.BOOKED else None,
        change=session.cancel_note if session.cancelled_by_id == session.member_id else None,
    )
    if notes.booking or notes.change:
        audit.record(AuditAction.SESSION_NOTE_VIEWED, actor=by_coach, now=now,
                     subject=db.session.get(User, session.member_id), session_id=session.id)
    return notes


def write_coach_note(session: CoachingSession, by_coach: User, text: str, shared: bool) -> None:
    """The coach's follow-up note: theirs alone unless they share it with the member."""
    if session.coach.user_id != by_coach.id:
        raise PermissionError("only the session's coach writes its follow-up note")
    if len(text.strip()) > FOLLOW_UP_MAX:
        raise DomainError(f"The follow-up note can be at most {FOLLOW_UP_MAX} characters.", "coach_note")
    if textsafety.has_hidden(text):
        raise DomainError("Remove the invisible characters from the note.", "coach_note")
    session.coach_note = text.strip() or None
    session.coach_note_shared = bool(shared and session.coach_note)
    db.session.flush()


def coach_note_for_member(session: CoachingSession) -> str | None:
    """What the member sees of the coach's follow-up: the note only when the coach shared it."""
    return session.coach_note if session.coach_note_shared else None
