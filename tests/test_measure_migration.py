"""The migration that adds measures keeps what the ledger already holds, lets a program's coordinators be a
recipient without a referral, keeps "one standing consent per member, recipient and scope" after SQLite's
table rebuild, and goes back cleanly."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from supportnet.extensions import db
from tests.conftest import make_app

T0 = "2026-11-01 12:00:00"
CONSENT = ("INSERT INTO consent (subject_id, audience, group_id, program_id, recipient_key, scope, purpose, "
           "granted_at) VALUES (:s, :a, :g, :p, :k, :scope, 'p', :t)")


def _insert_0011_rows(conn) -> None:
    conn.execute(text(
        'INSERT INTO "user" (id, email, password_hash, display_name, timezone, role, created_at, '
        "password_changed_at, link_nonce) VALUES (1, 'u1@example.org', 'x', 'User 1', 'UTC', 'member', :t, :t, "
        ":nonce)"), {"t": T0, "nonce": f"{1:032d}"})
    conn.execute(text(
        'INSERT INTO "group" (id, slug, name, description, kind, visibility, join_policy, timezone, venue, '
        "address, contact_note, created_at, updated_at) VALUES (1, 'walkers', 'walkers', '', 'meetup', "
        "'public', 'open', 'UTC', '', '', '', :t, :t)"), {"t": T0})
    conn.execute(text("INSERT INTO program (id, name, created_at) VALUES (1, 'Harbour', :t)"), {"t": T0})
    conn.execute(text(CONSENT), {"s": 1, "a": "group_facilitators", "g": 1, "p": None, "k": "group_facilitators:1",
                                 "scope": "checkin_summaries", "t": T0})


def _standing_consents(conn) -> list[tuple]:
    return conn.execute(text("SELECT recipient_key, scope FROM consent WHERE revoked_at IS NULL ORDER BY id")).all()


def test_measures_migration_widens_the_ledger_and_goes_back(tmp_path, smtp_server, empty_database_url):
    app = make_app(tmp_path / "old.db", smtp_server[0].port, SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade(revision="0011_sharing_on_consent")
        with db.engine.begin() as conn:
            _insert_0011_rows(conn)
            # Before: a program's coordinators need a referral, and measures are no scope at all.
            with pytest.raises(IntegrityError), conn.begin_nested():
                conn.execute(text(CONSENT), {"s": 1, "a": "program_coordinators", "g": None, "p": 1,
                                             "k": "program_coordinators:1", "scope": "referral_progress", "t": T0})
        upgrade(revision="0012_measures")
        with db.engine.begin() as conn:
            assert _standing_consents(conn) == [("group_facilitators:1", "checkin_summaries")]
            conn.execute(text(CONSENT), {"s": 1, "a": "program_coordinators", "g": None, "p": 1,
                                         "k": "program_coordinators:1", "scope": "measure_scores", "t": T0})
            conn.execute(text(CONSENT), {"s": 1, "a": "group_facilitators", "g": 1, "p": None,
                                         "k": "group_facilitators:1", "scope": "measure_answers", "t": T0})
            # The rebuilt table still allows one standing consent per member, recipient and scope...
            with pytest.raises(IntegrityError), conn.begin_nested():
                conn.execute(text(CONSENT), {"s": 1, "a": "program_coordinators", "g": None, "p": 1,
                                             "k": "program_coordinators:1", "scope": "measure_scores", "t": T0})
            # ...and a revoked one beside a standing one, as before.
            conn.execute(text("UPDATE consent SET revoked_at = :t, end_reason = 'member' "
                              "WHERE scope = 'measure_answers'"), {"t": T0})
            conn.execute(text(CONSENT), {"s": 1, "a": "group_facilitators", "g": 1, "p": None,
                                         "k": "group_facilitators:1", "scope": "measure_answers", "t": T0})
            if conn.dialect.name == "sqlite":
                schema = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'consent'")).scalar()
                assert "AUTOINCREMENT" in schema
                index = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'uq_consent_standing'")).scalar()
                assert "WHERE revoked_at IS NULL" in index
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            conn.execute(text(
                "INSERT INTO measure_response (user_id, code, version, answers, scores, taken_at, local_date) "
                "VALUES (1, 'PHQ9', 1, 'x', '{}', :t, '2026-11-01')"), {"t": T0})
        db.session.remove()
        downgrade(revision="0011_sharing_on_consent")
        with db.engine.connect() as conn:
            # What the old schema cannot hold is gone; what it can stays as it was.
            assert _standing_consents(conn) == [("group_facilitators:1", "checkin_summaries")]
            assert "measure_response" not in db.inspect(conn).get_table_names()
        upgrade(revision="0012_measures")
        with db.engine.connect() as conn:
            assert _standing_consents(conn) == [("group_facilitators:1", "checkin_summaries")]
        db.session.remove()
        db.engine.dispose()
