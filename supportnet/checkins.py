"""Check-ins: recording them, the member's history, trends and patterns, the recovery date, sharing with
groups, what facilitators see, and export and deletion.

Functions here change models and flush; the caller (a view or a command) commits.

Decisions worth knowing:

* A check-in belongs to its member. Nobody else reads one unless the member chose a sharing level for a
  group they are an active member of, and then only that group's active facilitators (not site admins) see
  it: "summaries" shows mood, craving and the support flag; "summaries and notes" adds the notes of the
  check-ins the member marked "share this note" (off by default), so a note is only ever shared check-in by
  check-in (privacy rule 3). Energy, sleep and tags are never shared.
* Sharing is checked on every read, so turning it off (or leaving the group) ends a facilitator's access at
  once. Leaving or being removed also resets the choice to "nothing" (see models/checkin.py).
* Group figures come only from members who share with the group, and only when at least AGGREGATE_MIN of
  them contributed; below that nothing is shown, not even how many did.
* Days are the member's own calendar days: each check-in stores the local date it is about (their zone when
  they recorded it, or an earlier day they chose), so DST and moving timezone never break a streak.
* Notes and a member's own tag texts are encrypted at rest (supportnet/crypto.py); common tags are codes.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from itertools import pairwise
from statistics import fmean
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import joinedload, selectinload

from supportnet import crypto, visibility
from supportnet.clock import timezone_names
from supportnet.errors import DomainError, Forbidden
from supportnet.extensions import db
from supportnet.models import (
    CheckIn,
    CheckinSharing,
    CheckInTag,
    Group,
    MeetingSeries,
    MeetingTiming,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    OwnTag,
    User,
)

MOOD_LABELS = {1: "Very low", 2: "Low", 3: "Okay", 4: "Good", 5: "Very good"}
ENERGY_LABELS = {1: "Very low", 2: "Low", 3: "Okay", 4: "Good", 5: "Very high"}
SLEEP_LABELS = {1: "Very badly", 2: "Badly", 3: "Okay", 4: "Well", 5: "Very well"}
CRAVING_MIN, CRAVING_MAX = 0, 10
LOWEST_MOOD = 1
COMMON_TAGS = {
    "stress": "Stress",
    "loneliness": "Loneliness",
    "conflict": "Conflict",
    "boredom": "Boredom",
    "anxiety": "Anxiety",
    "anger": "Anger",
    "tired": "Tired",
    "pain": "Pain",
    "work": "Work",
    "family": "Family",
    "celebration": "Celebration",
    "gratitude": "Gratitude",
}
OWN_TAG_PREFIX = "own:"
NOTE_MAX = 5000
OWN_TAG_MAX = 40
NEW_TAGS_MAX = 5
BACKDATE_DAYS = 365
CHART_PERIODS = (30, 90, 365)
SUPPORT_WINDOW = timedelta(days=7)
SHARED_DAYS = 30
AGGREGATE_DAYS = 7
AGGREGATE_MIN = 5
SHARING_LABELS = {
    CheckinSharing.NONE: "Nothing",
    CheckinSharing.SUMMARIES: "Summaries: mood, craving and whether I asked for support",
    CheckinSharing.NOTES: "Summaries, and the notes I choose to share",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- days --------------------------------------------------------------------------------------------------------


def member_zone(user: User) -> ZoneInfo:
    """The member's timezone (UTC if the stored name is unknown)."""
    return ZoneInfo(user.timezone if user.timezone in timezone_names() else "UTC")


def local_today(user: User, now: datetime) -> date:
    """The member's calendar day at this instant."""
    return now.astimezone(member_zone(user)).date()


# --- recording and editing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckInSpec:
    """What the member entered. `tags` holds common codes and "own:<id>" for their existing own tags;
    `new_tags` holds own tags typed this time. `day` None means today."""

    mood: int | None
    craving: int | None
    energy: int | None = None
    sleep: int | None = None
    tags: Sequence[str] = ()
    new_tags: Sequence[str] = ()
    note: str = ""
    share_note: bool = False
    wants_support: bool = False
    day: date | None = None
    occurrence: Occurrence | None = None
    timing: MeetingTiming | str | None = None


