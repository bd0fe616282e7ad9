"""Notifications: the outbox, members' choices, the planner, and the dispatch tick that sends what is due.

Functions that write rows change the session and flush (or execute); the caller commits. `tick` is the
exception: it owns its transactions, because it must send with none open.

Decisions worth knowing:

* **The database is the outbox.** Each notice is one `notification` row per channel, written in the same
  transaction as the change that causes it (an RSVP writes its reminders, a cancellation cancels them and
  writes change notices). A unique `dedupe_key` built from what the notice is about (`reminder:<meeting>:
  <member>:<start>:<offset>:<channel>`, `prompt:<member>:<local date>:<channel>`, ...) makes writing it twice
  impossible, so the planner can re-derive anything missing as often as it likes, from any process.
* **Rows are written at most LOOKAHEAD (8 days) before they are due.** An RSVP for a meeting this week writes
  its reminders at once; one for a meeting in three weeks writes them later, when the planner (every few
  minutes) finds them due within 8 days. A standing RSVP for 26 weeks of meetings therefore holds a handful
  of rows, not a hundred.
* **A cancelled row can come back; a sent one never.** Hooks write with "revive": a row cancelled earlier
  (the member said "can't go", then "going" again; a meeting cancelled, then restored) returns to pending.
  The start of the meeting is part of a reminder's key, so moving a meeting gives it new reminders and the
  ones already sent for the old time stay sent.
* **A tick** claims due rows with one UPDATE (…WHERE id IN (SELECT … ORDER BY due_at LIMIT n [FOR UPDATE SKIP
  LOCKED]) RETURNING id): SQLite's BEGIN IMMEDIATE, or PostgreSQL's row locks, hand each row to one claimer.
  It commits the claim, re-checks every row (still going, meeting not cancelled or moved, not begun, kind
  still wanted, quiet hours), settles those that should not be sent, closes its transaction, and sends the
  batch over one SMTP connection. Each message is marked sent in its own short transaction right after the
  server accepted it.
* **Leases and claim tokens.** A claim lasts NOTIFY_LEASE_SECONDS; its lease end (`claimed_until`) is also
  the claim's token. A row can only be claimed again once its lease has ended, so every new claim of a row
  carries a later token than any before it. The holder renews the lease of the rest of its batch whenever
  less than half of it is left, checks just before each message that the row still carries its token, and
  marks (or gives back) rows only where the token still matches: a batch slower than its lease is not
  claimed and sent by a second scheduler, and a scheduler paused past its lease and taken over sends and
  marks nothing more. One message must go within half the lease (the SMTP timeout is far shorter).
* **At least once, not exactly once.** If the process dies between the server's acceptance of a message and
  the commit that marks the row sent, the row's lease runs out and the message is sent again. That window
  is one network round trip plus one small commit (under a millisecond locally; bench/README.md measures
  it); the server's own time between the end of the message and its "250 OK" counts too. Every other
  failure loses and duplicates nothing. The Message-ID is derived from the dedupe key, so a duplicate is at
  least recognisable as the same message.
* **Failures**: 4xx answers and network trouble are retried with exponential backoff and jitter, capped at
  NOTIFY_RETRY_MAX_SECONDS, up to NOTIFY_MAX_ATTEMPTS; 5xx answers fail at once with the reason; a row whose
  moment has passed (a reminder after the meeting began) expires. `last_error` never holds content or
  addresses.
* **Quiet hours** (local to the member) hold back email only; what falls inside waits until they end,
  unless it would be too late by then (a reminder is too late once the meeting begins, a change notice once
  the meeting is over): then it goes out at its time. The in-app inbox never wakes anybody.
* **Privacy**: default emails name no group, no meeting title, no place and no group kind (subjects like
  "Reminder: Tuesday 19:00"); members may opt in to descriptive ones. Payloads hold ids and instants, never
  check-in content; the facilitators' digest says only how many members who share with the group asked for
  support, with a link to the group's support page (names stay behind the sign-in), never a note.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import re
import threading
import time as time_module
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Connection, String, and_, bindparam, case, cast, delete, func, null, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload

from supportnet import audit, mail, visibility
from supportnet.clock import now_utc, timezone_names
from supportnet.db import write_intent
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    AuditAction,
    Channel,
    CheckinSharing,
    Group,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Notification,
    NotificationKind,
    NotificationSettings,
    NotificationStatus,
    Occurrence,
    OccurrenceStatus,
    Rsvp,
    RsvpStatus,
    User,
)
from supportnet.recurrence import resolve_local
from supportnet.textsafety import has_invisible

log = logging.getLogger("supportnet.notifications")

Kind = NotificationKind
PENDING, SENDING, SENT = NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT
CANCELLED, EXPIRED, FAILED = NotificationStatus.CANCELLED, NotificationStatus.EXPIRED, NotificationStatus.FAILED
EMAIL, IN_APP = Channel.EMAIL, Channel.IN_APP

# Rows are written at most this long before they are due (the planner writes the rest as their time nears):
# a little more than the longest reminder offset, so an RSVP for a meeting this week writes all its reminders.
LOOKAHEAD = timedelta(days=8)
# Minutes before the meeting -> how the preferences page says it.
REMINDER_CHOICES: dict[int, str] = {
    10080: "1 week before",
    1440: "1 day before",
    180: "3 hours before",
    60: "1 hour before",
    15: "15 minutes before",
}
DEFAULT_OFFSETS: tuple[int, ...] = (1440, 60)
MAX_OFFSET = timedelta(minutes=max(REMINDER_CHOICES))
# Digests are planned for meetings starting within this window.
DIGEST_AHEAD = timedelta(hours=48)
# "We missed you": how many past meetings (with attendance taken) are looked at.
MISSED_LOOKBACK = 12
MISSED_EXPIRES = timedelta(days=7)
ANNOUNCEMENT_SUBJECT_MAX = 120
ANNOUNCEMENT_BODY_MAX = 4000
_WRITE_BATCH = 200
_MEETING_KINDS = (Kind.REMINDER, Kind.STARTING_NOW, Kind.SEAT, Kind.DIGEST)

KIND_LABELS: dict[NotificationKind, str] = {
    Kind.REMINDER: "Meeting reminders",
    Kind.STARTING_NOW: "\u201cStarting now\u201d with the link, for online meetings",
    Kind.CHANGE: "A meeting I answered for is cancelled, moved or changed",
    Kind.SEAT: "I get a seat from the waitlist",
    Kind.JOIN_ANSWER: "My request to join a group is answered",
    Kind.ANNOUNCEMENT: "Messages from my groups' facilitators",
    Kind.CHECKIN_PROMPT: "Check-in prompts (on the days and at the time below)",
    Kind.MISSED_YOU: "A gentle note after I miss several meetings I usually go to",
    Kind.JOIN_REQUEST: "Facilitators: someone asks to join my group",
    Kind.DIGEST: "Facilitators: who's coming, the evening before a meeting",
}
# What a member gets before choosing anything. "Starting now" and "we missed you" are opt-in.
DEFAULT_CHANNELS: dict[NotificationKind, frozenset[Channel]] = {
    kind: frozenset({EMAIL, IN_APP}) for kind in NotificationKind
} | {Kind.STARTING_NOW: frozenset(), Kind.MISSED_YOU: frozenset()}


# --- preferences ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preferences:
    """What a member wants: kinds per channel, reminder offsets, quiet hours, check-in prompts, subjects."""

    channels: Mapping[NotificationKind, frozenset[Channel]] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    reminder_offsets: tuple[int, ...] = DEFAULT_OFFSETS
    quiet_start: time | None = None
    quiet_end: time | None = None
    prompt_days: frozenset[int] = frozenset()
    prompt_time: time = time(8, 0)
    missed_after: int = 3
    descriptive_subjects: bool = False

    def wants(self, kind: NotificationKind, channel: Channel) -> bool:
        return channel in self.channels.get(kind, DEFAULT_CHANNELS[kind])

    def channels_for(self, kind: NotificationKind) -> list[Channel]:
        return sorted(self.channels.get(kind, DEFAULT_CHANNELS[kind]))


DEFAULTS = Preferences()


def _from_row(row: NotificationSettings | None) -> Preferences:
    if row is None:
        return DEFAULTS
    stored = row.channels or {}
    channels = {}
    for kind in NotificationKind:
        if kind.value in stored:
            channels[kind] = frozenset(Channel(c) for c in stored[kind.value] if c in Channel._value2member_map_)
        else:
            channels[kind] = DEFAULT_CHANNELS[kind]
    return Preferences(
        channels=channels,
        reminder_offsets=tuple(sorted({int(m) for m in row.reminder_offsets or []}, reverse=True)),
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        prompt_days=frozenset(d for d in range(7) if row.prompt_days & (1 << d)),
        prompt_time=row.prompt_time or time(8, 0),
        missed_after=row.missed_after,
        descriptive_subjects=row.descriptive_subjects,
    )


def preferences(user: User) -> Preferences:
    """The member's notification preferences (the defaults until they save their own)."""
    return _from_row(db.session.get(NotificationSettings, user.id))


