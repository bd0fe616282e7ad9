"""RSVPs: "going", the waitlist, "can't go", standing RSVPs ("I come every week"), and who is coming.

Functions here change models and flush; the caller (a view, a command, a scheduler job) commits.

Decisions worth knowing:

* Seats are taken with one conditional UPDATE on the occurrence:
  ``going_count = going_count + 1 WHERE id = :id AND (capacity IS NULL OR going_count < capacity)``.
  One row changed means a seat; none means the waitlist. Never "count, then insert": that overbooks under
  concurrent requests on SQLite and PostgreSQL alike. The counters only ever move by SQL expressions, and the
  CHECK (going_count <= capacity) backs the rule up in the database.
* Everything that takes, frees or promotes seats of one meeting first locks that meeting's row
  (``SELECT … FOR UPDATE``, see ``lock_meetings``), so on PostgreSQL those changes happen one after another.
  The conditional UPDATE alone is not enough there: a joiner whose UPDATE found the meeting full takes no lock,
  and a cancel committing at that moment promotes nobody because the joiner has not queued yet; the seat then
  stays free while the joiner waits. The order is always a series, then its meetings in id order, then RSVP
  rows, so two transactions never wait for each other. On SQLite writers begin with BEGIN IMMEDIATE, which already lets
  one writer in at a time.
* A member's first answer for a meeting is inserted inside a savepoint together with its seat: if another
  request of the same member won the unique key, the savepoint gives the seat back and the answer that won is
  used.
* "Can't go" is a row (status cancelled), even without an earlier RSVP, so a standing RSVP never brings back
  an answer the member gave for one week.
* A standing RSVP only ever creates missing answers. Stopping it withdraws the future answers it made that
  the member never touched: their rows are removed (seats go to the waitlist), so starting again later brings
  them back, while the member's own answers stay.
* A cancelled meeting keeps its RSVPs, so restoring it brings everyone back (and members still see the
  notice in "My meetings"). So does a meeting of an ended series. A meeting superseded when a schedule that
  had begun was split will never happen: its RSVPs are cancelled, and the standing RSVPs follow the new series.
  (Meetings superseded by an edit before a series began keep theirs: undoing the edit brings them back.)
* Only people who may take part answer: active members (in a public, open group answering makes a signed-in
  person a member). That includes "can't go": an outsider's "can't go" would make them look connected to the
  meeting (attendance.py) without ever showing on the roster.
* A member who leaves, is removed or declined, or whose group goes private or is archived, gives up every
  answer for meetings that have not started, and their standing RSVPs (derived_access.py, in the same
  transaction); answers for past meetings stay, they are the member's history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from supportnet import visibility
from supportnet.errors import DomainError, Forbidden, NotFound
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    Group,
    JoinPolicy,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    OccurrenceStatus,
    Rsvp,
    RsvpStatus,
    StandingRsvp,
    User,
    Visibility,
)
from supportnet.notifications import hooks

ACTIVE = (RsvpStatus.GOING, RsvpStatus.WAITLISTED)
_COUNTERS = ["going_count", "waitlist_count"]


# --- rules ---


def _require_group_open(group: Group) -> None:
    if group.archived_at is not None:
        raise DomainError("This group is archived.")


def _require_open_for_rsvp(occ: Occurrence) -> None:
    _require_group_open(occ.series.group)
    if occ.superseded:
        raise DomainError("This meeting was replaced when the schedule changed. Look for the new time.")
    if occ.status == OccurrenceStatus.CANCELLED:
        raise DomainError("This meeting is cancelled.")


def _require_not_started(occ: Occurrence, now: datetime) -> None:
    if occ.ends_at <= now:
        raise DomainError("This meeting is over.")
    if occ.starts_at <= now:
        raise DomainError("This meeting has already started.")


def _require_member(group: Group, user: User, now: datetime) -> None:
    """Let only active members answer; in a public, open group, answering makes a signed-in person a member."""
    _require_group_open(group)
    membership = visibility.membership_for(group, user)
    if membership is not None and membership.status == MemberStatus.ACTIVE:
        return
    if not visibility.visible_to(group, user, None, now):
        raise NotFound("We couldn't find that meeting.")
    if group.visibility == Visibility.PUBLIC and group.join_policy == JoinPolicy.OPEN:
        _join_open_group(group, user, membership, now)
        return
    if membership is not None and membership.status == MemberStatus.PENDING:
        raise Forbidden("Your request to join this group is waiting for a facilitator. You can RSVP once you're in.")
    raise Forbidden("Only members of this group can RSVP. Join the group first.")


def _join_open_group(group: Group, user: User, membership: Membership | None, now: datetime) -> None:
    """Answering in a public, open group makes a signed-in person a member, as joining there would.

    Written here rather than by calling memberships.join: ending a membership ends its answers (through
    derived_access), so memberships sits above this module. An open group needs no invite and no approval.
    """
    if membership is not None and membership.status == MemberStatus.PENDING:
        return  # a request already waiting stays as it is, as with memberships.join
    if membership is not None and membership.status == MemberStatus.REMOVED:
        raise Forbidden("A facilitator removed you from this group. Ask them if you'd like to come back.")
    if membership is None:
        membership = Membership(group=group, user=user, created_at=now)
        db.session.add(membership)
    membership.role = MemberRole.MEMBER
    membership.status = MemberStatus.ACTIVE
    membership.joined_at = now
    db.session.flush()


def can_answer(group: Group, user: User | None) -> bool:
    """Whether the user may RSVP in this group: an active member, or anyone signed in for a public, open group."""
    if user is None or group.archived_at is not None:
        return False
    membership = visibility.membership_for(group, user)
    status = membership.status if membership is not None else None
    if status == MemberStatus.ACTIVE:
        return True
    if status == MemberStatus.REMOVED:
        return False
    return group.visibility == Visibility.PUBLIC and group.join_policy == JoinPolicy.OPEN


def _require_running(series: MeetingSeries) -> None:
    _require_group_open(series.group)
    if series.ended_at is not None:
        raise DomainError("This meeting series has ended.")


# --- seats and counters (SQL expressions only: never read, add one, write back) ---


def lock_meetings(occurrences: Iterable[Occurrence]) -> None:
    """Take the seat lock of these meetings, in id order, and refresh what they say about seats.

    PostgreSQL: row locks held until the transaction ends. SQLite: the writer already holds the database's
    write lock, so this only re-reads the rows.
    """
    rows = {occ.id: occ for occ in occurrences}
    if not rows:
        return
    db.session.flush()
    db.session.execute(
        select(Occurrence)
        .where(Occurrence.id.in_(sorted(rows)))
        .order_by(Occurrence.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()


def _take_seat(occ: Occurrence, *, from_waitlist: bool = False) -> bool:
    """Take a seat if one is free; return whether one was taken (one row changed)."""
    values = {"going_count": Occurrence.going_count + 1}
    if from_waitlist:
        values["waitlist_count"] = Occurrence.waitlist_count - 1
    result = db.session.execute(
        update(Occurrence)
        .where(
            Occurrence.id == occ.id,
            or_(Occurrence.capacity.is_(None), Occurrence.going_count < Occurrence.capacity),
        )
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _shift(occ: Occurrence, *, going: int = 0, waitlisted: int = 0) -> None:
    db.session.execute(
        update(Occurrence)
        .where(Occurrence.id == occ.id)
        .values(going_count=Occurrence.going_count + going, waitlist_count=Occurrence.waitlist_count + waitlisted)
        .execution_options(synchronize_session=False)
    )


def _counters_changed(occ: Occurrence) -> None:
    # The UPDATEs bypassed the ORM: reload the counters on next access rather than trust stale numbers.
    db.session.expire(occ, _COUNTERS)


def _seat_or_queue(row: Rsvp, occ: Occurrence, now: datetime) -> None:
    if _take_seat(occ):
        row.status = RsvpStatus.GOING
        # Notifications hook: the member's reminders are written in this same transaction.
        hooks.rsvp_going(occ, row.user_id, now)
    else:
        _shift(occ, waitlisted=1)
        row.status = RsvpStatus.WAITLISTED
        row.queued_at = now


def release(row: Rsvp, occ: Occurrence, now: datetime, *, promote: bool = True) -> None:
    """Turn a going or waitlisted answer into "can't go", fixing the counters (and filling a freed seat)."""
    was_going = row.status == RsvpStatus.GOING
    row.status = RsvpStatus.CANCELLED
    row.updated_at = now
    # Notifications hook: their pending reminders (and a pending "you have a seat") stop.
    hooks.rsvp_released(occ, row.user_id, now)
    if was_going:
        _shift(occ, going=-1)
    else:
        _shift(occ, waitlisted=-1)
    db.session.flush()
    _counters_changed(occ)
    if was_going and promote:
        promote_waitlist(occ, now)


# --- rows ---


def _locked_row(occurrence_id: int, user_id: int) -> Rsvp | None:
    # FOR UPDATE: on PostgreSQL a second request of the same member waits, then sees the first one's answer.
    # (A no-op on SQLite, where BEGIN IMMEDIATE already lets one writer in at a time.)
    return db.session.scalar(
        select(Rsvp)
        .where(Rsvp.occurrence_id == occurrence_id, Rsvp.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _insert(
    occ: Occurrence, user_id: int, now: datetime, *, going: bool, standing_id: int | None = None
) -> Rsvp | None:
    """Insert the member's first answer ("going" takes a seat or a waitlist place); None if one exists already."""
    try:
        with db.session.begin_nested():
            row = Rsvp(
                occurrence=occ,
                user_id=user_id,
                status=RsvpStatus.CANCELLED,
                standing_id=standing_id,
                created_at=now,
                updated_at=now,
            )
            if going:
                _seat_or_queue(row, occ, now)
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        # The savepoint gave the seat back. Only a clash on the unique key is expected here.
        if db.session.scalar(select(Rsvp.id).where(Rsvp.occurrence_id == occ.id, Rsvp.user_id == user_id)) is None:
            raise
        return None
    finally:
        _counters_changed(occ)
    return row


