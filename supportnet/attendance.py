"""Attendance: facilitators mark who came, members check themselves in with the code shown in the meeting,
and members make revocable proofs of the meetings they attended.

Functions here change models and flush; the caller (a view, a command) commits.

Decisions worth knowing:

* Attendance can be marked from 15 minutes before a meeting starts (people arrive early), with no end:
  facilitators often mark it afterwards. Self check-in is only open from 15 minutes before the start until
  the end, because the code is only meant to be seen in the room (or the call).
* Only active members check themselves in. Facilitators can also mark someone who said they'd come (going or
  waiting) and left the group since; a "can't go" connects nobody. A proof shows only meetings of groups the
  member belonged to.
* Codes are 6 characters from an alphabet without look-alikes (no 0/O, 1/I/L), drawn with `secrets`;
  typed codes are compared case-insensitively, ignoring spaces and dashes, in constant time.
* A proof freezes the facts when it is made (the local dates of the meetings attended): later edits of
  meetings or the group don't change what the member showed someone. It shows the name and label the member
  chose (a group name can say too much; "Aftercare group" says enough). Its link is the proof id and a random
  nonce stored on the proof, signed with the app's secret; revoking or deleting the proof kills the link.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from supportnet import visibility
from supportnet.errors import DomainError, Forbidden
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    AttendanceCode,
    AttendanceHow,
    AttendanceProof,
    Group,
    MeetingSeries,
    Membership,
    MemberStatus,
    Occurrence,
    OccurrenceStatus,
    Rsvp,
    RsvpStatus,
    User,
)

CHECK_IN_OPENS = timedelta(minutes=15)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
PROOF_SALT = "attendance-proof"


# --- rules ---


def _require_not_cancelled(occ: Occurrence) -> None:
    if occ.status == OccurrenceStatus.CANCELLED:
        raise DomainError("This meeting is cancelled.")


def _require_markable(occ: Occurrence, now: datetime) -> None:
    _require_not_cancelled(occ)
    if now < occ.starts_at - CHECK_IN_OPENS:
        raise DomainError("Attendance can be marked from 15 minutes before the meeting starts.")


def _require_connected(occ: Occurrence, user: User, message: str) -> None:
    if visibility.is_member(occ.series.group, user):
        return
    # Someone who said they'd come (going or waiting, not "can't go") and then left still came; a "can't go"
    # is no tie to the meeting at all.
    answered = db.session.scalar(select(Rsvp.id).where(
        Rsvp.occurrence_id == occ.id, Rsvp.user_id == user.id, Rsvp.status.in_((RsvpStatus.GOING,
                                                                                RsvpStatus.WAITLISTED))))
    if answered is None:
        raise DomainError(message)


def _require_taking_part(occ: Occurrence, user: User) -> None:
    # Checking oneself in is taking part: only an active member of a group that is not archived may.
    group = occ.series.group
    if group.archived_at is not None or not visibility.is_member(group, user):
        raise Forbidden("Only members of this group can check in.")


def _attendance(occ: Occurrence, user: User) -> Attendance | None:
    return db.session.scalar(
        select(Attendance).where(Attendance.occurrence_id == occ.id, Attendance.user_id == user.id)
    )


def has_attended(occ: Occurrence, user: User) -> bool:
    """Return whether the user's attendance at this meeting is recorded."""
    return _attendance(occ, user) is not None


def _record(occ: Occurrence, user: User, how: AttendanceHow, now: datetime, by: User | None) -> Attendance:
    try:
        # A savepoint: two facilitators marking the same person at once (PostgreSQL) is not an error.
        with db.session.begin_nested():
            row = Attendance(occurrence=occ, user=user, how=how, marked_at=now, marked_by=by)
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        row = _attendance(occ, user)
        if row is None:
            raise
    return row


# --- marking and self check-in ---


def mark_attended(occ: Occurrence, user: User, by: User, now: datetime) -> Attendance:
    """Record, as a facilitator, that someone was at the meeting (marking twice changes nothing)."""
    if not visibility.can_manage(occ.series.group, by):
        raise Forbidden("Only the group's facilitators can mark attendance.")
    _require_markable(occ, now)
    existing = _attendance(occ, user)
    if existing is not None:
        return existing
    _require_connected(occ, user, "Only members of the group, or people who RSVP'd, can be marked as attending.")
    return _record(occ, user, AttendanceHow.FACILITATOR, now, by)


