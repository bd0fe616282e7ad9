"""The audit log: facilitators' and admins' actions (who, what, when), for the group's facilitators and admins.

Functions here change models and flush. The domain operations that make a change call `record` themselves
(groups, memberships, scheduling, accounts, announcements; the acting person passed as `by`/`actor`), so a view,
a command or a scheduler job writes the same entry, in the same transaction as the action: no action without
its entry, no entry for a refused action.

Decisions worth knowing:

* Entries link people by id and copy no names. Pages show the current display name, and "deleted user" once
  an account is gone (its links become NULL), so the log keeps its integrity without keeping personal data.
* `details` takes a fixed set of keys with short plain values (roles, instants, counts). A facilitator's
  free text (a cancellation reason, an announcement) and anything from check-ins never go in.
* Who sees what: a group's active facilitators see that group's entries; admins see every entry, site role
  changes included. Members and other facilitators see nothing (the pages answer 403/404 like the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from sqlalchemy import delete, select
from sqlalchemy.orm import joinedload

from supportnet.extensions import db
from supportnet.models import AuditAction, AuditEntry, Group, Occurrence, User

DELETED_USER = "deleted user"
PAGE_SIZE = 100
# Plain values only: a role, an instant, a number. Never free text a person wrote.
DETAIL_KEYS = frozenset({"from_role", "to_role", "starts_at", "from_starts_at", "to_starts_at", "recipients",
                         "program_id", "referral_id"})
# Rhythm suggestions to members of a group or a program's groups: the suggestion's id only.
DETAIL_KEYS = DETAIL_KEYS | {"suggestion_id"}
# A coach's read of a member's note on a session: the session's id only, never the note.
DETAIL_KEYS = DETAIL_KEYS | {"session_id"}
_MAX_DETAIL = 64

LABELS = {
    AuditAction.MEETING_CANCELLED: "cancelled a meeting",
    AuditAction.MEETING_MOVED: "moved a meeting",
    AuditAction.MEETING_RESTORED: "restored a meeting",
    AuditAction.SERIES_ENDED: "ended a meeting series",
    AuditAction.MEMBER_APPROVED: "approved",
    AuditAction.MEMBER_DECLINED: "declined the request of",
    AuditAction.MEMBER_REMOVED: "removed",
    AuditAction.ROLE_CHANGED: "changed the role of",
    AuditAction.GROUP_ARCHIVED: "archived the group",
    AuditAction.ANNOUNCEMENT_SENT: "sent an announcement",
    AuditAction.SITE_ROLE_CHANGED: "changed the site role of",
    AuditAction.TWO_FACTOR_RESET: "turned off two-factor authentication of",
    # Programs and referrals (ids only: never a referred person's name, note or address).
    AuditAction.PROGRAM_CREATED: "created a program",
    AuditAction.COORDINATOR_ADDED: "made a program coordinator:",
    AuditAction.COORDINATOR_REMOVED: "removed a program coordinator:",
    AuditAction.PROGRAM_GROUP_CHANGED: "changed the program of the group",
    AuditAction.REFERRAL_CREATED: "made a referral",
    AuditAction.REFERRAL_WITHDRAWN: "withdrew a referral",
    # The person is not named in the site's log (being referred says something about them); the entry's subject
    # is kept for their own export, so they can see who read their progress and when.
    AuditAction.REFERRAL_VIEWED: "read a referred person's progress",
    # Shared measures: the member is not named in the site's log either; the subject is kept for their export.
    AuditAction.MEASURES_VIEWED: "read a member's shared measures",
}
# Measures: a group's facilitators or a program's coordinators suggest a rhythm (nobody who answers is named).
LABELS |= {
    AuditAction.RHYTHM_SUGGESTED: "suggested a measure to members",
    AuditAction.RHYTHM_SUGGESTION_WITHDRAWN: "withdrew a suggested measure",
    AuditAction.COACH_GRANTED: "made someone a coach",
    AuditAction.COACH_ACCEPTED: "accepted the invitation to coach",
    AuditAction.COACH_ENDED: "ended someone's place as a coach",
    AuditAction.SESSION_NOTE_VIEWED: "read a member's note on a session",
}


def _clean_details(details: dict | None) -> dict:
    clean: dict = {}
    for key, value in (details or {}).items():
        if key not in DETAIL_KEYS:
            raise ValueError(f"audit detail {key!r} is not one of the allowed keys")
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        elif hasattr(value, "value"):  # an enum
            value = value.value
        if not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value)) > _MAX_DETAIL:
            raise ValueError(f"audit detail {key!r} must be a short plain value")
        clean[key] = value
    return clean


def record(
    action: AuditAction,
    *,
    actor: User | None,
    now: datetime,
    group: Group | None = None,
    subject: User | None = None,
    occurrence: Occurrence | None = None,
    **details,
) -> AuditEntry:
    """Write one audit entry for an action a facilitator or admin just took (in the action's transaction)."""
    if occurrence is not None and group is None:
        group = occurrence.series.group
    entry = AuditEntry(
        at=now,
        action=AuditAction(action),
        actor_id=actor.id if actor is not None else None,
        subject_id=subject.id if subject is not None else None,
        group_id=group.id if group is not None else None,
        occurrence_id=occurrence.id if occurrence is not None else None,
        details=_clean_details(details),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


# --- reading ---


@dataclass(frozen=True)
class Line:
    """One entry as a page shows it."""

    at: datetime
    actor: str
    action: str
    subject: str | None
    group: Group | None
    occurrence: Occurrence | None
    details: dict


def _name(user: User | None) -> str:
    return user.display_name if user is not None else DELETED_USER


def _line(entry: AuditEntry) -> Line:
    subject = None
    if entry.action in (
        AuditAction.MEMBER_APPROVED, AuditAction.MEMBER_DECLINED, AuditAction.MEMBER_REMOVED,
        AuditAction.ROLE_CHANGED, AuditAction.SITE_ROLE_CHANGED, AuditAction.TWO_FACTOR_RESET,
        AuditAction.COORDINATOR_ADDED, AuditAction.COORDINATOR_REMOVED,
    ):
        subject = _name(entry.subject)
    return Line(
        at=entry.at, actor=_name(entry.actor), action=LABELS[entry.action], subject=subject, group=entry.group,
        occurrence=entry.occurrence, details=dict(entry.details or {}),
    )


def _query():
    return select(AuditEntry).options(
        joinedload(AuditEntry.actor), joinedload(AuditEntry.subject), joinedload(AuditEntry.group),
        joinedload(AuditEntry.occurrence),
    )


def group_log(group: Group, limit: int = PAGE_SIZE) -> list[Line]:
    """The group's entries, newest first (for its facilitators and admins), in one query."""
    rows = db.session.scalars(
        _query().where(AuditEntry.group_id == group.id).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    ).unique()
    return [_line(row) for row in rows]


def site_log(limit: int = PAGE_SIZE, action: AuditAction | None = None) -> list[Line]:
    """Every entry, newest first (for admins), in one query."""
    query = _query().order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return [_line(row) for row in db.session.scalars(query).unique()]


def entries_about(user: User) -> list[AuditEntry]:
    """Entries where the user acted or was acted upon, oldest first (for their export)."""
    return list(
        db.session.scalars(
            select(AuditEntry)
            .options(joinedload(AuditEntry.group))
            .where((AuditEntry.actor_id == user.id) | (AuditEntry.subject_id == user.id))
            .order_by(AuditEntry.at, AuditEntry.id)
        ).unique()
    )


# --- retention ---


def purge(now: datetime, months: int) -> int:
    """Delete entries older than `months` months (0 or less keeps everything); returns how many went."""
    if months <= 0:
        return 0
    result = db.session.execute(
        delete(AuditEntry).where(AuditEntry.at < now - relativedelta(months=months))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
