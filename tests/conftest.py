"""Fixtures: an app on a migrated SQLite file, a real SMTP server, a pinned clock, and personas."""

from __future__ import annotations

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
from supportnet.extensions import db
from supportnet.models import SiteRole, User

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


# --- the app on a migrated SQLite file ---


def make_app(db_path: Path, smtp_port: int, **overrides) -> Flask:
    config = {
        "ENV": "testing",
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "BASE_URL": BASE_URL,
        "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "AUTH_RATE_LIMIT": "1000 per minute",
        "DEV_MAILBOX_DIR": str(db_path.parent / "mailbox"),
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory, smtp_server) -> Path:
    """A database file built once by `db upgrade`; each test gets a copy."""
    from flask_migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "template.db"
    app = make_app(path, smtp_server[0].port)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    # Fold the WAL into the main file so a plain copy carries everything.
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


@pytest.fixture
def db_path(tmp_path, migrated_db) -> Path:
    path = tmp_path / "supportnet.db"
    shutil.copyfile(migrated_db, path)
    return path


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
