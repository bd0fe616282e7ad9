"""Memberships: who is in a group, joining and leaving, requests and their answers, invite links, roles.

Functions here change models and flush; the caller (a view, a command, a scheduler job) commits. Decisions
taken by a facilitator or an admin (approve, decline, remove, a role change) write their audit entry here, in
the same transaction, whoever calls them: pass the acting person as `by`.

Decisions worth knowing:

* Join policies mean what they say. Open: anyone who can see the group joins at once. Approval: joining
  asks, a facilitator approves (an invite link of a private approval group only lets people see it and ask).
  Invite: a valid, unexpired invite link is needed and joins at once. A program's referral that the person
  accepted is an invitation that also stands for the approval (`join_referred`; a card can only bring people
  into the program's own groups and public groups anyone may join), never past a removal.
* Someone a facilitator removed cannot rejoin on their own; a facilitator can let them back in (approve).
* A group always keeps an active facilitator: the last one hands over before leaving or stepping down.
* Leaving, removal and a declined request end everything the membership gave in the same transaction (future
  RSVPs, standing RSVPs, pending notices, in-app items with the group's details, check-in sharing, private feed
  entries): derived_access.DEPENDENTS lists them; past answers and attendance stay.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, joinedload

from supportnet import audit, derived_access
from supportnet.clock import now_utc
from supportnet.errors import DomainError, Forbidden
from supportnet.extensions import db
from supportnet.models import AuditAction, Group, JoinPolicy, MemberRole, Membership, MemberStatus, User, Visibility
from supportnet.notifications import hooks
from supportnet.visibility import invite_digest, invite_is_valid, membership_for

INVITE_DAYS_MAX = 90


def _require_not_archived(group: Group) -> None:
    if group.archived_at is not None:
        raise DomainError("This group is archived.")


# --- invites ---


def regenerate_invite(group: Group, now: datetime, days: int = 14) -> str:
    """Make a new invite link token for the group (the old link stops working) and return it."""
    _require_not_archived(group)
    if not 1 <= days <= INVITE_DAYS_MAX:
        raise DomainError(f"An invite link can last 1 to {INVITE_DAYS_MAX} days.", field="days")
    token = secrets.token_urlsafe(24)
    group.invite_token_hash = invite_digest(token)
    group.invite_expires_at = now + timedelta(days=days)
    group.updated_at = now
    db.session.flush()
    return token


def revoke_invite(group: Group, now: datetime) -> None:
    """Stop the group's invite link from working."""
    group.invite_token_hash = None
    group.invite_expires_at = None
    group.updated_at = now
    db.session.flush()


def group_for_invite(token: str, now: datetime) -> Group | None:
    """Return the group whose current, unexpired invite this token is (archived groups have none), or None."""
    if not token:
        return None
    group = db.session.scalar(select(Group).where(Group.invite_token_hash == invite_digest(token)))
    if group is None or group.archived_at is not None or not invite_is_valid(group, token, now):
        return None
    return group


# --- memberships ---


def member_count(group: Group) -> int:
    """Count the group's active members (facilitators included)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.group_id == group.id, Membership.status == MemberStatus.ACTIVE)
    )


def active_memberships(group: Group) -> list[Membership]:
    """The group's active members with their accounts, facilitators first, then by display name."""
    return list(
        db.session.scalars(
            select(Membership)
            .join(Membership.user)
            .options(contains_eager(Membership.user))
            .where(Membership.group_id == group.id, Membership.status == MemberStatus.ACTIVE)
            .order_by(Membership.role != MemberRole.FACILITATOR, func.lower(User.display_name), Membership.id)
        )
    )


def pending_requests(group: Group) -> list[Membership]:
    """The group's requests to join, oldest first, with the accounts that made them."""
    return list(
        db.session.scalars(
            select(Membership)
            .options(joinedload(Membership.user))
            .where(Membership.group_id == group.id, Membership.status == MemberStatus.PENDING)
            .order_by(Membership.created_at, Membership.id)
        )
    )


def facilitators(group: Group) -> list[Membership]:
    """Return the group's active facilitators."""
    return list(
        db.session.scalars(
            select(Membership).where(
                Membership.group_id == group.id,
                Membership.role == MemberRole.FACILITATOR,
                Membership.status == MemberStatus.ACTIVE,
            )
        )
    )


