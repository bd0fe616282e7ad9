"""The security baseline: redirects stay on the site, every change needs CSRF, headers, cookies, logs, errors."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from supportnet import create_app, logs
from supportnet.config import ConfigError
from supportnet.crypto import generate_key
from supportnet.extensions import db
from supportnet.web.security import safe_next
from tests.conftest import (
    PASSWORD,
    ClosingClient,
    Mailbox,
    Persona,
    database_uri,
    login,
    make_app,
    make_persona,
    post,
)
from tests.security_harness import build

STRONG_KEY = "a-strong-production-key-" + "k" * 40
DATA_KEY = generate_key()
PRODUCTION_BASE_URL = "https://support.example.org"

# Each of these, followed as `next`, would send the member to another site (or run script).
OFFSITE_NEXTS = [
    "//evil.com",
    "/\\evil.com",
    "\\/evil.com",
    "https://evil.com",
    "http:evil.com",
    "javascript:alert(1)",
    "/\t/evil.com",
    "  //evil.com",
    "///evil.com",
    "/\n/evil.com",
    "\t//evil.com",
    "HTTPS://evil.com",
]


@pytest.fixture(autouse=True)
def _no_supportnet_environment(monkeypatch):
    # The configuration reads SUPPORTNET_* variables: a developer's shell must not change these tests.
    for name in list(os.environ):
        if name.startswith("SUPPORTNET_"):
            monkeypatch.delenv(name)


def stays_on_site(location: str) -> bool:
    """Whether a Location header keeps the browser on this site."""
    parts = urlsplit(location)
    return (
        parts.scheme in ("", "http", "https")
        and parts.netloc in ("", "localhost")
        and parts.path.startswith("/")
        and not parts.path.startswith("//")
        and "\\" not in location
        and not any(ord(ch) < 33 or ord(ch) == 127 for ch in location)
    )


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table, to tell whether a request changed anything at all."""
    with app.app_context():
        return {
            table.name: sorted(tuple(map(repr, row)) for row in db.session.execute(select(table)).all())
            for table in db.metadata.sorted_tables
        }


def assert_in_site_shell(body: str) -> None:
    assert '<header class="site-header">' in body
    assert '<footer class="site-footer">' in body
    assert "SupportNet is not an emergency service" in body


# --- 1. `next` is followed only when it stays on the site ---


@pytest.mark.parametrize("target", OFFSITE_NEXTS, ids=repr)
def test_login_ignores_next_that_leaves_the_site(client, member, target):
    response = login(client, member, query_string={"next": target})
    assert response.status_code == 302
    assert stays_on_site(response.location), response.location


def test_login_ignores_next_with_a_url_encoded_tab(client, member):
    # `/%09/evil.com` in the query string reaches the app as "/<tab>/evil.com"; browsers drop the tab.
    response = login(client, member, query_string="next=/%09/evil.com")
    assert response.status_code == 302
    assert stays_on_site(response.location), response.location
    assert "evil.com" not in response.location


def test_signed_in_member_visiting_login_is_not_sent_off_the_site(client, member):
    login(client, member)
    for target in OFFSITE_NEXTS:
        response = client.get("/login", query_string={"next": target})
        assert response.status_code == 302
        assert stays_on_site(response.location), (target, response.location)


def test_login_follows_next_that_stays_on_the_site(client, member):
    response = login(client, member, query_string={"next": "/account?tab=1"})
    assert response.status_code == 302
    assert response.location == "/account?tab=1"


@pytest.mark.parametrize("target", [*OFFSITE_NEXTS, "/%09/evil.com", "/\x00/evil.com", "/\x7f/evil.com"], ids=repr)
def test_safe_next_refuses_targets_off_the_site(target):
    result = safe_next(target, "/home")
    assert stays_on_site(result), result
    # A literal "%09" stays percent-encoded in the browser's path, so "/%09/evil.com" may be kept as is;
    # everything else is refused outright, not repaired.
    if "%09" not in target:
        assert result == "/home"


def test_safe_next_keeps_paths_on_the_site():
    assert safe_next("/account?tab=1") == "/account?tab=1"
    assert safe_next("/groups/quiet-harbour#next") == "/groups/quiet-harbour#next"
    assert safe_next(None, "/home") == "/home"
    assert safe_next("", "/home") == "/home"
    assert safe_next("/" + "a" * 3000, "/home") == "/home"


# --- 2. Every change is a POST with CSRF; GET never writes ---

