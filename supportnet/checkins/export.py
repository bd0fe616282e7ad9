"""The member's check-ins and standard measures as plain records, CSV and JSON, for their own download.

A measure response is read with its own instrument version (`instruments.get(code, version)`), so an answer
given to an older wording is exported with that wording, never with today's. The answers are decrypted: the
member's download holds what they answered, in the words they answered it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from supportnet.checkins.records import MOOD_LABELS, tag_labels
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.measures import instruments
from supportnet.measures.definitions import Instrument
from supportnet.measures.scoring import band_of
from supportnet.models import (
    CheckIn,
    CheckInTag,
    MeasureResponse,
    MeasureRhythm,
    Occurrence,
    RhythmSuggestion,
    SuggestionAnswer,
    User,
)

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
    """The member's check-ins, recovery date and standard measures as a JSON document."""
    return json.dumps(
        {
            "exported_at": now.isoformat(),
            "timezone": user.timezone,
            "recovery_date": user.recovery_date.isoformat() if user.recovery_date else None,
            "checkins": export_records(user),
            "measures": measure_records(user),
            "measure_rhythms": rhythm_records(user),
            "rhythm_suggestion_answers": suggestion_answer_records(user),
        },
        ensure_ascii=False,
        indent=2,
    )


# --- standard measures -------------------------------------------------------------------------------------------

MEASURE_FIELDS = ["id", "instrument", "version", "title", "taken_at", "local_date", "band", "attendance_offered"]


def _instrument(code: str, version: int) -> Instrument | None:
    # Versions are only ever added, so this finds every stored pair; should one ever be missing, the export
    # still gives the member their numbers rather than failing or borrowing another version's words.
    try:
        return instruments.get(code, version)
    except DomainError:
        return None


def _answers(instrument: Instrument | None, stored: Mapping[str, int]) -> list[dict]:
    if instrument is None:
        return [{"item": label, "question": None, "value": value, "answer": None} for label, value in stored.items()]
    answers = []
    for item in instrument.items:
        value = stored.get(item.label)
        option = next((o.label for o in item.options if o.value == value), None)
        answers.append({"item": item.label, "question": item.text, "value": value, "answer": option})
    return answers


def _responses(user: User) -> list[MeasureResponse]:
    return list(db.session.scalars(
        select(MeasureResponse).where(MeasureResponse.user_id == user.id)
        .order_by(MeasureResponse.taken_at, MeasureResponse.id)
    ))


def measure_records(user: User) -> list[dict]:
    """Every measure response of the member, oldest first: scores, band, and each answer in its own words."""
    records = []
    for response in _responses(user):
        instrument = _instrument(response.code, response.version)
        scores = dict(response.scores or {})
        records.append({
            "id": response.id,
            "instrument": response.code,
            "version": response.version,
            "title": instrument.title if instrument is not None else None,
            "taken_at": response.taken_at.isoformat(),
            "local_date": response.local_date.isoformat(),
            "scores": scores,
            # From the stored score of the banded subscale, as scoring gave it when it was taken.
            "band": band_of(instrument, scores) if instrument is not None else None,
            "answers": _answers(instrument, json.loads(response.answers)),
            "attendance_offered": response.attendance_offered,
        })
    return records


def measure_table(records: list[dict]) -> tuple[list[str], list[dict]]:
    """Measure records (from `measure_records`) as a spreadsheet: the fields (a column per subscale score, then
    one per item of each instrument in the instrument's order) and one row per response."""
    score_fields = list(dict.fromkeys(f"{name} score" for record in records for name in record["scores"]))
    # Item 1 of the PHQ-9 is not item 1 of the BAM: each instrument's items get their own columns.
    item_fields = list(dict.fromkeys(
        f"{record['instrument']} item {answer['item']}" for record in records for answer in record["answers"]
    ))
    rows = []
    for record in records:
        row = {key: record[key] for key in MEASURE_FIELDS}
        row.update({f"{name} score": value for name, value in record["scores"].items()})
        row.update({f"{record['instrument']} item {a['item']}": a["value"] for a in record["answers"]})
        rows.append(row)
    return MEASURE_FIELDS + score_fields + item_fields, rows


def rhythm_records(user: User) -> list[dict]:
    """The rhythms the member chose for their measures."""
    rows = db.session.scalars(
        select(MeasureRhythm).where(MeasureRhythm.user_id == user.id).order_by(MeasureRhythm.code)
    )
    return [
        {"instrument": r.code, "rhythm": r.rhythm.value, "starts_on": r.starts_on.isoformat(),
         "at": r.at.isoformat(timespec="minutes"), "suggestion_id": r.suggestion_id}
        for r in rows
    ]


def suggestion_answer_records(user: User) -> list[dict]:
    """The member's answers to rhythms suggested to them; not who suggested them (that is someone else)."""
    rows = db.session.execute(
        select(SuggestionAnswer, RhythmSuggestion.code, RhythmSuggestion.rhythm)
        .join(RhythmSuggestion, RhythmSuggestion.id == SuggestionAnswer.suggestion_id)
        .where(SuggestionAnswer.user_id == user.id)
        .order_by(SuggestionAnswer.answered_at, SuggestionAnswer.id)
    ).all()
    return [
        {"suggestion_id": a.suggestion_id, "instrument": code, "rhythm": rhythm.value, "accepted": a.accepted,
         "answered_at": a.answered_at.isoformat()}
        for a, code, rhythm in rows
    ]
