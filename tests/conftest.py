"""Fixtures: an app on a migrated database, a real SMTP server, a pinned clock, and personas.

The suite runs on SQLite files by default. `pytest --db postgres` (or SUPPORTNET_TEST_DATABASE=postgres) runs the
tests that touch the database on PostgreSQL instead, each on a fresh database copied from a migrated template;
`make test` runs both passes. See tests/postgres.py for where the server comes from.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from supportnet import accounts, clock, create_app
from supportnet.db import Base
from supportnet.extensions import db
from supportnet.models import SiteRole, User
from tests import postgres
from tests.mail_harness import ScriptedHandler, Server

# Thursday 26 November 2026, noon UTC: every test starts from this instant unless it moves the clock.
PINNED_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BASE_URL = "http://supportnet.test"
PASSWORD = "a long and quiet river"


# --- a real SMTP server ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CollectingHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Controller, CollectingHandler]]:
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


class Mailbox:
    """What the SMTP server received during one test."""

    def __init__(self, handler: CollectingHandler) -> None:
        self._handler = handler
        handler.messages.clear()

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self._handler.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self._handler.messages if m["To"] == address]

    def clear(self) -> None:
        self._handler.messages.clear()

    @staticmethod
    def text(message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    def link(self, message: EmailMessage, path_part: str) -> str:
        """The first link in the message whose URL contains path_part, as a site-relative path."""
        for url in re.findall(r"https?://\S+", self.text(message)):
            if path_part in url:
                return url.removeprefix(BASE_URL)
        raise AssertionError(f"no link containing {path_part!r} in: {self.text(message)}")


@pytest.fixture
def mailbox(smtp_server) -> Mailbox:
    return Mailbox(smtp_server[1])


@pytest.fixture
def without_supportnet_environment(monkeypatch):
    """No SUPPORTNET_* variable from the shell that runs the tests, for tests of how configuration is read."""
    for name in list(os.environ):
        if name.startswith("SUPPORTNET_"):
            monkeypatch.delenv(name)


@pytest.fixture
def servers():
    """Start SMTP servers that misbehave on purpose (tests/mail_harness.py); all are stopped after the test."""
    started: list[Server] = []

    def start(handler: ScriptedHandler, port: int | None = None) -> Server:
        server = Server(handler, port).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- which database: SQLite files, or PostgreSQL ---

DATABASES = ("sqlite", "postgres")
# Fixtures through which a test reaches the database; the PostgreSQL pass runs only tests that use one.
DATABASE_FIXTURES = frozenset({"db_path", "migrated_db", "empty_database_url"})


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--db",
        choices=DATABASES,
        default=os.environ.get("SUPPORTNET_TEST_DATABASE", "sqlite") or "sqlite",
        help="Database of the tests that touch one (default: $SUPPORTNET_TEST_DATABASE or sqlite).",
    )


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): tests SQLite itself (WAL, BEGIN IMMEDIATE, the file)")
    config.addinivalue_line("markers", "postgres_only: needs PostgreSQL; runs in the `--db postgres` pass")


def pytest_report_header(config) -> str:
    return f"database: {config.getoption('--db')}"


def pytest_collection_modifyitems(config, items) -> None:
    if config.getoption("--db") == "sqlite":
        skip = pytest.mark.skip(reason="PostgreSQL only: runs in the `--db postgres` pass (make test runs both)")
        for item in items:
            if item.get_closest_marker("postgres_only"):
                item.add_marker(skip)
        return
    # The PostgreSQL pass: tests that never touch the database ran in the SQLite pass already.
    selected, deselected = [], []
    for item in items:
        uses_database = DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        (selected if uses_database or item.get_closest_marker("postgres_only") else deselected).append(item)
        marker = item.get_closest_marker("sqlite_only")
        if marker:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "tests SQLite itself")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_sessionfinish(session, exitstatus) -> None:
    # A PostgreSQL pass over a selection without database tests has nothing to do; that is not a failure.
    if session.config.getoption("--db") == "postgres" and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK


@pytest.fixture(scope="session")
def database_kind(request) -> str:
    """Where this run's tests keep their data: "sqlite" or "postgres"."""
    return request.config.getoption("--db")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """The PostgreSQL server of this run (SUPPORTNET_TEST_POSTGRES_URL, or a throwaway one started here)."""
    try:
        server = postgres.connect_or_start()
    except postgres.PostgresUnavailable as exc:
        if postgres.required():
            pytest.fail(f"{postgres.REQUIRE_VARIABLE}=1 but PostgreSQL is unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.stop()


# In the PostgreSQL pass, `db_path` names the test's database instead of being a file: make_app() and
# database_uri() look the name up here, so tests that pass db_path around work on both databases.
_POSTGRES_DATABASES: dict[Path, str] = {}


def database_uri(db_path: Path) -> str:
    """The SQLAlchemy URL of the test database that `db_path` stands for."""
    return _POSTGRES_DATABASES.get(Path(db_path)) or f"sqlite:///{db_path}"


class DatabaseSnapshot:
    """What the test database holds now, to be put back as often as needed (close every connection first).

    SQLite: a copy of the file (the WAL folded in). PostgreSQL: a copy of every table in a schema of the same
    database; putting it back deletes and re-inserts the rows in one transaction, which for a test's few hundred
    rows takes milliseconds (copying whole databases would take a hundred times longer).
    """

    _numbers = itertools.count(1)

    def __init__(self, db_path: Path) -> None:
        self.live = Path(db_path)
        self.url = database_uri(self.live)
        if self.url.startswith("sqlite"):
            self.copy = self.live.with_name(f"snapshot{next(self._numbers)}.db")
            sqlite3.connect(self.live).execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
            self._sqlite_copy(self.live, self.copy)
            return
        self.schema = f"snapshot{next(self._numbers)}"
        self.tables = [table.name for table in Base.metadata.sorted_tables]  # parents before children
        with self._postgres() as (con, sql):
            con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            for table in self.tables:
                con.execute(sql.SQL("CREATE TABLE {} AS TABLE {}").format(
                    sql.Identifier(self.schema, table), sql.Identifier("public", table)))
            # The ids to come, too: new rows after a restore get the same ids as they would have the first time.
            self.sequences = con.execute(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
            ).fetchall()

    def restore(self) -> None:
        """Put the database back as it was when the snapshot was taken."""
        if self.url.startswith("sqlite"):
            self._sqlite_copy(self.copy, self.live)
            return
        with self._postgres() as (con, sql):
            con.execute("SET LOCAL lock_timeout = '20s'")  # a connection left open fails the test, not hangs it
            for table in reversed(self.tables):
                con.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier("public", table)))
            for table in self.tables:
                con.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                    sql.Identifier("public", table), sql.Identifier(self.schema, table)))
            for sequence, last_value in self.sequences:
                called = last_value is not None
                con.execute("SELECT setval(%s, %s, %s)", (f'public."{sequence}"', last_value or 1, called))

    @staticmethod
    def _sqlite_copy(source_path: Path, target_path: Path) -> None:
        source, target = sqlite3.connect(source_path), sqlite3.connect(target_path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()

    @contextlib.contextmanager
    def _postgres(self):
        """A connection to the test database in one transaction (committed at the end), and psycopg's sql module."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://", 1)) as con:
            yield con, sql


# --- the app on a migrated database ---


def make_app(db_path: Path, smtp_port: int, **overrides) -> Flask:
    config = {
        "ENV": "testing",
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": database_uri(db_path),
        "BASE_URL": BASE_URL,
        "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "AUTH_RATE_LIMIT": "1000 per minute",
        "DEV_MAILBOX_DIR": str(db_path.parent / "mailbox"),
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session")
def migrated_db(request, database_kind, tmp_path_factory, smtp_server) -> Iterator[Path | str]:
    """A database built once by `db upgrade`; each test gets a copy.

    SQLite: the path of a template file. PostgreSQL: the name of a template database.
    """
    from flask_migrate import upgrade

    if database_kind == "postgres":
        server = request.getfixturevalue("postgres_server")
        name = postgres.unique_name("supportnet_template")
        url = server.create_database(name)
        app = make_app(tmp_path_factory.mktemp("template") / "unused.db", smtp_server[0].port,
                       SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            db.engine.dispose()  # a template database must have no connections when it is copied
        yield name
        server.drop_database(name)
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    app = make_app(path, smtp_server[0].port)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    # Fold the WAL into the main file so a plain copy carries everything.
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    yield path


@pytest.fixture
def db_path(request, database_kind, tmp_path, migrated_db) -> Iterator[Path]:
    """The test's own database: a copy of the migrated one (SQLite: this file; PostgreSQL: a database it names)."""
    path = tmp_path / "supportnet.db"
    if database_kind == "sqlite":
        shutil.copyfile(migrated_db, path)
        yield path
        return
    copies = request.getfixturevalue("postgres_copies")
    name, _POSTGRES_DATABASES[path] = copies.take()
    yield path
    del _POSTGRES_DATABASES[path]
    copies.give_back(name)


@pytest.fixture(scope="session")
def postgres_copies(postgres_server, migrated_db) -> Iterator[postgres.DatabaseCopies]:
    """Copies of the migrated template database, made ahead of the tests that will use them."""
    copies = postgres.DatabaseCopies(postgres_server, migrated_db)
    yield copies
    copies.close()


@pytest.fixture
def empty_database_url(request, database_kind, tmp_path) -> Iterator[str]:
    """The URL of a database with no tables at all, for tests of the migrations themselves."""
    if database_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = postgres.unique_name("supportnet_empty")
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def frozen_clock() -> Iterator[datetime]:
    clock.set_frozen(PINNED_NOW)
    yield PINNED_NOW
    clock.set_frozen(None)


@pytest.fixture
def app_config() -> dict:
    """Per-test configuration overrides; a test module can override this fixture."""
    return {}


@pytest.fixture
def app(db_path, smtp_server, frozen_clock, app_config) -> Iterator[Flask]:
    # No app context stays pushed: requests must get their own (fresh `g`, fresh session), as in production.
    # Tests that touch the database open one with `with app.app_context():`.
    app = make_app(db_path, smtp_server[0].port, **app_config)
    yield app
    with app.app_context():
        db.engine.dispose()


class ClosingClient(FlaskClient):
    """A test client that closes each response like a real server does, so call_on_close work runs."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app) -> FlaskClient:
    app.test_client_class = ClosingClient
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- personas ---


@dataclass
class Persona:
    email: str
    password: str
    id: int
    display_name: str

    def user(self) -> User:
        """The account row (call inside an app context)."""
        return db.session.get(User, self.id)


def make_persona(app: Flask, name: str, role: SiteRole = SiteRole.MEMBER, tz: str = "Europe/London") -> Persona:
    email = f"{name.lower().replace(' ', '').replace('.', '')}@example.org"
    with app.app_context():
        user = accounts.create_user(email, PASSWORD, name, clock.now_utc(), timezone=tz, role=role)
        db.session.commit()
        return Persona(email=email, password=PASSWORD, id=user.id, display_name=user.display_name)


@pytest.fixture
def member(app) -> Persona:
    return make_persona(app, "Mia M.")


@pytest.fixture
def outsider(app) -> Persona:
    return make_persona(app, "Otto O.")


@pytest.fixture
def facilitator(app) -> Persona:
    return make_persona(app, "Fay F.", SiteRole.FACILITATOR)


@pytest.fixture
def admin(app) -> Persona:
    return make_persona(app, "Ada A.", SiteRole.ADMIN)


@pytest.fixture
def other_facilitator(app) -> Persona:
    """A facilitator of some other group."""
    return make_persona(app, "Fred G.", SiteRole.FACILITATOR)


# --- talking to the app like a browser ---

_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token of the client's session, read from a page like a browser would."""
    page = client.get("/privacy")
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, "no csrf meta tag on the page"
    return match.group(1)


def post(client: FlaskClient, url: str, data: dict | None = None, **kwargs):
    """POST a form with a valid CSRF token."""
    payload = {"csrf_token": csrf_token(client), **(data or {})}
    return client.post(url, data=payload, **kwargs)


def login(client: FlaskClient, persona: Persona, remember: bool = False, **kwargs):
    data = {"email": persona.email, "password": persona.password}
    if remember:
        data["remember"] = "y"
    return post(client, "/login", data, **kwargs)


def logout(client: FlaskClient):
    return post(client, "/logout")
