"""What each member wants to be told, and how: kinds per channel, reminder offsets, quiet hours, check-in
prompts, discreet or descriptive subjects. Reading and checking preferences only (no rows written here): the
outbox and the dispatcher read them; `hooks.save_preferences` stores them and redoes the member's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import Channel, NotificationKind, NotificationSettings, User
from supportnet.recurrence import resolve_local

Kind = NotificationKind
EMAIL, IN_APP = Channel.EMAIL, Channel.IN_APP
# Minutes before the meeting -> how the preferences page says it.
REMINDER_CHOICES: dict[int, str] = {
    10080: "1 week before",
    1440: "1 day before",
    180: "3 hours before",
    60: "1 hour before",
    15: "15 minutes before",
}
DEFAULT_OFFSETS: tuple[int, ...] = (1440, 60)
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
    Kind.REFERRAL_NUDGE: "Program coordinators: a referral needs a look (no RSVP after 3 days, no meeting after 10)",
    Kind.NEWCOMER: "Greeters: a newcomer is coming to my group's meeting",
    # Measures: one prompt on each due day of a rhythm the member chose, at the time they chose.
    Kind.MEASURE_PROMPT: "A measure I chose a rhythm for is due (once, on its day)",
    # One-to-one sessions with a coach (for the member, and for the coach about their own sessions).
    Kind.SESSION_BOOKED: "A session with a coach is booked",
    Kind.SESSION_REMINDER: "Session reminders (at the reminder times below)",
    Kind.SESSION_CHANGED: "A session is cancelled or moved",
}
# What a member gets before choosing anything. "Starting now" and "we missed you" are opt-in.
DEFAULT_CHANNELS: dict[NotificationKind, frozenset[Channel]] = {
    kind: frozenset({EMAIL, IN_APP}) for kind in NotificationKind
} | {Kind.STARTING_NOW: frozenset(), Kind.MISSED_YOU: frozenset()} | {
    # A referred person who shares their progress and has no RSVP after 3 days, or no meeting after 10: the
    # program's coordinators hear of it in the app and by email unless they turn either off.
    Kind.REFERRAL_NUDGE: frozenset({EMAIL, IN_APP}),
}
# Notices a member cannot turn off: who can read what they share, and their own sign-up and reset links.
ALWAYS_SENT = frozenset({Kind.SHARING_AUDIENCE, Kind.ACCOUNT})
# Emails to a member's supporters (and the member's own record of them in the inbox): the member's own actions
# and rules, started and stopped on their people's pages, never by a notification preference.
SUPPORTER_KINDS = frozenset({Kind.SUPPORTER_INVITE, Kind.REACH_OUT, Kind.SUPPORTER_ALERT})


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


def from_row(row: NotificationSettings | None) -> Preferences:
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
    return from_row(db.session.get(NotificationSettings, user.id))


def preferences_for(user_ids: Iterable[int]) -> dict[int, Preferences]:
    """Preferences of many members in one query per 500, by user id (defaults for those without a row)."""
    ids = sorted(set(user_ids))
    found: dict[int, Preferences] = dict.fromkeys(ids, DEFAULTS)
    for chunk in chunks(ids, 500):
        for row in db.session.scalars(select(NotificationSettings).where(NotificationSettings.user_id.in_(chunk))):
            found[row.user_id] = from_row(row)
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


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