def preferences_for(user_ids: Iterable[int]) -> dict[int, Preferences]:
    """Preferences of many members in one query per 500, by user id (defaults for those without a row)."""
    ids = sorted(set(user_ids))
    found: dict[int, Preferences] = dict.fromkeys(ids, DEFAULTS)
    for chunk in _chunks(ids, 500):
        for row in db.session.scalars(select(NotificationSettings).where(NotificationSettings.user_id.in_(chunk))):
            found[row.user_id] = _from_row(row)
    return found


def clean_preferences(prefs: Preferences) -> Preferences:
    """Return the preferences if they make sense, else raise DomainError naming the field."""
    offsets = tuple(sorted(set(prefs.reminder_offsets), reverse=True))
    if any(m not in REMINDER_CHOICES for m in offsets):
        raise DomainError("Choose reminder times from the list.", field="reminder_offsets")
    if (prefs.quiet_start is None) != (prefs.quiet_end is None):
        raise DomainError("Give quiet hours both a start and an end.", field="quiet_start")
    if prefs.quiet_start is not None and prefs.quiet_start == prefs.quiet_end:
        raise DomainError("Quiet hours need a start and an end that differ.", field="quiet_end")
    if not prefs.prompt_days <= set(range(7)):
        raise DomainError("Choose days of the week.", field="prompt_days")
    if not 2 <= prefs.missed_after <= 10:
        raise DomainError("Choose between 2 and 10 meetings.", field="missed_after")
    channels = {kind: frozenset(prefs.channels.get(kind, DEFAULT_CHANNELS[kind])) for kind in NotificationKind}
    strip = {"second": 0, "microsecond": 0, "tzinfo": None}
    return replace(
        prefs,
        channels=channels,
        reminder_offsets=offsets,
        quiet_start=prefs.quiet_start.replace(**strip) if prefs.quiet_start else None,
        quiet_end=prefs.quiet_end.replace(**strip) if prefs.quiet_end else None,
        prompt_time=prefs.prompt_time.replace(**strip),
    )


def save_preferences(user: User, prefs: Preferences, now: datetime) -> Preferences:
    """Store the member's choices, stop what they no longer want and write what they now want."""
    prefs = clean_preferences(prefs)
    row = db.session.get(NotificationSettings, user.id)
    if row is None:
        row = NotificationSettings(user_id=user.id)
        db.session.add(row)
    row.channels = {kind.value: sorted(c.value for c in chans) for kind, chans in prefs.channels.items()}
    row.reminder_offsets = list(prefs.reminder_offsets)
    row.quiet_start, row.quiet_end = prefs.quiet_start, prefs.quiet_end
    row.prompt_days = sum(1 << d for d in prefs.prompt_days)
    row.prompt_time = prefs.prompt_time
    row.missed_after = prefs.missed_after
    row.descriptive_subjects = prefs.descriptive_subjects
    row.updated_at = now
    db.session.flush()
    for kind in NotificationKind:
        off = [c for c in Channel if not prefs.wants(kind, c)]
        if off:
            _cancel(Notification.user_id == user.id, Notification.kind == kind, Notification.channel.in_(off))
    # Offsets and prompt days may have changed: re-derive this member's pending reminders and prompts.
    _cancel(Notification.user_id == user.id, Notification.kind.in_([Kind.REMINDER, Kind.STARTING_NOW,
                                                                     Kind.CHECKIN_PROMPT]))
    _write(_reminder_rows(now, Rsvp.user_id == user.id), revive=True)
    _write(_prompt_rows(now, NotificationSettings.user_id == user.id), revive=True)
    return prefs


def stop_email(user: User, kind: NotificationKind, now: datetime) -> None:
    """Stop emails of one kind for the member (the unsubscribe link); the in-app inbox keeps them."""
    prefs = preferences(user)
    channels = dict(prefs.channels)
    channels[kind] = frozenset(channels.get(kind, DEFAULT_CHANNELS[kind])) - {EMAIL}
    save_preferences(user, replace(prefs, channels=channels), now)


# --- signed links ----------------------------------------------------------------------------------------------


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"supportnet.notifications.{purpose}")


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


def link(endpoint: str, **values) -> str:
    """An absolute link built from SUPPORTNET_BASE_URL; works without a request (the scheduler has none)."""
    adapter = current_app.url_map.bind("localhost")
    return current_app.config["BASE_URL"] + adapter.build(endpoint, values)


