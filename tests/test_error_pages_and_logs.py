"""The security baseline, failures: generic error pages, no tokens or passwords in the logs, and the health check."""


from __future__ import annotations

import json
import logging
import os
import shutil

import pytest
from flask import Flask

from supportnet import logs
from supportnet.extensions import db
from tests.conftest import (
    PASSWORD,
    Mailbox,
    Persona,
    login,
    make_app,
    post,
)
from tests.security_harness import (
    assert_in_site_shell,
    assert_security_headers,
)

# The configuration reads SUPPORTNET_* variables: a developer's shell must not change these tests.
pytestmark = pytest.mark.usefixtures("without_supportnet_environment")


# --- 6. Generic error pages ---


def test_missing_page_is_a_friendly_page_in_the_site_shell(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "Page not found" in body
    assert_in_site_shell(body)


def test_wrong_method_is_a_friendly_page_in_the_site_shell(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "POST" in response.headers.get("Allow", "")
    body = response.get_data(as_text=True)
    assert "This page cannot be used that way." in body
    assert_in_site_shell(body)
    assert_security_headers(response)


def test_expired_form_is_a_friendly_page_in_the_site_shell(client):
    response = client.post("/forgot-password", data={"email": "someone@example.org"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Your form expired" in body
    assert_in_site_shell(body)
    assert_security_headers(response)


# --- 7. Tokens and passwords never reach the logs ---

SECRET_TOKEN = "Zq9-SeCrEt_t0ken-ABCDEFGHIJKLMNOP"


@pytest.mark.parametrize(
    "path",
    [
        "/account/reset/{}",
        "/account/confirm/{}",
        "/account/email/{}",
        "/calendar/{}.ics",
        "https://support.example.org/account/reset/{}?utm=1",
        '"GET /account/confirm/{} HTTP/1.1" 200 -',
    ],
)
def test_redact_removes_tokens_from_urls(path):
    text = path.format(SECRET_TOKEN)
    cleaned = logs.redact(text)
    assert SECRET_TOKEN not in cleaned
    assert "[redacted]" in cleaned


def test_redact_leaves_ordinary_paths_alone():
    for text in ("/account/email", "/account", "GET /groups/quiet-harbour HTTP/1.1", "/account/profile"):
        assert logs.redact(text) == text


def capture_everything(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


def assert_not_logged(caplog, *secrets: str) -> None:
    records = caplog.records
    for record in records:
        message = record.getMessage()
        formatted = logging.Formatter().format(record)
        for secret in secrets:
            assert secret not in message, (record.name, message)
            assert secret not in formatted, (record.name, formatted)


def test_werkzeug_request_log_lines_do_not_show_tokens(app, caplog):
    capture_everything(caplog)
    logging.getLogger("werkzeug").info('127.0.0.1 - - "GET /account/reset/%s HTTP/1.1" 200 -', SECRET_TOKEN)
    logging.getLogger("gunicorn.access").info('"GET /calendar/%s.ics HTTP/1.1" 200', SECRET_TOKEN)
    messages = [r.getMessage() for r in caplog.records if r.name in ("werkzeug", "gunicorn.access")]
    assert len(messages) == 2
    assert all(SECRET_TOKEN not in m and "[redacted]" in m for m in messages), messages
    assert SECRET_TOKEN not in caplog.text


def test_password_reset_and_registration_leave_no_secrets_in_logs(app, client, member, mailbox: Mailbox, caplog):
    capture_everything(caplog)
    new_password = "sentinel-NEW-passphrase-7741"
    registration_password = "sentinel-REGISTRATION-passphrase-5520"

    post(client, "/forgot-password", {"email": member.email})
    [reset_mail] = mailbox.to(member.email)
    link = mailbox.link(reset_mail, "/account/reset/")
    reset_token = link.rsplit("/", 1)[-1]
    assert client.get(link).status_code == 200
    response = post(client, link, {"password": new_password})
    assert response.status_code == 302, response.get_data(as_text=True)

    response = post(
        client,
        "/register",
        {
            "email": "newcomer@example.org",
            "password": registration_password,
            "display_name": "New C.",
            "timezone": "Europe/London",
            "consent": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    [confirm_mail] = mailbox.to("newcomer@example.org")
    confirm_link = mailbox.link(confirm_mail, "/account/confirm/")
    confirm_token = confirm_link.rsplit("/", 1)[-1]
    assert client.get(confirm_link).status_code == 200
    assert post(client, confirm_link).status_code == 302

    # The flows really worked: the new password signs in, the old one does not.
    with_new_password = Persona(member.email, new_password, member.id, member.display_name)
    assert login(app.test_client(), with_new_password).status_code == 302
    assert login(app.test_client(), member).status_code == 200

    assert caplog.records, "nothing was logged at all: the check would be vacuous"
    assert_not_logged(caplog, reset_token, confirm_token, new_password, registration_password, PASSWORD)


# --- 8. Health check ---


def test_health_check_reports_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.get_data(as_text=True)) == {"status": "ok", "database": "ok"}
    assert response.headers.get("Cache-Control") == "no-store"


def assert_database_unavailable(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.mimetype == "application/json"
    data = json.loads(response.get_data(as_text=True))
    assert data["database"] == "unavailable"
    assert data["status"] != "ok"


def test_health_check_reports_a_database_directory_that_went_away(tmp_path, smtp_server):
    folder = tmp_path / "volume"
    app = make_app(folder / "supportnet.db", smtp_server[0].port)
    shutil.rmtree(folder)  # e.g. the volume was unmounted after start
    try:
        assert_database_unavailable(app)
    finally:
        with app.app_context():
            db.engine.dispose()


def test_health_check_reports_a_database_that_cannot_be_opened(tmp_path, smtp_server):
    # The database path names a directory: SQLite cannot open it, whoever runs the tests (even root).
    folder = tmp_path / "not-a-file.db"
    folder.mkdir()
    app = make_app(tmp_path / "unused.db", smtp_server[0].port, SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder}")
    try:
        assert_database_unavailable(app)
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to any directory")
def test_health_check_reports_an_unwritable_database_directory(tmp_path, smtp_server):
    folder = tmp_path / "locked"
    folder.mkdir()
    app = make_app(folder / "supportnet.db", smtp_server[0].port)
    folder.chmod(0o500)
    try:
        assert_database_unavailable(app)
    finally:
        folder.chmod(0o700)
        with app.app_context():
            db.engine.dispose()
