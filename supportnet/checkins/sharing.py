"""What a member shares with each group's facilitators, who reads it, the one-click stop-sharing link, and the
groups whose facilitators the member can reach out to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import CheckinSharing, Group, MemberRole, Membership, MemberStatus, User

SHARING_LABELS = {
    CheckinSharing.NONE: "Nothing",
    CheckinSharing.SUMMARIES: "Summaries: mood, craving and whether I asked for support",
    CheckinSharing.NOTES: "Summaries, and the notes I choose to share",
}


def sharing_memberships(user: User) -> list[Membership]:
    """The member's active memberships with their groups, for choosing what each group's facilitators see."""
    return list(
        db.session.scalars(
            select(Membership)
            .join(Membership.group)
            .options(joinedload(Membership.group))
            .where(Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE)
            .order_by(func.lower(Group.name), Membership.id)
        )
    )


def set_sharing(membership: Membership, level: CheckinSharing | str, shares_recovery_date: bool) -> None:
    """Choose what this group's facilitators see of the member's check-ins and recovery date."""
    try:
        level = CheckinSharing(level)
    except ValueError as exc:
        raise DomainError("Choose what to share.", field="level") from exc
    if membership.status != MemberStatus.ACTIVE:
        raise DomainError("You can only share with groups you are a member of.")
    membership.checkin_sharing = level
    membership.shares_recovery_date = bool(shares_recovery_date)
    db.session.flush()


def who_can_see(memberships: Sequence[Membership]) -> dict[int, list[str]]:
    """For each of these memberships' groups, the display names of everyone who can see what is shared with it
    (its active facilitators), in one query: the sharing page always says who reads what the member shares."""
    group_ids = {m.group_id for m in memberships}
    found: dict[int, list[str]] = {gid: [] for gid in group_ids}
    if group_ids:
        for group_id, name in db.session.execute(
            select(Membership.group_id, User.display_name)
            .join(User, User.id == Membership.user_id)
            .where(Membership.group_id.in_(group_ids), Membership.role == MemberRole.FACILITATOR,
                   Membership.status == MemberStatus.ACTIVE)
            .order_by(func.lower(User.display_name), User.id)
        ):
            found[group_id].append(name)
    return found


def _stop_sharing_serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="supportnet.checkins.stop-sharing")


def stop_sharing_token(user_id: int, group_id: int) -> str:
    """The signed token of a one-click "stop sharing with this group" link (sent when the audience grows)."""
    return _stop_sharing_serializer().dumps({"u": user_id, "g": group_id})


def membership_for_stop_token(token: str) -> Membership | None:
    """The active membership a stop-sharing link is for, or None (tampered, or no longer a member)."""
    try:
        data = _stop_sharing_serializer().loads(token)
        user_id, group_id = int(data["u"]), int(data["g"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    return db.session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.group_id == group_id,
                                 Membership.status == MemberStatus.ACTIVE)
    )


def stop_sharing(membership: Membership) -> None:
    """Share nothing more with the group: no check-ins, no recovery date."""
    membership.checkin_sharing = CheckinSharing.NONE
    membership.shares_recovery_date = False
    db.session.flush()


@dataclass(frozen=True)
class ReachOut:
    """A group whose facilitators the member can turn to, because the member shares with it."""

    group: Group
    facilitators: list[str]


def reach_out_options(user: User) -> list[ReachOut]:
    """Groups whose facilitators see this member's check-ins, with the facilitators' names."""
    shared = [m for m in sharing_memberships(user) if m.checkin_sharing != CheckinSharing.NONE]
    if not shared:
        return []
    names: dict[int, list[str]] = defaultdict(list)
    rows = db.session.execute(
        select(Membership.group_id, User.display_name)
        .join(Membership.user)
        .where(
            Membership.group_id.in_([m.group_id for m in shared]),
            Membership.role == MemberRole.FACILITATOR,
            Membership.status == MemberStatus.ACTIVE,
            Membership.user_id != user.id,
        )
        .order_by(func.lower(User.display_name))
    ).all()
    for group_id, name in rows:
        names[group_id].append(name)
    return [ReachOut(m.group, names[m.group_id]) for m in shared]
