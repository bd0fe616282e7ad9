"""The member's check-ins as plain records, CSV and JSON, for their own download.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from supportnet.checkins.records import MOOD_LABELS, tag_labels
from supportnet.extensions import db
from supportnet.models import CheckIn, CheckInTag, Occurrence, User

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
