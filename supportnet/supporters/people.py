"""A member's supporters: naming and inviting them, their acceptance and stopping through signed links (no
account needed), removal by the member, and whether an email to a supporter may still go."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select, update

from supportnet import accounts, consent
from supportnet.consent import Recipient
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    AlertRule,
    Channel,
    EndReason,
    Notification,
    NotificationKind,
    NotificationStatus,
    Relation,
    Scope,
    Supporter,
    SupporterEnd,
    User,
)
from supportnet.models.user import new_row_nonce
from supportnet.notifications import links, outbox
from supportnet.textsafety import clean_name

# The supporter has this long to accept an invitation.
INVITATION_DAYS = 14


def address_of(supporter: Supporter) -> str | None:
    """The supporter's address (None once their place has ended). The column decrypts as it loads: the
    address is plaintext only in memory, never in the row."""
    return str(supporter.email) if supporter.email else None


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
    """End a supporter's place at once: their address goes, every consent given to them ends with the alert rules
    that named them, and every email to them not sent yet is cancelled. False when it had already ended."""
    if supporter.ended_at is not None:
        return False
    supporter.ended_at, supporter.end_reason, supporter.email = now, reason, None
    consent.revoke(supporter.user_id, Recipient.supporter(supporter.id), ALERT_SCOPES, now, EndReason.SUPPORTER_ENDED)
    # The member's rules for them go too (the consents above stay as the record of what was allowed).
    db.session.execute(delete(AlertRule).where(AlertRule.supporter_id == supporter.id)
                       .execution_options(synchronize_session="fetch"))
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


# --- naming, inviting, accepting and stopping ----------------------------------------------------------------

# At most this many supporters stand (invited or active) at once: a few people one really means.
MAX_STANDING = 5
# An invitation not yet answered may be sent again once a day at most (each email reaches someone who did not
# ask for it).
RESEND_EVERY = timedelta(days=1)
NAME_MAX = 60

RELATION_LABELS: dict[Relation, str] = {
    Relation.SPONSOR: "Sponsor",
    Relation.FRIEND: "Friend",
    Relation.FAMILY: "Family",
    Relation.COACH: "Coach",
    Relation.FACILITATOR: "A facilitator of one of my groups",
    Relation.OTHER: "Someone else",
}


class State:
    """What a supporter's row says, in the words the member's page uses."""

    INVITED, EXPIRED, ACTIVE, STOPPED, REMOVED = "invited", "expired", "active", "stopped", "removed"


def invitation_expires_at(supporter: Supporter) -> datetime:
    return supporter.invited_at + timedelta(days=INVITATION_DAYS)


def state_of(supporter: Supporter, now: datetime) -> str:
    """invited, expired (not accepted in time), active, stopped (by the supporter) or removed (by the member)."""
    if supporter.ended_at is not None:
        return State.STOPPED if supporter.end_reason == SupporterEnd.STOPPED else State.REMOVED
    if supporter.accepted_at is not None:
        return State.ACTIVE
    return State.EXPIRED if now >= invitation_expires_at(supporter) else State.INVITED


def supporters_of(user: User) -> list[Supporter]:
    """Every supporter row of the member, standing ones first, newest first."""
    rows = db.session.scalars(
        select(Supporter).where(Supporter.user_id == user.id).order_by(Supporter.invited_at.desc(), Supporter.id.desc())
    ).all()
    return sorted(rows, key=lambda s: s.ended_at is not None)


def standing_of(user: User) -> list[Supporter]:
    """The member's supporters who are invited or active (their place has not ended)."""
    return list(db.session.scalars(
        select(Supporter).where(Supporter.user_id == user.id, Supporter.ended_at.is_(None)).order_by(Supporter.id)
    ))


def active_supporters(user: User) -> list[Supporter]:
    """The member's supporters who accepted and have not ended: the only ones "reach out" and alert rules reach."""
    return list(db.session.scalars(
        select(Supporter)
        .where(Supporter.user_id == user.id, Supporter.accepted_at.is_not(None), Supporter.ended_at.is_(None))
        .order_by(Supporter.name, Supporter.id)
    ))


def own_supporter(user: User, supporter_id: int) -> Supporter | None:
    """The member's own supporter row with this id (None for another member's, or none)."""
    supporter = db.session.get(Supporter, supporter_id)
    return supporter if supporter is not None and supporter.user_id == user.id else None


def clean_supporter_name(raw: str) -> str:
    """What the member calls the supporter, tidied, or DomainError."""
    return clean_name(raw, limit=NAME_MAX, empty="Enter a name for them.")


def invite(user: User, name: str, email: str, relation: Relation, now: datetime) -> Supporter:
    """Name a supporter by email and queue their invitation (accept or decline through signed links)."""
    name = clean_supporter_name(name)
    address = accounts.normalize_email(email or "")
    if not isinstance(relation, Relation):
        raise DomainError("Choose who they are to you.", field="relation")
    if address == user.email.lower():
        raise DomainError("That is your own address: enter the address of the person you want to ask.",
                          field="email")
    # Two invitations sent at once must not make a sixth: PostgreSQL serialises them on the member's row here
    # (SQLite's writers already queue on its single write lock, taken when the transaction begins).
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    standing = standing_of(user)
    if len(standing) >= MAX_STANDING:
        raise DomainError(f"You can have up to {MAX_STANDING} supporters. Remove one to ask someone else.")
    digest = address_digest(address)
    # Addresses are encrypted (a different ciphertext each time): rows are compared by the keyed hash.
    if any(s.address_digest == digest for s in standing):
        raise DomainError("You have already asked this address. Send the invitation again from your list instead.",
                          field="email")
    earlier = db.session.execute(select(Supporter.end_reason, Supporter.invited_at).where(
        Supporter.user_id == user.id, Supporter.address_digest == digest)).all()
    if any(reason == SupporterEnd.STOPPED for reason, _ in earlier):
        # They said "no thanks" (or stopped): the invitation promised they would not hear from us again.
        raise DomainError("This person asked not to be a supporter, so SupportNet will not email them again.",
                          field="email")
    if any(now - invited < RESEND_EVERY for _, invited in earlier):
        raise DomainError("You invited this address less than a day ago. You can ask again tomorrow.", field="email")
    supporter = Supporter(user_id=user.id, name=name, email=address, address_digest=digest, relation=relation,
                          invited_at=now)
    db.session.add(supporter)
    db.session.flush()
    _queue_invitation(supporter, now)
    return supporter