def _in_range(value: int | None, low: int, high: int, message: str, name: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if value is None or isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DomainError(message, field=name)
    return value


def clean_note(raw: str | None) -> str | None:
    """The note as stored (None when empty), or DomainError when it is too long."""
    text = unicodedata.normalize("NFC", (raw or "").replace("\r\n", "\n")).strip()
    text = _CONTROL.sub("", text)
    if len(text) > NOTE_MAX:
        raise DomainError(f"Keep the note to {NOTE_MAX:,} characters (it has {len(text):,}).", field="note")
    return text or None


def clean_own_tag(raw: str) -> str:
    """An own tag as stored: single-spaced, without control characters, at most OWN_TAG_MAX characters."""
    label = " ".join(_CONTROL.sub("", unicodedata.normalize("NFC", raw)).split()).strip(" ,")
    if not label:
        raise DomainError("A tag needs at least one letter.", field="new_tags")
    if len(label) > OWN_TAG_MAX:
        raise DomainError(f"Keep each tag to {OWN_TAG_MAX} characters.", field="new_tags")
    return label


def _check_day(user: User, day: date | None, now: datetime, unchanged: date | None = None) -> date:
    today = local_today(user, now)
    if day is None:
        return today
    if day > today:
        raise DomainError("That day hasn't happened yet. Choose today or an earlier day.", field="day")
    if day != unchanged and day < today - timedelta(days=BACKDATE_DAYS):
        raise DomainError("You can add check-ins for the past year.", field="day")
    return day


def _check_meeting(spec: CheckInSpec, user: User, now: datetime) -> tuple[Occurrence | None, MeetingTiming | None]:
    occ = spec.occurrence
    if occ is None:
        return None, None
    if not visibility.visible_to(occ.series.group, user, None, now):
        raise DomainError("That meeting isn't available to you.")
    if spec.timing in (None, ""):
        return occ, MeetingTiming.BEFORE if now < occ.starts_at else MeetingTiming.AFTER
    try:
        return occ, MeetingTiming(spec.timing)
    except ValueError as exc:
        raise DomainError("Say whether this is before or after the meeting.") from exc


@dataclass
class _Clean:
    fields: dict
    codes: list[str]
    own_ids: list[int]
    new_labels: list[str]


def _clean(spec: CheckInSpec, user: User, now: datetime, unchanged_day: date | None = None) -> _Clean:
    """Check everything the member entered before anything changes; raises DomainError on the first problem."""
    mood = _in_range(spec.mood, 1, 5, "Choose how you feel, from 1 (very low) to 5 (very good).", "mood")
    craving = _in_range(
        spec.craving, CRAVING_MIN, CRAVING_MAX, "Choose your craving from 0 (none) to 10 (overwhelming).", "craving"
    )
    energy = _in_range(spec.energy, 1, 5, "Choose your energy from 1 to 5, or leave it out.", "energy", True)
    sleep = _in_range(spec.sleep, 1, 5, "Choose how you slept from 1 to 5, or leave it out.", "sleep", True)
    note = clean_note(spec.note)
    day = _check_day(user, spec.day, now, unchanged_day)
    occ, timing = _check_meeting(spec, user, now)
    codes, own_ids = [], []
    for tag in spec.tags:
        if tag in COMMON_TAGS:
            codes.append(tag)
        elif tag.startswith(OWN_TAG_PREFIX) and tag[len(OWN_TAG_PREFIX):].isdigit():
            own_ids.append(int(tag[len(OWN_TAG_PREFIX):]))
        else:
            raise DomainError("Choose tags from the list, or type your own.", field="tags")
    labels = [clean_own_tag(raw) for raw in spec.new_tags if raw.strip()]
    if len(labels) > NEW_TAGS_MAX:
        raise DomainError(f"Add at most {NEW_TAGS_MAX} new tags at a time.", field="new_tags")
    return _Clean(
        fields={
            "mood": mood, "craving": craving, "energy": energy, "sleep": sleep, "note": note,
            # Sharing a note that isn't there would mean nothing; keep the flag honest.
            "share_note": bool(spec.share_note and note), "wants_support": bool(spec.wants_support),
            "local_date": day, "occurrence": occ, "meeting_timing": timing,
        },
        codes=list(dict.fromkeys(codes)),
        own_ids=list(dict.fromkeys(own_ids)),
        new_labels=labels,
    )


def own_tags(user: User) -> list[OwnTag]:
    """The member's own tags, in alphabetical order."""
    rows = db.session.scalars(select(OwnTag).where(OwnTag.user_id == user.id)).all()
    return sorted(rows, key=lambda tag: (tag.label.casefold(), tag.id))


def _resolve_own_tags(user: User, ids: list[int], labels: list[str], now: datetime) -> list[OwnTag]:
    mine = {tag.id: tag for tag in own_tags(user)}
    if any(tag_id not in mine for tag_id in ids):
        raise DomainError("Choose tags from the list, or type your own.", field="tags")
    # Own tags are encrypted with a random IV, so the database cannot find "the same text": compare here.
    by_text = {tag.label.casefold(): tag for tag in mine.values()}
    chosen = [mine[tag_id] for tag_id in ids]
    for label in labels:
        tag = by_text.get(label.casefold())
        if tag is None:
            tag = OwnTag(user_id=user.id, label=label, created_at=now)
            db.session.add(tag)
            by_text[label.casefold()] = tag
        if tag not in chosen:
            chosen.append(tag)
    return chosen


def _set_tags(checkin: CheckIn, codes: list[str], chosen: list[OwnTag]) -> None:
    wanted_codes = set(codes)
    wanted_own = {id(tag) for tag in chosen}
    for tag in list(checkin.tags):
        unwanted_own = tag.own_tag is not None and id(tag.own_tag) not in wanted_own
        if (tag.code and tag.code not in wanted_codes) or unwanted_own:
            checkin.tags.remove(tag)
    have_codes = {tag.code for tag in checkin.tags if tag.code}
    have_own = {id(tag.own_tag) for tag in checkin.tags if tag.own_tag is not None}
    checkin.tags.extend(CheckInTag(code=code) for code in codes if code not in have_codes)
    checkin.tags.extend(CheckInTag(own_tag=tag) for tag in chosen if id(tag) not in have_own)


def _prune_own_tags(user_id: int) -> None:
    # An own tag no check-in uses any more is deleted with the last check-in that had it: "delete" is real.
    used = exists().where(CheckInTag.own_tag_id == OwnTag.id)
    db.session.execute(delete(OwnTag).where(OwnTag.user_id == user_id, ~used))


def record(user: User, spec: CheckInSpec, now: datetime) -> CheckIn:
    """Record a check-in for the member."""
    clean = _clean(spec, user, now)
    chosen = _resolve_own_tags(user, clean.own_ids, clean.new_labels, now)
    checkin = CheckIn(user=user, recorded_at=now, created_at=now, updated_at=now, **clean.fields)
    _set_tags(checkin, clean.codes, chosen)
    db.session.add(checkin)
    db.session.flush()
    return checkin


def update(checkin: CheckIn, spec: CheckInSpec, now: datetime) -> CheckIn:
    """Change a check-in the member made (its recording time stays)."""
    user = checkin.user
    # The meeting link is made when the check-in is recorded and stays: the member may since have left
    # the group whose meeting it was.
    spec = replace(spec, occurrence=None, timing=None)
    clean = _clean(spec, user, now, unchanged_day=checkin.local_date)
    chosen = _resolve_own_tags(user, clean.own_ids, clean.new_labels, now)
    for key, value in clean.fields.items():
        if key not in ("occurrence", "meeting_timing"):
            setattr(checkin, key, value)
    _set_tags(checkin, clean.codes, chosen)
    checkin.updated_at = now
    db.session.flush()
    _prune_own_tags(user.id)
    return checkin


def delete_checkin(checkin: CheckIn) -> None:
    """Delete one check-in for good, with any own tag only it used."""
    user_id = checkin.user_id
    db.session.delete(checkin)
    db.session.flush()
    _prune_own_tags(user_id)


def delete_all(user: User) -> int:
    """Delete every check-in of the member, and their own tags, for good; returns how many check-ins went."""
    count = db.session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.user_id == user.id)) or 0
    db.session.execute(delete(CheckIn).where(CheckIn.user_id == user.id))
    db.session.execute(delete(OwnTag).where(OwnTag.user_id == user.id))
    db.session.expire_all()
    return count


