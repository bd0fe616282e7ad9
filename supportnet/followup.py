"""Follow-up after a referral: each referral's status as its coordinators may see it (derived from membership,
RSVP and attendance rows at read time, and only under the person's consent), the nudges to coordinators, the
program's monthly outcomes with small cells suppressed, and the retention of referral rows.

* **Progress is derived, never copied.** Joined, first RSVP and first attendance are read from the membership,
  RSVP and attendance rows of the suggested groups each time a coordinator looks, so a revoked consent, a
  cancelled RSVP or a deleted account shows on the next read. "Opened" is a fact about the link, but it too is
  shown only under consent.
* **What counts.** An RSVP counts when it was made at or after acceptance and still says going (or waiting for
  a seat); an attendance counts when its meeting ended after acceptance (someone who accepts at the door of a
  meeting that has begun and is marked present has attended it). Only meetings of the suggested groups count.
* **Nudges** go to every coordinator of the program, at most once per referral and reason, while the person
  shares their progress; the dispatcher asks `nudge_problem` again before each one is sent.
* **Outcomes** count referrals per month of creation (UTC), add what the retention pass folded into
  ProgramMonth, and show no figure about fewer than 5 people (see `outcomes`).

Functions here flush and never commit; the caller (a view, the scheduler) commits.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from supportnet import audit, consent, programs, visibility
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    AuditAction,
    Consent,
    MeetingSeries,
    Membership,
    MemberStatus,
    Notification,
    NotificationKind,
    Occurrence,
    Program,
    ProgramCoordinator,
    ProgramMonth,
    Referral,
    ReferralSuggestion,
    Rsvp,
    RsvpStatus,
    Scope,
    User,
)
from supportnet.notifications import outbox
from supportnet.notifications.preferences import preferences_for

Kind = NotificationKind
# Nudges: no RSVP this long after acceptance, no attendance this long after acceptance.
NUDGE_NO_RSVP = timedelta(days=3)
NUDGE_NO_ATTENDANCE = timedelta(days=10)
NO_RSVP, NO_ATTENDANCE = "no-rsvp", "no-attendance"
NUDGE_AFTER = {NO_RSVP: NUDGE_NO_RSVP, NO_ATTENDANCE: NUDGE_NO_ATTENDANCE}
# Nudges are about the first weeks: after this a nudge not yet sent is no longer useful (and the planner stops
# looking at the referral).
NUDGE_WINDOW = timedelta(days=30)
# Outcomes: first attendance within these many days of acceptance.
WITHIN_7, WITHIN_30 = timedelta(days=7), timedelta(days=30)
# Referral rows are kept this long after acceptance, expiry or withdrawal, then folded into ProgramMonth.
KEEP_REFERRALS = timedelta(days=90)
# No figure about fewer people than this is shown.
SMALL_CELL = 5
FEWER = "fewer than 5"
NOT_SHOWN = "not shown"
_ANSWERED = (RsvpStatus.GOING, RsvpStatus.WAITLISTED)


@dataclass(frozen=True)
class ReferralStatus:
    """What a coordinator may see of one referral. Without the person's consent to follow their progress, an
    accepted referral says "accepted" and nothing more (every fact below is None)."""

    referral_id: int
    state: programs.ReferralState
    follows_progress: bool  # the person lets the program's coordinators see their progress
    opened_at: datetime | None = None
    accepted_at: datetime | None = None
    joined_at: datetime | None = None
    first_rsvp_at: datetime | None = None
    first_attended_at: datetime | None = None  # the start of the first meeting they attended


# --- progress, derived at read time ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    joined_at: datetime | None
    first_rsvp_at: datetime | None
    first_attended_at: datetime | None


def _facts(referral_ids: Iterable[int]) -> dict[int, _Facts]:
    """Joined, first RSVP and first attendance in the suggested groups, per accepted referral, in one query.

    Read for every accepted referral whose account still exists; callers decide who may see what (statuses and
    nudges only under consent, outcomes only as counts).
    """
    ids = sorted(set(referral_ids))
    if not ids:
        return {}
    suggested = ReferralSuggestion.referral_id == Referral.id
    joined = (
        select(func.min(Membership.joined_at))
        .join(ReferralSuggestion, ReferralSuggestion.group_id == Membership.group_id)
        .where(suggested, Membership.user_id == Referral.accepted_by_id, Membership.status == MemberStatus.ACTIVE)
        .correlate(Referral).scalar_subquery()
    )
    first_rsvp = (
        select(func.min(Rsvp.created_at))
        .join(Occurrence, Occurrence.id == Rsvp.occurrence_id)
        .join(MeetingSeries, MeetingSeries.id == Occurrence.series_id)
        .join(ReferralSuggestion, ReferralSuggestion.group_id == MeetingSeries.group_id)
        .where(suggested, Rsvp.user_id == Referral.accepted_by_id, Rsvp.status.in_(_ANSWERED),
               Rsvp.created_at >= Referral.accepted_at)
        .correlate(Referral).scalar_subquery()
    )
    first_attended = (
        select(func.min(Occurrence.starts_at))
        .select_from(Attendance)
        .join(Occurrence, Occurrence.id == Attendance.occurrence_id)
        .join(MeetingSeries, MeetingSeries.id == Occurrence.series_id)
        .join(ReferralSuggestion, ReferralSuggestion.group_id == MeetingSeries.group_id)
        .where(suggested, Attendance.user_id == Referral.accepted_by_id, Occurrence.ends_at > Referral.accepted_at)
        .correlate(Referral).scalar_subquery()
    )
    rows = db.session.execute(
        select(Referral.id, joined, first_rsvp, first_attended)
        .where(Referral.id.in_(ids), Referral.accepted_at.is_not(None), Referral.accepted_by_id.is_not(None))
    )
    return {rid: _Facts(j, r, a) for rid, j, r, a in rows}


# The columns the counts, the consent check and the nudges need: selected on their own, so that reading many
# referrals decrypts no names, notes or tokens.
_KEY_COLUMNS = (Referral.id, Referral.program_id, Referral.created_at, Referral.accepted_at, Referral.accepted_by_id)


def _recipient(referral) -> consent.Recipient:
    return consent.Recipient.program_coordinators(referral.program_id, referral.id)


def _sharing(referrals: Sequence, now: datetime) -> set[int]:
    """The ids of the accepted referrals whose person lets the program's coordinators see their progress now
    (one query for any number: the consent ledger's own rule of what stands)."""
    by_key = {_recipient(r).key: r for r in referrals if r.accepted_at is not None and r.accepted_by_id is not None}
    if not by_key:
        return set()
    rows = db.session.execute(
        select(Consent.recipient_key, Consent.subject_id)
        .where(Consent.recipient_key.in_(list(by_key)), Consent.scope == Scope.REFERRAL_PROGRESS,
               consent.standing(now))
    )
    # Only the person who accepted the referral can consent for it.
    return {by_key[key].id for key, subject_id in rows if by_key[key].accepted_by_id == subject_id}


def statuses(referrals: Sequence[Referral], now: datetime) -> dict[int, ReferralStatus]:
    """Each referral's status as its coordinators may see it, keyed by referral id: two queries, however many."""
    sharing = _sharing(referrals, now)
    facts = _facts(sharing)
    found: dict[int, ReferralStatus] = {}
    for r in referrals:
        state = programs.referral_state(r, now)
        if r.id not in sharing:
            found[r.id] = ReferralStatus(r.id, state, False)
            continue
        f = facts.get(r.id, _Facts(None, None, None))
        found[r.id] = ReferralStatus(
            r.id, state, True, opened_at=r.opened_at, accepted_at=r.accepted_at, joined_at=f.joined_at,
            first_rsvp_at=f.first_rsvp_at, first_attended_at=f.first_attended_at,
        )
    return found


def record_view(referral: Referral, by: User, now: datetime) -> bool:
    """A coordinator opened one referral's page: if it shows the person's progress (they consent), write who
    read it (the person sees the entry in their data export). Returns whether progress was shown.

    The referral page calls this with the same `now` it read the status with; a page without consented
    progress shows nothing about the person and writes nothing.
    """
    status = statuses([referral], now)[referral.id]
    if not status.follows_progress:
        return False
    audit.record(AuditAction.REFERRAL_VIEWED, actor=by, now=now, subject=referral.accepted_by,
                 referral_id=referral.id)
    return True


# --- nudges ------------------------------------------------------------------------------------------------------


def _missing(reason: str, facts: _Facts | None) -> bool:
    """Whether what the nudge is about is still missing: no RSVP (nor attendance), or no attendance."""
    if facts is None:
        return False
    if reason == NO_RSVP:
        return facts.first_rsvp_at is None and facts.first_attended_at is None
    return facts.first_attended_at is None


def nudge_rows(now: datetime) -> list[dict]:
    """Nudge rows for accepted referrals under consent that are due within the outbox's lookahead and whose
    RSVP or attendance is still missing: one per coordinator and channel (the planner writes them, insert-ignore,
    so each is written at most once; the dispatcher re-checks each before it goes)."""
    referrals = db.session.execute(
        select(*_KEY_COLUMNS).where(Referral.accepted_at.is_not(None), Referral.accepted_by_id.is_not(None),
                                    Referral.accepted_at > now - NUDGE_WINDOW)
    ).all()
    sharing = _sharing(referrals, now)
    if not sharing:
        return []
    facts = _facts(sharing)
    shared = [r for r in referrals if r.id in sharing]
    coordinators: dict[int, list[int]] = defaultdict(list)
    for program_id, user_id in db.session.execute(
        select(ProgramCoordinator.program_id, ProgramCoordinator.user_id)
        .where(ProgramCoordinator.program_id.in_({r.program_id for r in shared}))
    ):
        coordinators[program_id].append(user_id)
    prefs = preferences_for(uid for uids in coordinators.values() for uid in uids)
    rows: list[dict] = []
    for r in shared:
        for reason, after in NUDGE_AFTER.items():
            due = r.accepted_at + after
            if due > now + outbox.LOOKAHEAD or not _missing(reason, facts.get(r.id)):
                continue
            for user_id in coordinators[r.program_id]:
                for channel in prefs[user_id].channels_for(Kind.REFERRAL_NUDGE):
                    rows.append(outbox.new_row(
                        user_id, Kind.REFERRAL_NUDGE, channel, f"referral:{r.id}:{reason}:{user_id}", due, now,
                        expires=r.accepted_at + NUDGE_WINDOW,
                        payload={"referral_id": r.id, "program_id": r.program_id, "reason": reason},
                    ))
    return rows


def nudge_problem(n: Notification, now: datetime) -> str | None:
    """Why a nudge must not go now (asked by the dispatcher just before sending), or None if it may."""
    payload = n.payload or {}
    referral = db.session.get(Referral, payload.get("referral_id"))
    if referral is None or referral.accepted_at is None:
        return "the referral is gone"
    if not visibility.coordinates(n.user, referral.program_id):
        return "no longer a coordinator"
    if referral.id not in _sharing([referral], now):
        return "the person no longer shares their progress"
    if not _missing(payload.get("reason", ""), _facts([referral.id]).get(referral.id)):
        return "answered or attended since"
    return None


def visible_nudges(user: User, rows: list[Notification], now: datetime) -> list[Notification]:
    """The member's inbox rows without the nudges they may no longer read: the referral is gone, they no longer
    coordinate its program, or the person stopped sharing their progress (a nudge is about that progress)."""
    ids = {(n.payload or {}).get("referral_id") for n in rows if n.kind == Kind.REFERRAL_NUDGE}
    if not ids:
        return rows
    referrals = db.session.execute(select(*_KEY_COLUMNS).where(Referral.id.in_(ids))).all()
    sharing = _sharing(referrals, now)
    coordinated = set(db.session.scalars(
        select(ProgramCoordinator.program_id).where(ProgramCoordinator.user_id == user.id)))
    allowed = {r.id for r in referrals if r.id in sharing and r.program_id in coordinated}
    return [n for n in rows if n.kind != Kind.REFERRAL_NUDGE or (n.payload or {}).get("referral_id") in allowed]


def nudge_referral(n: Notification) -> Referral | None:
    """The referral a nudge is about (for its wording), if it still exists."""
    return db.session.get(Referral, (n.payload or {}).get("referral_id"))


# --- outcomes ----------------------------------------------------------------------------------------------------


@dataclass
class MonthCounts:
    """Counts about one month of referrals: made, accepted, first attended within 7 and within 30 days."""

    made: int = 0
    accepted: int = 0
    attended_7: int = 0
    attended_30: int = 0
    # Accepted referrals still kept whose person does not share their progress (never stored: see `outcomes`).
    private: int = 0

    def add(self, other: MonthCounts) -> None:
        self.made += other.made
        self.accepted += other.accepted
        self.attended_7 += other.attended_7
        self.attended_30 += other.attended_30
        self.private += other.private


def _month(instant: datetime) -> date:
    return date(instant.year, instant.month, 1)


def _count(referrals: Sequence, sharing: set[int] | None = None) -> dict[tuple[int, date], MonthCounts]:
    """Counts per (program, month of creation, UTC) of these referrals.

    Attendance is counted for every accepted referral, with consent to follow progress or without: the result
    is a count per month, never a fact about one person, and it is shown only for 5 people or more (and not at
    all where 1 to 4 people would make the difference, see `outcomes`). A person who deleted their account
    still counts as made and accepted (the referral keeps its acceptance time), but their attendance rows are
    gone with the account, so they no longer count as having attended.
    """
    facts = _facts(r.id for r in referrals if r.accepted_at is not None)
    counts: dict[tuple[int, date], MonthCounts] = defaultdict(MonthCounts)
    for r in referrals:
        cell = counts[(r.program_id, _month(r.created_at))]
        cell.made += 1
        if r.accepted_at is None:
            continue
        cell.accepted += 1
        if sharing is not None and r.id not in sharing:
            cell.private += 1
        f = facts.get(r.id)
        first = f.first_attended_at if f is not None else None
        if first is not None and first <= r.accepted_at + WITHIN_7:
            cell.attended_7 += 1
        if first is not None and first <= r.accepted_at + WITHIN_30:
            cell.attended_30 += 1
    return counts


def month_counts(program: Program, now: datetime) -> dict[date, MonthCounts]:
    """The program's counts per month of referral: the referrals kept plus what retention folded away."""
    kept = db.session.execute(select(*_KEY_COLUMNS).where(Referral.program_id == program.id)).all()
    months: dict[date, MonthCounts] = defaultdict(MonthCounts)
    for (_program_id, month), cell in _count(kept, _sharing(kept, now)).items():
        months[month].add(cell)
    for row in db.session.scalars(select(ProgramMonth).where(ProgramMonth.program_id == program.id)):
        months[row.month].add(MonthCounts(row.made, row.accepted, row.attended_7, row.attended_30))
    return dict(months)


def _shown_count(n: int) -> str:
    return FEWER if n < SMALL_CELL else str(n)


def _attended_cells(attended: int, accepted: int) -> tuple[str, str]:
    """The count and the share of accepted referrals whose first meeting came in time.

    A count of 1 to 4 reads "fewer than 5". So does its share (the share of a shown total gives the count back).
    And where the accepted referrals that did NOT attend number 1 to 4, neither the count nor the share is
    shown: with "accepted" beside them, either would give away that small group by subtraction (10 accepted,
    8 attended says 2 did not), and a coordinator who knows who accepted could then single those people out.
    """
    if attended < SMALL_CELL:
        return FEWER, FEWER
    if 0 < accepted - attended < SMALL_CELL:
        return NOT_SHOWN, NOT_SHOWN
    return str(attended), f"{round(100 * attended / accepted)}%"


HEADER = ("Month of referral", "Referrals made", "Accepted", "First meeting within 7 days",
          "Share of accepted (7 days)", "First meeting within 30 days", "Share of accepted (30 days)")


@dataclass(frozen=True)
class OutcomeTable:
    """The program's outcomes as shown: one row of text cells per month, newest first; the CSV is this table."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    # Months whose 30-day figures can still rise (a referral of that month was accepted less than 30 days ago).
    still_open: list[str]

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return buffer.getvalue()


def _month_label(month: date) -> str:
    return f"{month:%B %Y}"


def outcomes(program: Program, now: datetime) -> OutcomeTable:
    """The program's outcomes per month of referral (UTC), with no figure about fewer than 5 people.

    Every count of 1 to 4 reads "fewer than 5" (made, accepted, attended); the attendance figures also hide when
    1 to 4 accepted people did not attend (see `_attended_cells`). Nothing here is about one person.
    """
    months = month_counts(program, now)
    rows = []
    for month in sorted(months, reverse=True):
        c = months[month]
        count_7, share_7 = _attended_cells(c.attended_7, c.accepted)
        count_30, share_30 = _attended_cells(c.attended_30, c.accepted)
        if 0 < c.private < SMALL_CELL:
            # Coordinators see, one by one, the progress of everyone who shares it; the month's attendance
            # minus what they saw would be the attendance of the 1 to 4 people who chose not to share.
            count_7 = share_7 = count_30 = share_30 = NOT_SHOWN
        rows.append((_month_label(month), _shown_count(c.made), _shown_count(c.accepted),
                     count_7, share_7, count_30, share_30))
    recent = db.session.scalars(
        select(Referral.created_at).where(Referral.program_id == program.id,
                                          Referral.accepted_at > now - WITHIN_30)
    ).all()
    still_open = [_month_label(m) for m in sorted({_month(c) for c in recent})]
    return OutcomeTable(HEADER, rows, still_open)


# --- retention ---------------------------------------------------------------------------------------------------


def _due_for_folding(now: datetime):
    cutoff = now - KEEP_REFERRALS
    return or_(
        Referral.accepted_at <= cutoff,
        and_(Referral.accepted_at.is_(None), or_(Referral.withdrawn_at <= cutoff, Referral.expires_at <= cutoff)),
    )


def _upsert_months(counts: dict[tuple[int, date], MonthCounts]) -> None:
    """Add counts to ProgramMonth, one row per program and month (insert, or add to the row there)."""
    if not counts:
        return
    values = [
        {"program_id": program_id, "month": month, "made": c.made, "accepted": c.accepted,
         "attended_7": c.attended_7, "attended_30": c.attended_30}
        for (program_id, month), c in sorted(counts.items())
    ]
    dialect = db.session.get_bind().dialect.name
    insert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(ProgramMonth)
    table = ProgramMonth.__table__
    # Both databases speak INSERT ... ON CONFLICT DO UPDATE with "excluded": a second pass (or a second
    # scheduler) that folds other referrals of the same month adds to the row instead of failing.
    statement = insert.on_conflict_do_update(
        index_elements=["program_id", "month"],
        set_={name: table.c[name] + insert.excluded[name] for name in ("made", "accepted", "attended_7",
                                                                        "attended_30")},
    )
    db.session.execute(statement, values)


def fold_old_referrals(now: datetime) -> int:
    """The daily retention of referrals: those accepted, expired or withdrawn 90 days ago or more are added to
    their program's monthly counts and deleted (their suggestions and consents go with them by foreign key, and
    their nudges are deleted here). Returns how many were deleted; flush only."""
    # Locked (PostgreSQL): a second scheduler's pass waits, then finds them gone, so nothing is counted twice.
    old = db.session.execute(select(*_KEY_COLUMNS).where(_due_for_folding(now)).with_for_update()).all()
    if not old:
        return 0
    _upsert_months(_count(old))
    ids = [r.id for r in old]
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        db.session.execute(
            delete(Notification)
            .where(Notification.kind == Kind.REFERRAL_NUDGE,
                   or_(*(Notification.dedupe_key.like(f"referral:{rid}:%") for rid in chunk)))
            .execution_options(synchronize_session=False)
        )
        db.session.execute(delete(Referral).where(Referral.id.in_(chunk)).execution_options(synchronize_session=False))
    db.session.expire_all()
    db.session.flush()
    return len(ids)
