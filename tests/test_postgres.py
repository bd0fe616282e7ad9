"""PostgreSQL: the migrations, the throttle across app instances, and what PostgreSQL refuses that SQLite takes.

Tests marked postgres_only run in the `--db postgres` pass (make test runs it); the others run on both databases.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text

from supportnet import clock, crypto
from supportnet.checkins import records as checkins_records
from supportnet.checkins.records import CheckInSpec
from supportnet.db import Base
from supportnet.extensions import db
from supportnet.models import CheckIn, LoginFailure
from tests.conftest import ClosingClient, csrf_token, make_app, make_persona, post

# --- migrations ---


@pytest.mark.postgres_only
def test_every_migration_runs_down_and_up_again_on_postgresql(tmp_path, smtp_server, empty_database_url):
    app = make_app(tmp_path / "unused.db", smtp_server[0].port, SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade()
        assert db.engine.dialect.name == "postgresql"
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        db.engine.dispose()
    assert diff == [], f"models and migrations disagree on PostgreSQL: {diff}"


# --- the per-account throttle holds across app instances (workers, hosts) ---

LIMIT = 10
INSTANCES = 2
ATTEMPTS_EACH = 12


def test_a_burst_of_wrong_passwords_from_two_app_instances_gets_exactly_the_limit_through(
    app, db_path, smtp_server, member
):
    """24 wrong guesses arrive at once through two app instances: exactly 10 are checked, the rest answer 429."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    instances = [app] + [
        make_app(db_path, smtp_server[0].port, SQLALCHEMY_DATABASE_URI=uri) for _ in range(INSTANCES - 1)
    ]
    assert all(i.config["LOGIN_FAILURE_LIMIT"] == LIMIT for i in instances)
    clients = []
    for instance in instances:
        instance.test_client_class = ClosingClient
        for _ in range(ATTEMPTS_EACH):
            client = instance.test_client()
            clients.append((client, csrf_token(client)))
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def guess(client, token) -> None:
        try:
            barrier.wait(timeout=60)
            data = {"csrf_token": token, "email": member.email, "password": "a wrong guess"}
            statuses.append(client.post("/login", data=data).status_code)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guess, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(statuses) == [200] * LIMIT + [429] * (len(clients) - LIMIT)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == LIMIT
    # The right password is refused too until the window has passed, on either instance.
    other = instances[-1].test_client()
    assert post(other, "/login", {"email": member.email, "password": member.password}).status_code == 429
    clock.set_frozen(clock.now_utc() + timedelta(minutes=16))
    assert post(other, "/login", {"email": member.email, "password": member.password}).status_code == 302
    for instance in instances[1:]:
        with instance.app_context():
            db.engine.dispose()


# --- what PostgreSQL refuses: NUL characters in text ---


def test_a_nul_character_never_reaches_the_database(client, member):
    assert client.get("/groups?q=%00&tag=%00").status_code == 200
    assert client.get("/groups/no%00such-group").status_code == 404
    response = post(client, "/login", {"email": "mia\x00@example.org", "password": "x\x00"})
    assert response.status_code == 400


# --- encryption at rest, seen from PostgreSQL ---


@pytest.mark.postgres_only
def test_notes_and_own_tags_are_fernet_tokens_in_postgresql_columns(app):
    mia = make_persona(app, "Mia M.")
    note, tag = "NOTE-SENTINEL-7f3a in PostgreSQL", "TAG-SENTINEL-c41d"
    with app.app_context():
        checkins_records.record(mia.user(), CheckInSpec(mood=3, craving=2, note=note, new_tags=[tag]), clock.now_utc())
        db.session.commit()
        raw_note = db.session.execute(text("SELECT note FROM checkin")).scalar_one()
        raw_tag = db.session.execute(text("SELECT label FROM checkin_own_tag")).scalar_one()
        key = crypto.split_keys(app.config["DATA_KEY"])[0]
        assert note not in raw_note and tag not in raw_tag
        assert Fernet(key.encode()).decrypt(raw_note.encode()).decode() == note
        assert Fernet(key.encode()).decrypt(raw_tag.encode()).decode() == tag
        assert db.session.scalar(select(CheckIn.note)) == note
        db.engine.dispose()
