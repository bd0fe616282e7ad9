"""What a group's facilitators or a program's coordinators see of members' measures: the scores (and, if the
member chose, the answers) of members who share them, each read recorded for the member, and monthly summaries
(median and distribution) only from sharing members and only when at least 5 of them answered that month.

Every read asks the consent ledger (supportnet/consent.py) at that moment, so a revoked consent hides the member
at the next read. The place is checked again as well: a group's facilitators see only its active members, a
program's coordinators only members active now in one of its groups that is not archived (the ledger's ending
of a program-level consent is the first line, this is the second).

Months are calendar months of the member's own `local_date` (the day the measure is about, in the member's
zone), so a response taken late on the 31st in Honolulu counts in the month the member lived it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import defer

from supportnet import audit, consent, visibility
from supportnet.checkins.support import AGGREGATE_MIN
from supportnet.consent import Recipient
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.measures import instruments
from supportnet.measures.definitions import Instrument
from supportnet.measures.scoring import band_of
from supportnet.models import (
    AuditAction,
    Group,
    MeasureResponse,
    Membership,
    MemberStatus,
    Program,
    Scope,
    User,
)

# How many months of summaries a page shows, newest first.
SUMMARY_MONTHS = 6
# How many of one member's responses the detail page shows, newest first.
DETAIL_RESPONSES = 50
# Unbanded subscales (the BAM's) are summarised in this many equal ranges of their possible scores.
UNBANDED_RANGES = 3


@dataclass(frozen=True)
class Place:
    """Whose page it is: one group's facilitators, or one program's coordinators."""

    recipient: Recipient
    group: Group | None = None
    program: Program | None = None

    @classmethod
    def of_group(cls, group: Group) -> Place:
        return cls(Recipient.group_facilitators(group.id), group=group)

    @classmethod
    def of_program(cls, program: Program) -> Place:
        return cls(Recipient.program_coordinators(program.id), program=program)

    def may_read(self, user: User | None) -> bool:
        """Only the recipient's own people: a group's active facilitators, a program's named coordinators
        (site admins are neither by being admins)."""
        if self.group is not None:
            return visibility.is_group_facilitator(self.group, user)
        return self.program is not None and visibility.coordinates(user, self.program.id)

    def members_now(self):
        """A query of the ids of the members this place may be shared with now."""
        if self.group is not None:
            return select(Membership.user_id).where(
                Membership.group_id == self.group.id, Membership.status == MemberStatus.ACTIVE)
        program_id = self.program.id if self.program is not None else None
        return (
            select(Membership.user_id).join(Group, Group.id == Membership.group_id)
            .where(Group.program_id == program_id, Group.archived_at.is_(None),
                   Membership.status == MemberStatus.ACTIVE)
        )


def sharers(place: Place, now: datetime) -> dict[int, set[Scope]]:
    """The members who share their scores with this place now, with what they share (answers only beside
    scores), and who are still in the place."""
    shared = {
        uid: scopes & {Scope.MEASURE_SCORES, Scope.MEASURE_ANSWERS}
        for uid, scopes in consent.scopes_by_subject(place.recipient, now).items()
        if Scope.MEASURE_SCORES in scopes
    }
    if not shared:
        return {}
    present = set(db.session.scalars(place.members_now().where(Membership.user_id.in_(list(shared)))))
    return {uid: scopes for uid, scopes in shared.items() if uid in present}


# --- latest scores ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latest:
    """A member's latest response to one instrument, as numbers."""

    code: str
    name: str
    local_date: date
    scores: dict[str, int]
    band: str | None


@dataclass(frozen=True)
class Sharer:
    """One member who shares scores with the place, with their latest score per instrument."""

    user: User
    answers_too: bool
    latest: list[Latest] = field(default_factory=list)


def _instrument(response: MeasureResponse) -> Instrument | None:
    try:
        return instruments.get(response.code, response.version)
    except DomainError:  # a version this release does not know is left out, never guessed
        return None