def checkin_of(user: User, checkin_id: int) -> CheckIn | None:
    """The member's own check-in with this id, or None (whoever else's it may be)."""
    return db.session.scalar(
        select(CheckIn)
        .options(selectinload(CheckIn.tags).joinedload(CheckInTag.own_tag))
        .where(CheckIn.id == checkin_id, CheckIn.user_id == user.id)
    )


def tag_labels(checkin: CheckIn) -> list[str]:
    """The check-in's tags as the member reads them."""
    return [COMMON_TAGS[tag.code] if tag.code else tag.own_tag.label for tag in checkin.tags if tag.code or tag.own_tag]


def tag_values(checkin: CheckIn) -> list[str]:
    """The check-in's tags as form values (common codes and "own:<id>")."""
    return [tag.code if tag.code else f"{OWN_TAG_PREFIX}{tag.own_tag_id}" for tag in checkin.tags]


def needs_support_response(checkin: CheckIn) -> bool:
    """Whether the confirmation should offer ways to reach out: the lowest mood, or the member asked."""
    return checkin.wants_support or checkin.mood == LOWEST_MOOD


# --- history -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilter:
    days: int | None = 30  # None: everything
    tag: str | None = None  # a common code or "own:<id>"
    support_only: bool = False
    meetings_only: bool = False