# --- going, can't go, the waitlist ---


def rsvp(occ: Occurrence, user: User, now: datetime) -> Rsvp:
    """Say "I'm going": take a free seat, or a place on the waitlist when the meeting is full."""
    lock_meetings([occ])
    _require_open_for_rsvp(occ)
    _require_not_started(occ, now)
    _require_member(occ.series.group, user, now)
    row = _locked_row(occ.id, user.id)
    if row is None:
        row = _insert(occ, user.id, now, going=True)
        if row is not None:
            return row
        row = _locked_row(occ.id, user.id)
    if row.status == RsvpStatus.CANCELLED:
        _seat_or_queue(row, occ, now)
        row.standing_id = None  # the member's own answer now: stopping a standing RSVP leaves it alone
        row.updated_at = now
        db.session.flush()
        _counters_changed(occ)
    return row


def cancel(occ: Occurrence, user: User, now: datetime) -> Rsvp | None:
    """Say "can't go": give up the seat (the waitlist moves up) or the waitlist place.

    Returns the answer, or None if there was none before; "can't go" is recorded either way, so a standing
    RSVP will not answer "going" for this meeting later.
    """
    lock_meetings([occ])
    _require_not_started(occ, now)
    row = _locked_row(occ.id, user.id)
    if row is None:
        # Giving up an answer one holds is always allowed (below); recording a new one is taking part, with the
        # same rule as "going" (an outsider's "can't go" would tie them to the meeting).
        _require_member(occ.series.group, user, now)
        _insert(occ, user.id, now, going=False)
        return None
    if row.status in ACTIVE:
        release(row, occ, now)
    return row


