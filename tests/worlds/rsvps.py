"""The RSVP world: one group with a weekly series (inside an app context) that makes people and members on demand,
with the readers of answers, the waitlist and the counters, and a counter of SELECT statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select

from supportnet import accounts, clock, groups, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    Rsvp,
    RsvpStatus,
    User,
)
from tests.builders import weekly
from tests.conftest import PASSWORD

LONDON = ZoneInfo("Europe/London")
TUESDAY, THURSDAY = 1, 3
GOING, WAITLISTED, CANCELLED = RsvpStatus.GOING, RsvpStatus.WAITLISTED, RsvpStatus.CANCELLED


def london(*args) -> datetime:
    """A London wall time as a UTC instant."""
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)



@dataclass
class World:
    """One group with one weekly series (in an app context); `person` makes accounts, `member` members."""

    group: Group
    series: MeetingSeries
    facilitator: User
    made: int = 0

    def occ(self, when: datetime | int = 0, series: MeetingSeries | None = None) -> Occurrence:
        """An occurrence by its original start, or the n-th one of the series (0 = first)."""
        series = series or self.series
        query = select(Occurrence).where(Occurrence.series_id == series.id)
        if isinstance(when, datetime):
            return db.session.scalars(query.where(Occurrence.original_start == when)).one()
        return db.session.scalars(query.order_by(Occurrence.original_start).offset(when).limit(1)).one()

    def person(self, name: str | None = None) -> User:
        self.made += 1
        name = name or f"Person {self.made}"
        email = f"p{self.made}.{self.group.id}@example.org"
        return accounts.create_user(email, PASSWORD, name, clock.now_utc(), timezone="Europe/London")

    def member(self, name: str | None = None) -> User:
        user = self.person(name)
        now = clock.now_utc()
        db.session.add(
            Membership(
                group=self.group, user=user, role=MemberRole.MEMBER, status=MemberStatus.ACTIVE,
                created_at=now, joined_at=now,
            )
        )
        db.session.flush()
        return user


def make_world(facilitator_user: User, *, name: str = "Tuesday Integration Circle", **spec_changes) -> World:
    now = clock.now_utc()
    group_options = {key: spec_changes.pop(key) for key in ("visibility", "join_policy") if key in spec_changes}
    group = groups.create_group(
        facilitator_user, name=name, kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now, **group_options
    )
    series = scheduling.create_series(group, weekly(**spec_changes), now)
    return World(group=group, series=series, facilitator=facilitator_user)


def assert_counters_match_rows() -> None:
    """Every occurrence's going_count and waitlist_count equal the number of its going and waitlisted rows."""
    db.session.flush()
    counted = {
        (occurrence_id, status): n
        for occurrence_id, status, n in db.session.execute(
            select(Rsvp.occurrence_id, Rsvp.status, func.count()).group_by(Rsvp.occurrence_id, Rsvp.status)
        )
    }
    for occurrence_id, going, waiting in db.session.execute(
        select(Occurrence.id, Occurrence.going_count, Occurrence.waitlist_count)
    ):
        expected = (counted.get((occurrence_id, GOING), 0), counted.get((occurrence_id, WAITLISTED), 0))
        assert (going, waiting) == expected, f"occurrence {occurrence_id}"


def statuses(occ: Occurrence) -> dict[int, RsvpStatus]:
    return dict(db.session.execute(select(Rsvp.user_id, Rsvp.status).where(Rsvp.occurrence_id == occ.id)).all())


def waitlist(occ: Occurrence) -> list[int]:
    """The user ids on the waitlist, in order."""
    return list(
        db.session.scalars(
            select(Rsvp.user_id)
            .where(Rsvp.occurrence_id == occ.id, Rsvp.status == WAITLISTED)
            .order_by(Rsvp.queued_at, Rsvp.id)
        )
    )


@contextmanager
def counting_selects() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
