"""Signed links in notices ("stop these emails", "can't make it") and absolute or site-relative URLs that work
without a request (the scheduler has none)."""

from __future__ import annotations

import hmac
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from supportnet.extensions import db
from supportnet.models import CoachingSession, NotificationKind, Occurrence, User


def _serializer(purpose: str) -> URLSafeSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"], purpose)


@lru_cache(maxsize=32)
def _serializer_for(secret: str, purpose: str) -> URLSafeSerializer:
    # A tick signs two links per email: building the serializer (and its signer) once per key and purpose
    # spares that work; the tokens are the same (these serializers carry no time).
    return URLSafeSerializer(secret, salt=f"supportnet.notifications.{purpose}")


def _link_user(data: dict) -> User | None:
    # The account's own random nonce travels with its id: a link made for a deleted account never acts on
    # another one, whatever id that one has.
    user = db.session.get(User, int(data["u"]))
    nonce = data["n"]
    if user is None or not isinstance(nonce, str) or not hmac.compare_digest(user.link_nonce, nonce):
        return None
    return user


def stop_token(user: User, kind: NotificationKind) -> str:
    """The signed token of a "stop these emails" link."""
    return _serializer("stop").dumps({"u": user.id, "n": user.link_nonce, "k": kind.value})


def read_stop_token(token: str) -> tuple[User, NotificationKind] | None:
    """The member and kind a stop link is for, or None if it was tampered with or its member is gone."""
    try:
        data = _serializer("stop").loads(token)
        kind = NotificationKind(data["k"])
        user = _link_user(data)
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    return (user, kind) if user is not None else None


def cant_make_it_token(user: User, occurrence_id: int) -> str:
    """The signed token of a reminder's "can't make it" link."""
    return _serializer("cant-make-it").dumps({"u": user.id, "n": user.link_nonce, "o": occurrence_id})


def read_cant_make_it_token(token: str) -> tuple[User, Occurrence] | None:
    """The member and meeting a "can't make it" link is for, or None if it was tampered with or is stale."""
    try:
        data = _serializer("cant-make-it").loads(token)
        user = _link_user(data)
        occ = db.session.get(Occurrence, int(data["o"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    if user is None or occ is None:
        return None
    return user, occ


# --- coaching: a session's "can't make it" link ---


def session_cant_make_it_token(session: CoachingSession) -> str:
    """The signed token of a session's "can't make it" link: it names the row and its own nonce."""
    return _serializer("session-cant-make-it").dumps({"s": session.id, "n": session.nonce})


def read_session_cant_make_it_token(token: str) -> CoachingSession | None:
    """The session a "can't make it" link is for, or None if tampered with or the row is gone."""
    try:
        data = _serializer("session-cant-make-it").loads(token)
        session = db.session.get(CoachingSession, int(data["s"]))
        nonce = data["n"]
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    # The nonce keeps a link made for a deleted session from ever acting on a later row with the same id.
    if session is None or not isinstance(nonce, str) or not hmac.compare_digest(session.nonce, nonce):
        return None
    return session


def link(endpoint: str, **values) -> str:
    """An absolute link built from SUPPORTNET_BASE_URL; works without a request (the scheduler has none)."""
    return current_app.config["BASE_URL"] + _adapter().build(endpoint, values)


def path(endpoint: str, **values) -> str:
    """A site-relative link (for the in-app inbox); works without a request."""
    return _adapter().build(endpoint, values)


def _adapter():
    # Bound once per app: an email carries several links, and the outbox builds thousands of emails in a row.
    adapters = current_app.extensions.setdefault("supportnet.links", {})
    if "adapter" not in adapters:
        adapters["adapter"] = current_app.url_map.bind("localhost")
    return adapters["adapter"]
