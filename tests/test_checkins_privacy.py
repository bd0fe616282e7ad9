"""Nobody else can read a word: other members get 404, notes are encrypted at rest, logs never carry them,
keys rotate, and a deployment without a key does not start."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy import text as sql

from supportnet import clock, create_app, crypto
from supportnet.config import ConfigError, load_config
from supportnet.db import Base
from supportnet.extensions import db
from supportnet.models import CheckIn, CheckinSharing, OwnTag, Program, Referral
from tests.conftest import Persona, make_app, make_persona, post
from tests.pages import browser, html, text
from tests.worlds.checkins import TODAY, add_member, checkin_form, record, share, start_group

SENTINEL = "SENTINEL-note-9f3c-walked-past-the-pub"
TAG_SENTINEL = "SENTINEL-tag-77ab"


# The configuration reads SUPPORTNET_* variables: a developer's shell must not change these tests.
pytestmark = pytest.mark.usefixtures("without_supportnet_environment")


def snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table, to tell whether a request changed anything at all."""
    with app.app_context():
        return {
            table.name: sorted(tuple(map(repr, row)) for row in db.session.execute(select(table)).all())
            for table in db.metadata.sorted_tables
        }


# --- member A and member B ---


def test_a_member_cannot_read_edit_or_delete_another_members_check_in(app):
    alex, bea = make_persona(app, "Alex A."), make_persona(app, "Bea B.")
    beas = record(app, bea, note=SENTINEL, new_tags=[TAG_SENTINEL], wants_support=True)
    client = browser(app, alex)
    before = snapshot(app)
    for path in (f"/me/checkins/{beas}", f"/me/checkins/{beas}/saved"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert SENTINEL not in html(response)
    assert post(client, f"/me/checkins/{beas}", checkin_form(mood="1", note="overwritten")).status_code == 404
    assert post(client, f"/me/checkins/{beas}/delete").status_code == 404
    assert post(client, "/me/checkins/delete-all", {"confirm": "DELETE"}).status_code == 302
    # Not in Alex's history, filters, exports or tag list either.
    with app.app_context():
        own_tag = db.session.scalar(select(OwnTag.id))
    for path in ("/me/checkins", "/me/checkins?days=all", f"/me/checkins?tag=own:{own_tag}", "/me/checkins/new",
                 "/me/checkins/export.csv", "/me/checkins/export.json"):
        body = html(client.get(path))
        assert SENTINEL not in body and TAG_SENTINEL not in body, path
    assert snapshot(app) == before
    # A check-in id that does not exist looks exactly the same.
    assert client.get("/me/checkins/99999").status_code == 404


# --- encryption at rest ---


def checkpoint(app, db_path: Path) -> sqlite3.Connection:
    """Close the app's connections, fold the WAL into the file, and open the file directly."""
    with app.app_context():
        db.engine.dispose()
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return con


@pytest.mark.sqlite_only("reads the SQLite file itself; test_postgres.py reads PostgreSQL's columns")
def test_the_note_and_own_tags_are_not_plaintext_in_the_database(app, db_path):
    mia = make_persona(app, "Mia M.")
    record(app, mia, note=SENTINEL, new_tags=[TAG_SENTINEL])
    con = checkpoint(app, db_path)
    try:
        raw_note = con.execute("SELECT note FROM checkin").fetchone()[0]
        raw_tag = con.execute("SELECT label FROM checkin_own_tag").fetchone()[0]
    finally:
        con.close()
    assert SENTINEL not in raw_note and TAG_SENTINEL not in raw_tag
    # Nowhere in the file either.
    assert SENTINEL.encode() not in Path(db_path).read_bytes()
    assert TAG_SENTINEL.encode() not in Path(db_path).read_bytes()
    # It is a Fernet token of the deployment key, and the model reads it back.
    key = crypto.split_keys(app.config["DATA_KEY"])[0]
    assert Fernet(key.encode()).decrypt(raw_note.encode()).decode() == SENTINEL
    with app.app_context():
        assert db.session.scalar(select(CheckIn.note)) == SENTINEL


def test_decrypted_text_never_shows_itself_in_a_repr():
    secret = crypto.SecretText(SENTINEL)
    assert secret == SENTINEL and str(secret) == SENTINEL and f"{secret}" == SENTINEL
    assert SENTINEL not in repr(secret) and SENTINEL not in repr([secret]) and SENTINEL not in f"{secret!r}"


# --- logs ---


def capture_everything(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    # SQLAlchemy at DEBUG logs every result row: the hardest case for a note.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")


def test_no_log_record_contains_a_check_in_note(app, facilitator, caplog):
    capture_everything(caplog)
    mia = make_persona(app, "Mia M.")
    circle = start_group(app, facilitator)
    add_member(app, circle, mia)
    share(app, circle, mia, CheckinSharing.NOTES)
    client = browser(app, mia)
    # Recorded, shown, edited, exported, refused, and read by the facilitator.
    response = post(client, "/me/checkins/new", checkin_form(
        mood="1", note=SENTINEL, new_tags=TAG_SENTINEL, share_note="y", wants_support="y"))
    assert response.status_code == 302
    checkin_id = int(response.location.split("/")[3])
    assert TAG_SENTINEL in html(client.get(response.location))
    for path in ("/me/checkins", f"/me/checkins/{checkin_id}", "/me/checkins/export.csv", "/me/checkins/export.json"):
        assert SENTINEL in html(client.get(path)), path
    post(client, f"/me/checkins/{checkin_id}", checkin_form(mood="2", note=SENTINEL + " again", share_note="y"))
    refused = post(client, "/me/checkins/new", checkin_form(note=SENTINEL + "x" * 5000, day=TODAY.isoformat()))
    assert refused.status_code == 400
    assert SENTINEL in text(browser(app, facilitator).get(f"/groups/{circle}/support"))
    with app.app_context():
        # The edit dropped the own tag, so only the note is left.
        assert crypto.rotate_all(db.session, Base.metadata) == 1
        db.session.commit()
    assert SENTINEL in html(client.get(f"/me/checkins/{checkin_id}"))

    assert any(r.name.startswith("sqlalchemy.engine") and r.getMessage().startswith("Row") for r in caplog.records), \
        "SQLAlchemy did not log rows: the check would be vacuous"
    for record_ in caplog.records:
        for shown in (record_.getMessage(), logging.Formatter().format(record_)):
            assert SENTINEL not in shown, (record_.name, shown[:200])
            assert TAG_SENTINEL not in shown, (record_.name, shown[:200])


# --- keys ---


def keyed_app(db_path, smtp_port: int, key: str):
    return make_app(db_path, smtp_port, DATA_KEY=key)


def test_rotating_the_key_re_encrypts_every_note_and_tag(db_path, smtp_server):
    old, new = crypto.generate_key(), crypto.generate_key()
    first = keyed_app(db_path, smtp_server[0].port, old)
    mia = make_persona(first, "Mia M.")
    record(first, mia, note=SENTINEL, new_tags=[TAG_SENTINEL])
    record(first, mia, note=None)
    with first.app_context():
        # A referral card waiting to be used: its link, first name and note are encrypted too.
        program = Program(name="Harbour Clinic aftercare")
        db.session.add(program)
        db.session.flush()
        db.session.add(Referral(program_id=program.id, token_hash="0" * 64, token="the-link", first_name="Sam",
                                note=SENTINEL, created_at=clock.now_utc(),
                                expires_at=clock.now_utc() + timedelta(days=30)))
        db.session.commit()
        db.engine.dispose()

    # New key in front, old key still listed: everything stays readable, and the command moves it over.
    both = keyed_app(db_path, smtp_server[0].port, f"{new}, {old}")
    result = both.test_cli_runner().invoke(args=["checkins", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 5 values" in result.output
    with both.app_context():
        raw = db.session.execute(sql("SELECT note FROM checkin WHERE note IS NOT NULL")).scalar()
        assert Fernet(new.encode()).decrypt(raw.encode()).decode() == SENTINEL
        db.engine.dispose()

    # The old key can go.
    only_new = keyed_app(db_path, smtp_server[0].port, new)
    with only_new.app_context():
        assert db.session.scalar(select(CheckIn.note).where(CheckIn.note.is_not(None))) == SENTINEL
        assert db.session.scalar(select(OwnTag.label)) == TAG_SENTINEL
        card = db.session.scalar(select(Referral))
        assert (card.token, card.first_name, card.note) == ("the-link", "Sam", SENTINEL)
        db.engine.dispose()


def test_rotation_without_the_old_key_changes_nothing_and_says_why(db_path, smtp_server):
    old = crypto.generate_key()
    first = keyed_app(db_path, smtp_server[0].port, old)
    record(first, make_persona(first, "Mia M."), note=SENTINEL)
    with first.app_context():
        before = db.session.execute(sql("SELECT note FROM checkin")).scalar()
        db.engine.dispose()
    wrong = keyed_app(db_path, smtp_server[0].port, crypto.generate_key())
    result = wrong.test_cli_runner().invoke(args=["checkins", "rotate-key"])
    assert result.exit_code != 0
    assert "Nothing was changed" in result.output and "cannot be decrypted" in result.output
    with wrong.app_context():
        assert db.session.execute(sql("SELECT note FROM checkin")).scalar() == before
        db.engine.dispose()


def test_the_development_key_lives_under_instance_and_can_be_rotated(tmp_path, db_path, smtp_server):
    instance = tmp_path / "instance"
    cfg = load_config(instance, {"ENV": "development", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}"})
    key_file = instance / "data_key"
    assert key_file.read_text() == cfg["DATA_KEY"]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    # The same key on the next start.
    again = load_config(instance, {"ENV": "development", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}"})
    assert again["DATA_KEY"] == cfg["DATA_KEY"]

    app = make_app(db_path, smtp_server[0].port, ENV="development", DATA_KEY=cfg["DATA_KEY"])
    app.instance_path = str(instance)
    record(app, make_persona(app, "Mia M."), note=SENTINEL)
    result = app.test_cli_runner().invoke(args=["checkins", "rotate-key", "--new-dev-key"])
    assert result.exit_code == 0, result.output
    new_key = key_file.read_text()
    assert new_key != cfg["DATA_KEY"] and "," not in new_key
    with app.app_context():
        raw = db.session.execute(sql("SELECT note FROM checkin")).scalar()
        assert Fernet(new_key.encode()).decrypt(raw.encode()).decode() == SENTINEL
        db.engine.dispose()


def test_new_dev_key_is_refused_when_the_key_comes_from_the_environment(app):
    result = app.test_cli_runner().invoke(args=["checkins", "rotate-key", "--new-dev-key"])
    assert result.exit_code != 0
    assert "only works with the development key" in result.output


def test_generate_key_prints_a_usable_key(app):
    result = app.test_cli_runner().invoke(args=["checkins", "generate-key"])
    assert result.exit_code == 0
    Fernet(result.output.strip().encode())


def production_config(db_path, **overrides) -> dict:
    config = {
        "ENV": "production",
        "SECRET_KEY": "a-strong-production-key-" + "k" * 40,
        "BASE_URL": "https://support.example.org",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "DATA_KEY": crypto.generate_key(),
    }
    config.update(overrides)
    return config


@pytest.mark.parametrize("key", [None, "", " , "], ids=repr)
def test_production_without_a_data_key_does_not_start(db_path, key):
    with pytest.raises(ConfigError, match="SUPPORTNET_DATA_KEY is missing") as raised:
        create_app(production_config(db_path, DATA_KEY=key))
    assert "Fernet.generate_key()" in str(raised.value)


def test_production_reads_the_data_key_from_the_environment(monkeypatch, db_path, tmp_path):
    key = crypto.generate_key()
    monkeypatch.setenv("SUPPORTNET_DATA_KEY", key)
    config = production_config(db_path)
    del config["DATA_KEY"]
    app = create_app(config)
    try:
        assert app.config["DATA_KEY"] == key
    finally:
        with app.app_context():
            db.engine.dispose()
    monkeypatch.delenv("SUPPORTNET_DATA_KEY")
    with pytest.raises(ConfigError, match="DATA_KEY"):
        create_app(config)


def test_a_malformed_key_is_refused_without_being_echoed(db_path):
    secretish = "not-a-fernet-key-but-still-secret"
    with pytest.raises(ConfigError, match="key number 2 is not a Fernet key") as raised:
        create_app(production_config(db_path, DATA_KEY=f"{crypto.generate_key()},{secretish}"))
    assert secretish not in str(raised.value)


def test_tests_get_a_fresh_key_per_app_that_is_never_written(tmp_path):
    one = load_config(tmp_path, {"ENV": "testing"})
    two = load_config(tmp_path, {"ENV": "testing"})
    assert one["DATA_KEY"] != two["DATA_KEY"]
    crypto.parse_keys(one["DATA_KEY"])
    assert not (tmp_path / "data_key").exists()


# --- crisis resources ---


def test_crisis_resources_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(
        "SUPPORTNET_CRISIS_RESOURCES",
        '[{"name": "Program on-call line", "phone": "+44 20 7946 0000", "text": "Answered day and night."}]',
    )
    cfg = load_config(tmp_path, {"ENV": "testing"})
    assert cfg["CRISIS_RESOURCES"] == [
        {"name": "Program on-call line", "phone": "+44 20 7946 0000", "text": "Answered day and night."}
    ]


@pytest.mark.parametrize(
    "raw",
    ['not json', '[]', '{"name": "x"}', '[{"text": "no name"}]', '[{"name": "x", "colour": "red"}]',
     '[{"name": "x", "url": "javascript:alert(1)"}]', '[{"name": 5}]'],
)
def test_malformed_crisis_resources_stop_start_up(monkeypatch, tmp_path, raw):
    monkeypatch.setenv("SUPPORTNET_CRISIS_RESOURCES", raw)
    with pytest.raises(ConfigError, match="SUPPORTNET_CRISIS_RESOURCES"):
        load_config(tmp_path, {"ENV": "testing"})


@pytest.fixture
def app_config() -> dict:
    return {"CRISIS_RESOURCES": [{"name": "Program on-call line", "phone": "+44 20 7946 0000",
                                  "text": "Answered by the clinic's nurses, 24 hours."}]}


def test_the_support_response_shows_the_deployments_crisis_resources(app):
    mia: Persona = make_persona(app, "Mia M.")
    client = browser(app, mia)
    response = post(client, "/me/checkins/new", checkin_form(mood="1"))
    page = html(client.get(response.location))
    assert "Program on-call line" in page and 'href="tel:+442079460000"' in page
    assert "findahelpline" not in page
    assert "SupportNet is not an emergency service." in text(client.get(response.location))


@pytest.mark.sqlite_only("reads the SQLite file itself; test_postgres.py reads PostgreSQL's columns")
def test_raw_sqlite_has_no_plaintext_even_after_an_edit(app, db_path):
    mia = make_persona(app, "Mia M.")
    checkin_id = record(app, mia, note="FIRST-VERSION-31c9")
    post(browser(app, mia), f"/me/checkins/{checkin_id}", checkin_form(note=SENTINEL))
    con = checkpoint(app, db_path)
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    assert SENTINEL not in dump and "FIRST-VERSION" not in dump
    with app.app_context():
        assert db.session.get(CheckIn, checkin_id).note == SENTINEL
