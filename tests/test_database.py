"""The database layer: migrations match the models, SQLite runs in WAL with sane locking, instants stay UTC."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import event, select, text

from supportnet.db import Base, UTCDateTime
from supportnet.extensions import db
from supportnet.models import User
from tests.conftest import login, make_app, post


def test_migrations_build_exactly_the_models_on_an_empty_database(tmp_path, smtp_server, empty_database_url):
    app = make_app(tmp_path / "empty.db", smtp_server[0].port, SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        db.engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


@pytest.mark.sqlite_only("WAL and busy_timeout are SQLite's")
def test_a_new_database_is_in_wal_mode_with_a_busy_timeout(app, db_path):
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    with app.app_context():
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def _begin_statements(app, action) -> list[str]:
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.startswith("BEGIN"):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


@pytest.mark.sqlite_only("BEGIN IMMEDIATE is SQLite's; PostgreSQL locks rows")
def test_writes_begin_immediate_and_reads_stay_deferred(app, client, member):
    login(client, member)
    reads = _begin_statements(app, lambda: client.get("/account"))
    assert reads and all(s == "BEGIN" for s in reads)
    writes = _begin_statements(
        app, lambda: post(client, "/account/profile", {"display_name": "Mia M.", "timezone": "UTC"})
    )
    assert "BEGIN IMMEDIATE" in writes


def test_instants_are_stored_as_utc_and_come_back_aware(app):
    with app.app_context():
        from supportnet import accounts

        tokyo = timezone(timedelta(hours=9))
        user = accounts.create_user("t@example.org", "a long and quiet river", "T T.", datetime(2026, 1, 1, tzinfo=UTC))
        user.created_at = datetime(2026, 7, 1, 9, 0, tzinfo=tokyo)
        db.session.commit()
        db.session.expire_all()
        stored = db.session.scalar(select(User.created_at).where(User.id == user.id))
        assert stored == datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
        assert stored.tzinfo is UTC
        raw = db.session.execute(text('SELECT created_at FROM "user" WHERE id = :id'), {"id": user.id}).scalar()
        assert str(raw).startswith("2026-07-01 00:00:00")


def test_naive_datetimes_are_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1, 12, 0), None)


def test_database_url_comes_from_the_environment(monkeypatch, tmp_path):
    from supportnet import create_app

    monkeypatch.setenv("SUPPORTNET_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    app = create_app({"ENV": "testing"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'elsewhere.db'}"


# --- upgrading a database that holds people ---

_OLD_ROWS = (  # table, the values that matter (the rest are filled to satisfy the schema of that version)
    ("user", {"id": 1, "email": "kept@example.org"}),
    ("user_session", {"user_id": 1, "token_hash": "h" * 64}),
    ("group", {"id": 1, "slug": "kept-circle"}),
    ("membership", {"user_id": 1, "group_id": 1}),
)


def _insert_filled(con: sqlite3.Connection, table: str, given: dict) -> None:
    """Insert a row into a table as an older version defined it, filling required columns with valid values."""
    sql = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    values = dict(given)
    for _cid, name, kind, notnull, default, pk in con.execute(f'PRAGMA table_info("{table}")'):
        if name in values or pk or not notnull or default is not None:
            continue
        allowed = re.search(rf"\b{name}\b IN \('([^']+)'", sql)  # an enum's CHECK: take its first value
        kind = kind.upper()
        values[name] = (allowed.group(1) if allowed else 1 if "INT" in kind or "BOOL" in kind
                        else "2026-01-01 00:00:00.000000" if "DATE" in kind else f"{table} {name}")
    columns = ", ".join(f'"{name}"' for name in values)
    marks = ", ".join("?" for _ in values)
    con.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(values.values()))  # noqa: S608


@pytest.mark.sqlite_only("SQLite rebuilds tables to alter them; PostgreSQL alters them in place")
@pytest.mark.parametrize(
    "version", ["0004_checkins", "0005_notifications", "0006_calendar_feeds", "0007_data_controls",
                "0008_account_safety"],
)
def test_upgrading_a_database_with_members_from_an_earlier_version_keeps_every_row(tmp_path, smtp_server, version):
    # Rebuilding `user` with foreign keys on once deleted, by cascade, every session and membership.
    path = tmp_path / "old.db"
    app = make_app(path, smtp_server[0].port)
    with app.app_context():
        upgrade(revision=version)
        db.engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = ON")
    for table, given in _OLD_ROWS:
        _insert_filled(con, table, given)
    con.commit()
    con.close()

    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            for table, _given in _OLD_ROWS:
                assert conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() == 1, table  # noqa: S608
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1  # enforcement is back on afterwards
        db.engine.dispose()
