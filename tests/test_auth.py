"""Accounts as a visitor and a member experience them: sign-up, sign-in, sessions, reset, settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import AccountToken, LoginFailure, User, UserSession
from tests.conftest import PASSWORD, csrf_token, login, logout, post

NEW = {
    "email": "Newcomer@Example.org",
    "password": "tea by the window",
    "display_name": "Nora N.",
    "timezone": "America/New_York",
    "consent": "y",
}


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def signed_in_name(client) -> str | None:
    page = client.get("/").get_data(as_text=True)
    marker = "Hello, "
    return page.split(marker, 1)[1].split("<", 1)[0] if marker in page else None


# --- registration --------------------------------------------------------------------------------------------


def test_a_visitor_registers_confirms_by_email_and_is_signed_in(app, client, mailbox):
    response = post(client, "/register", NEW)
    assert response.status_code == 302
    assert response.headers["Location"] == "/register/check-email"
    (message,) = mailbox.to("newcomer@example.org")
    assert message["Subject"] == "Confirm your email address"
    link = mailbox.link(message, "/account/confirm/")
    assert client.get(link).status_code == 200
    assert signed_in_name(client) is None, "a GET on the link must not change anything"
    confirmed = post(client, link, follow_redirects=True)
    assert "Hello, Nora N." in confirmed.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "newcomer@example.org"))
        assert user.email_confirmed_at is not None
        assert user.timezone == "America/New_York"
        assert user.password_hash.startswith("$argon2id$")


def test_an_unconfirmed_account_cannot_sign_in(app, client, mailbox):
    post(client, "/register", NEW)
    response = post(client, "/login", {"email": NEW["email"], "password": NEW["password"]})
    assert "Confirm your email address first" in response.get_data(as_text=True)
    assert signed_in_name(client) is None


def test_confirmation_link_works_once(client, mailbox):
    post(client, "/register", NEW)
    link = mailbox.link(mailbox.messages[0], "/account/confirm/")
    post(client, link)
    logout(client)
    again = client.get(link)
    assert again.status_code == 400
    assert "invalid or has expired" in again.get_data(as_text=True)


def test_registering_an_existing_email_looks_the_same_and_tells_the_owner(app, client, member, mailbox):
    fresh = post(client, "/register", NEW)
    mailbox.clear()
    users_before = count(app, User)
    taken = post(client, "/register", {**NEW, "email": member.email.upper(), "display_name": "Someone Else"})
    assert taken.status_code == fresh.status_code
    assert taken.headers["Location"] == fresh.headers["Location"]
    assert count(app, User) == users_before
    (notice,) = mailbox.to(member.email)
    assert notice["Subject"] == "About your sign-up"
    assert "already has one" in mailbox.text(notice)
    with app.app_context():
        assert member.user().display_name == "Mia M."  # nothing about the account changed


def test_registration_requires_consent_and_a_valid_timezone(app, client, mailbox):
    response = post(client, "/register", {**NEW, "consent": "", "timezone": "Mars/Olympus"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "only create an account with your consent" in page
    assert "Choose a timezone from the list." in page
    assert count(app, User) == 0
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "Use at least 8 characters."),
        ("password123", "list of common passwords"),
        ("iloveyou", "list of common passwords"),
        ("x" * 300, "at most"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(app, client, password, message):
    response = post(client, "/register", {**NEW, "password": password})
    assert message in response.get_data(as_text=True)
    assert count(app, User) == 0


def test_long_passphrases_work_in_full_without_truncation(app, client, member):
    long_password = "correct horse battery staple " * 6  # 174 characters
    with app.app_context():
        from supportnet import passwords

        user = member.user()
        user.password_hash = passwords.hash_password(long_password)
        db.session.commit()
    truncated = post(client, "/login", {"email": member.email, "password": long_password[:-1]})
    assert "don&#39;t match" in truncated.get_data(as_text=True)
    post(client, "/login", {"email": member.email, "password": long_password})
    assert signed_in_name(client) == "Mia M."


def test_display_names_that_are_email_addresses_are_refused(app, client):
    response = post(client, "/register", {**NEW, "display_name": "nora@example.org"})
    assert "don&#39;t use your email address" in response.get_data(as_text=True)
    assert count(app, User) == 0


def test_the_registration_form_asks_for_a_pseudonym_and_links_the_privacy_page(client):
    page = client.get("/register").get_data(as_text=True)
    assert "first name and last initial" in page
    assert 'href="/privacy"' in page
    assert 'data-browser-zone' in page


# --- sign in, sign out, sessions --------------------------------------------------------------------------------


def test_a_member_signs_in_and_out(client, member):
    response = login(client, member)
    assert response.status_code == 302
    assert signed_in_name(client) == "Mia M."
    logout(client)
    assert signed_in_name(client) is None


def test_wrong_password_and_unknown_email_get_the_same_answer(client, member):
    wrong = post(client, "/login", {"email": member.email, "password": "not the password"})
    unknown = post(client, "/login", {"email": "nobody@example.org", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 200
    strip = lambda r: r.get_data(as_text=True).replace(member.email, "").replace("nobody@example.org", "")  # noqa: E731
    assert strip(wrong).split('name="csrf-token"')[1].split("</main>")[0].count("don&#39;t match") == 1
    # The pages differ only in the echoed email and the CSRF token.
    assert _without_tokens(strip(wrong)) == _without_tokens(strip(unknown))


def _without_tokens(page: str) -> str:
    import re

    return re.sub(r'(name="csrf[-_]token"[^>]*value="|name="csrf-token" content=")[^"]+', r"\1", page)


def test_a_session_cookie_replayed_after_logout_is_refused(app, client, member):
    login(client, member)
    stolen = client.get_cookie("supportnet_session").value
    logout(client)
    thief = app.test_client()
    thief.set_cookie("supportnet_session", stolen)
    assert thief.get("/account").status_code == 302  # sent to sign in
    assert signed_in_name(thief) is None


def test_a_remember_me_cookie_replayed_after_logout_is_refused(app, client, member):
    login(client, member, remember=True)
    remember = client.get_cookie("supportnet_remember")
    assert remember is not None and remember.http_only
    stolen = remember.value
    logout(client)
    thief = app.test_client()
    thief.set_cookie("supportnet_remember", stolen)
    assert signed_in_name(thief) is None


def test_remember_me_keeps_a_member_signed_in_after_the_browser_session_ends(app, client, member):
    login(client, member, remember=True)
    remember = client.get_cookie("supportnet_remember").value
    fresh_browser = app.test_client()
    fresh_browser.set_cookie("supportnet_remember", remember)
    assert signed_in_name(fresh_browser) == "Mia M."


def test_each_sign_in_gets_a_new_session_identifier(app, client, member):
    login(client, member)
    first = client.get_cookie("supportnet_session").value
    logout(client)
    login(client, member)
    assert client.get_cookie("supportnet_session").value != first
    assert count(app, UserSession) == 1


def test_an_idle_session_ends_after_the_idle_timeout(app, client, member):
    login(client, member)
    idle = app.config["SESSION_IDLE_MINUTES"]
    clock.set_frozen(clock.now_utc() + timedelta(minutes=idle - 1))
    assert signed_in_name(client) == "Mia M."  # activity moves last_seen forward
    clock.set_frozen(clock.now_utc() + timedelta(minutes=idle - 1))
    assert signed_in_name(client) == "Mia M."
    clock.set_frozen(clock.now_utc() + timedelta(minutes=idle + 1))
    assert signed_in_name(client) is None


def test_every_session_ends_after_the_absolute_lifetime(app, client, member):
    login(client, member, remember=True)
    days = app.config["SESSION_LIFETIME_DAYS"]
    for _ in range(days):  # active every day: the idle timeout never strikes
        clock.set_frozen(clock.now_utc() + timedelta(days=1) - timedelta(minutes=1))
        assert signed_in_name(client) == "Mia M."
    clock.set_frozen(clock.now_utc() + timedelta(days=1))
    assert signed_in_name(client) is None


def test_a_get_request_does_not_write_last_seen_more_than_once_a_minute(app, client, member):
    login(client, member)
    with app.app_context():
        before = db.session.scalar(select(UserSession.last_seen_at))
    client.get("/")
    with app.app_context():
        assert db.session.scalar(select(UserSession.last_seen_at)) == before
    clock.set_frozen(clock.now_utc() + timedelta(minutes=2))
    client.get("/")
    with app.app_context():
        assert db.session.scalar(select(UserSession.last_seen_at)) == clock.now_utc()


def test_login_form_follows_a_safe_next(client, member):
    response = login(client, member, query_string={"next": "/account"})
    assert response.headers["Location"] == "/account"


# --- throttling ----------------------------------------------------------------------------------------------


def test_ten_failed_sign_ins_lock_the_account_for_a_while_with_a_clear_message(app, client, member):
    for _ in range(10):
        assert post(client, "/login", {"email": member.email, "password": "wrong guess"}).status_code == 200
    locked = post(client, "/login", {"email": member.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert signed_in_name(client) is None
    # The count lives in the database, so another worker process (here: another app) sees it too.
    from tests.conftest import make_app

    other_worker = make_app(Path(app.instance_path) / "unused.db", _smtp_port(app),
                            SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    other = other_worker.test_client()
    assert post(other, "/login", {"email": member.email, "password": PASSWORD}).status_code == 429
    clock.set_frozen(clock.now_utc() + timedelta(minutes=16))
    assert post(client, "/login", {"email": member.email, "password": PASSWORD}).status_code == 302


def _smtp_port(app) -> int:
    return int(app.config["MAIL_URL"].rsplit(":", 1)[1])


def test_unknown_emails_are_throttled_exactly_like_known_ones(app, client):
    for _ in range(10):
        post(client, "/login", {"email": "ghost@example.org", "password": "wrong guess"})
    assert post(client, "/login", {"email": "ghost@example.org", "password": "x" * 8}).status_code == 429
    with app.app_context():
        keys = db.session.scalars(select(LoginFailure.account_key)).all()
    assert all("ghost" not in key for key in keys), "the failure table stores hashes, not addresses"


@pytest.fixture
def low_ip_limit(app_config):
    app_config["AUTH_RATE_LIMIT"] = "3 per minute"
    return app_config


def test_the_per_ip_limit_answers_429_in_the_site_shell(low_ip_limit, client):
    statuses = [post(client, "/forgot-password", {"email": f"a{i}@example.org"}).status_code for i in range(4)]
    assert statuses == [302, 302, 302, 429]
    page = post(client, "/forgot-password", {"email": "b@example.org"})
    assert page.status_code == 429
    assert "Slow down" in page.get_data(as_text=True)


# --- password reset ------------------------------------------------------------------------------------------


def test_password_reset_by_email_sets_a_new_password_once(app, client, member, mailbox):
    post(client, "/forgot-password", {"email": member.email})
    (message,) = mailbox.to(member.email)
    assert message["Subject"] == "Reset your password"
    full_link = next(u for u in mailbox.text(message).split() if "/account/reset/" in u)
    assert full_link.startswith("http://supportnet.test/account/reset/")
    link = mailbox.link(message, "/account/reset/")
    assert client.get(link).status_code == 200
    done = post(client, link, {"password": "a brand new sentence"})
    assert done.headers["Location"] == "/login"
    assert post(client, "/login", {"email": member.email, "password": PASSWORD}).status_code == 200
    assert post(client, "/login", {"email": member.email, "password": "a brand new sentence"}).status_code == 302
    logout(client)
    reused = post(client, link, {"password": "another new sentence"})
    assert reused.status_code == 400


def test_reset_links_expire_within_an_hour(app, client, member, mailbox):
    post(client, "/forgot-password", {"email": member.email})
    link = mailbox.link(mailbox.to(member.email)[0], "/account/reset/")
    clock.set_frozen(clock.now_utc() + timedelta(minutes=61))
    assert client.get(link).status_code == 400
    assert post(client, link, {"password": "a brand new sentence"}).status_code == 400


def test_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(app, client, member, mailbox):
    known = post(client, "/forgot-password", {"email": member.email})
    mailbox.clear()
    unknown = post(client, "/forgot-password", {"email": "nobody@example.org"})
    assert (known.status_code, known.headers["Location"]) == (unknown.status_code, unknown.headers["Location"])
    assert mailbox.messages == []
    assert count(app, AccountToken) == 1


def test_reset_links_are_built_from_the_base_url_not_the_host_header(client, member, mailbox):
    evil = "http://evil.example.com"
    page = client.get("/forgot-password", base_url=evil).get_data(as_text=True)
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    sent = client.post("/forgot-password", base_url=evil, data={"csrf_token": token, "email": member.email})
    assert sent.status_code == 302
    text = mailbox.text(mailbox.to(member.email)[0])
    assert "evil.example.com" not in text
    assert "http://supportnet.test/account/reset/" in text


def test_a_password_reset_signs_out_every_device(app, client, member, mailbox):
    login(client, member)
    other_device = app.test_client()
    post(other_device, "/forgot-password", {"email": member.email})
    link = mailbox.link(mailbox.to(member.email)[0], "/account/reset/")
    post(other_device, link, {"password": "a brand new sentence"})
    assert signed_in_name(client) is None


# --- settings ------------------------------------------------------------------------------------------------


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(app, client, member):
    login(client, member)
    other_device = app.test_client()
    login(other_device, member)
    wrong = post(client, "/account/password", {"current_password": "nope nope", "new_password": "fresh green tea"})
    assert wrong.status_code == 400
    assert "current password is not right" in wrong.get_data(as_text=True)
    ok = post(client, "/account/password", {"current_password": PASSWORD, "new_password": "fresh green tea"})
    assert ok.status_code == 302
    assert signed_in_name(client) == "Mia M.", "this device stays signed in"
    assert signed_in_name(other_device) is None
    assert count(app, UserSession) == 1


def test_a_member_updates_display_name_and_timezone(app, client, member):
    login(client, member)
    response = post(client, "/account/profile", {"display_name": "  Mia   M. ", "timezone": "Asia/Tokyo"})
    assert response.status_code == 302
    with app.app_context():
        user = member.user()
        assert (user.display_name, user.timezone) == ("Mia M.", "Asia/Tokyo")
    bad = post(client, "/account/profile", {"display_name": "Mia", "timezone": "Nowhere/Special"})
    assert bad.status_code == 400
    with app.app_context():
        assert member.user().display_name == "Mia M."


def test_changing_email_is_confirmed_from_the_new_address_and_the_old_one_is_told(app, client, member, mailbox):
    login(client, member)
    post(client, "/account/email", {"email": "mia.new@example.org", "current_password": PASSWORD})
    (confirm,) = mailbox.to("mia.new@example.org")
    with app.app_context():
        assert member.user().email == member.email, "nothing changes before the new address is confirmed"
    link = mailbox.link(confirm, "/account/email/")
    assert client.get(link).status_code == 200
    post(client, link)
    with app.app_context():
        assert member.user().email == "mia.new@example.org"
    assert mailbox.to(member.email)[0]["Subject"] == "Your email address is changing"


def test_changing_to_a_taken_email_reveals_nothing(app, client, member, outsider, mailbox):
    login(client, member)
    response = post(client, "/account/email", {"email": outsider.email, "current_password": PASSWORD},
                    follow_redirects=True)
    assert f"We sent a confirmation link to {outsider.email}" in response.get_data(as_text=True)
    (notice,) = mailbox.to(outsider.email)
    assert "/account/email/" not in mailbox.text(notice)
    with app.app_context():
        assert member.user().email == member.email


def test_settings_need_a_signed_in_member(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


# --- admin -----------------------------------------------------------------------------------------------------


def test_an_admin_makes_a_member_facilitator_and_back(app, client, admin, member):
    login(client, admin)
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Mia M." in page
    assert post(client, f"/admin/users/{member.id}/role", {"role": "facilitator"}).status_code == 302
    with app.app_context():
        assert member.user().is_facilitator
    post(client, f"/admin/users/{member.id}/role", {"role": "member"})
    with app.app_context():
        assert not member.user().is_facilitator


def test_the_last_admin_cannot_step_down(app, client, admin):
    login(client, admin)
    post(client, f"/admin/users/{admin.id}/role", {"role": "member"})
    with app.app_context():
        assert admin.user().is_admin


def test_members_and_facilitators_do_not_see_the_admin_pages(app, client, member, facilitator):
    for persona in (member, facilitator):
        login(client, persona)
        assert client.get("/admin/users").status_code == 404
        assert post(client, f"/admin/users/{persona.id}/role", {"role": "admin"}).status_code == 404
        logout(client)
    with app.app_context():
        assert not member.user().is_admin


def test_csrf_token_is_on_every_page_for_scripts(client):
    assert len(csrf_token(client)) > 20
