""""Reach out": the member's message, chosen in advance, sent by email through the outbox to the supporters
they choose (neutral subject, no group or recovery words), and what was sent, shown to the member."""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime

from sqlalchemy import select

from supportnet import crypto
from supportnet.errors import DomainError, NotFound
from supportnet.extensions import db
from supportnet.models import Channel, Notification, NotificationKind, SafetyPlan, Supporter, User
from supportnet.notifications import outbox
from supportnet.supporters import people
from supportnet.supporters.plan import plan_of
from supportnet.textsafety import has_invisible

# Ready phrasings to pick from; the member may write their own instead.
PHRASINGS = (
    "I'd appreciate a call today",
    "Could you check in on me today?",
    "I'm having a hard day and would like to talk",
)
# Sent until the member chooses: a press of the button should never wait for a settings page.
DEFAULT_MESSAGE = PHRASINGS[0]
MAX_LENGTH = 200
# A loaded form carries one of these (a hidden field): the dedupe key of what it sends, so a double click, a
# resubmitted POST or a retry after a slow answer sends once per supporter. Two loaded forms are two presses.
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def message_of(user: User) -> str:
    """The message "reach out" sends for this member (the default until they choose their own)."""
    plan = plan_of(user)
    return plan.reach_out_message if plan is not None and plan.reach_out_message else DEFAULT_MESSAGE


def has_chosen(user: User) -> bool:
    """Whether the member chose their message (else the default goes)."""
    plan = plan_of(user)
    return plan is not None and bool(plan.reach_out_message)


def clean_message(text: str | None) -> str:
    """The message as it will be sent, or a DomainError saying what to change."""
    text = " ".join((text or "").split())
    if not text:
        raise DomainError("Write a short message, or pick one of the ready ones.")
    if len(text) > MAX_LENGTH:
        raise DomainError(f"Keep the message to {MAX_LENGTH} characters or fewer.")
    if has_invisible(text):
        raise DomainError("The message holds an invisible or direction-changing character: please retype it.")
    return text


def set_message(user: User, text: str | None, now: datetime) -> str:
    """Choose the message "reach out" sends (kept encrypted with the member's safety plan)."""
    message = clean_message(text)
    plan = plan_of(user)
    if plan is None:
        # Only the message is set here: the plan's own parts stay empty until the member writes them.
        plan = SafetyPlan(user_id=user.id, updated_at=now)
        db.session.add(plan)
    plan.reach_out_message = message
    db.session.flush()
    return message


def new_nonce() -> str:
    """A fresh token for one loaded "reach out" form."""
    return secrets.token_urlsafe(18)


def names_phrase(names: list[str]) -> str:
    """"Sam", "Sam and Ana", "Sam, Ana and Lee"."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _record_key(user: User, nonce: str) -> str:
    return f"reach_out:{user.id}:{nonce}"


def reach_out(user: User, supporter_ids: list[int], nonce: str, now: datetime) -> list[Supporter]:
    """Send the member's message to the active supporters they chose: one email each through the outbox and the
    member's own record in their inbox. The same form sent again (a double click) queues nothing new."""
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise DomainError("This form has expired: load the page again and press the button once more.")
    wanted = set(supporter_ids)
    if not wanted:
        raise DomainError("Choose at least one person to reach out to.")
    chosen = [s for s in people.active_supporters(user) if s.id in wanted]
    if len(chosen) != len(wanted):
        # Someone else's supporter, an invitation not yet accepted, or one who has stopped: nothing is sent.
        raise NotFound("One of the people you chose is not one of your supporters any more.")
    if sent_record(user, nonce) is not None:
        # The same loaded form again (a double click, or back and a different choice): the first press stands,
        # so the record of what was sent always names everyone who got it.
        return chosen
    message = message_of(user)
    sealed = crypto.encrypt(message)
    rows = [
        outbox.new_row(user.id, NotificationKind.REACH_OUT, Channel.EMAIL,
                       f"{_record_key(user, nonce)}:{s.id}", now, now,
                       payload={"message": sealed}, supporter_id=s.id)
        for s in chosen
    ]
    names = [s.name for s in chosen]
    rows.append(outbox.new_row(user.id, NotificationKind.REACH_OUT, Channel.IN_APP, _record_key(user, nonce), now,
                               now, payload={"message": sealed, "to": crypto.encrypt(json.dumps(names)),
                                             "nonce": nonce}))
    outbox.write(rows)
    db.session.flush()
    return chosen


def sent_record(user: User, nonce: str) -> Notification | None:
    """The member's own record of one press of the button (None if there is none of theirs)."""
    return db.session.scalar(select(Notification).where(
        Notification.user_id == user.id, Notification.kind == NotificationKind.REACH_OUT,
        Notification.channel == Channel.IN_APP, Notification.dedupe_key == f"{_record_key(user, nonce)}:in_app"))


def record_text(n: Notification) -> tuple[list[str], str]:
    """Who a press of the button went to and what it said, read back from its record (or an email row)."""
    payload = n.payload or {}
    try:
        message = str(crypto.decrypt(payload["message"])) if payload.get("message") else ""
        names = json.loads(str(crypto.decrypt(payload["to"]))) if payload.get("to") else []
    except crypto.DataKeyError:
        # Key rotation re-encrypts columns, not outbox payloads: once the old key is dropped, an old record
        # still shows in the inbox, without its words, rather than breaking the page.
        return [], "(this message can no longer be read)"
    return names, message
