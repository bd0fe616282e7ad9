"""What hangs on a membership, and how it all ends when the membership (or the group's openness) does.

Functions here change models and flush; the caller (a transition in memberships.py, groups.py or privacy.py)
commits. Every transition that ends a place runs the whole list, so check-in sharing is reset here too: leaving,
removal and a declined request start a later return from "share nothing".

A place in a group gives a member more than its pages: seats and waitlist places, "I come every week", the
reminders and notices written for them, in-app items that carry the group's venue, online link or facilitator
notes, check-in sharing with the group's facilitators, the group's meetings in their private calendar feed,
and one-to-one sessions with the coaches of the group's program.
When the place ends (leaving, removal, a declined request, the group going private for people who are not
members, the group being archived, the account being deleted) all of that must end in the same transaction, or
it keeps pointing at someone who may no longer see the group.

`DEPENDENTS` is the one list of those things. A feature that gives members something new that depends on their
membership adds its line there; every transition runs the whole list through `end_access`, and the persona
tests (tests/test_departures.py) check each item after each transition. What stays: past answers and
attendance (the member's own history) and the membership row itself (its status says what happened).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, or_, select, union, update

from supportnet import consent, rsvps
from supportnet.extensions import db
from supportnet.models import (
    Channel,
    Coach,
    CoachingSession,
    CoachVisibility,
    Group,
    MeetingSeries,
    Membership,
    MemberStatus,
    Notification,
    NotificationKind,
    NotificationStatus,
    Occurrence,
    Rsvp,
    RsvpStatus,
    SessionStatus,
    StandingRsvp,
)
from supportnet.notifications import hooks

# In-app items that show nothing of the group beyond its name: the answer to a request to join.
_HARMLESS_KINDS = frozenset({NotificationKind.JOIN_ANSWER})


@dataclass(frozen=True)
class Scope:
    """Whose access to which group ends, and when. `keep_kinds`: notices the transition itself just wrote."""

    group_id: int
    user_ids: tuple[int, ...]
    now: datetime
    keep_kinds: frozenset[NotificationKind] = field(default_factory=frozenset)


def _group_occurrences(group_id: int):
    return select(Occurrence.id).join(MeetingSeries, Occurrence.series_id == MeetingSeries.id).where(
        MeetingSeries.group_id == group_id
    )


def _about_the_group(scope: Scope):
    """Notification rows of these people about this group or one of its meetings."""
    return (
        Notification.user_id.in_(scope.user_ids),
        or_(Notification.group_id == scope.group_id,
            Notification.occurrence_id.in_(_group_occurrences(scope.group_id).scalar_subquery())),
    )


def release_future_answers(scope: Scope) -> None:
    """Seats and waitlist places for meetings that have not started are given up; the waitlist moves up."""
    future = (
        MeetingSeries.group_id == scope.group_id,
        Rsvp.user_id.in_(scope.user_ids),
        Rsvp.status.in_(rsvps.ACTIVE),
        Occurrence.starts_at > scope.now,
    )
    # The meetings first, then the answers: the order every change of seats locks in, so a member clicking
    # "going" while being removed cannot deadlock with the removal (PostgreSQL).
    rsvps.lock_meetings(
        db.session.scalars(
            select(Occurrence)
            .join(Rsvp, Rsvp.occurrence_id == Occurrence.id)
            .join(MeetingSeries, Occurrence.series_id == MeetingSeries.id)
            .where(*future)
        ).unique().all()
    )
    rows = db.session.execute(
        select(Rsvp, Occurrence)
        .join(Occurrence, Rsvp.occurrence_id == Occurrence.id)
        .join(MeetingSeries, Occurrence.series_id == MeetingSeries.id)
        .where(*future)
        # Waitlist places first, so a freed seat never goes to someone whose place is about to end too.
        .order_by(Rsvp.status != RsvpStatus.WAITLISTED, Occurrence.starts_at, Rsvp.id)
        .with_for_update(of=Rsvp)
    ).all()
    for row, occ in rows:
        if row.status in rsvps.ACTIVE:  # a promotion earlier in this loop may have changed it
            rsvps.release(row, occ, scope.now)


def drop_standing(scope: Scope) -> None:
    """"I come every week" stops for good (joining again later starts from nothing)."""
    db.session.execute(
        delete(StandingRsvp)
        .where(
            StandingRsvp.user_id.in_(scope.user_ids),
            StandingRsvp.series_id.in_(select(MeetingSeries.id).where(MeetingSeries.group_id == scope.group_id)),
        )
        .execution_options(synchronize_session="fetch")
    )


def cancel_pending_notices(scope: Scope) -> None:
    """Reminders, seat notices, digests, announcements and the like not sent yet are cancelled."""
    conditions = [Notification.status == NotificationStatus.PENDING, *_about_the_group(scope)]
    if scope.keep_kinds:
        conditions.append(Notification.kind.not_in(scope.keep_kinds))
    db.session.execute(
        update(Notification).where(*conditions).values(status=NotificationStatus.CANCELLED, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def withdraw_inbox_items(scope: Scope) -> None:
    """In-app items that show the group's venue, online link, notes or messages are deleted from the inbox."""
    conditions = [Notification.channel == Channel.IN_APP, Notification.status == NotificationStatus.SENT,
                  Notification.kind.not_in(_HARMLESS_KINDS | scope.keep_kinds), *_about_the_group(scope)]
    db.session.execute(delete(Notification).where(*conditions).execution_options(synchronize_session=False))


