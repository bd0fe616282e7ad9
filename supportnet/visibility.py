"""Who may see and manage what: the one home of the privacy rules about groups, facilitators and online links.

Every page, feed, export and domain verb asks here instead of comparing roles and statuses itself, so a rule
changes in one place. Functions here only read; they import nothing but the models and the foundation.

The rules:

* A group's page: public and unlisted groups, everyone; private groups, active members, people who asked to
  join, and holders of a valid invite link; archived groups, their active members only; site admins, all.
* Managing a group (its meetings, members, invite link, audit log): its active facilitators and site admins.
* What members share of their check-ins: the group's own active facilitators only. A site admin is not the
  facilitator a member chose to share with.
* The facilitators' notices and the duty to use two-factor: site facilitators and admins, and whoever
  facilitates at least one group.
* A meeting's online link and phone: the group's managers always; then as the facilitator chose: everyone who
  can see the meeting, the group's active members, or members with a seat (the waitlist does not get it yet).
  Public listings (the group feed, the Meeting Guide export) show it only when it is for everyone.
* A notice, when it is sent and when the inbox shows it: the place in the group it was written for must still
  hold (`right_to_see`); a membership may have ended since the row was written.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select

from supportnet.clock import now_utc
from supportnet.extensions import db
from supportnet.models import (
    Coach,
    Group,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Notification,
    NotificationKind,
    Occurrence,
    OnlineVisibility,
    ProgramCoordinator,
    Rsvp,
    RsvpStatus,
    User,
    Visibility,
)

# --- membership ---


def membership_for(group: Group, user: User | None) -> Membership | None:
    """Return the user's membership row in the group (any status), or None."""
    if user is None or user.id is None:
        return None
    return db.session.scalar(select(Membership).where(Membership.group_id == group.id, Membership.user_id == user.id))


def is_member(group: Group, user: User | None) -> bool:
    """Return whether the user is an active member (any role) of the group."""
    membership = membership_for(group, user)
    return membership is not None and membership.status == MemberStatus.ACTIVE


# --- invite links ---


def invite_digest(token: str) -> str:
    """What is stored of an invite token (the token itself is shown once and never kept)."""
    return hashlib.sha256(token.encode()).hexdigest()


def invite_is_valid(group: Group, token: str | None, now: datetime) -> bool:
    """Return whether the token is the group's current, unexpired invite."""
    if not token or group.invite_token_hash is None or group.invite_expires_at is None:
        return False
    return secrets.compare_digest(group.invite_token_hash, invite_digest(token)) and now < group.invite_expires_at


# --- seeing a group ---


def visible_to(group: Group, user: User | None, invite_token: str | None = None, now: datetime | None = None) -> bool:
    """Return whether the user may see the group's page (None = signed out).

    Public and unlisted groups: everyone. Private groups: active members, people who asked to join, and
    holders of a valid invite link. Archived groups: their active members only. Site admins: everything.
    """
    if user is not None and user.is_admin:
        return True
    membership = membership_for(group, user)
    status = membership.status if membership is not None else None
    if status == MemberStatus.ACTIVE:
        return True
    if group.archived_at is not None:
        return False
    if group.visibility in (Visibility.PUBLIC, Visibility.UNLISTED):
        return True
    if status == MemberStatus.PENDING:
        return True
    if invite_token is None:
        return False
    return invite_is_valid(group, invite_token, now or now_utc())


# --- facilitators ---


def can_manage(group: Group, user: User | None) -> bool:
    """Return whether the user may manage the group: an active facilitator of it, or a site admin."""
    return user is not None and (user.is_admin or is_group_facilitator(group, user))


def is_group_facilitator(group: Group, user: User | None) -> bool:
    """Whether the user is an active facilitator of this very group (site admins are not, by being admins).

    The people members share their check-ins with.
    """
    membership = membership_for(group, user)
    return membership is not None and membership.is_facilitator


def facilitates_a_group(user: User) -> bool:
    """Whether the member is an active facilitator of any group."""
    return db.session.scalar(
        select(Membership.id).where(
            Membership.user_id == user.id,
            Membership.role == MemberRole.FACILITATOR,
            Membership.status == MemberStatus.ACTIVE,
        ).limit(1)
    ) is not None


def is_facilitator_anywhere(user: User) -> bool:
    """Site facilitators and admins, and members who facilitate a group: who sees members' details somewhere."""
    return user.is_facilitator or facilitates_a_group(user)


def coordinates(user: User | None, program_id: int) -> bool:
    """Whether the member is a coordinator of this program (site admins are not, unless named one)."""
    if user is None or not user.is_authenticated:
        return False
    return db.session.scalar(
        select(ProgramCoordinator.id).where(ProgramCoordinator.program_id == program_id,
                                            ProgramCoordinator.user_id == user.id).limit(1)
    ) is not None


def coordinates_a_program(user: User) -> bool:
    """Whether the member coordinates any program."""
    return db.session.scalar(
        select(ProgramCoordinator.id).where(ProgramCoordinator.user_id == user.id).limit(1)
    ) is not None