@dataclass
class Page:
    items: list[CheckIn]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def period_start(user: User, now: datetime, days: int | None) -> date | None:
    """The first local day of a period that ends today (None for "everything")."""
    return None if days is None else local_today(user, now) - timedelta(days=days - 1)


def history(user: User, filters: HistoryFilter, now: datetime, page: int = 1, per_page: int = 50) -> Page:
    """The member's check-ins, newest first, filtered; a fixed number of queries per page."""
    query = select(CheckIn).where(CheckIn.user_id == user.id)
    start = period_start(user, now, filters.days)
    if start is not None:
        query = query.where(CheckIn.local_date >= start)
    if filters.support_only:
        query = query.where(CheckIn.wants_support.is_(True))
    if filters.meetings_only:
        query = query.where(CheckIn.occurrence_id.is_not(None))
    if filters.tag in COMMON_TAGS:
        query = query.where(CheckIn.tags.any(CheckInTag.code == filters.tag))
    elif filters.tag and filters.tag.startswith(OWN_TAG_PREFIX) and filters.tag[len(OWN_TAG_PREFIX):].isdigit():
        query = query.where(CheckIn.tags.any(CheckInTag.own_tag_id == int(filters.tag[len(OWN_TAG_PREFIX):])))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = db.session.scalars(
        query.options(
            selectinload(CheckIn.tags).joinedload(CheckInTag.own_tag),
            joinedload(CheckIn.occurrence).joinedload(Occurrence.series),
        )
        .order_by(CheckIn.local_date.desc(), CheckIn.recorded_at.desc(), CheckIn.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), total=total, page=page, per_page=per_page)


@dataclass(frozen=True)
class DayPoint:
    """One local day of the chart: the day's average mood and craving over its check-ins."""

    day: date
    mood: float
    craving: float
    count: int


def daily_points(user: User, start: date, end: date) -> list[DayPoint]:
    """Per-day averages of mood and craving between two local days (inclusive), oldest first."""
    rows = db.session.execute(
        select(CheckIn.local_date, func.avg(CheckIn.mood), func.avg(CheckIn.craving), func.count())
        .where(CheckIn.user_id == user.id, CheckIn.local_date >= start, CheckIn.local_date <= end)
        .group_by(CheckIn.local_date)
        .order_by(CheckIn.local_date)
    ).all()
    return [DayPoint(day, float(mood), float(craving), count) for day, mood, craving, count in rows]


@dataclass(frozen=True)
class Streak:
    current: int  # consecutive days with a check-in, ending today or yesterday
    longest: int
    checked_in_today: bool