def promote_waitlist(occ: Occurrence, now: datetime) -> list[Rsvp]:
    """Give every free seat to the waitlist, first come first served, and return who got one."""
    lock_meetings([occ])
    if occ.status == OccurrenceStatus.CANCELLED or occ.starts_at <= now:
        return []
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    promoted: list[Rsvp] = []
    while True:
        query = (
            select(Rsvp)
            .where(Rsvp.occurrence_id == occ.id, Rsvp.status == RsvpStatus.WAITLISTED)
            .order_by(Rsvp.queued_at, Rsvp.id)
            .limit(1)
        )
        if postgresql:
            # Someone else holding the first row (cancelling it right now) must not stall the queue.
            query = query.with_for_update(skip_locked=True)
        candidate = db.session.scalar(query)
        if candidate is None or not _take_seat(occ, from_waitlist=True):
            break
        candidate.status = RsvpStatus.GOING
        candidate.updated_at = now
        db.session.flush()
        promoted.append(candidate)
        on_promoted(candidate, now)
    _counters_changed(occ)
    return promoted


def on_promoted(rsvp: Rsvp, now: datetime) -> None:
    """Called for each member who just got a seat from the waitlist.

    Writes the "you have a seat" notice and the member's reminders, in the same transaction.
    """
    hooks.seat_given(rsvp, now)