def reset_sharing(scope: Scope) -> None:
    """Every consent these members gave the group's facilitators and greeters ends (check-ins, the recovery date,
    a newcomer's first name): the record stays, a return starts from nothing."""
    consent.end_for_group(scope.group_id, scope.user_ids, scope.now)


def stop_greeting(scope: Scope) -> None:
    """Volunteering to greet newcomers ends: no more "a newcomer is coming" (a return asks again)."""
    db.session.execute(
        update(Membership)
        .where(Membership.group_id == scope.group_id, Membership.user_id.in_(scope.user_ids))
        .values(greets_newcomers=False)
        .execution_options(synchronize_session="fetch")
    )


def _gone_from_program(program_id: int, user_ids: Iterable[int], leaving_group_id: int | None) -> list[int]:
    """Those of these members who are no longer active in any of the program's groups that is not archived
    (`leaving_group_id`: the group whose place ends now, not counted whatever its row says yet)."""
    ids = list(user_ids)
    if not ids:
        return []
    still_in = select(Membership.user_id).join(Group, Group.id == Membership.group_id).where(
        Group.program_id == program_id, Group.archived_at.is_(None), Membership.status == MemberStatus.ACTIVE,
        Membership.user_id.in_(ids),
    )
    if leaving_group_id is not None:
        still_in = still_in.where(Group.id != leaving_group_id)
    remaining = set(db.session.scalars(still_in))
    return [uid for uid in ids if uid not in remaining]


def cancel_sessions(sessions: Iterable[CoachingSession], now: datetime, *, by_user_id: int | None = None) -> int:
    """Cancel these booked one-to-one sessions; both sides are told, except the one who cancelled (`by_user_id`;
    None when nobody did: a role, a place or an account ended). Returns how many."""
    count = 0
    for session in sessions:
        session.status, session.cancelled_at, session.cancelled_by_id = SessionStatus.CANCELLED, now, by_user_id
        db.session.flush()
        hooks.session_changed(session, "cancelled", now)
        count += 1
    return count