def path(endpoint: str, **values) -> str:
    """A site-relative link (for the in-app inbox); works without a request."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


# --- writing rows ----------------------------------------------------------------------------------------------


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _row(
    user_id: int,
    kind: NotificationKind,
    channel: Channel,
    key: str,
    due: datetime,
    now: datetime,
    *,
    expires: datetime | None = None,
    occurrence_id: int | None = None,
    group_id: int | None = None,
    payload: dict | None = None,
) -> dict:
    # An in-app notice that is due is delivered by being written: the inbox reads the row itself.
    delivered = channel == IN_APP and due <= now
    return {
        "user_id": user_id,
        "kind": kind,
        "channel": channel,
        "dedupe_key": f"{key}:{channel.value}",
        "due_at": due,
        "expires_at": expires,
        "status": SENT if delivered else PENDING,
        "attempts": 0,
        "claimed_until": None,
        "last_error": None,
        "payload": payload or {},
        "occurrence_id": occurrence_id,
        "group_id": group_id,
        "created_at": now,
        "sent_at": now if delivered else None,
        "read_at": None,
    }


def _write(rows: list[dict], *, revive: bool = False) -> None:
    """Insert notification rows, skipping keys that exist; with revive, cancelled ones become pending again."""
    if not rows:
        return
    table = Notification.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        for item in rows:
            existing = db.session.scalar(select(Notification).where(Notification.dedupe_key == item["dedupe_key"]))
            if existing is None:
                db.session.add(Notification(**item))
            elif revive and existing.status == CANCELLED:
                for name in ("status", "due_at", "expires_at", "payload", "sent_at", "created_at"):
                    setattr(existing, name, item[name])
                existing.attempts, existing.claimed_until, existing.last_error = 0, None, None
        db.session.flush()
        return
    insert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(table)
    if revive:
        new = insert.excluded
        statement = insert.on_conflict_do_update(
            index_elements=["dedupe_key"],
            set_={
                "status": new.status,
                "due_at": new.due_at,
                "expires_at": new.expires_at,
                "payload": new.payload,
                "sent_at": new.sent_at,
                "created_at": new.created_at,
                "attempts": 0,
                "claimed_until": None,
                "last_error": None,
            },
            where=table.c.status == CANCELLED,
        )
    else:
        statement = insert.on_conflict_do_nothing(index_elements=["dedupe_key"])
    connection = db.session.connection()
    for chunk in _chunks(rows, _WRITE_BATCH):
        connection.execute(statement, list(chunk))


def _cancel(*conditions) -> int:
    """Cancel the pending rows matching the conditions (rows being sent are re-checked by their tick)."""
    result = db.session.execute(
        update(Notification)
        .where(Notification.status == PENDING, *conditions)
        .values(status=CANCELLED, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _going_ahead(occ: Occurrence) -> bool:
    return occ.status != OccurrenceStatus.CANCELLED and not occ.superseded


def _meeting_rows(
    user_id: int,
    occurrence_id: int,
    starts_at: datetime,
    ends_at: datetime,
    online: bool,
    prefs: Preferences,
    now: datetime,
) -> list[dict]:
    """The reminders (and "starting now") a member going to this meeting should have, due within LOOKAHEAD."""
    rows: list[dict] = []
    horizon = now + LOOKAHEAD
    stamp = _stamp(starts_at)
    for offset in prefs.reminder_offsets:
        due = starts_at - timedelta(minutes=offset)
        if not now <= due <= horizon:
            continue  # past reminders are pointless; later ones are written by the planner as they near
        for channel in prefs.channels_for(Kind.REMINDER):
            rows.append(_row(
                user_id, Kind.REMINDER, channel, f"reminder:{occurrence_id}:{user_id}:{stamp}:{offset}", due, now,
                expires=starts_at, occurrence_id=occurrence_id,
                payload={"starts_at": starts_at.isoformat(), "offset": offset},
            ))
    if online and now <= starts_at <= horizon:
        for channel in prefs.channels_for(Kind.STARTING_NOW):
            rows.append(_row(
                user_id, Kind.STARTING_NOW, channel, f"starting:{occurrence_id}:{user_id}:{stamp}", starts_at, now,
                expires=ends_at, occurrence_id=occurrence_id, payload={"starts_at": starts_at.isoformat()},
            ))
    return rows


def _reminder_rows(now: datetime, *conditions) -> list[dict]:
    """Every reminder row due within LOOKAHEAD for "going" answers matching the conditions."""
    found = db.session.execute(
        select(Rsvp.user_id, Occurrence.id, Occurrence.starts_at, Occurrence.ends_at, MeetingSeries.online_url)
        .join(Occurrence, Rsvp.occurrence_id == Occurrence.id)
        .join(MeetingSeries, Occurrence.series_id == MeetingSeries.id)
        .join(Group, MeetingSeries.group_id == Group.id)
        .where(
            Rsvp.status == RsvpStatus.GOING,
            Occurrence.status != OccurrenceStatus.CANCELLED,
            Occurrence.starts_at >= now,
            Occurrence.starts_at <= now + LOOKAHEAD + MAX_OFFSET,
            Group.archived_at.is_(None),
            *conditions,
        )
    ).all()
    prefs = preferences_for(row.user_id for row in found)
    rows: list[dict] = []
    for user_id, occ_id, starts_at, ends_at, online_url in found:
        rows.extend(_meeting_rows(user_id, occ_id, starts_at, ends_at, bool(online_url), prefs[user_id], now))
    return rows


def _member_zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name if name in timezone_names() else "UTC")


def _digest_due(starts_at: datetime, meeting_tz: ZoneInfo, facilitator_tz: ZoneInfo, hour: int) -> datetime:
    """The evening before the meeting's local day, in the facilitator's zone (at least an hour before it)."""
    day_before = starts_at.astimezone(meeting_tz).date() - timedelta(days=1)
    due = resolve_local(datetime.combine(day_before, time(hour % 24)), facilitator_tz).astimezone(UTC)
    return min(due, starts_at - timedelta(hours=1))


def _digest_rows(now: datetime, *conditions) -> list[dict]:
    """Digest rows for each active facilitator of meetings starting within DIGEST_AHEAD (matching conditions)."""
    meetings = db.session.execute(
        select(Occurrence.id, Occurrence.starts_at, MeetingSeries.group_id, MeetingSeries.timezone)
        .join(MeetingSeries, Occurrence.series_id == MeetingSeries.id)
        .join(Group, MeetingSeries.group_id == Group.id)
        .where(
            Occurrence.status != OccurrenceStatus.CANCELLED,
            Occurrence.starts_at > now,
            Occurrence.starts_at <= now + DIGEST_AHEAD,
            Group.archived_at.is_(None),
            *conditions,
        )
    ).all()
    if not meetings:
        return []
    facilitators: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for group_id, user_id, tz_name in db.session.execute(
        select(Membership.group_id, Membership.user_id, User.timezone)
        .join(User, Membership.user_id == User.id)
        .where(
            Membership.group_id.in_({m.group_id for m in meetings}),
            Membership.role == MemberRole.FACILITATOR,
            Membership.status == MemberStatus.ACTIVE,
        )
    ):
        facilitators[group_id].append((user_id, tz_name))
    prefs = preferences_for(uid for people in facilitators.values() for uid, _ in people)
    hour = current_app.config["NOTIFY_DIGEST_HOUR"]
    rows: list[dict] = []
    for occ_id, starts_at, group_id, meeting_tz in meetings:
        for user_id, tz_name in facilitators[group_id]:
            due = _digest_due(starts_at, ZoneInfo(meeting_tz), _member_zone(tz_name), hour)
            if not now <= due <= now + LOOKAHEAD:
                continue
            for channel in prefs[user_id].channels_for(Kind.DIGEST):
                rows.append(_row(
                    user_id, Kind.DIGEST, channel, f"digest:{occ_id}:{user_id}:{_stamp(starts_at)}", due, now,
                    expires=starts_at, occurrence_id=occ_id, group_id=group_id,
                    payload={"starts_at": starts_at.isoformat()},
                ))
    return rows


def _prompt_rows(now: datetime, *conditions) -> list[dict]:
    """Check-in prompts for today and tomorrow (members' local days) that are still ahead."""
    rows: list[dict] = []
    found = db.session.execute(
        select(NotificationSettings, User.timezone)
        .join(User, User.id == NotificationSettings.user_id)
        .where(NotificationSettings.prompt_days != 0, *conditions)
    ).all()
    for settings, tz_name in found:
        prefs = _from_row(settings)
        channels = prefs.channels_for(Kind.CHECKIN_PROMPT)
        if not channels:
            continue
        tz = _member_zone(tz_name)
        today = now.astimezone(tz).date()
        for day in (today, today + timedelta(days=1)):
            if day.weekday() not in prefs.prompt_days:
                continue
            # The key is the member's local date, so a prompt fires once per local day whatever DST does;
            # a time that does not exist that day (spring forward) moves forward, an ambiguous one takes the first.
            due = resolve_local(datetime.combine(day, prefs.prompt_time), tz).astimezone(UTC)
            if due < now:
                continue
            end_of_day = resolve_local(datetime.combine(day + timedelta(days=1), time(0, 0)), tz).astimezone(UTC)
            for channel in channels:
                rows.append(_row(
                    settings.user_id, Kind.CHECKIN_PROMPT, channel, f"prompt:{settings.user_id}:{day.isoformat()}",
                    due, now, expires=end_of_day, payload={"date": day.isoformat()},
                ))
    return rows


# --- hooks: called by the domain functions whose changes cause notices, in their transaction ---------------


def rsvp_going(occ: Occurrence, user_id: int, now: datetime) -> None:
    """The member now has a seat at the meeting: write the reminders that are due soon."""
    if not _going_ahead(occ) or occ.starts_at > now + LOOKAHEAD + MAX_OFFSET or occ.starts_at < now:
        return
    prefs = preferences_for([user_id])[user_id]
    _write(_meeting_rows(user_id, occ.id, occ.starts_at, occ.ends_at, bool(occ.series.online_url), prefs, now),
           revive=True)


def rsvp_released(occ: Occurrence, user_id: int, now: datetime) -> None:
    """The member gave up their seat or waitlist place: their pending reminders and seat notice stop."""
    _cancel(
        Notification.occurrence_id == occ.id,
        Notification.user_id == user_id,
        Notification.kind.in_([Kind.REMINDER, Kind.STARTING_NOW, Kind.SEAT]),
    )


def seat_given(rsvp: Rsvp, now: datetime) -> None:
    """Tell a member who got a seat from the waitlist, and write their reminders."""
    occ = rsvp.occurrence
    prefs = preferences_for([rsvp.user_id])[rsvp.user_id]
    queued = _stamp(rsvp.queued_at or now)
    rows = [
        _row(rsvp.user_id, Kind.SEAT, channel, f"seat:{occ.id}:{rsvp.user_id}:{queued}", now, now,
             expires=occ.starts_at, occurrence_id=occ.id, payload={"starts_at": occ.starts_at.isoformat()})
        for channel in prefs.channels_for(Kind.SEAT)
    ]
    rows += _meeting_rows(rsvp.user_id, occ.id, occ.starts_at, occ.ends_at, bool(occ.series.online_url), prefs, now)
    _write(rows, revive=True)


@dataclass(frozen=True)
class OccurrenceSnapshot:
    """What members see of one meeting, taken before a change."""

    cancelled: bool
    starts_at: datetime
    ends_at: datetime
    venue: str
    address: str


def occurrence_snapshot(occ: Occurrence) -> OccurrenceSnapshot:
    """Remember what members see of a meeting, before changing it."""
    return OccurrenceSnapshot(
        occ.status == OccurrenceStatus.CANCELLED, occ.starts_at, occ.ends_at, occ.effective_venue,
        occ.effective_address,
    )


def occurrence_changed(occ: Occurrence, before: OccurrenceSnapshot, now: datetime) -> None:
    """A meeting was cancelled, moved or restored: tell who answered, and redo its reminders and digests."""
    after = occurrence_snapshot(occ)
    _resync([occ.id], now)
    if after == before or (before.cancelled and after.cancelled):
        return  # e.g. only the reason of a cancelled meeting changed: no second notice
    if after.cancelled:
        change = "cancelled"
    elif occ.status == OccurrenceStatus.SCHEDULED and occ.starts_at == occ.original_start and (
        before.cancelled or before.starts_at != occ.starts_at or (before.venue, before.address) !=
        (after.venue, after.address)
    ):
        change = "restored"
    else:
        change = "moved"
    answered = db.session.execute(
        select(Rsvp.user_id).where(Rsvp.occurrence_id == occ.id, Rsvp.status.in_([RsvpStatus.GOING,
                                                                                 RsvpStatus.WAITLISTED]))
    ).scalars().all()
    if not answered:
        return
    sequence = db.session.scalar(select(Occurrence.sequence).where(Occurrence.id == occ.id))
    prefs = preferences_for(answered)
    payload = {"change": change, "starts_at": occ.starts_at.isoformat(), "old_starts_at": before.starts_at.isoformat()}
    expires = max(before.ends_at, occ.ends_at)
    rows = [
        _row(uid, Kind.CHANGE, channel, f"change:{occ.id}:{sequence}:{uid}", now, now, expires=expires,
             occurrence_id=occ.id, payload=payload)
        for uid in answered
        for channel in prefs[uid].channels_for(Kind.CHANGE)
    ]
    _write(rows, revive=True)


def _resync(occurrence_ids: Sequence[int], now: datetime) -> None:
    """Cancel the pending reminders and digests of these meetings and write what now applies."""
    if not occurrence_ids:
        return
    for chunk in _chunks(list(occurrence_ids), 500):
        _cancel(Notification.occurrence_id.in_(chunk),
                Notification.kind.in_([Kind.REMINDER, Kind.STARTING_NOW, Kind.DIGEST]))
        _write(_reminder_rows(now, Occurrence.id.in_(chunk)), revive=True)
        _write(_digest_rows(now, Occurrence.id.in_(chunk)), revive=True)


@dataclass(frozen=True)
class SeriesSnapshot:
    """What members see of a series, and who answered for its coming meetings, before a change."""

    series_id: int
    looks: tuple
    people: frozenset[int]


def _series_looks(series: MeetingSeries) -> tuple:
    return (series.title, series.venue, series.address, series.online_url, series.online_phone,
            series.dtstart_local, series.timezone, series.rrule, series.duration_minutes)


def series_snapshot(series: MeetingSeries, now: datetime) -> SeriesSnapshot:
    """Remember what members see of a series and who is going to or waiting for its coming meetings."""
    people = db.session.scalars(
        select(Rsvp.user_id)
        .join(Occurrence, Rsvp.occurrence_id == Occurrence.id)
        .where(
            Occurrence.series_id == series.id,
            Occurrence.starts_at > now,
            Occurrence.status != OccurrenceStatus.CANCELLED,
            Rsvp.status.in_([RsvpStatus.GOING, RsvpStatus.WAITLISTED]),
        )
        .distinct()
    ).all()
    return SeriesSnapshot(series.id, _series_looks(series), frozenset(people))


def series_changed(before: SeriesSnapshot, series: MeetingSeries, now: datetime, *, ended: bool = False) -> None:
    """A series was edited, split or ended: one notice per member who answered, and redone reminders."""
    upcoming = db.session.scalars(
        select(Occurrence.id).where(
            Occurrence.series_id.in_({before.series_id, series.id}),
            Occurrence.starts_at > now,
            Occurrence.starts_at <= now + LOOKAHEAD + MAX_OFFSET,
        )
    ).all()
    _resync(upcoming, now)
    if not ended and _series_looks(series) == before.looks:
        return
    if not before.people:
        return
    db.session.flush()
    sequence = db.session.scalar(select(MeetingSeries.sequence).where(MeetingSeries.id == series.id))
    prefs = preferences_for(before.people)
    payload = {"change": "series_ended" if ended else "series_changed", "series_id": series.id}
    rows = [
        _row(uid, Kind.CHANGE, channel, f"series:{series.id}:{sequence}:{uid}", now, now,
             group_id=series.group_id, payload=payload)
        for uid in sorted(before.people)
        for channel in prefs[uid].channels_for(Kind.CHANGE)
    ]
    _write(rows, revive=True)


def join_requested(membership: Membership, now: datetime) -> None:
    """Tell the group's active facilitators that someone asks to join."""
    facilitators = db.session.scalars(
        select(Membership.user_id).where(
            Membership.group_id == membership.group_id,
            Membership.role == MemberRole.FACILITATOR,
            Membership.status == MemberStatus.ACTIVE,
        )
    ).all()
    prefs = preferences_for(facilitators)
    payload = {"membership_id": membership.id, "name": membership.user.display_name}
    rows = [
        _row(uid, Kind.JOIN_REQUEST, channel, f"join-request:{membership.id}:{_stamp(now)}:{uid}", now, now,
             group_id=membership.group_id, payload=payload)
        for uid in facilitators
        for channel in prefs[uid].channels_for(Kind.JOIN_REQUEST)
    ]
    _write(rows)


def join_answered(membership: Membership, accepted: bool, now: datetime) -> None:
    """Tell someone that their request to join was accepted or declined."""
    prefs = preferences_for([membership.user_id])[membership.user_id]
    answer = "accepted" if accepted else "declined"
    rows = [
        _row(membership.user_id, Kind.JOIN_ANSWER, channel, f"join-answer:{membership.id}:{answer}:{_stamp(now)}",
             now, now, group_id=membership.group_id, payload={"answer": answer})
        for channel in prefs.channels_for(Kind.JOIN_ANSWER)
    ]
    _write(rows)


def sharing_audience_grew(membership: Membership, now: datetime) -> int:
    """Someone became a facilitator of the group: tell every member who shares check-ins with it, in the inbox
    and by email, whatever their settings (it changes who reads what they share). Returns how many are told."""
    sharers = db.session.scalars(
        select(Membership.user_id).where(
            Membership.group_id == membership.group_id,
            Membership.status == MemberStatus.ACTIVE,
            Membership.checkin_sharing != CheckinSharing.NONE,
            Membership.user_id != membership.user_id,
        )
    ).all()
    payload = {"name": membership.user.display_name}
    rows = [
        _row(uid, Kind.SHARING_AUDIENCE, channel, f"sharing-audience:{membership.id}:{_stamp(now)}:{uid}", now, now,
             group_id=membership.group_id, payload=payload)
        for uid in sharers
        for channel in (EMAIL, IN_APP)
    ]
    _write(rows)
    return len(sharers)


# Notices a member cannot turn off: who can read what they share, and their own sign-up and reset links.
ALWAYS_SENT = frozenset({Kind.SHARING_AUDIENCE, Kind.ACCOUNT})


def account_email(user: User, template: str, subject: str, now: datetime, lifetime: timedelta,
                  link_url: str | None = None) -> int:
    """Queue a sign-up or password-reset email in the outbox; returns the row's id (for `send_now`).

    The outbox makes it survive a dropped connection, a restart and a mail server outage (retried with backoff
    until `lifetime`, the life of the link, has passed).
    The one-time link is stored only encrypted with the data key, and deleted once the row is sent, fails for
    good or expires (`scrub_account_links`).
    """
    from supportnet import crypto

    payload = {"template": template, "subject": subject}
    if link_url is not None:
        payload["link"] = crypto.encrypt(link_url)
    row = Notification(**_row(user.id, Kind.ACCOUNT, EMAIL, f"account:{uuid.uuid4().hex}", now, now,
                              expires=now + lifetime, payload=payload))
    db.session.add(row)
    db.session.flush()
    return row.id


def send_now(ids: Sequence[int]) -> TickReport:
    """Send these pending rows at once if they are due (a request's own emails, right after its response);
    whatever fails stays in the outbox for the scheduler to retry. Call with no transaction open."""
    report = TickReport()
    at = now_utc()
    lease_end = at + timedelta(seconds=current_app.config["NOTIFY_LEASE_SECONDS"])
    db.session.rollback()
    with write_intent(True):
        claimed = db.session.execute(
            update(Notification)
            .where(Notification.id.in_(list(ids)), Notification.status == PENDING, Notification.due_at <= at)
            .values(status=SENDING, claimed_until=lease_end, due_at=lease_end, attempts=Notification.attempts + 1)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        ).scalars().all()
        db.session.commit()
    if claimed:
        report.claimed = len(claimed)
        # The claim's token is its lease end, as for the scheduler's own claims.
        _process(sorted(claimed), at, report, _Lease(lease_end, current_app.config["NOTIFY_LEASE_SECONDS"], now_utc))
    scrub_account_links(at)
    return report


SCRUB_WINDOW = timedelta(days=3)


def scrub_account_links(now: datetime) -> int:
    """Delete the one-time links of account emails that are done (sent, failed, expired, cancelled); warn
    (without the address) about those that could not be sent. Commits; returns how many.

    A pending row past its time keeps its link only until a tick claims it, finds it expired and scrubs it.
    """
    table = Notification.__table__
    # A finished row's due_at is when it finished, and the tick (or request) that finishes one scrubs it right
    # after: a few days' range on (status, due_at) finds every candidate through the dispatcher's own index.
    done = and_(
        table.c.status.in_([SENT.value, FAILED.value, EXPIRED.value, CANCELLED.value]),
        table.c.due_at >= now - SCRUB_WINDOW,
        table.c.kind == Kind.ACCOUNT.value,
    )
    with write_intent(True):
        rows = db.session.execute(select(table.c.id, table.c.status, table.c.payload).where(done)).all()
        lost = [(row.id, row.status) for row in rows if row.payload.get("link") and row.status != SENT.value]
        scrubbed = [row.id for row in rows if row.payload.get("link")]
        for chunk in _chunks(scrubbed, 500):
            db.session.execute(update(table).where(table.c.id.in_(chunk)).values(payload={}))
        db.session.commit()
    for notification_id, status in lost:
        log.warning("a sign-up or password-reset email was not sent (notification %s, %s)", notification_id, status)
    return len(scrubbed)


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
        _row(uid, Kind.ANNOUNCEMENT, channel, f"announcement:{group.id}:{nonce}:{uid}", now, now,
             group_id=group.id, payload=payload)
        for uid in members
        for channel in prefs[uid].channels_for(Kind.ANNOUNCEMENT)
    ]
    _write(rows)
    audit.record(AuditAction.ANNOUNCEMENT_SENT, actor=author, now=now, group=group, recipients=len(members))
    return len(members)


