"""Coaches: the role, the profile, who may see and book them, availability, and their free slots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from supportnet import accounts, audit, derived_access, slots, textsafety, visibility
from supportnet.errors import DomainError, Forbidden, NotFound
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    AvailabilityChange,
    AvailabilityWindow,
    Coach,
    CoachingSession,
    CoachVisibility,
    Group,
    Membership,
    MemberStatus,
    Program,
    SessionStatus,
    TimeOff,
    User,
)
from supportnet.textsafety import has_hidden


def lock_coach(coach_id: int) -> Coach:
    """Take the coach's booking lock until the transaction ends and re-read the row.

    Everything that decides free slots (bookings, cancellations, windows, exceptions, time off, the session
    length and buffer) changes under this lock, so a check of the free slots stays true until the commit.
    PostgreSQL: a row lock. SQLite: the writer already holds the database's single write lock (BEGIN
    IMMEDIATE), so this only re-reads the row.
    """
    db.session.flush()
    coach = db.session.execute(
        select(Coach).where(Coach.id == coach_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if coach is None:
        raise NotFound("That coach is not taking bookings.")
    return coach


def availability_of(coach: Coach) -> slots.Availability:
    """Everything that decides the coach's free slots, read from their rows (three queries)."""
    windows = [slots.Window(w.weekday, w.starts, w.ends) for w in db.session.scalars(
        select(AvailabilityWindow).where(AvailabilityWindow.coach_id == coach.id))]
    changes = [slots.DayChange(c.day, c.off, c.starts, c.ends) for c in db.session.scalars(
        select(AvailabilityChange).where(AvailabilityChange.coach_id == coach.id))]
    time_off = [slots.Span(t.starts_at, t.ends_at) for t in db.session.scalars(
        select(TimeOff).where(TimeOff.coach_id == coach.id))]
    return slots.Availability(
        zone=ZoneInfo(coach.timezone), windows=windows, length=timedelta(minutes=coach.session_minutes),
        buffer=timedelta(minutes=coach.buffer_minutes), notice=timedelta(hours=coach.notice_hours),
        horizon=timedelta(days=coach.horizon_days), changes=changes, time_off=time_off,
    )


def booked_spans(coach: Coach, now: datetime) -> list[slots.Span]:
    """The coach's booked sessions that have not ended."""
    return [slots.Span(s, e) for s, e in db.session.execute(
        select(CoachingSession.starts_at, CoachingSession.ends_at).where(
            CoachingSession.coach_id == coach.id, CoachingSession.status == SessionStatus.BOOKED,
            CoachingSession.ends_at > now))]


def free_slots(coach: Coach, now: datetime) -> list[slots.Span]:
    """The coach's bookable slots now, as aware UTC spans (pages show them in the member's zone)."""
    if not coach.current:
        return []
    return slots.free_slots(availability_of(coach), booked_spans(coach, now), now)


# --- the role: granting and ending ---


def _may_grant(by: User, visibility_: CoachVisibility, program_id: int | None) -> bool:
    # Site admins grant any coach; a program's coordinators only program-only coaches of their own program.
    if by.is_admin:
        return True
    return (visibility_ == CoachVisibility.PROGRAM and program_id is not None
            and visibility.coordinates(by, program_id))


INVITATION_DAYS = 30  # a coordinator's invitation to coach that nobody answered lapses after this