def join(group: Group, user: User, now: datetime, invite_token: str | None = None) -> Membership:
    """Join the group (or ask to, under approval); joining again while active or pending changes nothing."""
    _require_not_archived(group)
    membership = membership_for(group, user)
    if membership is not None and membership.status in (MemberStatus.ACTIVE, MemberStatus.PENDING):
        return membership
    _refuse_removed(membership)
    # Outsiders only learn that a private group exists through its invite link, so joining one needs it too.
    needs_invite = group.join_policy == JoinPolicy.INVITE or group.visibility == Visibility.PRIVATE
    if needs_invite and not invite_is_valid(group, invite_token, now):
        raise DomainError(
            "This invite link is invalid or has expired. Ask a facilitator for a new one.", field="invite_token"
        )
    # A private group is never open (see _check_policy); treat one as approval if data says otherwise.
    asks = group.join_policy == JoinPolicy.APPROVAL or (
        group.visibility == Visibility.PRIVATE and group.join_policy == JoinPolicy.OPEN
    )
    status = MemberStatus.PENDING if asks else MemberStatus.ACTIVE
    return _enter(group, user, membership, status, now)


def _refuse_removed(membership: Membership | None) -> None:
    if membership is not None and membership.status == MemberStatus.REMOVED:
        raise Forbidden("A facilitator removed you from this group. Ask them if you'd like to come back.")


def _enter(group: Group, user: User, membership: Membership | None, status: MemberStatus, now: datetime) -> Membership:
    """A new place (or a request) in the group; a returning member's earlier row is reused, starting afresh."""
    if membership is None:
        membership = Membership(group=group, user=user, created_at=now)
        db.session.add(membership)
    membership.role = MemberRole.MEMBER
    membership.status = status
    membership.joined_at = now if status == MemberStatus.ACTIVE else None
    # Volunteering to greet newcomers is asked again after a return, never carried over from an earlier place.
    membership.greets_newcomers = False
    db.session.flush()
    if status == MemberStatus.PENDING:
        # Notifications hook: the group's facilitators hear about the request.
        hooks.join_requested(membership, now)
    return membership


def join_referred(group: Group, user: User, now: datetime) -> Membership:
    """Join a group suggested on a program's referral that the person accepted.

    The referral is their invitation, and the coordinator's suggestion stands for a facilitator's approval, so
    it lets them in at once whatever the policy, and a request of theirs already waiting becomes a place (which
    groups a program's card may bring someone into is `programs.may_suggest`'s rule, asked before this). Someone
    a facilitator removed stays out, and an archived group refuses, as with `join`.
    """
    _require_not_archived(group)
    membership = membership_for(group, user)
    if membership is not None and membership.status == MemberStatus.ACTIVE:
        return membership
    _refuse_removed(membership)
    if membership is not None and membership.status == MemberStatus.PENDING:
        membership.status, membership.joined_at = MemberStatus.ACTIVE, now
        db.session.flush()
        return membership
    return _enter(group, user, membership, MemberStatus.ACTIVE, now)


def set_greeter(membership: Membership, on: bool, now: datetime) -> Membership:
    """Volunteer (or stop) to greet newcomers: a greeter is told when someone referred by a program is coming
    to one of the group's meetings. Only active members of a group that still meets can volunteer."""
    _require_not_archived(membership.group)
    if membership.status != MemberStatus.ACTIVE:
        raise DomainError("Only members of the group can greet newcomers.")
    membership.greets_newcomers = bool(on)
    db.session.flush()
    if not on:
        # Notifications hook: notices about newcomers not sent yet stop.
        hooks.greeter_stopped(membership, now)
    return membership


def approve(membership: Membership, now: datetime, by: User | None = None) -> Membership:
    """Let someone into the group: a pending request, a declined one, or someone removed earlier.

    Nobody approves their own request (a site admin included): another facilitator of the group must.
    """
    _require_not_archived(membership.group)
    if membership.status == MemberStatus.ACTIVE:
        return membership
    if membership.status == MemberStatus.LEFT:
        raise DomainError("They left the group; they can join again themselves.")
    if by is not None and by.id == membership.user_id:
        raise DomainError("You can't approve your own request: one of the group's facilitators must.")
    membership.status = MemberStatus.ACTIVE
    membership.joined_at = now
    db.session.flush()
    audit.record(AuditAction.MEMBER_APPROVED, actor=by, now=now, group=membership.group, subject=membership.user)
    # Notifications hook: they hear that they are in.
    hooks.join_answered(membership, True, now)
    if membership.role == MemberRole.FACILITATOR:
        # Back in as a facilitator: whoever shares with the group hears that they can see it again.
        hooks.sharing_audience_grew(membership, now)
    return membership