def is_coach(user: User) -> bool:
    """Whether the member holds the coach role now (a profile that has not ended)."""
    return db.session.scalar(
        select(Coach.id).where(Coach.user_id == user.id, Coach.holds_role()).limit(1)
    ) is not None


def is_staff(user: User) -> bool:
    """Who owes two-factor: whoever sees members' details somewhere (facilitators, admins), people's
    referrals (program coordinators) or members' session notes (coaches)."""
    return is_facilitator_anywhere(user) or coordinates_a_program(user) or is_coach(user)


# --- a meeting's online link ---


def _has_online_details(series: MeetingSeries) -> bool:
    return bool(series.online_url or series.online_phone)


def online_link_visible(series: MeetingSeries, *, manager: bool, member: bool, seated: bool) -> bool:
    """Whether someone sees the meeting's online link and phone, as the facilitator chose.

    `manager`: may manage the group; `member`: an active member; `seated`: going, with a seat.
    """
    if not _has_online_details(series):
        return False
    if manager or series.online_visibility == OnlineVisibility.EVERYONE:
        return True
    if series.online_visibility == OnlineVisibility.MEMBERS:
        return member
    # RSVP-only: members who have a seat (the waitlist does not get the link yet).
    return member and seated


def member_sees_online_link(series: MeetingSeries, user: User, role: MemberRole | None, *, seated: bool) -> bool:
    """`sees_online_link` for a reader that already loaded the user's role in each group they are an active member
    of (the private feed, the data export): `role` None means not a member, who gets no link there."""
    if role is None:
        return False
    manager = user.is_admin or role == MemberRole.FACILITATOR  # can_manage, from the loaded role
    return online_link_visible(series, manager=manager, member=True, seated=seated)


def online_link_public(series: MeetingSeries) -> bool:
    """Whether a public listing (the group feed, the Meeting Guide export) shows the online link: for everyone."""
    return online_link_visible(series, manager=False, member=False, seated=False)


def _has_seat(occ: Occurrence, user: User) -> bool:
    return db.session.scalar(
        select(Rsvp.id).where(Rsvp.occurrence_id == occ.id, Rsvp.user_id == user.id, Rsvp.status == RsvpStatus.GOING)
    ) is not None


def sees_online_link(occ: Occurrence, user: User | None) -> bool:
    """Whether this viewer (None = signed out) sees the meeting's online link on its page and in its .ics."""
    series = occ.series
    if not _has_online_details(series):
        return False
    group = series.group
    manager = can_manage(group, user)
    member = is_member(group, user)
    seated = member and user is not None and user.id is not None and _has_seat(occ, user)
    return online_link_visible(series, manager=manager, member=member, seated=seated)


# --- the right to see a notice, checked when it is sent and when the inbox shows it ---------------------------

_FACILITATOR_KINDS = frozenset({NotificationKind.JOIN_REQUEST, NotificationKind.DIGEST})


def notice_group_id(n: Notification) -> int | None:
    """The group a notice is about (directly, or through its meeting), or None (a check-in prompt)."""
    if n.group_id is not None:
        return n.group_id
    return n.occurrence.series.group_id if n.occurrence is not None else None


def right_to_see(n: Notification, user: User | None, membership: Membership | None, group: Group | None) -> str | None:
    """Why the recipient may not see this notice now, or None if they may.

    Written rows are not trusted to still apply: a membership may have ended, or the account may be gone, since
    the row was written. A notice about a group needs the place in it that it was written for (an active
    membership; an active facilitator for requests to join and digests; the answered request for an answer).
    Every group needs one: answering for a meeting needs an active membership everywhere (in a public, open
    group answering makes one).
    """
    if user is None:
        return "the account is gone"
    if user.email_confirmed_at is None:
        return "the account is not active"
    if group is None:
        return None if notice_group_id(n) is None else "the group is gone"
    if n.kind in _FACILITATOR_KINDS:
        return None if membership is not None and membership.is_facilitator else "no longer a facilitator"
    if n.kind == NotificationKind.JOIN_ANSWER:
        answered = MemberStatus.ACTIVE if n.payload.get("answer") == "accepted" else MemberStatus.DECLINED
        return None if membership is not None and membership.status == answered else "the answer no longer applies"
    if membership is None or membership.status != MemberStatus.ACTIVE:
        return "no longer a member"
    if group.archived_at is not None and n.kind != NotificationKind.CHANGE:
        return "the group is archived"
    return None


def visible_notices(user: User, rows: list[Notification]) -> list[Notification]:
    """The rows of the member's inbox they may still see (the same rule as when a notice is sent)."""
    group_ids = {gid for gid in (notice_group_id(n) for n in rows) if gid is not None}
    memberships: dict[int, Membership] = {}
    groups: dict[int, Group] = {}
    if group_ids:
        memberships = {m.group_id: m for m in db.session.scalars(
            select(Membership).where(Membership.user_id == user.id, Membership.group_id.in_(group_ids)))}
        groups = {g.id: g for g in db.session.scalars(select(Group).where(Group.id.in_(group_ids)))}
    visible = []
    for n in rows:
        gid = notice_group_id(n)
        if right_to_see(n, user, memberships.get(gid), groups.get(gid)) is None:
            visible.append(n)
    return visible