KNOWN_POST_ROUTES = {
    "/login",
    "/logout",
    "/register",
    "/forgot-password",
    "/account/profile",
    "/account/password",
    "/account/email",
    "/admin/users/<int:user_id>/role",
    "/account/reset/<token>",
    "/account/confirm/<token>",
    "/account/email/<token>",
}

_ARGUMENT = re.compile(r"<(?:(?P<converter>[a-zA-Z_]\w*)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def concrete_url(rule: str, int_value: int = 1) -> str:
    """A URL for a routing rule, with a dummy value in each placeholder (the first choice of an `any`)."""

    def fill(match: re.Match) -> str:
        if match["converter"] == "any":
            return match["args"].split(",")[0].strip().strip("'\"")
        return str(int_value) if match["converter"] in ("int", "float") else "x"

    return _ARGUMENT.sub(fill, rule)


def routes_for(app: Flask, method: str) -> list[str]:
    return sorted({rule.rule for rule in app.url_map.iter_rules() if method in rule.methods})


# Plausible values for every form field, so that a request that slipped past CSRF would really change things.
FORM_FIELDS = {
    "email": "changed@example.org",
    "password": "a brand new passphrase",
    "current_password": PASSWORD,
    "new_password": "a brand new passphrase",
    "display_name": "Changed Name",
    "timezone": "UTC",
    "consent": "y",
    "remember": "y",
    "role": "admin",
}


def test_every_post_route_refuses_a_request_without_csrf(app, client, admin, member):
    routes = routes_for(app, "POST")
    assert set(routes) >= KNOWN_POST_ROUTES, set(routes)
    login(client, admin)
    before = snapshot(app)
    for rule in routes:
        url = concrete_url(rule, int_value=member.id)
        response = client.post(url, data=FORM_FIELDS)
        assert response.status_code == 400, (url, response.status_code)
        assert "Reload the page and try again" in response.get_data(as_text=True), url
        assert snapshot(app) == before, url
    # Still signed in: the refused /logout did not sign the admin out either.
    assert client.get("/account").status_code == 200


def test_every_post_route_refuses_a_wrong_csrf_token(app, client, admin, member):
    login(client, admin)
    before = snapshot(app)
    for rule in routes_for(app, "POST"):
        url = concrete_url(rule, int_value=member.id)
        response = client.post(url, data={**FORM_FIELDS, "csrf_token": "not-the-token"})
        assert response.status_code == 400, (url, response.status_code)
    assert snapshot(app) == before


def test_a_forged_post_on_real_things_is_refused_before_any_view_acts(app, db_path):
    # The views hold no CSRF check of their own (an empty form would always pass it), so this runs each POST
    # route on the world's real group, meeting, check-in, proof, session and notification, as the people who
    # may act on them: only the global CSRF protection stands between the forged request and the change.
    harness = build(app, db_path)
    before = snapshot(app)
    for rule in routes_for(app, "POST"):
        url = harness.url(rule)
        for persona in ("member", "facilitator", "admin"):
            client = harness.client(persona)
            for token in ({}, {"csrf_token": "not-the-token"}, {"csrf_token": harness.csrf["outsider"]}):
                response = client.post(url, data={**FORM_FIELDS, **token})
                assert response.status_code == 400, (url, persona, token, response.status_code)
                assert "Reload the page and try again" in response.get_data(as_text=True), url
        assert snapshot(app) == before, url


def test_templates_write_the_csrf_field_only_through_the_form_macros():
    # One way to write a POST form's token: a hand-written copy is where a form without one would slip in.
    templates = Path(__file__).resolve().parent.parent / "templates"
    by_hand = [
        str(path.relative_to(templates))
        for path in sorted(templates.rglob("*.html"))
        if path.name != "_forms.html" and 'name="csrf_token"' in path.read_text(encoding="utf-8")
    ]
    assert not by_hand, f"use post_button (templates/_forms.html) or form.hidden_tag() in {by_hand}"


def test_no_get_route_changes_the_database(app, client, admin, member):
    routes = [rule for rule in routes_for(app, "GET") if not rule.startswith("/static/")]
    assert {"/", "/account", "/admin/users", "/login", "/register", "/healthz"} <= set(routes), routes
    login(client, admin)
    before = snapshot(app)
    for rule in routes:
        url = concrete_url(rule, int_value=member.id)
        response = client.get(url)
        assert response.status_code < 500, (url, response.status_code)
        assert snapshot(app) == before, url


# --- 3. Security headers on every response ---


def assert_security_headers(response) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp, csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy")


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

