"""The security baseline, requests: `next` stays on the site, every change is a POST with CSRF, GET never writes."""


from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from supportnet.web.security import safe_next
from tests.conftest import (
    PASSWORD,
    login,
)
from tests.security_harness import (
    build,
    snapshot,
    stays_on_site,
)

# The configuration reads SUPPORTNET_* variables: a developer's shell must not change these tests.
pytestmark = pytest.mark.usefixtures("without_supportnet_environment")


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
