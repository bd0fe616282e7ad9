"""Calendar subscriptions: what each calendar feed shows, and members' private feed addresses.

Functions here load what a feed shows (supportnet/feeds.py turns it into iCalendar bytes) or change a member's
feed settings and flush; the caller commits.

Decisions worth knowing:

* A group's feed exists for public and unlisted groups that are not archived: the same people who can see the
  group's page without signing in. Private groups are in their members' private feeds only.
* A private feed lives at /calendar/<token>.ics. The token has 256 bits from `secrets`; only its sha256 is
  stored, so the address is shown once, when it is made. Making a new one (or turning the feed off) makes the
  old address answer 404. Tokens in /calendar/ paths are redacted from request logs (supportnet/logs.py).
* A private feed shows the meetings the member said they are going to (or waiting for), or, if they choose,
  every meeting of the groups they are an active member of. Leaving a group takes its meetings out. The
  online link is in it exactly where the meeting page would show it (privacy rule 4).
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import contains_eager

from supportnet import feed_versions, visibility
from supportnet.extensions import db
from supportnet.feeds import MeetingEntry, SeriesEntry, SessionEntry, Window
from supportnet.models import (
    Coach,
    CoachingSession,
    Group,
    MeetingSeries,
    Membership,
    MemberStatus,
    Occurrence,
    OccurrenceStatus,
    Rsvp,
    RsvpStatus,
    SessionStatus,
    User,
    Visibility,
)

TOKEN_BYTES = 32  # 256 bits; at least 128 are required


# --- group feeds ---


def group_feed_available(group: Group) -> bool:
    """Whether the group has a public calendar feed: public and unlisted groups that are not archived."""
    return group.visibility in (Visibility.PUBLIC, Visibility.UNLISTED) and group.archived_at is None


def group_versions(group: Group) -> tuple[tuple[str, int, int], ...]:
    """The versions a group's feed depends on (one primary-key read): equal versions, the same feed."""
    return tuple(tuple(row) for row in db.session.execute(*feed_versions.group_key(group.id)))


def group_entries(group: Group, span: Window) -> list[SeriesEntry]:
    """Every series of the group with every meeting up to the window's end that ever changed, in two queries.

    Not only the window: a calendar app expands each repeating event from its first meeting, so a cancelled or
    moved week left out once it is 90 days old would come back as it was. A meeting that was changed and put
    back (its SEQUENCE moved) stays written too, so its SEQUENCE never drops back to the repeating event's.
    """
    series = list(
        db.session.scalars(select(MeetingSeries).where(MeetingSeries.group_id == group.id).order_by(MeetingSeries.id))
    )
    if not series:
        return []
    rows = db.session.scalars(
        select(Occurrence)
        .where(
            Occurrence.series_id.in_([s.id for s in series]),
            or_(Occurrence.status != OccurrenceStatus.SCHEDULED, Occurrence.sequence > 0),
            or_(Occurrence.original_start < span.end, Occurrence.starts_at < span.end),
        )
        .order_by(Occurrence.series_id, Occurrence.original_start)
    )
    changed: dict[int, list[Occurrence]] = defaultdict(list)
    for occ in rows:
        changed[occ.series_id].append(occ)
    return [SeriesEntry(s, tuple(changed.get(s.id, ()))) for s in series]


def group_changed_at(group: Group, entries: Iterable[SeriesEntry]) -> list[datetime]:
    """The times whose latest is the feed's Last-Modified: the group, every series (ended ones too), the changes."""
    times = [group.updated_at]
    for entry in entries:
        times.append(entry.series.updated_at)
        times.extend(occ.updated_at for occ in entry.changed)
    return times


# --- private feeds ---


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def regenerate_token(user: User) -> str:
    """Give the member a new private feed address and return its token; the old address stops working."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    user.calendar_token_hash = _digest(token)
    db.session.flush()
    return token


def revoke_token(user: User) -> None:
    """Turn the member's private feed off: its address answers 404 from now on."""
    user.calendar_token_hash = None
    db.session.flush()


def set_preferences(user: User, *, discreet: bool, all_meetings: bool) -> None:
    """Choose neutral or full titles, and RSVP'd meetings only or every meeting of the member's groups."""
    user.calendar_discreet = bool(discreet)
    user.calendar_all_meetings = bool(all_meetings)
    db.session.flush()


def user_for_token(token: str) -> User | None:
    """The member whose private feed address this token is, or None."""
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(User).where(User.calendar_token_hash == _digest(token)))


