"""Deletion really deletes: after an account deletion or "delete all my check-ins", the member's email, name,
notes (their ciphertext too), own tags and proof labels are not in the database's bytes.

SQLite: the app turns on secure_delete (deleted cells are zeroed, not unlinked) and truncates the WAL after an
erasure, so the test greps the database file and the WAL as they are, with the app still running. PostgreSQL
keeps dead row versions until VACUUM: the test runs the maintenance the README asks for (VACUUM FULL, then a
checkpoint) and greps every table, index and TOAST file of the database.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from supportnet import accounts, attendance, clock, scheduler
from supportnet.checkins import records as checkins_records
from supportnet.checkins.records import CheckInSpec
from supportnet.extensions import db
from supportnet.models import Attendance, AttendanceHow, CheckIn, Occurrence, OwnTag, User
from tests.conftest import PASSWORD, Persona, login, post
from tests.worlds.notifications import going, make_world

EMAIL = "sentinel-qx7-email@example.org"
NAME = "Sentinelqx Namefield"
NOTE = "sentinel-qx7 note about the hard evening"
OWN_TAG = "sentinelqx7tag"
SHOWN_NAME = "Sentinelqx Legalname"
LABEL = "Sentinelqx court programme label"


def _member(app) -> Persona:
    with app.app_context():
        user = accounts.create_user(EMAIL, PASSWORD, NAME, clock.now_utc(), timezone="Europe/London")
        db.session.commit()
        return Persona(EMAIL, PASSWORD, user.id, NAME)


def _fill(app, facilitator) -> tuple[Persona, list[bytes]]:
    """A member with a check-in (note and own tag), attendance and a proof; returns the sentinels' bytes."""
    world = make_world(app, facilitator)
    mia = _member(app)
    occ_id = world.occurrence_id()
    going(world, mia, occ_id)
    with app.app_context():
        user = mia.user()
        checkins_records.record(user, CheckInSpec(mood=2, craving=5, note=NOTE, new_tags=[OWN_TAG]), clock.now_utc())
        occ = db.session.get(Occurrence, occ_id)
        db.session.add(Attendance(occurrence=occ, user_id=user.id, how=AttendanceHow.FACILITATOR,
                                  marked_at=occ.starts_at))
        db.session.flush()
        attendance.create_proof(user, shown_name=SHOWN_NAME, label=LABEL, group=None, now=clock.now_utc())
        db.session.commit()
        # The stored ciphertexts: not even they may stay behind.
        note_cipher = db.session.execute(text("SELECT note FROM checkin")).scalar()
        tag_cipher = db.session.execute(text("SELECT label FROM checkin_own_tag")).scalar()
    sentinels = [s.encode() for s in (EMAIL, NAME, SHOWN_NAME, LABEL, note_cipher, tag_cipher)]
    return mia, sentinels


def _sqlite_bytes(db_path: Path) -> bytes:
    wal = Path(f"{db_path}-wal")
    return Path(db_path).read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _found(data: bytes, sentinels: list[bytes]) -> list[bytes]:
    return [s for s in sentinels if s in data]


@pytest.mark.sqlite_only("greps SQLite's files; the PostgreSQL test below greps PostgreSQL's")
def test_a_deleted_account_leaves_no_bytes_in_the_database_or_its_wal(app, client, db_path, facilitator):
    mia, sentinels = _fill(app, facilitator)
    assert _found(_sqlite_bytes(db_path), sentinels[:4]) == sentinels[:4]  # the test can see them at all
    login(client, mia)
    assert post(client, "/account/delete", {"confirm": "DELETE"}).status_code == 302
    assert _found(_sqlite_bytes(db_path), sentinels) == []


@pytest.mark.sqlite_only("greps SQLite's files")
def test_deleting_all_check_ins_leaves_no_ciphertext_behind(app, client, db_path, facilitator):
    mia, sentinels = _fill(app, facilitator)
    note_and_tag = sentinels[4:]
    assert _found(_sqlite_bytes(db_path), note_and_tag) == note_and_tag
    login(client, mia)
    assert post(client, "/me/checkins/delete-all", {"confirm": "DELETE"}).status_code == 302
    with app.app_context():
        assert db.session.scalars(select(CheckIn)).all() == [] and db.session.scalars(select(OwnTag)).all() == []
    assert _found(_sqlite_bytes(db_path), note_and_tag) == []


@pytest.mark.postgres_only("PostgreSQL's files, after the maintenance the README describes")
def test_after_vacuum_a_deleted_account_leaves_no_bytes_in_postgresql_tables(app, client, facilitator, request):
    server = request.getfixturevalue("postgres_server")
    if server.data_dir is None:
        pytest.skip("the PostgreSQL server was not started by this run: its files are not readable here")
    mia, sentinels = _fill(app, facilitator)
    login(client, mia)
    assert post(client, "/account/delete", {"confirm": "DELETE"}).status_code == 302
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM FULL"))
        conn.execute(text("CHECKPOINT"))
        files = conn.execute(text(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 'i', 't') "
            "AND pg_relation_filepath(c.oid) IS NOT NULL")).scalars().all()
    data = b""
    for relative in files:
        for segment in sorted(server.data_dir.glob(f"{relative}*")):
            if segment.name == Path(relative).name or segment.name.startswith(f"{Path(relative).name}."):
                data += segment.read_bytes()
    assert data, "no table files were read"
    assert _found(data, sentinels) == []


@pytest.mark.sqlite_only("greps SQLite's files")
def test_check_ins_the_retention_pass_deletes_leave_no_ciphertext_behind(app, db_path, facilitator):
    mia, sentinels = _fill(app, facilitator)
    note_and_tag = sentinels[4:]
    with app.app_context():
        db.session.get(User, mia.id).checkin_retention_months = 1  # the member keeps a month of check-ins
        db.session.commit()
    assert _found(_sqlite_bytes(db_path), note_and_tag) == note_and_tag
    scheduler.retention_pass(app, clock.now_utc() + timedelta(days=62))
    with app.app_context():
        assert db.session.scalars(select(CheckIn)).all() == []
    assert _found(_sqlite_bytes(db_path), note_and_tag) == []