def streak(user: User, now: datetime) -> Streak:
    """The member's streak of days with a check-in, in their own calendar days."""
    days = db.session.scalars(
        select(CheckIn.local_date).where(CheckIn.user_id == user.id).distinct().order_by(CheckIn.local_date.desc())
    ).all()
    return streak_of(days, local_today(user, now))


def streak_of(days: Sequence[date], today: date) -> Streak:
    """Streaks from distinct days, newest first. After a move west, the newest day can be "tomorrow" here."""
    if not days:
        return Streak(0, 0, False)
    longest = run = 1
    for newer, older in pairwise(days):
        run = run + 1 if (newer - older).days == 1 else 1
        longest = max(longest, run)
    current = 0
    if days[0] >= today - timedelta(days=1):
        current = 1
        for newer, older in pairwise(days):
            if (newer - older).days != 1:
                break
            current += 1
    return Streak(current, longest, days[0] >= today)


# --- patterns ----------------------------------------------------------------------------------------------------

WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PATTERN_MIN_DAYS = 7
PATTERN_MIN_TAGGED = 3
CRAVING_DIFFERENCE = 1.0
MOOD_DIFFERENCE = 0.5


@dataclass(frozen=True)
class WeekdayRow:
    weekday: str
    days: int
    mood: float | None
    craving: float | None


@dataclass
class Patterns:
    enough_data: bool
    sentences: list[str] = field(default_factory=list)
    weekdays: list[WeekdayRow] = field(default_factory=list)


def patterns(user: User, start: date | None, end: date) -> Patterns:
    """Plain-language patterns in the member's days: tags that go with higher cravings or lower mood, weekdays."""
    query = select(CheckIn.id, CheckIn.local_date, CheckIn.mood, CheckIn.craving).where(
        CheckIn.user_id == user.id, CheckIn.local_date <= end
    )
    if start is not None:
        query = query.where(CheckIn.local_date >= start)
    rows = db.session.execute(query).all()
    by_day: dict[date, list[tuple[int, int]]] = defaultdict(list)
    for _id, day, mood, craving in rows:
        by_day[day].append((mood, craving))
    if len(by_day) < PATTERN_MIN_DAYS:
        return Patterns(enough_data=False)
    day_of = {row.id: row.local_date for row in rows}
    tagged: dict[str, set[date]] = defaultdict(set)
    labels = dict(COMMON_TAGS)
    if day_of:
        tag_rows = db.session.execute(
            select(CheckInTag.checkin_id, CheckInTag.code, CheckInTag.own_tag_id).where(
                CheckInTag.checkin_id.in_(list(day_of))
            )
        ).all()
        own = {f"{OWN_TAG_PREFIX}{tag.id}": tag.label for tag in own_tags(user)}
        labels.update(own)
        for checkin_id, code, own_id in tag_rows:
            tagged[code or f"{OWN_TAG_PREFIX}{own_id}"].add(day_of[checkin_id])
    day_mood = {day: fmean(m for m, _ in values) for day, values in by_day.items()}
    day_craving = {day: fmean(c for _, c in values) for day, values in by_day.items()}
    return Patterns(
        enough_data=True,
        sentences=_tag_sentences(tagged, labels, day_mood, day_craving) + _weekday_sentences(day_mood, day_craving),
        weekdays=_weekday_rows(day_mood, day_craving),
    )


def _tag_sentences(tagged, labels, day_mood, day_craving) -> list[str]:
    found: list[tuple[float, str]] = []
    for key, days in tagged.items():
        others = set(day_mood) - days
        if len(days) < PATTERN_MIN_TAGGED or len(others) < PATTERN_MIN_TAGGED or key not in labels:
            continue
        name = labels[key]
        with_tag, without = fmean(day_craving[d] for d in days), fmean(day_craving[d] for d in others)
        if abs(with_tag - without) >= CRAVING_DIFFERENCE:
            word = "higher" if with_tag > without else "lower"
            found.append((abs(with_tag - without) / 10, f"Cravings were {word} on days tagged \u201c{name}\u201d: "
                          f"{with_tag:.1f} on average, against {without:.1f} on other days."))
        with_tag, without = fmean(day_mood[d] for d in days), fmean(day_mood[d] for d in others)
        if abs(with_tag - without) >= MOOD_DIFFERENCE:
            word = "higher" if with_tag > without else "lower"
            found.append((abs(with_tag - without) / 4, f"Your mood was {word} on days tagged \u201c{name}\u201d: "
                          f"{with_tag:.1f} on average, against {without:.1f} on other days."))
    found.sort(key=lambda item: -item[0])
    return [sentence for _, sentence in found[:6]]


