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
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select

from supportnet.clock import now_utc
from supportnet.extensions import db
from supportnet.models import (
    Group,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    OnlineVisibility,
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
    if user is None:
        return False
    if user.is_admin:
        return True
    membership = membership_for(group, user)
    return membership is not None and membership.is_facilitator


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