def private_versions(user: User) -> tuple[tuple[str, int, int], ...]:
    """The versions a member's private feed depends on: theirs, their groups' and everything's (one query)."""
    groups = select(Membership.group_id).where(Membership.user_id == user.id,
                                               Membership.status == MemberStatus.ACTIVE)
    return tuple(sorted(tuple(row) for row in db.session.execute(feed_versions.member_key(user.id, groups))))


def _eager_occurrences():
    return (
        select(Occurrence)
        .join(Occurrence.series)
        .join(MeetingSeries.group)
        .options(contains_eager(Occurrence.series).contains_eager(MeetingSeries.group))
    )


def private_entries(user: User, span: Window) -> tuple[list[MeetingEntry], list[datetime]]:
    """The meetings in the member's private feed with what they may see of each, and the times they changed."""
    roles = dict(
        db.session.execute(
            select(Membership.group_id, Membership.role)
            .join(Group, Group.id == Membership.group_id)
            # An archived group has no meetings to come: its entries leave the feed with its archiving.
            .where(Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE,
                   Group.archived_at.is_(None))
        ).all()
    )
    if not roles:
        return [], []
    # Last-Modified never goes back: a withdrawn answer, or a meeting changed and then left out, is a change too.
    times: list[datetime] = [
        stamp
        for stamp in (
            db.session.scalar(select(func.max(Rsvp.updated_at)).where(Rsvp.user_id == user.id)),
            db.session.scalar(
                select(func.max(MeetingSeries.updated_at)).where(MeetingSeries.group_id.in_(list(roles)))
            ),
        )
        if stamp is not None
    ]
    in_window = (
        Occurrence.ends_at > span.start,
        Occurrence.starts_at < span.end,
        Occurrence.superseded.is_(False),
        MeetingSeries.group_id.in_(list(roles)),
    )
    if user.calendar_all_meetings:
        occurrences = list(db.session.scalars(_eager_occurrences().where(*in_window)))
        answers = {
            row.occurrence_id: row
            for row in db.session.scalars(
                select(Rsvp).where(Rsvp.user_id == user.id, Rsvp.occurrence_id.in_([o.id for o in occurrences]))
            )
        }
    else:
        answers = {
            row.occurrence_id: row
            for row in db.session.scalars(
                select(Rsvp)
                .join(Rsvp.occurrence)
                .join(Occurrence.series)
                .where(Rsvp.user_id == user.id, Rsvp.status.in_((RsvpStatus.GOING, RsvpStatus.WAITLISTED)), *in_window)
            )
        }
        occurrences = list(db.session.scalars(_eager_occurrences().where(Occurrence.id.in_(list(answers)))))
    entries = []
    for occ in occurrences:
        answer = answers.get(occ.id)
        going = answer is not None and answer.status == RsvpStatus.GOING
        waiting = answer is not None and answer.status == RsvpStatus.WAITLISTED
        show_online = visibility.member_sees_online_link(occ.series, user, roles.get(occ.series.group_id),
                                                         seated=going)
        entries.append(MeetingEntry(occ, show_online=show_online, waitlisted=waiting))
        times += [occ.updated_at, occ.series.updated_at] + ([answer.updated_at] if answer is not None else [])
    return entries, times


# --- one-to-one sessions in the private feeds of their coach and their member ---


def session_entries(user: User, span: Window) -> list[SessionEntry]:
    """The booked sessions in this person's own private feed: theirs as a member ("Session"), and as a coach
    their sessions with the member's display name (unless the feed is discreet). Nobody else's feed has them."""
    in_window = (CoachingSession.status == SessionStatus.BOOKED, CoachingSession.ends_at > span.start,
                 CoachingSession.starts_at < span.end)
    entries = [
        SessionEntry(s.nonce, s.starts_at, s.ends_at, "Session", s.created_at)
        for s in db.session.scalars(select(CoachingSession).where(CoachingSession.member_id == user.id, *in_window))
    ]
    for s, name in db.session.execute(
        select(CoachingSession, User.display_name)
        .join(Coach, Coach.id == CoachingSession.coach_id).join(User, User.id == CoachingSession.member_id)
        .where(Coach.user_id == user.id, *in_window)
    ):
        title = "Session" if user.calendar_discreet else f"Session: {name}"
        entries.append(SessionEntry(s.nonce, s.starts_at, s.ends_at, title, s.created_at))
    return sorted(entries, key=lambda e: (e.starts_at, e.nonce))