def end_program_sharing_for(
    program_id: int, user_ids: Iterable[int], now: datetime, *, leaving_group_id: int | None = None
) -> int:
    """End what these members shared with a program's coordinators (their measures), and their booked sessions
    ahead with the program's own coaches, when none of them is an active member of another of the program's
    groups: the program serves members of its groups only."""
    gone = _gone_from_program(program_id, user_ids, leaving_group_id)
    if not gone:
        return 0
    # A booking with one of the program's coaches holds that coach's row lock until it commits: wait for it, so
    # its session is seen and cancelled here (a booking that locks after this sees the place already gone).
    db.session.execute(select(Coach.id).where(Coach.program_id == program_id,
                                              Coach.visibility == CoachVisibility.PROGRAM)
                       .order_by(Coach.id).with_for_update()).all()
    cancel_sessions(db.session.scalars(
        select(CoachingSession).join(Coach, Coach.id == CoachingSession.coach_id).where(
            Coach.program_id == program_id, Coach.visibility == CoachVisibility.PROGRAM,
            CoachingSession.member_id.in_(gone), CoachingSession.status == SessionStatus.BOOKED,
            CoachingSession.starts_at > now).order_by(CoachingSession.id)).all(), now)
    return consent.end_for_program(program_id, gone, now)


def end_program_sharing(scope: Scope) -> None:
    """What the members shared with the coordinators of the group's program ends, and their sessions ahead with
    its program-only coaches are cancelled, unless they are still active in another of its groups."""
    program_id = db.session.scalar(select(Group.program_id).where(Group.id == scope.group_id))
    if program_id is not None:
        end_program_sharing_for(program_id, scope.user_ids, scope.now, leaving_group_id=scope.group_id)


def private_feed(scope: Scope) -> None:
    """Nothing to write: calendars.private_entries reads only active memberships of groups not archived, and
    only answers still going or waiting, so the entries leave the feed with the membership and the answers."""


# Everything that depends on a membership. Add a line for anything new a membership gives.
DEPENDENTS: tuple[tuple[str, Callable[[Scope], None]], ...] = (
    ("future RSVPs (seats and waitlist places; the waitlist is promoted)", release_future_answers),
    ("standing RSVPs", drop_standing),
    ("pending reminders and notices about the group's meetings", cancel_pending_notices),
    ("in-app items carrying the group's private details", withdraw_inbox_items),
    ("consents given to the group's facilitators and greeters (check-in sharing)", reset_sharing),
    ("the group's meetings in the private calendar feed", private_feed),
    ("measures shared with the coordinators of the group's program, and booked sessions ahead with its "
     "program-only coaches (unless still in another of its groups)", end_program_sharing),
    ("greeting newcomers (being told that one is coming)", stop_greeting),
)


def end_access(
    group: Group | int, user_ids: Iterable[int], now: datetime, *, keep_kinds: Iterable[NotificationKind] = ()
) -> None:
    """End everything these people's place in the group gave them (see DEPENDENTS), in this transaction."""
    ids = tuple(sorted(set(user_ids)))
    if not ids:
        return
    group_id = group if isinstance(group, int) else group.id
    db.session.flush()
    scope = Scope(group_id, ids, now, frozenset(keep_kinds))
    for _what, end in DEPENDENTS:
        end(scope)
    db.session.flush()


def people_without_membership(group: Group) -> list[int]:
    """Everyone holding something in the group (an answer, a standing RSVP, a notice, a membership row) who is
    not an active member of it: the people whose access ends when the group goes private."""
    active = select(Membership.user_id).where(
        Membership.group_id == group.id, Membership.status == MemberStatus.ACTIVE
    )
    series = select(MeetingSeries.id).where(MeetingSeries.group_id == group.id)
    holders = union(
        select(Rsvp.user_id).where(Rsvp.occurrence_id.in_(_group_occurrences(group.id))),
        select(StandingRsvp.user_id).where(StandingRsvp.series_id.in_(series)),
        select(Membership.user_id).where(Membership.group_id == group.id),
        select(Notification.user_id).where(or_(
            Notification.group_id == group.id, Notification.occurrence_id.in_(_group_occurrences(group.id)))),
    ).subquery()
    return list(db.session.scalars(select(holders.c.user_id).where(holders.c.user_id.not_in(active))))


def everyone_in(group: Group) -> list[int]:
    """Every member of the group, whatever their status (archiving ends everyone's access)."""
    return list(db.session.scalars(select(Membership.user_id).where(Membership.group_id == group.id)))