def _weekday_rows(day_mood, day_craving) -> list[WeekdayRow]:
    rows = []
    for index, name in enumerate(WEEKDAY_NAMES):
        days = [d for d in day_mood if d.weekday() == index]
        rows.append(WeekdayRow(
            name, len(days),
            fmean(day_mood[d] for d in days) if days else None,
            fmean(day_craving[d] for d in days) if days else None,
        ))
    return rows


def _weekday_sentences(day_mood, day_craving) -> list[str]:
    rows = [row for row in _weekday_rows(day_mood, day_craving) if row.days >= 2]
    if len(rows) < 2:
        return []
    sentences = []
    overall_craving, overall_mood = fmean(day_craving.values()), fmean(day_mood.values())
    top = max(rows, key=lambda row: row.craving)
    if top.craving - overall_craving >= CRAVING_DIFFERENCE:
        sentences.append(f"Cravings were highest on {top.weekday}s: {top.craving:.1f} on average, "
                         f"against {overall_craving:.1f} overall.")
    low = min(rows, key=lambda row: row.mood)
    if overall_mood - low.mood >= MOOD_DIFFERENCE:
        sentences.append(f"Your mood was lowest on {low.weekday}s: {low.mood:.1f} on average, "
                         f"against {overall_mood:.1f} overall.")
    return sentences


# --- recovery date -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Milestone:
    label: str
    day: date


@dataclass(frozen=True)
class Recovery:
    start: date
    days: int
    reached: list[Milestone]
    next: Milestone | None


def milestones(start: date, until: date) -> list[Milestone]:
    """Milestones from the start day up to and including the first one after `until`."""
    steps: list[tuple[str, relativedelta]] = [
        ("1 day", relativedelta(days=1)), ("1 week", relativedelta(weeks=1)), ("30 days", relativedelta(days=30)),
        ("60 days", relativedelta(days=60)), ("90 days", relativedelta(days=90)),
        ("6 months", relativedelta(months=6)), ("9 months", relativedelta(months=9)),
        ("1 year", relativedelta(years=1)), ("18 months", relativedelta(months=18)),
    ]
    result = []
    for label, step in steps:
        result.append(Milestone(label, start + step))
        if result[-1].day > until:
            return result
    years = 2
    while True:
        result.append(Milestone(f"{years} years", start + relativedelta(years=years)))
        if result[-1].day > until:
            return result
        years += 1


def recovery(user: User, now: datetime) -> Recovery | None:
    """The member's day count and milestones, if they keep a recovery date."""
    if user.recovery_date is None:
        return None
    today = local_today(user, now)
    start = min(user.recovery_date, today)
    marks = milestones(start, today)
    return Recovery(
        start=start,
        days=(today - start).days,
        reached=[m for m in marks if m.day <= today],
        next=next((m for m in marks if m.day > today), None),
    )


def set_recovery_date(user: User, day: date | None, now: datetime) -> None:
    """Set, change or (with None) remove the member's recovery date."""
    if day is not None:
        today = local_today(user, now)
        if day > today:
            raise DomainError("Choose today or a day in the past.", field="recovery_date")
        if day.year < 1900:
            raise DomainError("Check the year.", field="recovery_date")
    user.recovery_date = day
    db.session.flush()


# --- sharing -----------------------------------------------------------------------------------------------------


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
    from flask import current_app
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="supportnet.checkins.stop-sharing")


def stop_sharing_token(user_id: int, group_id: int) -> str:
    """The signed token of a one-click "stop sharing with this group" link (sent when the audience grows)."""
    return _stop_sharing_serializer().dumps({"u": user_id, "g": group_id})


def membership_for_stop_token(token: str) -> Membership | None:
    """The active membership a stop-sharing link is for, or None (tampered, or no longer a member)."""
    from itsdangerous import BadSignature

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


