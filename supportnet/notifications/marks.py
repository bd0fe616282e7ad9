"""Marking the dispatcher's rows: a connection of its own whose commits do not wait for the disk, and the
statements the send loop runs on it after every message (the claim check and the mark), compiled once per batch
and run straight on the driver.

Used only by `dispatch`, which sends with no transaction open and marks each message right after the server
accepted it; what a mark costs is the window in which a crash sends a message twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, bindparam, null, select, update

from supportnet.db import write_intent
from supportnet.extensions import db
from supportnet.models import Notification, NotificationStatus

SENDING, SENT = NotificationStatus.SENDING, NotificationStatus.SENT


@contextmanager
def bookkeeping() -> Iterator[Connection]:
    """A database connection for marking rows, whose commits do not wait for the disk.

    A mark is bookkeeping that can be redone: if it is lost, the message goes out again (at least once).
    So each mark commits at once but without an fsync (SQLite: synchronous=NORMAL on this connection;
    PostgreSQL: synchronous_commit off for this connection, and autocommit, so that a mark is one round trip
    instead of four). A crash of the process loses no mark; a power cut may forget the last ones. Waiting for
    the disk after every message would cost more than the SMTP exchange itself.
    """
    with db.engine.connect() as connection:
        dialect = connection.dialect.name
        driver = connection.connection.driver_connection if dialect == "sqlite" else None
        previous = None
        if driver is not None:
            previous = driver.execute("PRAGMA synchronous").fetchone()[0]
            driver.execute("PRAGMA synchronous = NORMAL")
        elif dialect == "postgresql":
            # Every bookkeeping statement is a single UPDATE or SELECT: it is its own transaction.
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("SET synchronous_commit = off")
            connection.commit()  # ends SQLAlchemy's own idea of a transaction (the driver is in autocommit)
        try:
            yield connection
        finally:
            if connection.in_transaction():
                connection.rollback()
            if driver is not None:
                driver.execute(f"PRAGMA synchronous = {int(previous)}")
            elif dialect == "postgresql" and not connection.invalidated:
                connection.exec_driver_sql("RESET synchronous_commit")


def book(connection: Connection, statement) -> list:
    """Run one bookkeeping statement in its own transaction; the rows it returned (if it returns any)."""
    with write_intent(True), connection.begin():
        result = connection.execute(statement)
        return result.scalars().all() if result.returns_rows else [result.rowcount]


class Prepared:
    """One statement compiled once per batch and run straight on the driver's connection."""

    def __init__(self, books: Connection, statement) -> None:
        dialect = books.dialect
        compiled = statement.compile(dialect=dialect)
        self.compiled = compiled
        self.sql = compiled.string
        self.order = compiled.positiontup  # None for drivers that take named parameters
        self.processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()
        }

    def params(self, values: dict):
        values = self.compiled.construct_params(values)
        for name, process in self.processors.items():
            if process is not None:
                values[name] = process(values[name])
        return [values[name] for name in self.order] if self.order is not None else values


class Marker:
    """Marks a row sent (and checks a claim), straight on the driver's connection, compiled once per batch.

    The time between the server's acceptance of a message and the mark's commit is the window in which a crash
    sends the message twice. Through SQLAlchemy's Connection a mark spends about 0.25 ms in Python; on the
    driver it is one statement (SQLite: about 0.02 ms; PostgreSQL: one round trip, autocommit).
    """

    def __init__(self, books: Connection) -> None:
        table = Notification.__table__
        claimed = (table.c.id == bindparam("row_id"), table.c.status == bindparam("row_sending"),
                   table.c.claimed_until == bindparam("row_token"))
        self.mark_sql = Prepared(books, update(table).where(*claimed).values(
            status=bindparam("row_sent"), sent_at=bindparam("row_at"), due_at=bindparam("row_due"),
            claimed_until=null(), last_error=null()))
        self.check_sql = Prepared(books, select(table.c.id).where(*claimed))
        self.sqlite = books.dialect.name == "sqlite"
        self.driver = books.connection.driver_connection

    def holds(self, notification_id: int, token: datetime) -> bool:
        """Whether the row still carries this claim's token (a read: no lock, no write)."""
        params = self.check_sql.params({"row_id": notification_id, "row_sending": SENDING, "row_token": token})
        if self.sqlite:
            return self.driver.execute(self.check_sql.sql, params).fetchone() is not None
        with self.driver.cursor() as cursor:  # PostgreSQL, autocommit (see bookkeeping)
            cursor.execute(self.check_sql.sql, params)
            return cursor.fetchone() is not None

    def mark(self, notification_id: int, at: datetime, token: datetime) -> bool:
        """The row is sent, if it still carries `token`; committed before this returns."""
        params = self.mark_sql.params({"row_id": notification_id, "row_sending": SENDING, "row_token": token,
                                       "row_sent": SENT, "row_at": at, "row_due": at})
        if not self.sqlite:
            with self.driver.cursor() as cursor:
                cursor.execute(self.mark_sql.sql, params)
                return cursor.rowcount == 1
        self.driver.execute("BEGIN IMMEDIATE")
        try:
            changed = self.driver.execute(self.mark_sql.sql, params).rowcount
            self.driver.execute("COMMIT")
        except BaseException:
            if self.driver.in_transaction:
                self.driver.execute("ROLLBACK")
            raise
        return changed == 1
