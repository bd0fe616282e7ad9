"""A member's supporters: naming and inviting them, their acceptance and stopping through signed links (no
account needed), removal by the member, and whether an email to a supporter may still go."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update

from supportnet import consent
from supportnet.consent import Recipient
from supportnet.extensions import db
from supportnet.models import (
    EndReason,
    Notification,
    NotificationKind,
    NotificationStatus,
    Scope,
    Supporter,
    SupporterEnd,
)
from supportnet.notifications import links

# The supporter has this long to accept an invitation.
INVITATION_DAYS = 14


def address_of(supporter: Supporter) -> str | None:
    """The supporter's address (the column decrypts it when the row is read), or None once their place has
    ended."""
    return supporter.email or None


# Every kind of alert a supporter may receive under the member's consent; ending a supporter ends them all.
ALERT_SCOPES = (Scope.ALERT_MISSED_MEETINGS, Scope.ALERT_NO_CHECKIN, Scope.ALERT_BAM_RISK)
_SUPPORTER_KINDS = (NotificationKind.SUPPORTER_INVITE, NotificationKind.REACH_OUT, NotificationKind.SUPPORTER_ALERT)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="supportnet.supporters.link")


def token_for(supporter: Supporter, purpose: str) -> str:
    """The signed token of a supporter's link ("accept" or "stop"): it names the row and its nonce."""
    return _serializer().dumps({"s": supporter.id, "n": supporter.nonce, "p": purpose})


def supporter_for_token(token: str, purpose: str) -> Supporter | None:
    """The supporter a link is for, or None (tampered, another purpose, or the row's nonce has changed)."""
    try:
        data = _serializer().loads(token)
        supporter_id, nonce, kind = int(data["s"]), str(data["n"]), str(data["p"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    supporter = db.session.get(Supporter, supporter_id)
    if supporter is None or supporter.nonce != nonce or kind != purpose:
        return None
    return supporter


def stop_url(supporter: Supporter | None) -> str | None:
    """The supporter's one-click "stop being their supporter" (None once their place has ended)."""
    if supporter is None or supporter.ended_at is not None:
        return None
    return links.link("supporters.stop", token=token_for(supporter, "stop"))


def end(supporter: Supporter, reason: SupporterEnd, now: datetime) -> bool:
    """End a supporter's place at once: their address goes, every consent given to them ends, and every email
    to them not sent yet is cancelled. False when it had already ended."""
    if supporter.ended_at is not None:
        return False
    supporter.ended_at, supporter.end_reason, supporter.email = now, reason, None
    consent.revoke(supporter.user_id, Recipient.supporter(supporter.id), ALERT_SCOPES, now, EndReason.SUPPORTER_ENDED)
    db.session.execute(
        update(Notification)
        .where(Notification.supporter_id == supporter.id, Notification.status == NotificationStatus.PENDING,
               Notification.kind.in_(_SUPPORTER_KINDS))
        .values(status=NotificationStatus.CANCELLED, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return True


def send_problem(n: Notification, now: datetime) -> str | None:
    """Why an email to a supporter should not go any more (None when it still should): the supporter's place
    ended, or an invitation was already answered, or anything else but an invitation before they accepted."""
    supporter = db.session.get(Supporter, n.supporter_id) if n.supporter_id is not None else None
    if supporter is None or n.user_id is None or supporter.user_id != n.user_id:
        return "no such supporter"
    if supporter.ended_at is not None or supporter.email is None:
        return "the supporter's place has ended"
    if n.kind == NotificationKind.SUPPORTER_INVITE:
        return "the invitation was answered" if supporter.accepted_at is not None else None
    if supporter.accepted_at is None:
        return "the supporter has not accepted"
    return None


def export(user) -> list[dict]:
    """The member's supporters for their data export (filled in with the supporters' part)."""
    return []
