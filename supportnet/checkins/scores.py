"""Standard measures a member takes: recording a response (scored with its exact instrument version, answers
encrypted), the BAM's meetings-attended answer offered from recorded attendance, the member's responses and
trend points, and deleting them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.orm import defer

from supportnet.checkins.records import local_today
from supportnet.extensions import db
from supportnet.measures import instruments
from supportnet.measures.definitions import Instrument
from supportnet.measures.scoring import Score, is_skipped, score
from supportnet.models import Attendance, MeasureResponse, Occurrence, User

# The BAM item a page may prefill from recorded attendance, and its published day-count options as
# (highest count, option value): "0", "1-3", "4-8", "9-15", "16-30".
BAM_MEETINGS_ITEM = "10"
_BAM_MEETING_BOUNDS = ((0, 0), (3, 1), (8, 2), (15, 3))
_BAM_MEETINGS_TOP = 4
ATTENDANCE_DAYS = 30


def without_skipped(instrument: Instrument, answers: Mapping[str, int]) -> dict[str, int]:
    """The answers with those the form's own skip rules leave out removed: a phone without script shows every
    item, and an answer to an item the form skips is not the member's to give."""
    return {label: value for label, value in answers.items()
            if label not in instrument.labels or not is_skipped(instrument.item(label), answers)}


def record(user: User, instrument: Instrument, answers: dict[str, int], now: datetime,
           attendance_offered: int | None = None) -> tuple[MeasureResponse, Score]:
    """Score the member's answers to this exact instrument version and keep them (answers encrypted)."""
    result = score(instrument, answers)  # raises DomainError naming the items for incomplete answers
    response = MeasureResponse(
        user_id=user.id, code=instrument.code, version=instrument.version,
        answers=json.dumps({label: answers[label] for label in instrument.labels if label in answers}),
        scores=dict(result.subscales), taken_at=now, local_date=local_today(user, now),
        attendance_offered=attendance_offered if instrument.code == "BAM" else None,
    )
    db.session.add(response)
    db.session.flush()
    return response, result


def instrument_of(response: MeasureResponse) -> Instrument:
    """The exact version a response answered."""
    return instruments.get(response.code, response.version)


def answers_of(response: MeasureResponse) -> dict[str, int]:
    """The item answers of a response (decrypted), item label -> option value."""
    return {str(label): int(value) for label, value in json.loads(response.answers).items()}


def score_of(response: MeasureResponse) -> Score:
    """The response scored again with the exact version it answered."""
    return score(instrument_of(response), answers_of(response))


def responses_of(user: User, code: str | None = None) -> list[MeasureResponse]:
    """The member's responses, newest first (of one instrument when `code` is given). The encrypted answers are
    read only when asked for: lists and trends need the scores, and decrypting every answer would cost more."""
    query = select(MeasureResponse).options(defer(MeasureResponse.answers)).where(MeasureResponse.user_id == user.id)
    if code is not None:
        query = query.where(MeasureResponse.code == code)
    return list(db.session.scalars(query.order_by(MeasureResponse.taken_at.desc(), MeasureResponse.id.desc())))


def latest_by_code(user: User) -> dict[str, MeasureResponse]:
    """The member's newest response to each instrument."""
    latest: dict[str, MeasureResponse] = {}
    for response in responses_of(user):
        latest.setdefault(response.code, response)
    return latest


def last_taken(user_ids: Iterable[int]) -> dict[tuple[int, str], date]:
    """(member, instrument) -> the member's own day of their latest response, in one query."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    return {(user_id, code): day for user_id, code, day in db.session.execute(
        select(MeasureResponse.user_id, MeasureResponse.code, func.max(MeasureResponse.local_date))
        .where(MeasureResponse.user_id.in_(ids)).group_by(MeasureResponse.user_id, MeasureResponse.code)
    )}


def response_of(user: User, response_id: int) -> MeasureResponse | None:
    """The member's own response with this id, or None (whoever else's it may be)."""
    return db.session.scalar(
        select(MeasureResponse).where(MeasureResponse.id == response_id, MeasureResponse.user_id == user.id)
    )


def delete(user: User, response_id: int) -> bool:
    """Delete one of the member's responses for good; False when they have none with that id."""
    response = response_of(user, response_id)
    if response is None:
        return False
    db.session.delete(response)
    db.session.flush()
    return True


def delete_all(user: User) -> int:
    """Delete every measure response of the member for good; returns how many went."""
    count = db.session.scalar(
        select(func.count()).select_from(MeasureResponse).where(MeasureResponse.user_id == user.id)
    ) or 0
    db.session.execute(sql_delete(MeasureResponse).where(MeasureResponse.user_id == user.id))
    db.session.expire_all()
    return count


def days_at_meetings(user: User, now: datetime, days: int = ATTENDANCE_DAYS) -> int:
    """On how many of their own days the member was recorded at a meeting, among meetings that started in the
    past `days` days. The BAM asks for days, so two meetings on one day count once."""
    starts = db.session.scalars(
        select(Occurrence.starts_at).join(Attendance, Attendance.occurrence_id == Occurrence.id)
        .where(Attendance.user_id == user.id, Occurrence.starts_at > now - timedelta(days=days),
               Occurrence.starts_at <= now)
    )
    return len({local_today(user, start) for start in starts})


def bam_meetings_option(count: int) -> int:
    """The BAM item 10 option value ("0", "1-3", "4-8", "9-15", "16-30") that a count of days falls in."""
    for highest, value in _BAM_MEETING_BOUNDS:
        if count <= highest:
            return value
    return _BAM_MEETINGS_TOP


@dataclass(frozen=True)
class TrendPoint:
    """One response on the member's trend: its day and subscale scores."""

    day: date
    taken_at: datetime
    response_id: int
    version: int
    scores: Mapping[str, int]


@dataclass(frozen=True)
class AttendanceSpan:
    """Meetings the member was recorded at in the 30 days up to `end` (a local day)."""

    start: date
    end: date
    meetings: int


@dataclass(frozen=True)
class Trend:
    """A member's scores on one instrument over time, oldest first, with their recorded attendance per 30 days
    over the same stretch, so that scores can be read next to meetings."""

    code: str
    subscales: tuple[str, ...]
    points: list[TrendPoint]
    attendance: list[AttendanceSpan]


def trend(user: User, code: str, now: datetime) -> Trend:
    """The member's trend of one instrument, with meetings attended per 30 days back to the first response."""
    instrument = instruments.current(code)
    points = [
        TrendPoint(r.local_date, r.taken_at, r.id, r.version, dict(r.scores))
        for r in reversed(responses_of(user, code))
    ]
    spans: list[AttendanceSpan] = []
    if points:
        today = local_today(user, now)
        starts = list(db.session.scalars(
            select(Occurrence.starts_at).join(Attendance, Attendance.occurrence_id == Occurrence.id)
            .where(Attendance.user_id == user.id, Occurrence.starts_at <= now)
        ))
        zone_days = [local_today(user, start) for start in starts]
        end = today
        while end >= points[0].day - timedelta(days=ATTENDANCE_DAYS - 1) and len(spans) < 36:
            start = end - timedelta(days=ATTENDANCE_DAYS - 1)
            spans.append(AttendanceSpan(start, end, sum(1 for day in zone_days if start <= day <= end)))
            end = start - timedelta(days=1)
        spans.reverse()
    return Trend(code, tuple(s.name for s in instrument.scoring.subscales), points, spans)
