"""A person's coaching data as their export shows it, and what deleting their account does to it: a member's
sessions go with them (their pending notices too); a coach's profile, availability and sessions go with theirs,
and each member with a booked session ahead is told it is cancelled before the rows go.

Flush only; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select

from supportnet import derived_access
from supportnet.coaching import coaches
from supportnet.extensions import db
from supportnet.models import (
    AvailabilityChange,
    AvailabilityWindow,
    Coach,
    CoachingSession,
    Notification,
    TimeOff,
    User,
)

SESSION_FIELDS = ("starts_at", "ends_at", "status", "coach", "your_note", "coach_note", "cancelled_at",
                  "cancelled_by", "cancel_note")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _who_cancelled(session: CoachingSession) -> str | None:
    if session.cancelled_at is None:
        return None
    if session.cancelled_by_id is None:
        return "nobody (an account or a place ended)"
    return "you" if session.cancelled_by_id == session.member_id else "the coach"


def member_sessions(user: User) -> list[dict]:
    """The member's sessions: times, status, their own note, the coach's note only if shared, the coach's name."""
    rows = db.session.execute(
        select(CoachingSession, Coach.display_name).join(Coach, Coach.id == CoachingSession.coach_id)
        .where(CoachingSession.member_id == user.id).order_by(CoachingSession.starts_at, CoachingSession.id)
    ).all()
    return [
        {"starts_at": _iso(s.starts_at), "ends_at": _iso(s.ends_at), "status": s.status.value, "coach": name,
         "your_note": s.note, "coach_note": s.coach_note if s.coach_note_shared else None,
         "cancelled_at": _iso(s.cancelled_at), "cancelled_by": _who_cancelled(s),
         # The note of a change: the member's own, or the one the coach wrote to them.
         "cancel_note": s.cancel_note}
        for s, name in rows
    ]


def coach_data(user: User) -> dict | None:
    """A coach's own coaching data: profile, availability, and their sessions with members' display names only
    (a member's note is the member's: it is in the member's export, not the coach's)."""
    coach = db.session.scalar(select(Coach).where(Coach.user_id == user.id))
    if coach is None:
        return None
    windows = db.session.scalars(select(AvailabilityWindow).where(AvailabilityWindow.coach_id == coach.id)
                                 .order_by(AvailabilityWindow.weekday, AvailabilityWindow.starts)).all()
    changes = db.session.scalars(select(AvailabilityChange).where(AvailabilityChange.coach_id == coach.id)
                                 .order_by(AvailabilityChange.day)).all()
    time_off = db.session.scalars(select(TimeOff).where(TimeOff.coach_id == coach.id)
                                  .order_by(TimeOff.starts_at)).all()
    sessions = db.session.execute(
        select(CoachingSession, User.display_name).join(User, User.id == CoachingSession.member_id)
        .where(CoachingSession.coach_id == coach.id).order_by(CoachingSession.starts_at, CoachingSession.id)
    ).all()
    return {
        "profile": {"display_name": coach.display_name, "offers": coach.offers, "languages": coach.languages,
                    "online": coach.online, "in_person": coach.in_person, "place": coach.place,
                    "visibility": coach.visibility.value, "timezone": coach.timezone,
                    "session_minutes": coach.session_minutes, "buffer_minutes": coach.buffer_minutes,
                    "notice_hours": coach.notice_hours, "horizon_days": coach.horizon_days,
                    "late_change_hours": coach.late_change_hours, "granted_at": _iso(coach.granted_at),
                    "ended_at": _iso(coach.ended_at)},
        "weekly_availability": [{"weekday": w.weekday, "starts": w.starts.isoformat(), "ends": w.ends.isoformat()}
                                for w in windows],
        "date_changes": [{"day": c.day.isoformat(), "off": c.off,
                          "starts": c.starts.isoformat() if c.starts else None,
                          "ends": c.ends.isoformat() if c.ends else None} for c in changes],
        "time_off": [{"starts_at": _iso(t.starts_at), "ends_at": _iso(t.ends_at)} for t in time_off],
        "sessions": [{"starts_at": _iso(s.starts_at), "ends_at": _iso(s.ends_at), "status": s.status.value,
                      "member": name, "your_follow_up_note": s.coach_note, "shared_with_member": s.coach_note_shared}
                     for s, name in sessions],
    }


def _session_notices(session_ids: list[int]):
    """The outbox rows about these sessions (whoever they are for), by their keys."""
    return or_(*(Notification.dedupe_key.like(f"session-{what}:{sid}:%")
                 for sid in session_ids for what in ("booked", "reminder", "changed")))


def erase(user: User, now: datetime) -> None:
    """Delete the person's coaching rows: their sessions as a member, and as a coach their profile, availability
    and sessions (members with a booked session ahead are told it is cancelled first)."""
    coach = db.session.scalar(select(Coach).where(Coach.user_id == user.id))
    if coach is not None:
        derived_access.cancel_sessions(coaches.sessions_ahead(coach, now), now, by_user_id=user.id)
    own = list(db.session.scalars(select(CoachingSession.id).where(CoachingSession.member_id == user.id)))
    for chunk_start in range(0, len(own), 200):
        db.session.execute(delete(Notification).where(_session_notices(own[chunk_start:chunk_start + 200]))
                           .execution_options(synchronize_session=False))
    db.session.execute(delete(CoachingSession).where(CoachingSession.member_id == user.id)
                       .execution_options(synchronize_session=False))
    if coach is not None:
        # The members' "cancelled" notices stay: they carry the time only, not the session row.
        db.session.execute(delete(CoachingSession).where(CoachingSession.coach_id == coach.id)
                           .execution_options(synchronize_session=False))
        for model in (AvailabilityWindow, AvailabilityChange, TimeOff):
            db.session.execute(delete(model).where(model.coach_id == coach.id)
                               .execution_options(synchronize_session=False))
        db.session.execute(delete(Coach).where(Coach.id == coach.id).execution_options(synchronize_session=False))
    db.session.flush()