# --- what a group's facilitators see -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedCheckIn:
    """A check-in as a facilitator may see it: never energy, sleep or tags; a note only if shared."""

    day: date
    recorded_at: datetime
    mood: int
    craving: int
    wants_support: bool
    note: str | None
    meeting: str | None


@dataclass
class SharedMember:
    user_id: int
    display_name: str
    level: CheckinSharing
    checkins: list[SharedCheckIn]

    @property
    def support_requests(self) -> list[SharedCheckIn]:
        return [c for c in self.checkins if c.wants_support]


@dataclass(frozen=True)
class Aggregate:
    contributors: int
    mood: float
    craving: float
    asked_for_support: int


@dataclass
class SupportOverview:
    members: list[SharedMember]
    requests: list[tuple[SharedMember, SharedCheckIn]]
    aggregate: Aggregate | None
    recovery_days: list[tuple[str, int]]
    since: date


def support_overview(group: Group, viewer: User, now: datetime) -> SupportOverview:
    """What the group's facilitators may see: support requests, shared trends, and figures from 5 or more."""
    if not visibility.is_group_facilitator(group, viewer):
        raise Forbidden("Only the group's facilitators see what members share with it.")
    since = (now - timedelta(days=SHARED_DAYS - 1)).date()
    sharing = db.session.execute(
        select(Membership.user_id, User.display_name, Membership.checkin_sharing, Membership.shares_recovery_date,
               User.recovery_date, User.timezone)
        .join(Membership.user)
        .where(Membership.group_id == group.id, Membership.status == MemberStatus.ACTIVE)
        .where((Membership.checkin_sharing != CheckinSharing.NONE) | Membership.shares_recovery_date.is_(True))
        .order_by(func.lower(User.display_name), Membership.user_id)
    ).all()
    members = {
        row.user_id: SharedMember(row.user_id, row.display_name, row.checkin_sharing, [])
        for row in sharing
        if row.checkin_sharing != CheckinSharing.NONE
    }
    recovery_days = []
    for row in sharing:
        if row.shares_recovery_date and row.recovery_date is not None:
            today = now.astimezone(ZoneInfo(row.timezone if row.timezone in timezone_names() else "UTC")).date()
            recovery_days.append((row.display_name, max(0, (today - row.recovery_date).days)))
    _fill_shared_checkins(group, members, since)
    listed = list(members.values())
    requests = [
        (member, checkin)
        for member in listed
        for checkin in member.checkins
        if checkin.wants_support and checkin.recorded_at >= now - SUPPORT_WINDOW
    ]
    requests.sort(key=lambda pair: pair[1].recorded_at, reverse=True)
    return SupportOverview(listed, requests, _aggregate(listed, now), recovery_days, since)


def _fill_shared_checkins(group: Group, members: dict[int, SharedMember], since: date) -> None:
    if not members:
        return
    rows = db.session.execute(
        select(CheckIn.id, CheckIn.user_id, CheckIn.local_date, CheckIn.recorded_at, CheckIn.mood, CheckIn.craving,
               CheckIn.wants_support, CheckIn.occurrence_id, CheckIn.meeting_timing)
        .where(CheckIn.user_id.in_(list(members)), CheckIn.local_date >= since)
        .order_by(CheckIn.local_date.desc(), CheckIn.recorded_at.desc())
    ).all()
    # Notes are read only for members sharing notes, and only where that check-in's note is shared.
    note_users = [uid for uid, m in members.items() if m.level == CheckinSharing.NOTES]
    notes: dict[int, str] = {}
    if note_users:
        notes = dict(db.session.execute(
            select(CheckIn.id, CheckIn.note).where(
                CheckIn.user_id.in_(note_users), CheckIn.local_date >= since,
                CheckIn.share_note.is_(True), CheckIn.note.is_not(None),
            )
        ).all())
    meetings = _meeting_labels(group, {row.occurrence_id for row in rows if row.occurrence_id})
    for row in rows:
        label = meetings.get(row.occurrence_id)
        if label and row.meeting_timing:
            label = f"{row.meeting_timing.value} {label}"
        members[row.user_id].checkins.append(SharedCheckIn(
            row.local_date, row.recorded_at, row.mood, row.craving, row.wants_support, notes.get(row.id), label,
        ))


