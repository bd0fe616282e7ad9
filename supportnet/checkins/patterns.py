"""Patterns in the member's days, in plain language: tags that go with higher cravings or lower mood, and
weekdays.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from statistics import fmean

from sqlalchemy import select

from supportnet.checkins.records import COMMON_TAGS, OWN_TAG_PREFIX, own_tags
from supportnet.extensions import db
from supportnet.models import CheckIn, CheckInTag, User

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