def grant(email: str, *, by: User, now: datetime, visibility_: CoachVisibility = CoachVisibility.PUBLIC,
          program: Program | None = None) -> Coach | None:
    """Make the confirmed account with this address a coach (public, or for one program's members only).

    A site admin's grant starts the role at once (admins see every account anyway). A program coordinator's is an
    invitation the person accepts or declines under their sessions; it returns None, and says nothing to the
    coordinator, whether an account uses the address or not, or whether that person coaches already: a
    coordinator must not learn who uses SupportNet by trying addresses."""
    program_id = program.id if program is not None else None
    if visibility_ == CoachVisibility.PROGRAM and program_id is None:
        raise DomainError("Choose the program whose members may book this coach.", field="program_id")
    if not _may_grant(by, visibility_, program_id):
        raise Forbidden("Only site admins, or a program's coordinators for their own program, name coaches.")
    invite = not by.is_admin
    address = accounts.normalize_email(email or "")
    if invite and not address:
        raise DomainError("Enter the address of their account.", field="email")
    user = db.session.scalar(select(User).where(User.email == address, User.email_confirmed_at.is_not(None)))
    if user is None:
        if invite:
            return None
        raise DomainError("No confirmed account uses this address. Ask them to create an account first.",
                          field="email")
    coach = db.session.scalar(select(Coach).where(Coach.user_id == user.id))
    if coach is not None and coach.ended_at is None and (coach.accepted_at is not None or invite):
        if invite:
            return None  # a coach already, or invited already: nothing changes, nothing is said
        raise DomainError(f"{user.display_name} is a coach already.", field="email")
    if coach is None:
        coach = Coach(user_id=user.id, display_name=user.display_name[:60], timezone=user.timezone)
        db.session.add(coach)
    # A coach named again keeps their profile and availability; the role starts afresh.
    coach.visibility = visibility_
    coach.program_id = program_id
    coach.granted_by_id = by.id
    coach.granted_at = now
    coach.accepted_at = None if invite else now
    coach.ended_at = None
    db.session.flush()
    audit.record(AuditAction.COACH_GRANTED, actor=by, now=now, subject=user, **_program_detail(program_id))
    return None if invite else coach


def invitations_for(user: User, now: datetime) -> list[tuple[Coach, str]]:
    """The invitations to coach this person has not answered, with the name of the program each is for."""
    return [tuple(row) for row in db.session.execute(
        select(Coach, Program.name).join(Program, Program.id == Coach.program_id).where(
            Coach.user_id == user.id, Coach.accepted_at.is_(None), Coach.ended_at.is_(None),
            Coach.granted_at > now - timedelta(days=INVITATION_DAYS)))]


def _invitation(user: User, coach_id: int, now: datetime) -> Coach:
    for coach, _program in invitations_for(user, now):
        if coach.id == coach_id:
            return coach
    raise NotFound("That invitation does not exist.")


def accept(user: User, coach_id: int, now: datetime) -> Coach:
    """Accept an invitation to coach: the role starts now."""
    coach = _invitation(user, coach_id, now)
    coach.accepted_at = now
    db.session.flush()
    audit.record(AuditAction.COACH_ACCEPTED, actor=user, now=now, subject=user, **_program_detail(coach.program_id))
    return coach


def decline(user: User, coach_id: int, now: datetime) -> None:
    """Decline an invitation to coach: it ends, and nobody is told."""
    coach = _invitation(user, coach_id, now)
    coach.ended_at = now
    db.session.flush()


def sessions_ahead(coach: Coach, now: datetime) -> list[CoachingSession]:
    """The coach's booked sessions that have not started, soonest first."""
    return list(db.session.scalars(select(CoachingSession).where(
        CoachingSession.coach_id == coach.id, CoachingSession.status == SessionStatus.BOOKED,
        CoachingSession.starts_at > now).order_by(CoachingSession.starts_at, CoachingSession.id)))


def end(coach: Coach, *, by: User, now: datetime) -> None:
    """End someone's coach role: they drop out of every list, offer no more slots, and their sessions ahead are
    cancelled (each member is told)."""
    if not _may_grant(by, coach.visibility, coach.program_id):
        raise Forbidden("Only site admins, or a program's coordinators for their own program, end coaches.")
    if not coach.current:
        raise DomainError(f"{coach.display_name} is no longer a coach.")
    coach.ended_at = now
    db.session.flush()
    # Sessions ahead end with the role: their members are told, and nobody waits for a coach who is gone.
    derived_access.cancel_sessions(sessions_ahead(coach, now), now)
    audit.record(AuditAction.COACH_ENDED, actor=by, now=now, subject=coach.user,
                 **_program_detail(coach.program_id))


def _program_detail(program_id: int | None) -> dict:
    return {"program_id": program_id} if program_id is not None else {}


