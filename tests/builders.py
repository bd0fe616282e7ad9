"""Building blocks the tests share: a standard weekly meeting, told in the words of the schedule form."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, time

from flask import Flask
from sqlalchemy import event

from supportnet.extensions import db
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec

TUESDAY, THURSDAY = 1, 3


def weekly(*days: int, **changes) -> SeriesSpec:
    """A weekly 19:00 London meeting from Tuesday 1 December 2026, with any field changed."""
    spec = SeriesSpec(
        title="Integration circle",
        first_date=date(2026, 12, 1),
        start_time=time(19, 0),
        duration_minutes=90,
        timezone="Europe/London",
        recurrence=Recurrence(Frequency.WEEKLY, weekdays=days or (TUESDAY,)),
        venue="Community room",
        address="12 Canal Street",
    )
    return dataclasses.replace(spec, **changes)


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    """The SQL statements run while the block runs (for tests that a read takes a fixed number of queries)."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
