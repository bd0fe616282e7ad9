"""A facilitator's message to every active member of a group (flush only; the caller commits)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import select

from supportnet import audit
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import AuditAction, Group, Membership, MemberStatus, NotificationKind, User
from supportnet.notifications import outbox
from supportnet.notifications.preferences import preferences_for
from supportnet.textsafety import has_invisible

Kind = NotificationKind
ANNOUNCEMENT_SUBJECT_MAX = 120
ANNOUNCEMENT_BODY_MAX = 4000
_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def new_nonce() -> str:
    """A fresh value for an announcement form, so sending the same form twice sends one announcement."""
    return uuid.uuid4().hex


def announce(group: Group, author: User, subject: str, body: str, now: datetime, nonce: str | None = None) -> int:
    """Send a facilitator's message to every active member of the group; returns how many members get it.

    The audit log records that the author sent one, and to how many people (never its text).
    """
    if group.archived_at is not None:
        raise DomainError("This group is archived.")
    subject = " ".join((subject or "").split())
    body = (body or "").replace("\r\n", "\n").strip()
    if len(subject) > ANNOUNCEMENT_SUBJECT_MAX:
        raise DomainError(f"Keep the subject to {ANNOUNCEMENT_SUBJECT_MAX} characters.", field="subject")
    if not body:
        raise DomainError("Write a message.", field="body")
    if len(body) > ANNOUNCEMENT_BODY_MAX:
        raise DomainError(f"Keep the message to {ANNOUNCEMENT_BODY_MAX:,} characters.", field="body")
    for name, text in (("subject", subject), ("body", body)):
        if has_invisible(text):
            raise DomainError("Remove the invisible or direction-changing characters.", field=name)
    nonce = nonce if nonce and _NONCE.match(nonce) else new_nonce()
    members = db.session.scalars(
        select(Membership.user_id).where(
            Membership.group_id == group.id,
            Membership.status == MemberStatus.ACTIVE,
            Membership.user_id != author.id,
        )
    ).all()
    prefs = preferences_for(members)
    payload = {"subject": subject, "body": body, "author": author.display_name}
    rows = [
        outbox.new_row(uid, Kind.ANNOUNCEMENT, channel, f"announcement:{group.id}:{nonce}:{uid}", now, now,
                       group_id=group.id, payload=payload)
        for uid in members
        for channel in prefs[uid].channels_for(Kind.ANNOUNCEMENT)
    ]
    outbox.write(rows)
    audit.record(AuditAction.ANNOUNCEMENT_SENT, actor=author, now=now, group=group, recipients=len(members))
    return len(members)