def coaches_granted_by_scope(program: Program | None) -> list[Coach]:
    """Current coaches an admin (no program: all of them) or a program's coordinators manage."""
    query = select(Coach).where(Coach.holds_role()).options(selectinload(Coach.user))
    if program is not None:
        query = query.where(Coach.program_id == program.id, Coach.visibility == CoachVisibility.PROGRAM)
    return list(db.session.scalars(query.order_by(Coach.display_name, Coach.id)))


def coach_of(user: User) -> Coach | None:
    """The member's own current coach profile, if they hold the role."""
    return db.session.scalar(select(Coach).where(Coach.user_id == user.id, Coach.holds_role()))


# --- who may see a coach ---


def _member_program_ids(user: User) -> Select:
    return select(Group.program_id).join(Membership, Membership.group_id == Group.id).where(
        Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE, Group.program_id.is_not(None),
        Group.archived_at.is_(None))


def visible_to(user: User) -> list[Coach]:
    """Coaches the member may find: public ones, and program-only coaches of programs whose groups they are in."""
    return list(db.session.scalars(
        select(Coach).where(Coach.holds_role(), or_(
            Coach.visibility == CoachVisibility.PUBLIC,
            Coach.program_id.in_(_member_program_ids(user)),
        )).order_by(Coach.display_name, Coach.id)))


def may_see(user: User, coach: Coach) -> bool:
    """Whether the member may see (and so book) this coach."""
    if not coach.current:
        return False
    if coach.visibility == CoachVisibility.PUBLIC or coach.user_id == user.id:
        return True
    return coach.program_id is not None and db.session.scalar(
        _member_program_ids(user).where(Group.program_id == coach.program_id).limit(1)) is not None


# --- the profile ---


@dataclass(frozen=True)
class Profile:
    """What a coach may set on their own profile (the role's visibility is the granter's choice)."""

    display_name: str
    offers: str
    languages: str
    online: bool
    in_person: bool
    place: str
    timezone: str
    session_minutes: int
    buffer_minutes: int
    notice_hours: int
    horizon_days: int
    late_change_hours: int
    online_url: str


_RANGES = {
    "session_minutes": (15, 180, "Session length must be 15 to 180 minutes."),
    "buffer_minutes": (0, 120, "The buffer must be 0 to 120 minutes."),
    "notice_hours": (0, 168, "Minimum notice must be 0 to 168 hours."),
    "horizon_days": (1, 90, "Members can book 1 to 90 days ahead."),
    "late_change_hours": (0, 72, "Late changes must be 0 to 72 hours before a session."),
}
_LENGTHS = {"display_name": 60, "offers": 1000, "languages": 120, "place": 200}


def _clean_text(value: str, name: str, *, required: bool = False) -> str:
    text_ = " ".join((value or "").split()) if name != "offers" else (value or "").strip()
    if required and not text_:
        raise DomainError("Enter the name members will see.", field=name)
    if len(text_) > _LENGTHS[name]:
        raise DomainError(f"Keep this under {_LENGTHS[name]} characters.", field=name)
    if has_hidden(text_):
        raise DomainError("Remove the invisible characters.", field=name)
    return text_


def update_profile(coach: Coach, profile: Profile) -> None:
    """Save the coach's profile and booking rules, checked all together (nothing changes on a refusal)."""
    lock_coach(coach.id)  # never while someone books against the old availability
    for name, (low, high, message) in _RANGES.items():
        if not low <= getattr(profile, name) <= high:
            raise DomainError(message, field=name)
    if not (profile.online or profile.in_person):
        raise DomainError("Offer sessions online, in person, or both.", field="online")
    url = (profile.online_url or "").strip()
    if url and textsafety.safe_meeting_url(url) is None:
        raise DomainError("The online link must be a plain https:// address.", field="online_url")
    values = {name: _clean_text(getattr(profile, name), name, required=name == "display_name")
              for name in _LENGTHS}
    if profile.in_person and not values["place"]:
        raise DomainError("Say where in-person sessions take place.", field="place")
    timezone = accounts.check_timezone(profile.timezone)
    for name, value in values.items():
        setattr(coach, name, value)
    for name in _RANGES:
        setattr(coach, name, getattr(profile, name))
    coach.online, coach.in_person, coach.timezone = profile.online, profile.in_person, timezone
    coach.online_url = url or None
    db.session.flush()


