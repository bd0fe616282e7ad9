"""The security baseline, production configuration: keys, base URL, debug, cookies, settings from the environment."""


from __future__ import annotations

import pytest
from flask import Flask

from supportnet import create_app
from supportnet.config import ConfigError
from supportnet.extensions import db
from tests.conftest import (
    ClosingClient,
    database_uri,
    login,
    make_persona,
)
from tests.security_harness import (
    DATA_KEY,
    PRODUCTION_BASE_URL,
    STRONG_KEY,
    assert_in_site_shell,
    assert_security_headers,
)

# The configuration reads SUPPORTNET_* variables: a developer's shell must not change these tests.
pytestmark = pytest.mark.usefixtures("without_supportnet_environment")


# --- 5. Production configuration ---


def production_config(db_path, smtp_port: int, **overrides) -> dict:
    config = {
        "ENV": "production",
        "SECRET_KEY": STRONG_KEY,
        "DATA_KEY": DATA_KEY,
        "BASE_URL": PRODUCTION_BASE_URL,
        "SQLALCHEMY_DATABASE_URI": database_uri(db_path),
        "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "AUTH_RATE_LIMIT": "1000 per minute",
        # The test client then speaks https, as the proxy in front of production does.
        "PREFERRED_URL_SCHEME": "https",
    }
    config.update(overrides)
    return config


@pytest.fixture
def production_app(db_path, smtp_server) -> Flask:
    app = create_app(production_config(db_path, smtp_server[0].port))
    app.test_client_class = ClosingClient
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "key",
    [None, "", "dev", "change-me", "changeme", "secret", "DEV", "   ", "short-but-random-Zq81", "x" * 31, " " * 40],
    ids=repr,
)
def test_production_refuses_a_missing_or_weak_secret_key(db_path, smtp_server, key):
    config = production_config(db_path, smtp_server[0].port, SECRET_KEY=key)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(config)


def test_production_refuses_to_start_without_a_base_url(db_path, smtp_server):
    with pytest.raises(ConfigError, match="BASE_URL"):
        create_app(production_config(db_path, smtp_server[0].port, BASE_URL=""))


def test_an_unconfigured_deployment_is_production_and_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.setenv("SUPPORTNET_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_starts_with_a_strong_key_and_safe_cookie_settings(production_app):
    cfg = production_app.config
    assert cfg["SUPPORTNET_ENV"] == "production"
    assert production_app.debug is False
    assert cfg["DEBUG"] is False
    assert cfg["TESTING"] is False
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["REMEMBER_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True
    assert cfg["REMEMBER_COOKIE_HTTPONLY"] is True
    assert cfg["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert cfg["REMEMBER_COOKIE_SAMESITE"] == "Lax"


def test_production_cannot_be_put_in_debug_mode(db_path, smtp_server):
    app = create_app(production_config(db_path, smtp_server[0].port, DEBUG=True))
    assert app.debug is False


def set_cookies(response, name: str) -> list[str]:
    return [value for value in response.headers.getlist("Set-Cookie") if value.startswith(name + "=")]


def assert_safe_cookie(header: str) -> None:
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in header.split(";")[1:]}
    assert "secure" in attributes, header
    assert "httponly" in attributes, header
    assert attributes.get("samesite", "").lower() == "samesite=lax", header


def test_production_session_cookie_is_secure_httponly_and_lax(production_app):
    client = production_app.test_client()
    response = client.get("/privacy")
    cookies = set_cookies(response, production_app.config["SESSION_COOKIE_NAME"])
    assert cookies, response.headers.getlist("Set-Cookie")
    for header in cookies:
        assert_safe_cookie(header)


def test_production_remember_cookie_is_secure_httponly_and_lax(production_app):
    member = make_persona(production_app, "Mia M.")
    client = production_app.test_client()
    # Over https Flask-WTF also wants a same-origin Referer, which Referrer-Policy: same-origin lets browsers send.
    response = login(client, member, remember=True, headers={"Referer": "https://localhost/login"})
    assert response.status_code == 302, response.get_data(as_text=True)
    remember = set_cookies(response, production_app.config["REMEMBER_COOKIE_NAME"])
    session = set_cookies(response, production_app.config["SESSION_COOKIE_NAME"])
    assert remember and session, response.headers.getlist("Set-Cookie")
    for header in remember + session:
        assert_safe_cookie(header)


def test_production_refuses_a_form_posted_from_another_site(production_app):
    member = make_persona(production_app, "Mia M.")
    client = production_app.test_client()
    response = login(client, member, headers={"Referer": "https://evil.example/phish"})
    assert response.status_code == 400
    assert set_cookies(response, production_app.config["REMEMBER_COOKIE_NAME"]) == []


def test_production_unexpected_error_gives_the_generic_page(db_path, smtp_server):
    app = create_app(production_config(db_path, smtp_server[0].port))

    @app.get("/explode")
    def explode():
        raise RuntimeError("sentinel-internal-detail")

    try:
        response = app.test_client().get("/explode")
        assert response.status_code == 500
        body = response.get_data(as_text=True)
        assert "Something went wrong" in body
        assert_in_site_shell(body)
        assert "sentinel-internal-detail" not in body and "Traceback" not in body
        assert_security_headers(response)
        assert "Strict-Transport-Security" in response.headers
    finally:
        with app.app_context():
            db.engine.dispose()


def test_production_does_not_serve_the_dev_mailbox(production_app):
    client = production_app.test_client()
    assert client.get("/dev/mailbox").status_code == 404
    assert client.get("/dev/mailbox/123-abc").status_code == 404


def test_development_serves_the_dev_mailbox(client):
    assert client.get("/dev/mailbox").status_code == 200


def test_production_reads_its_settings_from_the_environment(monkeypatch, db_path, smtp_server):
    monkeypatch.setenv("SUPPORTNET_ENV", "production")
    monkeypatch.setenv("SUPPORTNET_SECRET_KEY", STRONG_KEY)
    monkeypatch.setenv("SUPPORTNET_DATA_KEY", DATA_KEY)
    monkeypatch.setenv("SUPPORTNET_BASE_URL", PRODUCTION_BASE_URL + "/")
    monkeypatch.setenv("SUPPORTNET_DATABASE_URL", f"sqlite:///{db_path}")
    monkeypatch.setenv("SUPPORTNET_MAIL_URL", f"smtp://127.0.0.1:{smtp_server[0].port}")
    monkeypatch.setenv("SUPPORTNET_SESSION_IDLE_MINUTES", "45")
    app = create_app()
    try:
        assert app.config["SUPPORTNET_ENV"] == "production"
        assert app.config["SECRET_KEY"] == STRONG_KEY
        assert app.config["BASE_URL"] == PRODUCTION_BASE_URL
        assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{db_path}"
        assert app.config["SESSION_IDLE_MINUTES"] == 45
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert app.test_client().get("/dev/mailbox").status_code == 404
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("key", ["dev", "change-me", "too-short"])
def test_production_refuses_a_weak_key_from_the_environment(monkeypatch, tmp_path, key):
    monkeypatch.setenv("SUPPORTNET_ENV", "production")
    monkeypatch.setenv("SUPPORTNET_SECRET_KEY", key)
    monkeypatch.setenv("SUPPORTNET_BASE_URL", PRODUCTION_BASE_URL)
    monkeypatch.setenv("SUPPORTNET_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(ConfigError):
        create_app()


def test_an_unknown_environment_name_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("SUPPORTNET_ENV", "prod")
    with pytest.raises(ConfigError, match="SUPPORTNET_ENV"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}"})
