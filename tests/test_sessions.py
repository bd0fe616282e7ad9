"""Signed-in devices (list, sign out one, sign out everywhere) and "confirm it's you" before sensitive changes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from supportnet.devices import describe
from tests.conftest import PASSWORD, login, post
from tests.worlds.data_controls import (
    code_now,
    confirm_identity,
    enable_two_factor,
    html_text,
    login_with_code,
    move_clock,
    session_rows,
    signed_in,
)

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 "
    "Edg/126.0"
)


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (FIREFOX_WINDOWS, "Firefox on Windows"),
        (SAFARI_IPHONE, "Safari on iPhone"),
        (CHROME_ANDROID, "Chrome on Android"),
        (EDGE_WINDOWS, "Edge on Windows"),
        ("curl/8.0", "Unknown device"),
        ("", "Unknown device"),
    ],
)
def test_devices_are_described_in_words(agent, label):
    assert describe(agent) == label


def browser(app, persona, agent: str):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = agent
    assert login(client, persona).status_code == 302
    return client


def test_the_member_sees_each_signed_in_device(app, member, outsider):
    laptop = browser(app, member, FIREFOX_WINDOWS)
    browser(app, member, SAFARI_IPHONE)
    browser(app, outsider, CHROME_ANDROID)
    page = laptop.get("/account/sessions")
    assert page.status_code == 200
    text = html_text(page)
    assert "Firefox on Windows (this device)" in text
    assert "Safari on iPhone" in text
    assert "Chrome on Android" not in text  # someone else's
    assert "Mozilla/5.0" not in page.get_data(as_text=True)


def _session_ids(page) -> list[int]:
    return [int(n) for n in re.findall(r"/account/sessions/(\d+)/end", page.get_data(as_text=True))]


def test_signing_out_another_device_ends_only_that_one(app, member):
    laptop = browser(app, member, FIREFOX_WINDOWS)
    phone = browser(app, member, SAFARI_IPHONE)
    phone_id = next(row.id for row in session_rows(app, member) if "iPhone" in row.user_agent)
    assert phone_id in _session_ids(laptop.get("/account/sessions"))
    response = post(laptop, f"/account/sessions/{phone_id}/end")
    assert response.status_code == 302 and response.location == "/account/sessions"
    assert not signed_in(phone)
    assert signed_in(laptop)


def test_signing_out_this_device_from_the_list_signs_out(app, member):
    laptop = browser(app, member, FIREFOX_WINDOWS)
    [row] = session_rows(app, member)
    response = post(laptop, f"/account/sessions/{row.id}/end")
    assert response.status_code == 302 and response.location == "/login"
    assert not signed_in(laptop)


def test_nobody_can_sign_out_someone_elses_device(app, member, outsider):
    browser(app, member, FIREFOX_WINDOWS)
    intruder = browser(app, outsider, CHROME_ANDROID)
    [row] = session_rows(app, member)
    assert post(intruder, f"/account/sessions/{row.id}/end").status_code == 404
    assert len(session_rows(app, member)) == 1


def test_sign_out_everywhere_ends_every_session(app, member):
    clients = [browser(app, member, agent) for agent in (FIREFOX_WINDOWS, SAFARI_IPHONE, CHROME_ANDROID)]
    response = post(clients[0], "/account/sessions/end-all")
    assert response.status_code == 302 and response.location == "/login"
    assert session_rows(app, member) == []
    assert not any(signed_in(client) for client in clients)


def test_idle_sessions_are_not_listed(app, member):
    browser(app, member, SAFARI_IPHONE)
    move_clock(timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 5))
    laptop = browser(app, member, FIREFOX_WINDOWS)
    assert "iPhone" not in html_text(laptop.get("/account/sessions"))


# --- confirm it's you ---

NEW_PASSWORD = "another long and quiet river"


def change_password(client):
    return post(client, "/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})


def test_a_fresh_sign_in_may_change_the_password_at_once(app, client, member):
    login(client, member)
    assert change_password(client).status_code == 302
    assert signed_in(client)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ("/account/email", {"email": "new@example.org", "current_password": PASSWORD}),
        ("/account/data/export", {}),
        ("/account/delete", {"confirm": "DELETE"}),
        ("/account/two-factor/setup", {}),
    ],
)
def test_sensitive_changes_need_a_recent_confirmation(app, client, member, path, data):
    login(client, member)
    move_clock(timedelta(minutes=app.config["REAUTH_MINUTES"] + 1))
    response = post(client, path, data)
    assert response.status_code == 303, path
    assert response.location.startswith("/account/confirm-identity?next=/account"), response.location
    assert signed_in(client)  # nothing happened, the member is still there
    page = client.get(response.location)
    assert page.status_code == 200 and "Confirm it" in page.get_data(as_text=True)
    back = confirm_identity(client, member)
    assert back.status_code == 302 and back.location.startswith("/account")
    assert post(client, path, data).status_code != 303


def test_the_confirmation_lasts_the_configured_minutes(app, client, member):
    login(client, member)
    move_clock(timedelta(minutes=60))
    confirm_identity(client, member)
    move_clock(timedelta(minutes=app.config["REAUTH_MINUTES"] - 1))
    assert change_password(client).status_code == 302


def test_a_wrong_password_does_not_confirm_and_is_counted(app, client, member):
    login(client, member)
    move_clock(timedelta(minutes=30))
    response = post(client, "/account/confirm-identity", {"password": "not my password at all"})
    assert response.status_code == 400
    assert "That password is not right." in response.get_data(as_text=True)
    assert change_password(client).status_code == 303
    for _ in range(app.config["LOGIN_FAILURE_LIMIT"]):
        post(client, "/account/confirm-identity", {"password": "not my password at all"})
    assert post(client, "/account/confirm-identity", {"password": PASSWORD}).status_code == 429


def test_with_two_factor_the_confirmation_needs_a_code_too(app, member):
    secret = enable_two_factor(app, member)
    client = app.test_client()
    login_with_code(client, member, secret)
    move_clock(timedelta(minutes=30))
    assert "authenticator" in client.get("/account/confirm-identity").get_data(as_text=True)
    assert post(client, "/account/confirm-identity", {"password": PASSWORD}).status_code == 400
    assert post(client, "/account/confirm-identity", {"password": PASSWORD, "code": "000000"}).status_code == 400
    assert change_password(client).status_code == 303
    ok = post(client, "/account/confirm-identity", {"password": PASSWORD, "code": code_now(secret)})
    assert ok.status_code == 302
    assert change_password(client).status_code == 302


def test_the_confirmation_page_only_sends_back_to_this_site(app, client, member):
    login(client, member)
    response = post(client, "/account/confirm-identity?next=//evil.example/x", {"password": PASSWORD})
    assert response.status_code == 302 and response.location == "/account"


def test_a_session_from_before_the_feature_must_confirm(app, client, member):
    from supportnet.extensions import db
    from supportnet.models import UserSession

    login(client, member)
    with app.app_context():
        db.session.query(UserSession).update({"reauthenticated_at": None})
        db.session.commit()
    assert change_password(client).status_code == 303


@pytest.mark.parametrize("path", ["/me/checkins/export.csv", "/me/checkins/export.json"])
def test_downloading_check_ins_needs_a_recent_confirmation_too(app, client, member, path):
    login(client, member)
    move_clock(timedelta(minutes=app.config["REAUTH_MINUTES"] + 1))
    response = client.get(path)
    assert response.status_code == 303 and response.location == f"/account/confirm-identity?next={path}"
    back = confirm_identity_to(client, member, response.location)
    assert back.location == path
    assert client.get(path).status_code == 200


def confirm_identity_to(client, member, url):
    return post(client, url, {"password": member.password})