def unmark_attended(occ: Occurrence, user: User) -> bool:
    """Take back a mark of attendance; return whether there was one."""
    result = db.session.execute(
        delete(Attendance)
        .where(Attendance.occurrence_id == occ.id, Attendance.user_id == user.id)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount > 0


def new_code(occ: Occurrence, now: datetime) -> str:
    """Make a new self check-in code for the meeting (the previous one stops working) and return it."""
    _require_not_cancelled(occ)
    if occ.ends_at <= now:
        raise DomainError("This meeting is over, so check-in has closed.")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    row = db.session.get(AttendanceCode, occ.id)
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(AttendanceCode(occurrence_id=occ.id, code=code, created_at=now))
                db.session.flush()
            return code
        except IntegrityError:  # another facilitator made the first code at the same moment
            row = db.session.get(AttendanceCode, occ.id, populate_existing=True)
            if row is None:
                raise
    row.code = code
    row.created_at = now
    db.session.flush()
    return code


def code_for(occ: Occurrence) -> str | None:
    """The meeting's current self check-in code, or None if no code was made."""
    return db.session.scalar(select(AttendanceCode.code).where(AttendanceCode.occurrence_id == occ.id))


def normalize_code(typed: str) -> str:
    """A typed code in stored form: upper case, without spaces or dashes."""
    return "".join(ch for ch in (typed or "").upper() if ch not in " -\t")


def self_check_in(occ: Occurrence, user: User, code: str, now: datetime) -> Attendance:
    """Check yourself in with the code shown in the meeting (checking in twice changes nothing)."""
    _require_not_cancelled(occ)
    if now < occ.starts_at - CHECK_IN_OPENS:
        raise DomainError("Check-in opens 15 minutes before the meeting starts.", field="code")
    if now >= occ.ends_at:
        raise DomainError("This meeting is over, so check-in has closed. A facilitator can still mark you.")
    _require_taking_part(occ, user)
    stored = code_for(occ)
    if stored is None:
        raise DomainError("Check-in isn't open yet: ask the facilitator to show the code.", field="code")
    if not secrets.compare_digest(normalize_code(code).encode(), stored.encode()):
        raise DomainError("That code doesn't match. Check the code shown in the meeting and try again.", field="code")
    existing = _attendance(occ, user)
    if existing is not None:
        return existing
    return _record(occ, user, AttendanceHow.SELF_CODE, now, None)


# --- reading ---


def attendance_history(user: User) -> list[tuple[Attendance, Occurrence]]:
    """The meetings the member attended, most recent first, with their series and groups, in one query."""
    rows = db.session.scalars(
        select(Attendance)
        .join(Attendance.occurrence)
        .join(Occurrence.series)
        .join(MeetingSeries.group)
        .options(
            contains_eager(Attendance.occurrence).contains_eager(Occurrence.series).contains_eager(MeetingSeries.group)
        )
        .where(Attendance.user_id == user.id)
        .order_by(Occurrence.starts_at.desc(), Occurrence.id.desc())
    ).all()
    return [(row, row.occurrence) for row in rows]


def attendance_counts(group: Group, now: datetime, last: int = 12) -> list[tuple[Occurrence, int]]:
    """How many came to each of the group's last meetings that took place, oldest first."""
    recent = db.session.scalars(
        select(Occurrence)
        .join(Occurrence.series)
        .options(contains_eager(Occurrence.series))
        .where(
            MeetingSeries.group_id == group.id,
            Occurrence.starts_at <= now,
            Occurrence.status != OccurrenceStatus.CANCELLED,
        )
        .order_by(Occurrence.starts_at.desc(), Occurrence.id.desc())
        .limit(last)
    ).all()
    if not recent:
        return []
    counts = dict(
        db.session.execute(
            select(Attendance.occurrence_id, func.count())
            .where(Attendance.occurrence_id.in_([occ.id for occ in recent]))
            .group_by(Attendance.occurrence_id)
        ).all()
    )
    return [(occ, counts.get(occ.id, 0)) for occ in reversed(recent)]


# --- proofs ---


def _clean(value: str, field: str, limit: int, empty: str) -> str:
    value = " ".join((value or "").split())
    if not value:
        raise DomainError(empty, field=field)
    if len(value) > limit:
        raise DomainError(f"Keep this to {limit} characters.", field=field)
    return value


def create_proof(
    user: User, *, shown_name: str, label: str, group: Group | None, now: datetime
) -> AttendanceProof:
    """Make a shareable proof of the meetings the member attended (in one group, or all), frozen as of now."""
    shown_name = _clean(shown_name, "shown_name", 60, "Enter the name the proof should show.")
    label = _clean(label, "label", 120, "Enter how the proof should name the meetings.")
    query = (
        select(Occurrence.starts_at, MeetingSeries.timezone)
        .join(Attendance, Attendance.occurrence_id == Occurrence.id)
        .join(MeetingSeries, Occurrence.series_id == MeetingSeries.id)
        # Only meetings of groups the member belonged to (they may have left since): attendance recorded for
        # someone who never was a member proves nothing a facilitator vouched for.
        .join(Membership, and_(Membership.group_id == MeetingSeries.group_id, Membership.user_id == user.id))
        .where(Attendance.user_id == user.id, Membership.joined_at.is_not(None),
               Membership.status.in_((MemberStatus.ACTIVE, MemberStatus.LEFT, MemberStatus.REMOVED)))
    )
    if group is not None:
        query = query.where(MeetingSeries.group_id == group.id)
    # The date people were in the room: local to the meeting, not UTC (an evening meeting in New York).
    dates = sorted(starts_at.astimezone(ZoneInfo(tz)).date().isoformat() for starts_at, tz in db.session.execute(query))
    if not dates:
        raise DomainError("There is no attendance to show yet.", field="group")
    proof = AttendanceProof(
        user=user,
        shown_name=shown_name,
        label=label,
        group=group,
        dates=dates,
        created_at=now,
    )
    db.session.add(proof)
    db.session.flush()
    return proof


def revoke_proof(proof: AttendanceProof, now: datetime) -> AttendanceProof:
    """Stop a proof's link from working."""
    if proof.revoked_at is None:
        proof.revoked_at = now
        db.session.flush()
    return proof


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=PROOF_SALT)