# --- the planner: re-derives what is missing (idempotent, safe from several processes) ----------------------


@dataclass
class PlanReport:
    reminders: int = 0
    digests: int = 0
    prompts: int = 0
    missed: int = 0


def plan(now: datetime) -> PlanReport:
    """Write every reminder, digest, check-in prompt and "we missed you" note that is due soon and missing."""
    reminders = _reminder_rows(now)
    digests = _digest_rows(now)
    prompts = _prompt_rows(now)
    missed = _missed_rows(now)
    # Insert only: a row a hook cancelled on purpose stays cancelled (the hooks themselves revive rows).
    for rows in (reminders, digests, prompts, missed):
        _write(rows)
    return PlanReport(len(reminders), len(digests), len(prompts), len(missed))


def _missed_rows(now: datetime) -> list[dict]:
    """"We missed you" for members who opted in and missed their last N meetings of a series they usually attend."""
    # The column is JSON: a text match finds the few rows that mention the kind; Python decides for real.
    candidates = db.session.scalars(
        select(NotificationSettings).where(cast(NotificationSettings.channels, String).like("%missed_you%"))
    ).all()
    rows: list[dict] = []
    for settings in candidates:
        prefs = _from_row(settings)
        channels = prefs.channels_for(Kind.MISSED_YOU)
        if not channels:
            continue
        series_rows = db.session.execute(
            select(MeetingSeries.id, MeetingSeries.group_id)
            .join(Membership, and_(Membership.group_id == MeetingSeries.group_id,
                                   Membership.user_id == settings.user_id))
            .join(Group, Group.id == MeetingSeries.group_id)
            .where(Membership.status == MemberStatus.ACTIVE, MeetingSeries.ended_at.is_(None),
                   Group.archived_at.is_(None))
        ).all()
        for series_id, group_id in series_rows:
            first_missed = _missed_streak_start(settings.user_id, series_id, prefs.missed_after, now)
            if first_missed is None:
                continue
            for channel in channels:
                rows.append(_row(
                    settings.user_id, Kind.MISSED_YOU, channel, f"missed:{settings.user_id}:{series_id}:{first_missed}",
                    now, now, expires=now + MISSED_EXPIRES, group_id=group_id,
                    payload={"series_id": series_id, "missed": prefs.missed_after},
                ))
    return rows


def _missed_streak_start(user_id: int, series_id: int, n: int, now: datetime) -> int | None:
    """The first meeting of the member's current streak of misses, if it is N long and they usually come."""
    # Only meetings whose attendance was taken count: a facilitator who never marks attendance must not make
    # every member look absent.
    taken = db.session.execute(
        select(Occurrence.id, func.max(case((Attendance.user_id == user_id, 1), else_=0)))
        .join(Attendance, Attendance.occurrence_id == Occurrence.id)
        .where(Occurrence.series_id == series_id, Occurrence.ends_at <= now,
               Occurrence.status != OccurrenceStatus.CANCELLED)
        .group_by(Occurrence.id, Occurrence.starts_at)
        .order_by(Occurrence.starts_at.desc())
        .limit(MISSED_LOOKBACK)
    ).all()
    streak = 0
    first_missed = None
    for occ_id, attended in taken:
        if attended:
            break
        streak += 1
        first_missed = occ_id
    before = [bool(attended) for _occ_id, attended in taken[streak:]]
    usually = len(before) >= 2 and sum(before) >= max(2, (len(before) + 1) // 2)
    return first_missed if streak >= n and usually else None


# --- retention -----------------------------------------------------------------------------------------------


def purge(now: datetime, keep: timedelta) -> int:
    """Delete finished notifications (sent, expired, cancelled, failed) older than `keep`; returns how many."""
    result = db.session.execute(
        delete(Notification)
        .where(Notification.status.in_([SENT, EXPIRED, CANCELLED, FAILED]), Notification.due_at < now - keep)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


# --- the dispatch tick ---------------------------------------------------------------------------------------

_stop = threading.Event()


def request_stop() -> None:
    """Ask a running tick to stop after the message in progress (rows it did not send go back to pending)."""
    _stop.set()


def allow_running() -> None:
    """Clear a stop request (a scheduler that starts again)."""
    _stop.clear()


@dataclass
class TickReport:
    claimed: int = 0
    sent: int = 0
    delivered_in_app: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    deferred: int = 0
    released: int = 0
    lost: int = 0  # rows whose claim another scheduler took over (this one was too slow): not sent here

    def __str__(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in vars(self).items() if value) or "nothing due"


def tick(now: datetime | None = None, *, batch_size: int | None = None) -> TickReport:
    """Send everything that is due, batch by batch, until nothing is due; safe from several processes at once.

    Call it inside an app context with no transaction open. `now` pins the time (tests); by default each
    batch reads the clock.
    """
    size = batch_size or current_app.config["NOTIFY_BATCH_SIZE"]
    report = TickReport()
    db.session.rollback()  # begin from a clean slate: no transaction may stay open while we send
    while not _stop.is_set():
        at = now or now_utc()
        claimed, token = _claim(at, size)
        if not claimed:
            break
        report.claimed += len(claimed)
        lease = _Lease(token, current_app.config["NOTIFY_LEASE_SECONDS"], (lambda: now) if now else now_utc)
        _process(claimed, at, report, lease)
        if len(claimed) < size:
            break
    scrub_account_links(now or now_utc())
    return report


def due_query(now: datetime, limit: int):
    """The ids of up to `limit` pending rows due at `now`, most overdue first: one range on (status, due_at)."""
    return (
        select(Notification.id)
        .where(Notification.status == PENDING, Notification.due_at <= now)
        .order_by(Notification.due_at)
        .limit(limit)
    )


def claim(now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due rows for this process (status sending, a lease), commit, and return their ids."""
    return _claim(now, limit)[0]


def _claim(now: datetime, limit: int) -> tuple[list[int], datetime]:
    """Claim up to `limit` due rows; their ids and the claim's token (its lease end, in `claimed_until`)."""
    lease_end = now + timedelta(seconds=current_app.config["NOTIFY_LEASE_SECONDS"])
    with write_intent(True):
        # A claim whose lease ran out (its process died or hung) is pending again.
        db.session.execute(
            update(Notification)
            .where(Notification.status == SENDING, Notification.due_at <= now)
            .values(status=PENDING, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        due = due_query(now, limit)
        if db.session.get_bind().dialect.name == "postgresql":
            # Another scheduler's claim in progress is skipped, not waited for. (SQLite: BEGIN IMMEDIATE already
            # lets one claimer in at a time.)
            due = due.with_for_update(skip_locked=True)
        # due_at becomes the lease's end: "when this row next needs attention", so the same index finds it.
        ids = db.session.execute(
            update(Notification)
            .where(Notification.id.in_(due.scalar_subquery()))
            .values(status=SENDING, claimed_until=lease_end, due_at=lease_end, attempts=Notification.attempts + 1)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        ).scalars().all()
        db.session.commit()
    return sorted(ids), lease_end


class _Lease:
    """This process's claim on a batch: its token (the lease end written to `claimed_until`) and when it ends.

    Only rows whose `claimed_until` still equals the token are this process's: any later claim (after the
    lease ran out) wrote a later lease end. The end is tracked on the monotonic clock, so a pinned `now`
    (tests) or a clock step does not fool the renewal.
    """

    def __init__(self, token: datetime, seconds: int, clock) -> None:
        self.token = token
        self.seconds = seconds
        self.clock = clock
        self.renewed = time_module.monotonic()

    def running_low(self) -> bool:
        return time_module.monotonic() - self.renewed > self.seconds / 2

    def holds(self):
        """The condition "this row is still this claim's"."""
        table = Notification.__table__
        return (table.c.status == SENDING, table.c.claimed_until == self.token)

    def renew(self, books: Connection, ids: list[int]) -> set[int]:
        """Extend the lease of those of `ids` still held (committed at once); returns them."""
        started = time_module.monotonic()
        # Never an earlier token than the current one, even if the clock stepped back.
        token = max(self.clock() + timedelta(seconds=self.seconds), self.token)
        table = Notification.__table__
        held = _book(books, update(table).where(table.c.id.in_(ids), *self.holds())
                     .values(claimed_until=token, due_at=token).returning(table.c.id))
        self.token, self.renewed = token, started
        return set(held)


@dataclass
class _Outgoing:
    id: int
    attempts: int
    expires_at: datetime | None
    message: object  # email.message.EmailMessage


@dataclass
class _Context:
    prefs: dict[int, Preferences]
    answers: dict[tuple[int, int], RsvpStatus]
    memberships: dict[tuple[int, int], Membership]
    groups: dict[int, Group]


def _process(ids: list[int], at: datetime, report: TickReport, lease: _Lease) -> None:
    with write_intent(False):
        rows = db.session.scalars(
            select(Notification)
            .options(
                joinedload(Notification.user),
                joinedload(Notification.occurrence).joinedload(Occurrence.series).joinedload(MeetingSeries.group),
            )
            .where(Notification.id.in_(ids))
            .order_by(Notification.due_at, Notification.id)
        ).unique().all()
        ctx = _load_context(rows)
        outgoing: list[_Outgoing] = []
        settle: list[tuple[int, str, str | None, datetime | None]] = []  # (id, verdict, reason, until)
        for n in rows:
            if n.status != SENDING:
                continue
            verdict, reason, until = _verdict(n, ctx, at)
            if verdict == "send" and n.channel == EMAIL:
                try:
                    message = _compose(n, ctx, at)
                except Exception:  # a message we cannot build must not stop the batch
                    log.exception("could not build notification %s", n.id)
                    settle.append((n.id, "fail", "could not build the message", None))
                    continue
                outgoing.append(_Outgoing(n.id, n.attempts, n.expires_at, message))
            else:
                settle.append((n.id, "deliver" if verdict == "send" else verdict, reason, until))
        db.session.rollback()  # close the read transaction: nothing stays open while we talk to SMTP
    _settle(settle, at, report, lease)
    if outgoing:
        _send_all(outgoing, at, report, lease)


def _load_context(rows: list[Notification]) -> _Context:
    user_ids = {n.user_id for n in rows}
    occ_ids = {n.occurrence_id for n in rows if n.occurrence_id}
    answers = {}
    if occ_ids:
        for occ_id, user_id, status in db.session.execute(
            select(Rsvp.occurrence_id, Rsvp.user_id, Rsvp.status)
            .where(Rsvp.occurrence_id.in_(occ_ids), Rsvp.user_id.in_(user_ids))
        ):
            answers[(occ_id, user_id)] = status
    group_ids = {n.group_id for n in rows if n.group_id} | {n.occurrence.series.group_id for n in rows if n.occurrence}
    memberships = {}
    groups = {}
    if group_ids:
        for m in db.session.scalars(
            select(Membership).where(Membership.group_id.in_(group_ids), Membership.user_id.in_(user_ids))
        ):
            memberships[(m.group_id, m.user_id)] = m
        groups = {g.id: g for g in db.session.scalars(select(Group).where(Group.id.in_(group_ids)))}
    return _Context(preferences_for(user_ids), answers, memberships, groups)


def _verdict(n: Notification, ctx: _Context, now: datetime) -> tuple[str, str | None, datetime | None]:
    """Whether a claimed row still makes sense: ("send"|"cancel"|"expire"|"defer", reason, until)."""
    prefs = ctx.prefs[n.user_id]
    if n.expires_at is not None and now >= n.expires_at:
        return "expire", "too late to be useful", None
    if n.kind == Kind.ACCOUNT:
        # The member waits for it right now: no quiet hours, and a sign-up's address is not confirmed yet.
        return ("send", None, None) if n.payload.get("template") else ("cancel", "nothing to send", None)
    if n.kind not in ALWAYS_SENT and not prefs.wants(n.kind, n.channel):
        return "cancel", "turned off by the member", None
    if n.channel == EMAIL and n.user.email_confirmed_at is None:
        return "cancel", "email address not confirmed", None
    group_id = visibility.notice_group_id(n)
    membership = ctx.memberships.get((group_id, n.user_id))
    reason = visibility.right_to_see(n, n.user, membership, ctx.groups.get(group_id))
    if reason is not None:
        return "cancel", reason, None
    problem = _still_applies(n, ctx, now)
    if problem is not None:
        return problem
    if n.channel == EMAIL:
        until = quiet_until(prefs, _member_zone(n.user.timezone), now)
        if until is not None and (n.expires_at is None or until < n.expires_at):
            return "defer", None, until
    return "send", None, None


def _still_applies(n: Notification, ctx: _Context, now: datetime) -> tuple[str, str | None, None] | None:
    kind = n.kind
    if kind in _MEETING_KINDS:
        occ = n.occurrence
        if occ is None or not _going_ahead(occ) or occ.series.group.archived_at is not None:
            return "cancel", "the meeting is cancelled", None
        if n.payload.get("starts_at") != occ.starts_at.isoformat():
            return "cancel", "the meeting moved", None
        if now >= (occ.ends_at if kind == Kind.STARTING_NOW else occ.starts_at):
            return "expire", "the meeting has begun", None
        member = ctx.memberships.get((occ.series.group_id, n.user_id))
        if kind == Kind.DIGEST:
            if member is None or not member.is_facilitator:
                return "cancel", "no longer a facilitator", None
            return None
        if ctx.answers.get((occ.id, n.user_id)) != RsvpStatus.GOING:
            return "cancel", "no longer going", None
        if kind == Kind.REMINDER:
            offset = n.payload.get("offset")
            offsets = ctx.prefs[n.user_id].reminder_offsets
            if offset not in offsets:
                return "cancel", "reminder time no longer chosen", None
            # Late (the scheduler or the mail server was down): when a nearer reminder is due too, this
            # one adds nothing ("in 24 hours" an hour before the meeting).
            if any(o < offset and occ.starts_at - timedelta(minutes=o) <= now for o in offsets):
                return "expire", "a nearer reminder replaces it", None
        if kind == Kind.STARTING_NOW and (not occ.series.online_url or member is None or not member.is_active):
            return "cancel", "no online link for this member", None
        return None
    member = ctx.memberships.get((n.group_id, n.user_id)) if n.group_id else None
    if kind == Kind.JOIN_REQUEST:
        request = db.session.get(Membership, n.payload.get("membership_id"))
        if request is None or request.status != MemberStatus.PENDING:
            return "cancel", "the request was already answered", None
        if member is None or not member.is_facilitator:
            return "cancel", "no longer a facilitator", None
    elif kind in (Kind.ANNOUNCEMENT, Kind.MISSED_YOU) and (member is None or not member.is_active):
        return "cancel", "no longer a member", None
    elif kind == Kind.SHARING_AUDIENCE and (
        member is None or not member.is_active or member.checkin_sharing == CheckinSharing.NONE
    ):
        return "cancel", "no longer shares with the group", None
    elif kind == Kind.CHECKIN_PROMPT:
        day = date.fromisoformat(n.payload["date"])
        if day.weekday() not in ctx.prefs[n.user_id].prompt_days:
            return "cancel", "day no longer chosen", None
    return None


def quiet_until(prefs: Preferences, tz: ZoneInfo, at: datetime) -> datetime | None:
    """If `at` falls in the member's quiet hours, the instant they end; else None."""
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None or start == end:
        return None
    local = at.astimezone(tz)
    now_t = local.time().replace(tzinfo=None)
    if start < end:
        inside, end_day = start <= now_t < end, local.date()
    else:  # across midnight, e.g. 22:00 to 07:00
        inside = now_t >= start or now_t < end
        end_day = local.date() if now_t < end else local.date() + timedelta(days=1)
    if not inside:
        return None
    return resolve_local(datetime.combine(end_day, end), tz).astimezone(UTC)


def _compose(n: Notification, ctx: _Context, now: datetime):
    from supportnet import notices

    composed = notices.email_for(n, ctx.prefs[n.user_id], ctx.groups, now)
    sender = current_app.config["MAIL_FROM"]
    composed.headers["Message-ID"] = message_id(n.dedupe_key, sender)
    return mail.to_message(composed, sender)


def message_id(dedupe_key: str, sender: str) -> str:
    """A stable Message-ID for a notice: the same row always gets the same one (no ids or keys show in it)."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]
    return f"<{digest}@{mail.sender_domain(sender)}>"


def _settle(items: list[tuple[int, str, str | None, datetime | None]], at: datetime, report: TickReport,
            lease: _Lease) -> None:
    if not items:
        return
    with write_intent(True):
        for notification_id, verdict, reason, until in items:
            claimed = (Notification.id == notification_id, Notification.status == SENDING,
                       Notification.claimed_until == lease.token)
            if verdict == "deliver":
                values = {"status": SENT, "sent_at": at, "due_at": at, "claimed_until": None}
                report.delivered_in_app += 1
            elif verdict == "defer":
                # Quiet hours: not an attempt.
                values = {"status": PENDING, "due_at": until, "claimed_until": None,
                          "attempts": Notification.attempts - 1}
                report.deferred += 1
            elif verdict == "fail":
                values = {"status": FAILED, "due_at": at, "claimed_until": None, "last_error": reason}
                report.failed += 1
            else:
                status = CANCELLED if verdict == "cancel" else EXPIRED
                values = {"status": status, "due_at": at, "claimed_until": None, "last_error": reason}
                if verdict == "cancel":
                    report.cancelled += 1
                else:
                    report.expired += 1
            db.session.execute(update(Notification).where(*claimed).values(**values)
                               .execution_options(synchronize_session=False))
        db.session.commit()


@contextmanager
def _bookkeeping() -> Iterator[Connection]:
    """A database connection for marking rows, whose commits do not wait for the disk.

    A mark is bookkeeping that can be redone: if it is lost, the message goes out again (at least once).
    So each mark commits at once but without an fsync (SQLite: synchronous=NORMAL on this connection;
    PostgreSQL: synchronous_commit off for this connection, and autocommit, so that a mark is one round trip
    instead of four). A crash of the process loses no mark; a power cut may forget the last ones. Waiting for
    the disk after every message would cost more than the SMTP exchange itself.
    """
    with db.engine.connect() as connection:
        dialect = connection.dialect.name
        driver = connection.connection.driver_connection if dialect == "sqlite" else None
        previous = None
        if driver is not None:
            previous = driver.execute("PRAGMA synchronous").fetchone()[0]
            driver.execute("PRAGMA synchronous = NORMAL")
        elif dialect == "postgresql":
            # Every bookkeeping statement is a single UPDATE or SELECT: it is its own transaction.
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("SET synchronous_commit = off")
            connection.commit()  # ends SQLAlchemy's own idea of a transaction (the driver is in autocommit)
        try:
            yield connection
        finally:
            if connection.in_transaction():
                connection.rollback()
            if driver is not None:
                driver.execute(f"PRAGMA synchronous = {int(previous)}")
            elif dialect == "postgresql" and not connection.invalidated:
                connection.exec_driver_sql("RESET synchronous_commit")


def _book(connection: Connection, statement) -> list:
    """Run one bookkeeping statement in its own transaction; the rows it returned (if it returns any)."""
    with write_intent(True), connection.begin():
        result = connection.execute(statement)
        return result.scalars().all() if result.returns_rows else [result.rowcount]


class _Prepared:
    """One statement compiled once per batch and run straight on the driver's connection."""

    def __init__(self, books: Connection, statement) -> None:
        dialect = books.dialect
        compiled = statement.compile(dialect=dialect)
        self.compiled = compiled
        self.sql = compiled.string
        self.order = compiled.positiontup  # None for drivers that take named parameters
        self.processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()
        }

    def params(self, values: dict):
        values = self.compiled.construct_params(values)
        for name, process in self.processors.items():
            if process is not None:
                values[name] = process(values[name])
        return [values[name] for name in self.order] if self.order is not None else values


class _Marker:
    """Marks a row sent (and checks a claim), straight on the driver's connection, compiled once per batch.

    The time between the server's acceptance of a message and the mark's commit is the window in which a crash
    sends the message twice. Through SQLAlchemy's Connection a mark spends about 0.25 ms in Python; on the
    driver it is one statement (SQLite: about 0.02 ms; PostgreSQL: one round trip, autocommit).
    """

    def __init__(self, books: Connection) -> None:
        table = Notification.__table__
        claimed = (table.c.id == bindparam("row_id"), table.c.status == bindparam("row_sending"),
                   table.c.claimed_until == bindparam("row_token"))
        self.mark_sql = _Prepared(books, update(table).where(*claimed).values(
            status=bindparam("row_sent"), sent_at=bindparam("row_at"), due_at=bindparam("row_due"),
            claimed_until=null(), last_error=null()))
        self.check_sql = _Prepared(books, select(table.c.id).where(*claimed))
        self.sqlite = books.dialect.name == "sqlite"
        self.driver = books.connection.driver_connection

    def holds(self, notification_id: int, token: datetime) -> bool:
        """Whether the row still carries this claim's token (a read: no lock, no write)."""
        params = self.check_sql.params({"row_id": notification_id, "row_sending": SENDING, "row_token": token})
        if self.sqlite:
            return self.driver.execute(self.check_sql.sql, params).fetchone() is not None
        with self.driver.cursor() as cursor:  # PostgreSQL, autocommit (see _bookkeeping)
            cursor.execute(self.check_sql.sql, params)
            return cursor.fetchone() is not None

    def mark(self, notification_id: int, at: datetime, token: datetime) -> bool:
        """The row is sent, if it still carries `token`; committed before this returns."""
        params = self.mark_sql.params({"row_id": notification_id, "row_sending": SENDING, "row_token": token,
                                       "row_sent": SENT, "row_at": at, "row_due": at})
        if not self.sqlite:
            with self.driver.cursor() as cursor:
                cursor.execute(self.mark_sql.sql, params)
                return cursor.rowcount == 1
        self.driver.execute("BEGIN IMMEDIATE")
        try:
            changed = self.driver.execute(self.mark_sql.sql, params).rowcount
            self.driver.execute("COMMIT")
        except BaseException:
            if self.driver.in_transaction:
                self.driver.execute("ROLLBACK")
            raise
        return changed == 1


def _send_all(outgoing: list[_Outgoing], at: datetime, report: TickReport, lease: _Lease) -> None:
    """Send the batch over one connection; mark each row right after the server's answer."""
    with _bookkeeping() as books:
        _send_batch(books, outgoing, at, report, lease)


def _send_batch(books: Connection, outgoing: list[_Outgoing], at: datetime, report: TickReport,
                lease: _Lease) -> None:
    config = current_app.config
    transport = None
    down: mail.SendError | None = None
    lost: set[int] = set()
    marker = _Marker(books)
    try:
        for index, item in enumerate(outgoing):
            if _stop.is_set():
                rest = [o.id for o in outgoing[index:] if o.id not in lost]
                _release(rest, at, lease)
                report.released += len(rest)
                return
            if lease.running_low():
                # A slow server: keep the rest of the batch ours rather than let another scheduler claim it.
                rest = [o.id for o in outgoing[index:] if o.id not in lost]
                lost.update(set(rest) - lease.renew(books, rest))
            # Only the holder of the row's current claim sends it: a scheduler that stalled past its lease
            # may have been taken over.
            if item.id in lost or not marker.holds(item.id, lease.token):
                lost.add(item.id)
                report.lost += 1
                log.warning("notification %s: claim taken over by another scheduler; not sent here", item.id)
                continue
            if down is not None:
                # The connection failed: the rest of the batch waits for the next try rather than each
                # message waiting for its own timeout.
                _record_failure(books, item, down, at, report, lease)
                continue
            try:
                if transport is None:
                    transport = mail.open_transport(config)
                transport.send(item.message)
            except mail.SendError as error:
                if error.connection:
                    down = error
                    log.warning("mail server unavailable: %s", error.reason)
                _record_failure(books, item, error, at, report, lease)
                continue
            # Marked at once, one row per transaction: the smallest window in which a crash repeats a message.
            if not _mark_sent(marker, item.id, at, lease):
                log.warning("notification %s: sent, but its claim was taken over meanwhile", item.id)
            report.sent += 1
    finally:
        if transport is not None:
            transport.close()


def _mark_sent(marker: _Marker, notification_id: int, at: datetime, lease: _Lease) -> bool:
    """The server accepted the message: the row is sent (committed before the next message goes)."""
    return marker.mark(notification_id, at, lease.token)


def _release(ids: list[int], at: datetime, lease: _Lease) -> None:
    """Give rows this process claimed but will not send back to the queue (they were not attempted)."""
    if not ids:
        return
    with write_intent(True):
        db.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids), Notification.status == SENDING, Notification.claimed_until == lease.token)
            .values(status=PENDING, due_at=at, claimed_until=None, attempts=Notification.attempts - 1)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def retry_delay(attempts: int, base: int, cap: int) -> timedelta:
    """Exponential backoff with jitter: about base * 2^(attempts-1) seconds, never more than cap."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    # "Equal jitter": at least half the delay, so retries from many rows spread out but never come at once.
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not a secret


def _record_failure(books: Connection, item: _Outgoing, error: mail.SendError, at: datetime,
                    report: TickReport, lease: _Lease) -> None:
    config = current_app.config
    values: dict = {"claimed_until": None, "last_error": error.reason}
    if not error.temporary:
        values.update(status=FAILED, due_at=at)
        report.failed += 1
        log.warning("notification %s failed for good: %s", item.id, error.reason)
    elif item.attempts >= config["NOTIFY_MAX_ATTEMPTS"]:
        values.update(status=FAILED, due_at=at, last_error=mail.clean_reason(
            f"gave up after {item.attempts} attempts: {error.reason}"))
        report.failed += 1
    else:
        next_try = at + retry_delay(item.attempts, config["NOTIFY_RETRY_BASE_SECONDS"],
                                    config["NOTIFY_RETRY_MAX_SECONDS"])
        if item.expires_at is not None and next_try >= item.expires_at:
            values.update(status=EXPIRED, due_at=at)
            report.expired += 1
        else:
            values.update(status=PENDING, due_at=next_try)
            report.retried += 1
    table = Notification.__table__
    _book(books, update(table).where(table.c.id == item.id, *lease.holds()).values(**values))


# --- the in-app inbox ----------------------------------------------------------------------------------------

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
    # the group must not show its details after their place in it ended.
    return visibility.visible_notices(user, rows)


def unread(user: User) -> list[Notification]:
    """The member's unread in-app notifications they may still see, newest first (two inbox pages at most)."""
    rows = db.session.scalars(
        _inbox_query(user).where(Notification.read_at.is_(None))
        .options(joinedload(Notification.occurrence).joinedload(Occurrence.series).joinedload(MeetingSeries.group))
        .order_by(Notification.sent_at.desc(), Notification.id.desc())
        .limit(INBOX_PAGE * 2)
    ).unique().all()
    return visibility.visible_notices(user, list(rows))


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
