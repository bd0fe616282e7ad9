"""No identifier is ever reused: a link, token or proof made for a deleted row stays dead when new rows come.

SQLite without AUTOINCREMENT gives a deleted row's id (the largest) to the next row; the probe saw a deleted
member's proof link show another member's name, and a "stop these emails" link for a deleted account act on
the account that got its id next. Every table keyed by `id` now uses AUTOINCREMENT on SQLite (PostgreSQL's
sequences never go back), and signed links also carry a random nonce stored on their row.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from flask_migrate import upgrade
from itsdangerous import URLSafeSerializer
from sqlalchemy import select, text

from supportnet import accounts, attendance, clock, groups
from supportnet.db import Base
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    AttendanceHow,
    AttendanceProof,
    Group,
    NotificationKind,
    Occurrence,
    Rsvp,
    RsvpStatus,
    User,
)
from supportnet.notifications import links as notif_links
from supportnet.notifications import preferences as notif_preferences
from tests.conftest import Persona, login, make_app, make_persona, post
from tests.worlds.notifications import going, make_world, run

REMINDER_DUE = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # a day before Tuesday's meeting


def _proof_for(app, persona: Persona, occurrence_id: int, shown_name: str, label: str) -> tuple[int, str]:
    with app.app_context():
        occ = db.session.get(Occurrence, occurrence_id)
        db.session.add(Attendance(occurrence=occ, user_id=persona.id, how=AttendanceHow.FACILITATOR,
                                  marked_at=occ.starts_at))
        db.session.flush()
        proof = attendance.create_proof(persona.user(), shown_name=shown_name, label=label, group=None,
                                        now=clock.now_utc())
        db.session.commit()
        return proof.id, attendance.proof_token(proof)


def test_links_of_a_deleted_account_stay_dead_when_new_accounts_come(app, facilitator, mailbox):
    world = make_world(app, facilitator)
    occ_id = world.occurrence_id()
    ann = make_persona(app, "Ann A.")  # the newest account: the id SQLite would hand out again
    going(world, ann, occ_id)
    old_proof_id, old_proof_token = _proof_for(app, ann, occ_id, "Ann Annerson", "Court-ordered programme")
    run(app, REMINDER_DUE)
    [reminder] = mailbox.to(ann.email)
    stop_link = mailbox.link(reminder, "/notifications/stop/")
    cant_link = mailbox.link(reminder, "/notifications/cant-make-it/")
    assert app.test_client().get(f"/proof/{old_proof_token}").status_code == 200

    client = app.test_client()
    login(client, ann)
    assert post(client, "/account/delete", {"confirm": "DELETE"}).status_code == 302

    bea = make_persona(app, "Bea B.")
    assert bea.id != ann.id
    going(world, bea, occ_id)
    new_proof_id, _ = _proof_for(app, bea, occ_id, "Bea Bellweather", "Employer's wellbeing scheme")
    assert new_proof_id != old_proof_id

    anyone = app.test_client()
    proof_page = anyone.get(f"/proof/{old_proof_token}")
    assert proof_page.status_code == 404 and "Bea" not in proof_page.get_data(as_text=True)
    login(anyone, bea)
    for link in (stop_link, cant_link):
        assert anyone.get(link).status_code == 400, link
        assert post(anyone, link).status_code == 400, link
    with app.app_context():
        assert db.session.scalar(select(Rsvp.status).where(Rsvp.user_id == bea.id)) == RsvpStatus.GOING
        assert notif_preferences.preferences(bea.user()).wants(NotificationKind.REMINDER, notif_preferences.EMAIL)


def test_a_signed_link_needs_the_nonce_of_its_row(app, facilitator):
    world = make_world(app, facilitator)
    mia = make_persona(app, "Mia M.")
    going(world, mia, world.occurrence_id())
    proof_id, token = _proof_for(app, mia, world.occurrence_id(), "Mia", "Group")
    with app.app_context():
        proof = db.session.get(AttendanceProof, proof_id)
        assert attendance.load_proof(token) is proof
        secret = app.config["SECRET_KEY"]
        # The right signature and id, without the row's nonce: what a link for an earlier row with this id has.
        for forged in ([proof_id, "0" * 32], proof_id):
            assert attendance.load_proof(URLSafeSerializer(secret, salt=attendance.PROOF_SALT).dumps(forged)) is None
        user = mia.user()
        stop = URLSafeSerializer(secret, salt="supportnet.notifications.stop")
        assert notif_links.read_stop_token(stop.dumps({"u": user.id, "k": "reminder"})) is None
        assert notif_links.read_stop_token(stop.dumps({"u": user.id, "n": "0" * 32, "k": "reminder"})) is None
        assert notif_links.read_stop_token(notif_links.stop_token(user, NotificationKind.REMINDER)) == (
            user, NotificationKind.REMINDER)
        nonce = user.link_nonce
    # Every row gets its own.
    other = make_persona(app, "Olly O.")
    with app.app_context():
        assert other.user().link_nonce != nonce and len(nonce) == 32


def test_deleted_ids_are_not_handed_out_again_in_any_table(app, facilitator):
    """Delete the newest row of a table keyed by id, add another: it gets a new id (both databases)."""
    with app.app_context():
        now = clock.now_utc()
        first = accounts.create_user("first@example.org", "a long and quiet river", "First", now)
        db.session.commit()
        first_id = first.id
        db.session.delete(first)
        db.session.commit()
        second = accounts.create_user("second@example.org", "a long and quiet river", "Second", now)
        group = groups.create_group(facilitator.user(), name="Walkers", kind="meetup", timezone="UTC", now=now)
        db.session.commit()
        assert second.id > first_id
        group_id = group.id
        db.session.delete(group)
        db.session.commit()
        again = groups.create_group(facilitator.user(), name="Walkers", kind="meetup", timezone="UTC", now=now)
        db.session.commit()
        assert again.id > group_id


@pytest.mark.sqlite_only("AUTOINCREMENT is SQLite's; PostgreSQL sequences never go back")
def test_every_table_keyed_by_id_uses_autoincrement(app, db_path):
    keyed_by_id = sorted(t.name for t in Base.metadata.tables.values()
                         if [c.name for c in t.primary_key.columns] == ["id"])
    assert "user" in keyed_by_id and "attendance_proof" in keyed_by_id and "notification" in keyed_by_id
    con = sqlite3.connect(db_path)
    try:
        schema = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    finally:
        con.close()
    assert [name for name in keyed_by_id if "AUTOINCREMENT" not in schema[name]] == []


# --- the migration keeps the rows and their links ---

T0 = "2026-11-01 12:00:00"


def _insert_0007_rows(conn) -> None:
    for uid in (1, 2, 3):
        conn.execute(text(
            'INSERT INTO "user" (id, email, password_hash, display_name, timezone, role, created_at, '
            "password_changed_at) VALUES (:id, :email, 'x', :name, 'UTC', 'member', :t, :t)"),
            {"id": uid, "email": f"u{uid}@example.org", "name": f"User {uid}", "t": T0})
    conn.execute(text(
        'INSERT INTO "group" (id, slug, name, description, kind, visibility, join_policy, timezone, venue, address, '
        "contact_note, created_at, updated_at) VALUES (1, 'walkers', 'Walkers', '', 'meetup', 'public', 'open', "
        "'UTC', '', '', '', :t, :t)"), {"t": T0})
    for uid in (1, 2, 3):
        conn.execute(text(
            "INSERT INTO membership (id, group_id, user_id, role, status, created_at, joined_at) "
            "VALUES (:id, 1, :id, 'member', 'active', :t, :t)"), {"id": uid, "t": T0})
        conn.execute(text(
            "INSERT INTO user_session (id, user_id, token_hash, remember, user_agent, created_at, last_seen_at) "
            "VALUES (:id, :id, :hash, false, '', :t, :t)"), {"id": uid, "hash": f"{uid:064d}", "t": T0})
        conn.execute(text(
            "INSERT INTO attendance_proof (id, user_id, shown_name, label, dates, created_at) "
            "VALUES (:id, :id, 'Name', 'Label', '[]', :t)"), {"id": uid, "t": T0})
    conn.execute(text('DELETE FROM "user" WHERE id = 3'))
    if conn.dialect.name == "postgresql":  # rows inserted with their ids, as a restore does: move the sequences on
        for table in ("user", "group", "membership", "user_session", "attendance_proof"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), 3)"))


def test_the_migration_keeps_every_row_and_foreign_key(tmp_path, smtp_server, empty_database_url):
    app = make_app(tmp_path / "old.db", smtp_server[0].port, SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade(revision="0007_data_controls")
        with db.engine.begin() as conn:
            _insert_0007_rows(conn)
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text('SELECT id FROM "user" ORDER BY id')).scalars().all() == [1, 2]
            assert conn.execute(text("SELECT user_id FROM membership ORDER BY id")).scalars().all() == [1, 2]
            assert conn.execute(text("SELECT user_id FROM user_session ORDER BY id")).scalars().all() == [1, 2]
            nonces = conn.execute(text('SELECT link_nonce FROM "user"')).scalars().all()
            nonces += conn.execute(text("SELECT nonce FROM attendance_proof")).scalars().all()
            assert len(set(nonces)) == 4 and all(len(n) == 32 for n in nonces)
            if conn.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        # Foreign keys still act: deleting a user still takes their membership with it.
        user = db.session.get(User, 2)
        db.session.delete(user)
        db.session.commit()
        assert db.session.scalars(select(Group)).one().id == 1
        newest = accounts.create_user("new@example.org", "a long and quiet river", "New", clock.now_utc())
        db.session.commit()
        assert newest.id > 2
        db.engine.dispose()