# --- reading ---


def rsvp_for(occ: Occurrence, user: User | None) -> Rsvp | None:
    """The member's answer for the meeting (any status), or None."""
    if user is None or user.id is None:
        return None
    return db.session.scalar(select(Rsvp).where(Rsvp.occurrence_id == occ.id, Rsvp.user_id == user.id))


def has_seat(occ: Occurrence, user: User | None) -> bool:
    """Return whether the user is going to the meeting (has a seat)."""
    if user is None or user.id is None:
        return False
    found = db.session.scalar(
        select(Rsvp.id).where(
            Rsvp.occurrence_id == occ.id, Rsvp.user_id == user.id, Rsvp.status == RsvpStatus.GOING
        )
    )
    return found is not None


def waitlist_position(rsvp: Rsvp) -> int | None:
    """The answer's place on the waitlist (1 = next to get a seat), or None if it is not waitlisted."""
    if rsvp.status != RsvpStatus.WAITLISTED or rsvp.queued_at is None:
        return None
    return db.session.scalar(
        select(func.count())
        .select_from(Rsvp)
        .where(
            Rsvp.occurrence_id == rsvp.occurrence_id,
            Rsvp.status == RsvpStatus.WAITLISTED,
            or_(Rsvp.queued_at < rsvp.queued_at, and_(Rsvp.queued_at == rsvp.queued_at, Rsvp.id <= rsvp.id)),
        )
    )


def rsvps_for_user(user: User | None, occurrence_ids: Iterable[int]) -> dict[int, Rsvp]:
    """The user's answers for these meetings, by occurrence id, in one query."""
    ids = list(set(occurrence_ids))
    if user is None or user.id is None or not ids:
        return {}
    rows = db.session.scalars(select(Rsvp).where(Rsvp.user_id == user.id, Rsvp.occurrence_id.in_(ids)))
    return {row.occurrence_id: row for row in rows}


def positions_for(rsvps: list[Rsvp]) -> dict[int, int]:
    """The waitlist places of these answers (rsvp id -> place; only waitlisted ones), in one query."""
    waiting = [row for row in rsvps if row.status == RsvpStatus.WAITLISTED]
    if not waiting:
        return {}
    ranked = (
        select(
            Rsvp.id.label("rsvp_id"),
            func.row_number()
            .over(partition_by=Rsvp.occurrence_id, order_by=(Rsvp.queued_at, Rsvp.id))
            .label("position"),
        )
        .where(
            Rsvp.occurrence_id.in_({row.occurrence_id for row in waiting}),
            Rsvp.status == RsvpStatus.WAITLISTED,
        )
        .subquery()
    )
    rows = db.session.execute(
        select(ranked.c.rsvp_id, ranked.c.position).where(ranked.c.rsvp_id.in_([row.id for row in waiting]))
    )
    return {rsvp_id: position for rsvp_id, position in rows}


def my_upcoming(user: User, now: datetime) -> list[tuple[Rsvp, Occurrence]]:
    """The meetings the member is going to or waiting for that have not ended, soonest first, in one query.

    Cancelled meetings stay in the list so the member sees the notice; superseded ones do not.
    """
    rows = db.session.scalars(
        select(Rsvp)
        .join(Rsvp.occurrence)
        .join(Occurrence.series)
        .join(MeetingSeries.group)
        .options(contains_eager(Rsvp.occurrence).contains_eager(Occurrence.series).contains_eager(MeetingSeries.group))
        .where(
            Rsvp.user_id == user.id,
            Rsvp.status.in_(ACTIVE),
            Occurrence.ends_at > now,
            Occurrence.superseded.is_(False),
        )
        .order_by(Occurrence.starts_at, Occurrence.id)
    ).all()
    return [(row, row.occurrence) for row in rows]