def _latest(response: MeasureResponse) -> Latest | None:
    instrument = _instrument(response)
    if instrument is None:
        return None
    scores = {str(k): int(v) for k, v in (response.scores or {}).items()}
    return Latest(response.code, instrument.title, response.local_date, scores, band_of(instrument, scores))


def latest_by_member(user_ids: Iterable[int]) -> dict[int, list[Latest]]:
    """Each member's latest response per instrument, in one query (the newest by local day, then by time)."""
    ids = list(user_ids)
    if not ids:
        return {}
    ranked = select(
        MeasureResponse.id,
        func.row_number().over(
            partition_by=(MeasureResponse.user_id, MeasureResponse.code),
            order_by=(MeasureResponse.local_date.desc(), MeasureResponse.taken_at.desc(), MeasureResponse.id.desc()),
        ).label("n"),
    ).where(MeasureResponse.user_id.in_(ids)).subquery()
    rows = db.session.scalars(
        select(MeasureResponse).options(defer(MeasureResponse.answers))
        .join(ranked, ranked.c.id == MeasureResponse.id).where(ranked.c.n == 1)
        .order_by(MeasureResponse.code)
    )
    found: dict[int, list[Latest]] = defaultdict(list)
    for row in rows:
        latest = _latest(row)
        if latest is not None:
            found[row.user_id].append(latest)
    return dict(found)


def shared_overview(place: Place, now: datetime, *, by: User) -> list[Sharer]:
    """Who shares scores with this place now, by display name, each with their latest scores. Showing a member's
    scores is a read of that member: each one shown is recorded for them (ids only), as on their own page."""
    shared = sharers(place, now)
    if not shared:
        return []
    users = db.session.scalars(
        select(User).where(User.id.in_(list(shared))).order_by(func.lower(User.display_name), User.id)
    )
    latest = latest_by_member(shared)
    found = [Sharer(u, Scope.MEASURE_ANSWERS in shared[u.id], latest.get(u.id, [])) for u in users]
    details = {"program_id": place.program.id} if place.program is not None else {}
    for sharer in found:
        if sharer.latest:
            audit.record(AuditAction.MEASURES_VIEWED, actor=by, now=now, group=place.group, subject=sharer.user,
                         **details)
    return found


# --- one member ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One item and the answer the member gave, in the words of the version they answered."""

    label: str
    text: str
    answer: str


@dataclass(frozen=True)
class SharedResponse:
    """One response as the place may see it: scores always, answers only if the member shares them."""

    latest: Latest
    answers: list[Answer] | None


@dataclass(frozen=True)
class MemberMeasures:
    user: User
    answers_too: bool
    responses: list[SharedResponse]


def _answers(response: MeasureResponse, instrument: Instrument) -> list[Answer]:
    given = json.loads(response.answers or "{}")
    found = []
    for item in instrument.items:
        if item.label not in given:
            continue
        value = given[item.label]
        words = next((o.label for o in item.options if o.value == value), str(value))
        found.append(Answer(item.label, item.text, words))
    return found


def member_measures(place: Place, user_id: int, *, by: User, now: datetime) -> MemberMeasures | None:
    """One member's shared responses, newest first, if they share scores with this place now (else None); the
    read is recorded for the member (ids only), like a coordinator's read of a referral's progress."""
    scopes = sharers(place, now).get(user_id)
    if scopes is None:
        return None
    user = db.session.get(User, user_id)
    if user is None:
        return None
    answers_too = Scope.MEASURE_ANSWERS in scopes
    rows = db.session.scalars(
        select(MeasureResponse).where(MeasureResponse.user_id == user_id)
        .order_by(MeasureResponse.local_date.desc(), MeasureResponse.taken_at.desc(), MeasureResponse.id.desc())
        .limit(DETAIL_RESPONSES)
    )
    responses = []
    for row in rows:
        instrument, latest = _instrument(row), _latest(row)
        if instrument is None or latest is None:
            continue
        responses.append(SharedResponse(latest, _answers(row, instrument) if answers_too else None))
    details = {"program_id": place.program.id} if place.program is not None else {}
    audit.record(AuditAction.MEASURES_VIEWED, actor=by, now=now, group=place.group, subject=user, **details)
    return MemberMeasures(user, answers_too, responses)