# --- availability ---


def windows_of(coach: Coach) -> list[AvailabilityWindow]:
    """The coach's weekly windows, Monday first."""
    return list(db.session.scalars(select(AvailabilityWindow).where(AvailabilityWindow.coach_id == coach.id)
                                   .order_by(AvailabilityWindow.weekday, AvailabilityWindow.starts)))


def changes_of(coach: Coach) -> list[AvailabilityChange]:
    """The coach's date exceptions, by date."""
    return list(db.session.scalars(select(AvailabilityChange).where(AvailabilityChange.coach_id == coach.id)
                                   .order_by(AvailabilityChange.day, AvailabilityChange.starts)))


def time_off_of(coach: Coach) -> list[TimeOff]:
    """The coach's time off, by start."""
    return list(db.session.scalars(select(TimeOff).where(TimeOff.coach_id == coach.id)
                                   .order_by(TimeOff.starts_at)))


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def add_window(coach: Coach, weekday: int, starts: time, ends: time) -> AvailabilityWindow:
    """Add a weekly window; windows on one weekday never overlap."""
    lock_coach(coach.id)  # never while someone books against the old availability
    if not 0 <= weekday <= 6:
        raise DomainError("Choose a day of the week.", field="weekday")
    if ends <= starts:
        raise DomainError("The window must end after it starts (on the same day).", field="ends")
    for other in windows_of(coach):
        if other.weekday == weekday and other.starts < ends and starts < other.ends:
            raise DomainError(
                f"This overlaps your {WEEKDAYS[weekday]} window {other.starts:%H:%M} to {other.ends:%H:%M}. "
                "Change or remove that one first.", field="starts")
    window = AvailabilityWindow(coach_id=coach.id, weekday=weekday, starts=starts, ends=ends)
    db.session.add(window)
    db.session.flush()
    return window


def add_change(coach: Coach, day: date, *, off: bool, starts: time | None = None,
               ends: time | None = None) -> AvailabilityChange:
    """Add a date exception: the day off, or an extra window that day."""
    lock_coach(coach.id)  # never while someone books against the old availability
    if off:
        starts = ends = None
    elif starts is None or ends is None or ends <= starts:
        raise DomainError("Give the extra window a start and an end after it.", field="change_starts")
    change = AvailabilityChange(coach_id=coach.id, day=day, off=off, starts=starts, ends=ends)
    db.session.add(change)
    db.session.flush()
    return change


# Years a coach's time off may name: any real plan, and far from the ends of Python's calendar.
_FIRST_YEAR, _LAST_YEAR = 2000, 2200


def add_time_off(coach: Coach, starts: datetime, ends: datetime) -> TimeOff:
    """Add time off between two local times in the coach's zone (taken as given, DST-resolved)."""
    lock_coach(coach.id)  # never while someone books against the old availability
    zone = ZoneInfo(coach.timezone)
    if not all(_FIRST_YEAR <= when.year <= _LAST_YEAR for when in (starts, ends)):
        raise DomainError(f"Time off must fall between {_FIRST_YEAR} and {_LAST_YEAR}.", field="off_starts")
    starts_at = starts.replace(tzinfo=zone).astimezone(UTC)
    ends_at = ends.replace(tzinfo=zone).astimezone(UTC)
    if ends_at <= starts_at:
        raise DomainError("Time off must end after it starts.", field="off_ends")
    row = TimeOff(coach_id=coach.id, starts_at=starts_at, ends_at=ends_at)
    db.session.add(row)
    db.session.flush()
    return row


_KINDS = {"window": AvailabilityWindow, "change": AvailabilityChange, "time_off": TimeOff}


def remove(coach: Coach, kind: str, row_id: int) -> None:
    """Remove one of the coach's own windows, exceptions or time off (another coach's row: NotFound)."""
    lock_coach(coach.id)  # never while someone books against the old availability
    model = _KINDS.get(kind)
    row = db.session.get(model, row_id) if model is not None else None
    if row is None or row.coach_id != coach.id:
        raise NotFound("That is not one of yours.")
    db.session.delete(row)
    db.session.flush()
