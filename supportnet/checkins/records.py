"""Recording check-ins: the member's days, what they enter and how it is checked, tags, editing, deleting, and
re-encrypting notes and own tags with a new key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import selectinload

from supportnet import visibility
from supportnet.clock import timezone_names
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import CheckIn, CheckInTag, MeasureResponse, MeetingTiming, Occurrence, OwnTag, User

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


@dataclass(frozen=True)
class DeletedCheckins:
    """What "delete all my check-ins" removed."""

    checkins: int
    measures: int  # standard measure responses (their answers and scores)


def delete_all(user: User) -> DeletedCheckins:
    """Delete every check-in of the member, their own tags and their measure responses, for good.

    Measure responses are check-ins of another form, so they go too; the member's rhythms stay: they are
    choices about prompts, not answers, and are stopped where they were chosen."""
    checkins = db.session.execute(delete(CheckIn).where(CheckIn.user_id == user.id)).rowcount
    db.session.execute(delete(OwnTag).where(OwnTag.user_id == user.id))
    measures = db.session.execute(delete(MeasureResponse).where(MeasureResponse.user_id == user.id)).rowcount
    db.session.expire_all()
    return DeletedCheckins(checkins=checkins, measures=measures)


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