# --- monthly summaries --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    label: str
    count: int


@dataclass(frozen=True)
class MonthSummary:
    """One month of one subscale: how many sharing members answered, the median, and the distribution."""

    month: date  # the first day of the month
    code: str
    name: str
    subscale: str
    members: int
    median: float
    buckets: list[Bucket]


def ranges_of(instrument: Instrument, subscale: str) -> list[tuple[int, int, str]]:
    """The groups a subscale's scores are counted in: its published bands, or (unbanded) equal ranges of its
    possible scores, which are not clinical cut-offs (docs/measures.md, "Summaries")."""
    if instrument.scoring.banded == subscale:
        return [(b.low, b.high, b.label) for b in instrument.scoring.bands]
    items = next(s.items for s in instrument.scoring.subscales if s.name == subscale)
    by_label = {item.label: item for item in instrument.items}
    low = sum(min(by_label[label].values) for label in items)
    high = sum(max(by_label[label].values) for label in items)
    width = math.ceil((high - low + 1) / UNBANDED_RANGES)
    found = []
    start = low
    while start <= high:
        end = min(start + width - 1, high)
        found.append((start, end, f"{start}\u2013{end}"))
        start = end + 1
    return found


def _month(day: date) -> date:
    return day.replace(day=1)


def _months_back(today: date, count: int) -> date:
    month, year = today.month - (count - 1), today.year
    while month < 1:
        month, year = month + 12, year - 1
    return date(year, month, 1)


def summaries(place: Place, today: date, now: datetime, months: int = SUMMARY_MONTHS) -> list[MonthSummary]:
    """Monthly summaries per instrument and subscale, newest month first: only from members sharing scores
    with this place now, each member counted once a month (their latest response that month), and a month left
    out entirely (not even its count) when fewer than AGGREGATE_MIN members answered it."""
    shared = sharers(place, now)
    if len(shared) < AGGREGATE_MIN:
        return []
    since = _months_back(today, months)
    # Scores only: the encrypted answers are never decrypted for a summary.
    rows = db.session.scalars(
        select(MeasureResponse).options(defer(MeasureResponse.answers))
        .where(MeasureResponse.user_id.in_(list(shared)), MeasureResponse.local_date >= since)
        .order_by(MeasureResponse.local_date, MeasureResponse.taken_at, MeasureResponse.id)
    )
    # The latest response of each member, per instrument and month: later rows replace earlier ones.
    latest: dict[tuple[str, date], dict[int, MeasureResponse]] = defaultdict(dict)
    for row in rows:
        latest[(row.code, _month(row.local_date))][row.user_id] = row
    found = []
    for (code, month), by_member in latest.items():
        if len(by_member) < AGGREGATE_MIN:
            continue
        # The newest version answered that month names the subscales and ranges (a version change that moved
        # them would be a new code, never a silent reshuffle: instruments.py only grows).
        current = _instrument(max(by_member.values(), key=lambda r: r.version))
        if current is None:
            continue
        for subscale in (s.name for s in current.scoring.subscales):
            values = [int(r.scores[subscale]) for r in by_member.values() if subscale in (r.scores or {})]
            if len(values) < AGGREGATE_MIN:
                continue
            buckets = [Bucket(label, sum(1 for v in values if low <= v <= high))
                       for low, high, label in ranges_of(current, subscale)]
            found.append(MonthSummary(month, code, current.title, subscale, len(values),
                                      float(statistics.median(values)), buckets))
    found.sort(key=lambda s: (-s.month.toordinal(), s.code, s.subscale))
    return found
