"""The in-app inbox: a member's delivered in-app notices, re-checked against what they may still see."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from supportnet import followup, visibility
from supportnet.clock import now_utc
from supportnet.extensions import db
from supportnet.models import Channel, Group, MeetingSeries, Notification, NotificationStatus, Occurrence, User

EMAIL, IN_APP = Channel.EMAIL, Channel.IN_APP
PENDING, SENDING, SENT = NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT
INBOX_PAGE = 50


def _inbox_query(user: User):
    return select(Notification).where(
        Notification.user_id == user.id, Notification.channel == IN_APP, Notification.status == SENT
    )


def inbox(user: User, limit: int = INBOX_PAGE) -> list[Notification]:
    """The member's in-app notifications they may still see, newest first, with their meetings loaded."""
    rows = list(db.session.scalars(
        _inbox_query(user)
        .options(joinedload(Notification.occurrence).joinedload(Occurrence.series).joinedload(MeetingSeries.group))
        .order_by(Notification.sent_at.desc(), Notification.id.desc())
        .limit(limit)
    ).unique())
    # Re-checked as the page renders, with the rule the sender uses: a row written while the member could see
    # the group must not show its details after their place in it ended (nor a referral's progress after its
    # person stopped sharing it).
    return followup.visible_nudges(user, visibility.visible_notices(user, rows), now_utc())


def unread(user: User) -> list[Notification]:
    """The member's unread in-app notifications they may still see, newest first (two inbox pages at most)."""
    rows = db.session.scalars(
        _inbox_query(user).where(Notification.read_at.is_(None))
        .options(joinedload(Notification.occurrence).joinedload(Occurrence.series).joinedload(MeetingSeries.group))
        .order_by(Notification.sent_at.desc(), Notification.id.desc())
        .limit(INBOX_PAGE * 2)
    ).unique().all()
    return followup.visible_nudges(user, visibility.visible_notices(user, list(rows)), now_utc())


def unread_count(user: User) -> int:
    """How many in-app notifications the member has not read (and may still see)."""
    return len(unread(user))


def mark_read(user: User, now: datetime, notification_id: int | None = None) -> int:
    """Mark one (or every) in-app notification of the member as read; returns how many changed."""
    conditions = [Notification.user_id == user.id, Notification.channel == IN_APP, Notification.read_at.is_(None)]
    if notification_id is not None:
        conditions.append(Notification.id == notification_id)
    result = db.session.execute(
        update(Notification).where(*conditions).values(read_at=now).execution_options(synchronize_session=False)
    )
    return result.rowcount


def inbox_groups(rows: list[Notification]) -> dict[int, Group]:
    """The groups the inbox rows mention, in one query."""
    ids = {n.group_id for n in rows if n.group_id}
    return {g.id: g for g in db.session.scalars(select(Group).where(Group.id.in_(ids)))} if ids else {}
