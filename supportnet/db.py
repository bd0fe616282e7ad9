"""Database foundations: the declarative base, the UTC column type, and SQLite's locking rules."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import has_request_context, request
from sqlalchemy import DateTime, MetaData, event, exc, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations can drop and alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def database_unavailable(error: BaseException | None) -> bool:
    """Whether an error means "the database cannot be reached or used just now" rather than a bug.

    OperationalError: the server refused or dropped the connection, was shut down, or (SQLite) the file cannot be
    opened, is locked past the busy timeout or the disk failed. InterfaceError / DisconnectionError: the driver
    lost its connection. TimeoutError: no pooled connection came free in time.
    """
    if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


def unavailable_reason(error: BaseException | None) -> str:
    """One short line for the log: the error's kind and the driver's first line (no SQL, no parameters)."""
    original = getattr(error, "orig", None) or error
    first = next(iter(str(original).splitlines()), "").strip()
    return f"{type(original).__name__}: {first}"[:300]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: aware UTC in, aware UTC out, on every database.

    SQLite silently drops offsets from DateTime(timezone=True), so the type stores naive UTC
    and re-attaches UTC on the way out. Naive datetimes are refused: they are always a bug here.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        return value.replace(tzinfo=UTC)


LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, as plain text: % and _ typed by a person are not wildcards.

    Use it with `.like(pattern, escape=LIKE_ESCAPE)`.
    """
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_write_intent: ContextVar[bool | None] = ContextVar("write_intent", default=None)


@contextmanager
def write_intent(writing: bool = True) -> Iterator[None]:
    """Declare whether transactions begun inside the block will write (SQLite: BEGIN IMMEDIATE)."""
    token = _write_intent.set(writing)
    try:
        yield
    finally:
        _write_intent.reset(token)


def _begins_immediate() -> bool:
    declared = _write_intent.get()
    if declared is not None:
        return declared
    if has_request_context():
        return request.method not in SAFE_METHODS
    # CLI commands and scheduler jobs write; taking the lock up front is the safe default.
    return True


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, _record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own BEGIN is always deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Writers queue on SQLite's single write lock; a burst of 30+ RSVPs for one meeting on a busy 2-core machine
    # was seen to wait past 10 s. Waiting longer is better than answering "database is locked".
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA foreign_keys = ON")
    # Deleted rows are overwritten with zeros, not just unlinked: a deleted account's email or a deleted
    # check-in note must not stay readable in free pages of the file.
    cursor.execute("PRAGMA secure_delete = ON")
    cursor.close()


@event.listens_for(Engine, "begin")
def _on_begin(connection) -> None:
    writes = _begins_immediate()
    connection.info["writes"] = writes
    if connection.dialect.name != "sqlite":
        return
    # A deferred transaction that reads and then writes must upgrade its lock, and SQLite does not
    # run the busy handler for that upgrade: under load it fails at once with "database is locked".
    # Writers therefore take the write lock when they begin; readers stay deferred and concurrent (WAL).
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def in_write_transaction(session) -> bool:
    """Whether the session's open transaction was begun to write (on SQLite: it holds the write lock).

    A second connection that writes while such a transaction is open waits for it, and when both belong to
    the same request it waits for itself: until the busy timeout on SQLite, or for ever on a row lock in
    PostgreSQL. Work that would open that second connection belongs in this transaction instead.
    """
    if not session.in_transaction():
        return False
    return bool(session.connection().info.get("writes"))


def serialize_on(session, key: str) -> None:
    """Make transactions that call this with the same key run one after another, each until it ends.

    For "count, then write" rules that must hold across processes and hosts (the sign-in throttle). SQLite needs
    nothing: a writer already holds the database's single write lock (BEGIN IMMEDIATE). PostgreSQL takes a
    transaction-scoped advisory lock on a hash of the key; READ COMMITTED then lets the next holder's queries see
    what the previous one committed.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def flush_erasure(engine: Engine) -> bool:
    """After erasing personal data (and committing): on SQLite, copy the WAL into the database file and cut the
    WAL to nothing, so the erased rows' old page images do not linger in it. Returns whether it completed.

    secure_delete zeroes the rows in the database file, but the WAL keeps every earlier version of a page until
    it is truncated. A reader still holding an old snapshot makes SQLite skip the truncation; the next erasure
    (or SQLite's own checkpoints, which overwrite the WAL from its start) catches up. PostgreSQL has no
    equivalent here: see README, "Deletion".
    """
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    try:
        busy, _log, _done = raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        raw.close()
    return busy == 0


def enable_wal(engine: Engine) -> None:
    """Switch a SQLite database to WAL; the mode is stored in the file, so this runs once at creation."""
    if engine.dialect.name != "sqlite":
        return
    # journal_mode cannot change inside a transaction, so this goes straight to the driver.
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA journal_mode=WAL")
    finally:
        raw.close()