@dataclass
class Roster:
    """Who is coming to a meeting, for its facilitators (privacy rule 2: nobody else sees names)."""

    going: list[Rsvp] = field(default_factory=list)
    waitlist: list[Rsvp] = field(default_factory=list)
    attended_user_ids: set[int] = field(default_factory=set)
    walk_in_candidates: list[User] = field(default_factory=list)


def roster(occ: Occurrence) -> Roster:
    """Who is going (by name), the waitlist in order, who attended, and the other members who might walk in."""
    answers = db.session.scalars(
        select(Rsvp)
        .join(Rsvp.user)
        .options(contains_eager(Rsvp.user))
        .where(Rsvp.occurrence_id == occ.id, Rsvp.status.in_(ACTIVE))
        .order_by(Rsvp.queued_at, Rsvp.id)
    ).all()
    going = sorted(
        (row for row in answers if row.status == RsvpStatus.GOING),
        key=lambda row: (row.user.display_name.casefold(), row.user_id),
    )
    waitlist = [row for row in answers if row.status == RsvpStatus.WAITLISTED]
    attended = set(db.session.scalars(select(Attendance.user_id).where(Attendance.occurrence_id == occ.id)))
    # Going or waitlisted members are listed above; walk-ins are the members who gave no such answer.
    has_seat_here = (
        select(Rsvp.id)
        .where(Rsvp.occurrence_id == occ.id, Rsvp.user_id == User.id, Rsvp.status.in_(ACTIVE))
        .exists()
    )
    candidates = db.session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.group_id == occ.series.group_id,
            Membership.status == MemberStatus.ACTIVE,
            ~has_seat_here,
        )
        .order_by(func.lower(User.display_name), User.id)
    ).all()
    return Roster(going=going, waitlist=waitlist, attended_user_ids=attended, walk_in_candidates=list(candidates))


# --- standing RSVPs ---


def standing_series_ids(user: User | None, series_ids: list[int]) -> set[int]:
    """Which of these series the member comes to every time, in one query (for pages listing series)."""
    if user is None or user.id is None or not series_ids:
        return set()
    return set(
        db.session.scalars(
            select(StandingRsvp.series_id).where(
                StandingRsvp.user_id == user.id, StandingRsvp.series_id.in_(series_ids)
            )
        )
    )


def standing_for(series: MeetingSeries, user: User | None) -> StandingRsvp | None:
    """The member's standing RSVP for the series, or None."""
    if user is None or user.id is None:
        return None
    return db.session.scalar(
        select(StandingRsvp).where(StandingRsvp.series_id == series.id, StandingRsvp.user_id == user.id)
    )


def start_standing(series: MeetingSeries, user: User, now: datetime) -> StandingRsvp:
    """Say "I come every week": answer "going" for every coming meeting of the series, and for new ones."""
    _require_running(series)
    if series.rrule is None:
        raise DomainError("This is a one-off meeting: say you're going to it on its page.")
    _require_member(series.group, user, now)
    standing = standing_for(series, user)
    if standing is None:
        try:
            with db.session.begin_nested():
                standing = StandingRsvp(series_id=series.id, user_id=user.id, created_at=now)
                db.session.add(standing)
                db.session.flush()
        except IntegrityError:  # the same member, a moment earlier (PostgreSQL)
            standing = standing_for(series, user)
            if standing is None:
                raise
    _apply(series, now, user_id=user.id)
    return standing


def stop_standing(series: MeetingSeries, user: User, now: datetime) -> int:
    """Stop "I come every week": withdraw the answers it made for coming meetings and return how many."""
    standing = standing_for(series, user)
    if standing is None:
        return 0
    lock_meetings(
        db.session.scalars(
            select(Occurrence)
            .join(Rsvp, Rsvp.occurrence_id == Occurrence.id)
            .where(Rsvp.standing_id == standing.id, Rsvp.status.in_(ACTIVE), Occurrence.starts_at > now)
        ).all()
    )
    made = db.session.execute(
        select(Rsvp, Occurrence)
        .join(Rsvp.occurrence)
        .where(Rsvp.standing_id == standing.id, Rsvp.status.in_(ACTIVE), Occurrence.starts_at > now)
        .order_by(Occurrence.starts_at)
        .with_for_update(of=Rsvp)
    ).all()
    for row, occ in made:
        release(row, occ, now)
        # "No answer" again rather than "can't go": starting the standing RSVP later brings these back.
        db.session.delete(row)
    db.session.delete(standing)
    db.session.flush()
    return len(made)