def proof_token(proof: AttendanceProof) -> str:
    """The signed token for the proof's shareable link: its id and the random nonce stored on it."""
    return _serializer().dumps([proof.id, proof.nonce])


def load_proof(token: str) -> AttendanceProof | None:
    """The proof a link's token names, or None if the token is forged, the proof is gone or revoked."""
    try:
        data = _serializer().loads(token)
    except BadData:
        return None
    if not isinstance(data, list) or len(data) != 2:
        return None
    proof_id, nonce = data
    if not isinstance(proof_id, int) or isinstance(proof_id, bool) or not isinstance(nonce, str):
        return None
    proof = db.session.get(AttendanceProof, proof_id)
    # The nonce ties the link to this very row: a link to a deleted proof never shows another one.
    if proof is None or not secrets.compare_digest(proof.nonce.encode(), nonce.encode()):
        return None
    if proof.revoked_at is not None:
        return None
    return proof


# --- a member's record at a series: the "we missed you" notes and the alerts a member sets share it ---


def recent_record(user_id: int, series_id: int, now: datetime, limit: int) -> list[tuple[int, bool]]:
    """The member's last `limit` held meetings of a series whose attendance was taken, newest first:
    (meeting id, attended)."""
    # Only meetings whose attendance was taken count: a facilitator who never marks attendance must not make
    # every member look absent.
    taken = db.session.execute(
        select(Occurrence.id, func.max(case((Attendance.user_id == user_id, 1), else_=0)))
        .join(Attendance, Attendance.occurrence_id == Occurrence.id)
        .where(Occurrence.series_id == series_id, Occurrence.ends_at <= now,
               Occurrence.status != OccurrenceStatus.CANCELLED)
        .group_by(Occurrence.id, Occurrence.starts_at)
        .order_by(Occurrence.starts_at.desc())
        .limit(limit)
    ).all()
    return [(occ_id, bool(attended)) for occ_id, attended in taken]


def missed_streak(record: list[tuple[int, bool]]) -> tuple[int, int | None, list[bool]]:
    """From a record (newest first): how many meetings in a row were missed, the first of them, and the
    attendance before the streak (newest first)."""
    streak, first_missed = 0, None
    for occ_id, attended in record:
        if attended:
            break
        streak += 1
        first_missed = occ_id
    return streak, first_missed, [attended for _occ_id, attended in record[streak:]]