def _meeting_labels(group: Group, occurrence_ids: set[int]) -> dict[int, str]:
    # Only this group's meetings are named: a check-in about another group's meeting would tell this
    # group's facilitators where else the member goes.
    if not occurrence_ids:
        return {}
    rows = db.session.execute(
        select(Occurrence.id, MeetingSeries.title, Occurrence.starts_at, MeetingSeries.timezone)
        .join(Occurrence.series)
        .where(Occurrence.id.in_(occurrence_ids), MeetingSeries.group_id == group.id)
    ).all()
    return {
        occ_id: f"{title} on {starts.astimezone(ZoneInfo(tz)):%a %-d %b}" for occ_id, title, starts, tz in rows
    }


def _aggregate(members: Iterable[SharedMember], now: datetime) -> Aggregate | None:
    since = (now - timedelta(days=AGGREGATE_DAYS)).date()
    moods, cravings, contributors, asked = [], [], 0, 0
    for member in members:
        recent = [c for c in member.checkins if c.day >= since]
        if recent:
            contributors += 1
            moods.extend(c.mood for c in recent)
            cravings.extend(c.craving for c in recent)
            asked += any(c.wants_support for c in recent)
    if contributors < AGGREGATE_MIN:
        return None
    return Aggregate(contributors, fmean(moods), fmean(cravings), asked)


# --- export ------------------------------------------------------------------------------------------------------

EXPORT_FIELDS = [
    "date", "recorded_at_utc", "mood", "mood_label", "craving", "energy", "sleep", "tags", "wants_support",
    "note", "share_note", "meeting", "meeting_timing",
]


def export_records(user: User) -> list[dict]:
    """Every check-in of the member as plain values, oldest first."""
    rows = db.session.scalars(
        select(CheckIn)
        .options(
            selectinload(CheckIn.tags).joinedload(CheckInTag.own_tag),
            joinedload(CheckIn.occurrence).joinedload(Occurrence.series),
        )
        .where(CheckIn.user_id == user.id)
        .order_by(CheckIn.local_date, CheckIn.recorded_at, CheckIn.id)
    ).all()
    records = []
    for c in rows:
        meeting = None
        if c.occurrence is not None:
            meeting = f"{c.occurrence.series.title}, {c.occurrence.starts_at.isoformat()}"
        records.append({
            "date": c.local_date.isoformat(),
            "recorded_at_utc": c.recorded_at.isoformat(),
            "mood": c.mood,
            "mood_label": MOOD_LABELS[c.mood],
            "craving": c.craving,
            "energy": c.energy,
            "sleep": c.sleep,
            "tags": [str(label) for label in tag_labels(c)],
            "wants_support": c.wants_support,
            "note": str(c.note) if c.note is not None else None,
            "share_note": c.share_note,
            "meeting": meeting,
            "meeting_timing": c.meeting_timing.value if c.meeting_timing else None,
        })
    return records


def _spreadsheet_safe(value) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet apps; a leading apostrophe keeps it text.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(user: User) -> str:
    """The member's check-ins as CSV, one row each."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for record in export_records(user):
        record["tags"] = "; ".join(record["tags"])
        for key in ("wants_support", "share_note"):
            record[key] = "yes" if record[key] else "no"
        writer.writerow({key: _spreadsheet_safe(value) for key, value in record.items()})
    return out.getvalue()


def export_json(user: User, now: datetime) -> str:
    """The member's check-ins and recovery date as a JSON document."""
    return json.dumps(
        {
            "exported_at": now.isoformat(),
            "timezone": user.timezone,
            "recovery_date": user.recovery_date.isoformat() if user.recovery_date else None,
            "checkins": export_records(user),
        },
        ensure_ascii=False,
        indent=2,
    )


# --- key rotation ------------------------------------------------------------------------------------------------


def rotate_encryption() -> int:
    """Re-encrypt every note and own tag with the newest data key; returns how many values were rewritten."""
    notes = crypto.rotate_column(db.session, CheckIn.__table__.c.note, CheckIn.__table__.c.id)
    labels = crypto.rotate_column(db.session, OwnTag.__table__.c.label, OwnTag.__table__.c.id)
    return notes + labels