def decline(membership: Membership, now: datetime, by: User | None = None) -> Membership:
    """Say no to a request to join (`by`: the facilitator or admin who decides, for the audit log)."""
    if membership.status != MemberStatus.PENDING:
        raise DomainError("Only a request to join can be declined.")
    membership.status = MemberStatus.DECLINED
    db.session.flush()
    audit.record(AuditAction.MEMBER_DECLINED, actor=by, now=now, group=membership.group, subject=membership.user)
    derived_access.end_access(membership.group_id, [membership.user_id], now)
    # Notifications hook: they hear the answer (neutrally worded).
    hooks.join_answered(membership, False, now)
    return membership


def _other_active_facilitators(membership: Membership) -> int:
    # FOR UPDATE makes two facilitators leaving at once on PostgreSQL queue up and see each other's change;
    # on SQLite (a no-op there) BEGIN IMMEDIATE already serializes the two writers.
    ids = db.session.scalars(
        select(Membership.id)
        .where(
            Membership.group_id == membership.group_id,
            Membership.role == MemberRole.FACILITATOR,
            Membership.status == MemberStatus.ACTIVE,
            Membership.id != membership.id,
        )
        .with_for_update()
    ).all()
    return len(ids)


def _require_another_facilitator(membership: Membership, message: str) -> None:
    if membership.is_facilitator and _other_active_facilitators(membership) == 0:
        raise DomainError(message)


def leave(membership: Membership, now: datetime) -> Membership:
    """Leave the group (or withdraw a request to join); the last facilitator must hand over first."""
    if membership.status not in (MemberStatus.ACTIVE, MemberStatus.PENDING):
        raise DomainError("You are not a member of this group.")
    _require_another_facilitator(
        membership, "You are the group's last facilitator. Make someone else a facilitator before you leave."
    )
    membership.status = MemberStatus.LEFT
    db.session.flush()
    derived_access.end_access(membership.group_id, [membership.user_id], now)
    return membership


def remove(membership: Membership, now: datetime, by: User | None = None) -> Membership:
    """Remove someone from the group (or a pending request); they cannot rejoin on their own.

    `by`: the facilitator or admin who removes them, for the audit log.
    """
    if membership.status not in (MemberStatus.ACTIVE, MemberStatus.PENDING):
        raise DomainError("They are not a member of this group.")
    _require_another_facilitator(membership, "A group always keeps at least one facilitator.")
    membership.status = MemberStatus.REMOVED
    db.session.flush()
    audit.record(AuditAction.MEMBER_REMOVED, actor=by, now=now, group=membership.group, subject=membership.user)
    derived_access.end_access(membership.group_id, [membership.user_id], now)
    return membership


def set_role(
    membership: Membership, role: MemberRole | str, by: User | None = None, now: datetime | None = None
) -> Membership:
    """Make an active member a facilitator, or a facilitator a member again (`by`: who does it, for the audit log).

    The facilitator role opens the roster and what members share of their check-ins, so it is granted by the
    group's facilitators (or a site admin) to someone else, never to oneself; and every member who shares with
    the group is told who can now see it.
    """
    try:
        role = MemberRole(role)
    except ValueError as exc:
        raise DomainError("Choose one of the options.", field="role") from exc
    if membership.status != MemberStatus.ACTIVE:
        raise DomainError("Only active members can be given a role.", field="role")
    if role == membership.role:
        return membership
    if role == MemberRole.FACILITATOR and by is not None and by.id == membership.user_id:
        raise DomainError("You can't make yourself a facilitator: another facilitator of the group must.",
                          field="role")
    if role == MemberRole.MEMBER:
        _require_another_facilitator(membership, "A group always keeps at least one facilitator.")
    before = membership.role
    now = now or now_utc()
    membership.role = role
    db.session.flush()
    audit.record(AuditAction.ROLE_CHANGED, actor=by, now=now, group=membership.group, subject=membership.user,
                 from_role=before, to_role=role)
    if role == MemberRole.FACILITATOR:
        hooks.sharing_audience_grew(membership, now)
    return membership


