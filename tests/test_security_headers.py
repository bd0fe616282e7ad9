"""The security baseline, responses: security headers on every response, HSTS, and no caching of signed-in pages."""


from __future__ import annotations

import re
import shutil

import pytest
from flask import Flask

from supportnet.extensions import db
from tests.conftest import (
    ClosingClient,
    login,
    make_app,
    make_persona,
    post,
)
from tests.security_harness import (
    assert_in_site_shell,
    assert_security_headers,
)

# The configuration reads SUPPORTNET_* variables: a developer's shell must not change these tests.
pytestmark = pytest.mark.usefixtures("without_supportnet_environment")


# --- 3. Security headers on every response ---


@pytest.fixture
def failing_app(db_path, smtp_server) -> Flask:
    """An app with one page that fails with an unexpected error."""
    app = make_app(db_path, smtp_server[0].port)

    @app.get("/explode")
    def explode():
        raise RuntimeError("sentinel-internal-detail: database password is hunter2")

    app.test_client_class = ClosingClient
    yield app
    with app.app_context():
        db.engine.dispose()


def test_pages_carry_the_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    assert_security_headers(response)


def test_not_found_pages_carry_the_security_headers(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert_security_headers(response)


def test_unexpected_error_gives_the_generic_page_with_security_headers(failing_app):
    response = failing_app.test_client().get("/explode")
    assert response.status_code == 500
    assert_security_headers(response)
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body
    assert_in_site_shell(body)
    assert "Sign in" in body  # the site's navigation
    for leak in ("sentinel-internal-detail", "hunter2", "RuntimeError", "Traceback", "explode"):
        assert leak not in body


def test_unexpected_error_for_a_signed_in_member_gives_the_generic_page(failing_app):
    member = make_persona(failing_app, "Mia M.")
    client = failing_app.test_client()
    login(client, member)
    response = client.get("/explode")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body
    assert_in_site_shell(body)
    assert "sentinel-internal-detail" not in body
    assert response.headers.get("Cache-Control") == "no-store"


@pytest.mark.sqlite_only("takes the SQLite file away")
def test_signed_in_member_gets_the_we_will_be_back_page_when_the_database_is_down(tmp_path, smtp_server, migrated_db):
    folder = tmp_path / "volume"
    folder.mkdir()
    shutil.copyfile(migrated_db, folder / "supportnet.db")
    app = make_app(folder / "supportnet.db", smtp_server[0].port)
    member = make_persona(app, "Mia M.")
    client = app.test_client()
    login(client, member)
    with app.app_context():
        db.engine.dispose()
    shutil.rmtree(folder)  # the database goes away while the member is signed in
    try:
        for path in ("/", "/account", "/privacy"):
            response = client.get(path)
            assert response.status_code == 503, path  # an outage, not a bug: the page says to come back
            body = response.get_data(as_text=True)
            assert "We&#39;ll be back in a few minutes" in body  # the title, HTML-escaped
            assert_in_site_shell(body)
            assert "OperationalError" not in body
            assert_security_headers(response)
    finally:
        with app.app_context():
            db.engine.dispose()


def test_hsts_is_sent_over_https(client):
    response = client.get("/", base_url="https://localhost")
    hsts = response.headers.get("Strict-Transport-Security", "")
    assert "max-age=" in hsts
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000


def test_hsts_is_not_sent_over_plain_http(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


# --- 4. Signed-in pages are not cached ---


@pytest.mark.parametrize("path", ["/account", "/", "/privacy"])
def test_signed_in_pages_are_not_stored_by_the_browser(client, member, path):
    login(client, member)
    response = client.get(path)
    assert response.status_code == 200
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_anonymous_privacy_page_may_be_cached(client):
    response = client.get("/privacy")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_sign_out_clears_the_session_and_no_longer_forces_no_store(client, member):
    login(client, member)
    post(client, "/logout")
    assert client.get("/account").status_code == 302
    assert "no-store" not in client.get("/privacy").headers.get("Cache-Control", "")