def address_digest(address: str) -> str:
    """A keyed hash of a normalised address: equal for the same address, useless without the app's secret key."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"supporter-address:" + address.encode(), hashlib.sha256).hexdigest()


def _queue_invitation(supporter: Supporter, now: datetime) -> None:
    # Keyed on the nonce: a resent invitation (new nonce) is a new email; the same one is never written twice.
    key = f"supporter-invite:{supporter.id}:{supporter.nonce}"
    outbox.write([outbox.new_row(
        supporter.user_id, NotificationKind.SUPPORTER_INVITE, Channel.EMAIL, key, now, now,
        expires=invitation_expires_at(supporter), payload={}, supporter_id=supporter.id,
    )])
    db.session.flush()


def resend(user: User, supporter_id: int, now: datetime) -> Supporter:
    """Send an invitation not yet answered again, with new links (the old ones stop working) and a new 14 days;
    at most once a day."""
    supporter = own_supporter(user, supporter_id)
    if supporter is None:
        raise DomainError("No such supporter.")
    if supporter.ended_at is not None or supporter.accepted_at is not None:
        raise DomainError("Only an invitation that has not been answered can be sent again.")
    last = db.session.scalar(
        select(Notification.created_at).where(
            Notification.supporter_id == supporter.id, Notification.kind == NotificationKind.SUPPORTER_INVITE,
            Notification.channel == Channel.EMAIL,
        ).order_by(Notification.created_at.desc()).limit(1)
    )
    if last is not None and now - last < RESEND_EVERY:
        raise DomainError(f"The invitation to {supporter.name} went out less than a day ago. "
                          "You can send it again tomorrow.")
    outbox.cancel(Notification.supporter_id == supporter.id, Notification.kind == NotificationKind.SUPPORTER_INVITE,
                  Notification.channel == Channel.EMAIL)
    supporter.nonce = new_row_nonce()
    supporter.invited_at = now
    db.session.flush()
    _queue_invitation(supporter, now)
    return supporter


# An invitation nobody answered is kept this long after it expired (the member may send it again), then it ends
# and its address goes: SupportNet keeps no address of someone who never agreed to anything.
EXPIRED_KEPT = timedelta(days=30)


def end_unanswered_invitations(now: datetime) -> int:
    """The retention pass: end invitations unanswered EXPIRED_KEPT after they expired; returns how many."""
    stale = db.session.scalars(select(Supporter).where(
        Supporter.accepted_at.is_(None), Supporter.ended_at.is_(None),
        Supporter.invited_at < now - timedelta(days=INVITATION_DAYS) - EXPIRED_KEPT,
    )).all()
    return sum(end(supporter, SupporterEnd.EXPIRED, now) for supporter in stale)


def accept(supporter: Supporter, now: datetime) -> None:
    """The supporter accepts through their link (no account needed); the member is told in their inbox."""
    if supporter.ended_at is not None or supporter.accepted_at is not None:
        raise DomainError("This invitation was already answered.")
    if now >= invitation_expires_at(supporter):
        raise DomainError("This invitation has expired.")
    supporter.accepted_at = now
    _tell_member(supporter, "accepted", now)


def stop_by_supporter(supporter: Supporter, now: datetime) -> bool:
    """The supporter stops through their link: everything ends at once, and the member is told in their inbox."""
    answered = supporter.accepted_at is not None
    if not end(supporter, SupporterEnd.STOPPED, now):
        return False
    # "No thanks" on an invitation is the same link: the member reads it as a decline.
    _tell_member(supporter, "stopped" if answered else "declined", now)
    return True


def _tell_member(supporter: Supporter, event: str, now: datetime) -> None:
    # The member's own record in their inbox, delivered by being written; it names the supporter as the member
    # calls them, never their address.
    outbox.write([outbox.new_row(
        supporter.user_id, NotificationKind.SUPPORTER_INVITE, Channel.IN_APP,
        f"supporter-{event}:{supporter.id}:{supporter.nonce}", now, now,
        payload={"event": event, "name": supporter.name}, supporter_id=supporter.id,
    )])
    db.session.flush()


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def export(user: User) -> list[dict]:
    """The member's supporters for their data export: names, relations, states with their instants, and the
    addresses (the member's own data; an ended supporter's address is gone already)."""
    return [
        {
            "name": s.name,
            "relation": s.relation.value,
            "email": address_of(s),
            "invited_at": _iso(s.invited_at),
            "accepted_at": _iso(s.accepted_at),
            "ended_at": _iso(s.ended_at),
            "end_reason": s.end_reason.value if s.end_reason is not None else None,
        }
        for s in sorted(supporters_of(user), key=lambda s: s.id)
    ]