def apply_standing(series: MeetingSeries, now: datetime) -> int:
    """Answer "going" for the standing RSVPs of the series in its coming meetings that have no answer yet."""
    return _apply(series, now)


def _apply(series: MeetingSeries, now: datetime, user_id: int | None = None) -> int:
    if series.ended_at is not None or series.group.archived_at is not None:
        return 0
    answered = (
        select(Rsvp.id)
        .where(Rsvp.occurrence_id == Occurrence.id, Rsvp.user_id == StandingRsvp.user_id)
        .exists()
    )
    query = (
        select(StandingRsvp, Occurrence)
        .join(Occurrence, Occurrence.series_id == StandingRsvp.series_id)
        # Only active members: someone who left keeps the row, but it stops answering for them.
        .join(
            Membership,
            and_(
                Membership.group_id == series.group_id,
                Membership.user_id == StandingRsvp.user_id,
                Membership.status == MemberStatus.ACTIVE,
            ),
        )
        .where(
            StandingRsvp.series_id == series.id,
            Occurrence.starts_at > now,
            Occurrence.status != OccurrenceStatus.CANCELLED,
            ~answered,
        )
        # Whoever said "every week" first gets the seat first when a new meeting has fewer seats than regulars.
        .order_by(Occurrence.starts_at, Occurrence.id, StandingRsvp.created_at, StandingRsvp.id)
    )
    if user_id is not None:
        query = query.where(StandingRsvp.user_id == user_id)
    created = 0
    wanted = db.session.execute(query).all()
    lock_meetings(occ for _standing, occ in wanted)
    for standing, occ in wanted:
        if _insert(occ, standing.user_id, now, going=True, standing_id=standing.id) is not None:
            created += 1
    return created


# --- hooks for scheduling ---


def move_standing(old: MeetingSeries, new: MeetingSeries) -> int:
    """Carry the standing RSVPs of a series that was split over to the series that continues it."""
    result = db.session.execute(
        update(StandingRsvp)
        .where(StandingRsvp.series_id == old.id)
        .values(series_id=new.id)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount


def cancel_superseded(series: MeetingSeries, now: datetime) -> list[Rsvp]:
    """Cancel the answers for the series' meetings that a schedule change replaced (they will never happen)."""
    lock_meetings(
        db.session.scalars(
            select(Occurrence)
            .join(Rsvp, Rsvp.occurrence_id == Occurrence.id)
            .where(Occurrence.series_id == series.id, Occurrence.superseded.is_(True), Rsvp.status.in_(ACTIVE))
        ).all()
    )
    rows = db.session.execute(
        select(Rsvp, Occurrence)
        .join(Rsvp.occurrence)
        .where(Occurrence.series_id == series.id, Occurrence.superseded.is_(True), Rsvp.status.in_(ACTIVE))
        .order_by(Occurrence.starts_at, Rsvp.id)
        .with_for_update(of=Rsvp)
    ).all()
    for row, occ in rows:
        release(row, occ, now, promote=False)
    return [row for row, _occ in rows]


def promote_waitlists(occurrences: Iterable[Occurrence], now: datetime) -> list[Rsvp]:
    """Fill the seats a capacity change freed in these meetings from their waitlists."""
    promoted: list[Rsvp] = []
    for occ in occurrences:
        if occ.waitlist_count > 0:
            promoted.extend(promote_waitlist(occ, now))
    return promoted


def drop_standing(series: MeetingSeries) -> int:
    """Forget the standing RSVPs of a series that has ended (it will have no new meetings)."""
    result = db.session.execute(
        delete(StandingRsvp)
        .where(StandingRsvp.series_id == series.id)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount
