"""The outbox: notification rows, written (insert-ignore), cancelled and purged, and the builders of the rows
that follow from the database (reminders, digests, check-in prompts).

Functions here change the session and flush (or execute); the caller commits.

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
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from supportnet.clock import timezone_names
from supportnet.extensions import db
from supportnet.models import (
    Channel,
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
from supportnet.notifications.preferences import REMINDER_CHOICES, Preferences, chunks, from_row, preferences_for
from supportnet.recurrence import resolve_local

Kind = NotificationKind
PENDING, SENDING, SENT = NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT
CANCELLED, EXPIRED, FAILED = NotificationStatus.CANCELLED, NotificationStatus.EXPIRED, NotificationStatus.FAILED
EMAIL, IN_APP = Channel.EMAIL, Channel.IN_APP
# Rows are written at most this long before they are due (the planner writes the rest as their time nears):
# a little more than the longest reminder offset, so an RSVP for a meeting this week writes all its reminders.
LOOKAHEAD = timedelta(days=8)
MAX_OFFSET = timedelta(minutes=max(REMINDER_CHOICES))
# Digests are planned for meetings starting within this window.
DIGEST_AHEAD = timedelta(hours=48)
_WRITE_BATCH = 200


def utc_stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def new_row(
    user_id: int | None,
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
    supporter_id: int | None = None,
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
        # A row about one of the member's supporters (an email to them, or the member's own record of it).
        "supporter_id": supporter_id,
        "created_at": now,
        "sent_at": now if delivered else None,
        "read_at": None,
    }


def write(rows: list[dict], *, revive: bool = False) -> None:
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
    for chunk in chunks(rows, _WRITE_BATCH):
        connection.execute(statement, list(chunk))


def cancel(*conditions) -> int:
    """Cancel the pending rows matching the conditions (rows being sent are re-checked by their tick)."""
    result = db.session.execute(
        update(Notification)
        .where(Notification.status == PENDING, *conditions)
        .values(status=CANCELLED, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def purge(now: datetime, keep: timedelta) -> int:
    """Delete finished notifications (sent, expired, cancelled, failed) older than `keep`; returns how many."""
    result = db.session.execute(
        delete(Notification)
        .where(Notification.status.in_([SENT, EXPIRED, CANCELLED, FAILED]), Notification.due_at < now - keep)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def going_ahead(occ: Occurrence) -> bool:
    return occ.status != OccurrenceStatus.CANCELLED and not occ.superseded


def meeting_rows(
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
    stamp = utc_stamp(starts_at)
    for offset in prefs.reminder_offsets:
        due = starts_at - timedelta(minutes=offset)
        if not now <= due <= horizon:
            continue  # past reminders are pointless; later ones are written by the planner as they near
        for channel in prefs.channels_for(Kind.REMINDER):
            rows.append(new_row(
                user_id, Kind.REMINDER, channel, f"reminder:{occurrence_id}:{user_id}:{stamp}:{offset}", due, now,
                expires=starts_at, occurrence_id=occurrence_id,
                payload={"starts_at": starts_at.isoformat(), "offset": offset},
            ))
    if online and now <= starts_at <= horizon:
        for channel in prefs.channels_for(Kind.STARTING_NOW):
            rows.append(new_row(
                user_id, Kind.STARTING_NOW, channel, f"starting:{occurrence_id}:{user_id}:{stamp}", starts_at, now,
                expires=ends_at, occurrence_id=occurrence_id, payload={"starts_at": starts_at.isoformat()},
            ))
    return rows


def reminder_rows(now: datetime, *conditions) -> list[dict]:
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
        rows.extend(meeting_rows(user_id, occ_id, starts_at, ends_at, bool(online_url), prefs[user_id], now))
    return rows


def member_zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name if name in timezone_names() else "UTC")


def _digest_due(starts_at: datetime, meeting_tz: ZoneInfo, facilitator_tz: ZoneInfo, hour: int) -> datetime:
    """The evening before the meeting's local day, in the facilitator's zone (at least an hour before it)."""
    day_before = starts_at.astimezone(meeting_tz).date() - timedelta(days=1)
    due = resolve_local(datetime.combine(day_before, time(hour % 24)), facilitator_tz).astimezone(UTC)
    return min(due, starts_at - timedelta(hours=1))


def digest_rows(now: datetime, *conditions) -> list[dict]:
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
            due = _digest_due(starts_at, ZoneInfo(meeting_tz), member_zone(tz_name), hour)
            if not now <= due <= now + LOOKAHEAD:
                continue
            for channel in prefs[user_id].channels_for(Kind.DIGEST):
                rows.append(new_row(
                    user_id, Kind.DIGEST, channel, f"digest:{occ_id}:{user_id}:{utc_stamp(starts_at)}", due, now,
                    expires=starts_at, occurrence_id=occ_id, group_id=group_id,
                    payload={"starts_at": starts_at.isoformat()},
                ))
    return rows


def prompt_rows(now: datetime, *conditions) -> list[dict]:
    """Check-in prompts for today and tomorrow (members' local days) that are still ahead."""
    rows: list[dict] = []
    found = db.session.execute(
        select(NotificationSettings, User.timezone)
        .join(User, User.id == NotificationSettings.user_id)
        .where(NotificationSettings.prompt_days != 0, *conditions)
    ).all()
    for settings, tz_name in found:
        prefs = from_row(settings)
        channels = prefs.channels_for(Kind.CHECKIN_PROMPT)
        if not channels:
            continue
        tz = member_zone(tz_name)
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
                rows.append(new_row(
                    settings.user_id, Kind.CHECKIN_PROMPT, channel, f"prompt:{settings.user_id}:{day.isoformat()}",
                    due, now, expires=end_of_day, payload={"date": day.isoformat()},
                ))
    return rows
