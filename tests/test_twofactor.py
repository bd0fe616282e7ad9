"""Two-factor authentication: setting it up, signing in with it, recovery codes, throttling, staff must use it."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, text

from supportnet import twofactor
from supportnet.extensions import db
from supportnet.models import LoginFailure, RecoveryCode, SiteRole, UserSession
from tests.conftest import login, make_persona, post
from tests.worlds.data_controls import (
    code_now,
    confirm_identity,
    enable_two_factor,
    login_with_code,
    move_clock,
    session_rows,
    signed_in,
    two_factor_row,
)

_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
_CODES = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


def set_up_through_the_pages(client) -> tuple[str, list[str]]:
    """Set two-factor up as a person would; returns the secret and the recovery codes shown."""
    assert post(client, "/account/two-factor/setup").status_code == 302
    page = client.get("/account/two-factor/confirm")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    secret = _SECRET.search(body).group(1).replace(" ", "")
    assert "otpauth://totp/" in body and f"secret={secret}" in body
    done = post(client, "/account/two-factor/confirm", {"code": code_now(secret)})
    assert done.status_code == 200, done.get_data(as_text=True)
    return secret, _CODES.findall(done.get_data(as_text=True))


def test_a_member_sets_up_two_factor_and_gets_ten_recovery_codes(app, client, member):
    login(client, member)
    secret, codes = set_up_through_the_pages(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    row = two_factor_row(app, member)
    assert row is not None and row.is_active
    with app.app_context():
        # Only hashes of the codes are kept, and the secret is ciphertext in the row.
        hashes = set(db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == member.id)))
        assert len(hashes) == 10 and not any(code.replace("-", "") in hashes for code in codes)
        raw = db.session.execute(text("SELECT secret FROM two_factor WHERE user_id = :id"), {"id": member.id}).scalar()
        assert secret not in raw and raw.startswith("gAAAA")
    assert "On." in client.get("/account/two-factor").get_data(as_text=True)


def test_a_wrong_code_does_not_turn_two_factor_on(app, client, member):
    login(client, member)
    post(client, "/account/two-factor/setup")
    response = post(client, "/account/two-factor/confirm", {"code": "000000"})
    assert response.status_code == 400
    assert "Check the time on your phone" in response.get_data(as_text=True)
    assert not two_factor_row(app, member).is_active


def test_sign_in_asks_for_the_code_and_starts_no_session_until_it_passes(app, client, member):
    secret = enable_two_factor(app, member)
    response = login(client, member, query_string={"next": "/me/meetings"})
    assert response.status_code == 302 and response.location.startswith("/login/two-factor")
    assert session_rows(app, member) == []
    assert not signed_in(client)
    page = client.get(response.location)
    assert page.status_code == 200 and "authenticator app" in page.get_data(as_text=True)
    done = post(client, response.location, {"code": code_now(secret)})
    assert done.status_code == 302 and done.location == "/me/meetings"
    assert len(session_rows(app, member)) == 1
    assert signed_in(client)


def test_a_wrong_code_is_refused_and_counted(app, client, member):
    enable_two_factor(app, member)
    first = login(client, member)
    response = post(client, first.location, {"code": "123456"})
    assert response.status_code == 400
    assert not signed_in(client)
    with app.app_context():
        assert db.session.scalar(
            select(LoginFailure.id).where(LoginFailure.account_key == twofactor.failure_key(member.user()))
        ) is not None


def test_too_many_wrong_codes_answer_429_even_for_the_right_code(app, client, member):
    secret = enable_two_factor(app, member)
    first = login(client, member)
    for _ in range(app.config["LOGIN_FAILURE_LIMIT"]):
        assert post(client, first.location, {"code": "999999"}).status_code == 400
    response = post(client, first.location, {"code": code_now(secret)})
    assert response.status_code == 429
    assert not signed_in(client)
    # Signing in with the password again does not reset the count of wrong codes.
    again = login(client, member)
    assert post(client, again.location, {"code": code_now(secret)}).status_code == 429
    move_clock(timedelta(minutes=app.config["LOGIN_FAILURE_WINDOW_MINUTES"] + 1))
    again = login(client, member)
    assert post(client, again.location, {"code": code_now(secret)}).status_code == 302
    assert signed_in(client)


def test_a_code_works_only_once(app, member):
    secret = enable_two_factor(app, member)
    first, second = app.test_client(), app.test_client()
    assert login_with_code(first, member, secret).status_code == 302
    step = login(second, member)
    response = post(second, step.location, {"code": code_now(secret)})
    assert response.status_code == 400
    # The next step's code (the phone a little ahead) still works.
    assert post(second, step.location, {"code": code_now(secret, 30)}).status_code == 302


def test_a_recovery_code_signs_in_once(app, member):
    enable_two_factor(app, member)
    client = app.test_client()
    login(client, member)
    with app.app_context():
        codes = twofactor.new_recovery_codes(member.user(), twofactor_now())
        db.session.commit()
    step = login(client, member)
    response = post(client, step.location, {"code": codes[0].upper()})
    assert response.status_code == 302
    assert signed_in(client)
    other = app.test_client()
    step = login(other, member)
    assert post(other, step.location, {"code": codes[0]}).status_code == 400
    with app.app_context():
        assert twofactor.recovery_codes_left(member.user()) == 9


def twofactor_now():
    from supportnet.clock import now_utc

    return now_utc()


def test_the_pending_sign_in_expires(app, client, member):
    secret = enable_two_factor(app, member)
    step = login(client, member)
    move_clock(timedelta(minutes=6))
    response = post(client, step.location, {"code": code_now(secret)})
    assert response.status_code == 302 and response.location.startswith("/login")
    assert not signed_in(client)


def test_the_second_step_without_a_password_first_goes_back_to_sign_in(client):
    response = client.get("/login/two-factor")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_a_password_reset_during_the_second_step_voids_it(app, client, member):
    secret = enable_two_factor(app, member)
    step = login(client, member)
    with app.app_context():
        user = member.user()
        user.password_changed_at = user.password_changed_at + timedelta(seconds=1)
        db.session.commit()
    response = post(client, step.location, {"code": code_now(secret)})
    assert response.status_code == 302 and response.location.startswith("/login")
    assert not signed_in(client)


def test_setting_up_needs_a_recent_confirmation(app, client, member):
    login(client, member)
    move_clock(timedelta(minutes=app.config["REAUTH_MINUTES"] + 1))
    response = post(client, "/account/two-factor/setup")
    assert response.status_code == 303
    assert response.location.startswith("/account/confirm-identity?next=/account/two-factor")
    assert two_factor_row(app, member) is None
    assert confirm_identity(client, member).status_code == 302
    assert post(client, "/account/two-factor/setup").status_code == 302


def test_a_member_can_turn_two_factor_off(app, member):
    secret = enable_two_factor(app, member)
    client = app.test_client()
    login_with_code(client, member, secret)
    response = post(client, "/account/two-factor/disable")
    assert response.status_code == 302
    assert two_factor_row(app, member) is None
    with app.app_context():
        assert twofactor.recovery_codes_left(member.user()) == 0
    assert login(app.test_client(), member).location == "/"


def test_new_recovery_codes_replace_the_old_ones(app, member):
    secret = enable_two_factor(app, member)
    client = app.test_client()
    login_with_code(client, member, secret)
    with app.app_context():
        old = set(db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == member.id)))
    response = post(client, "/account/two-factor/recovery-codes")
    assert response.status_code == 200
    assert len(_CODES.findall(response.get_data(as_text=True))) == 10
    with app.app_context():
        new = set(db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == member.id)))
    assert len(new) == 10 and not old & new


# --- staff must use it ---


@pytest.fixture
def app_config() -> dict:
    return {"REQUIRE_2FA_FOR_STAFF": True}


@pytest.mark.parametrize("role", [SiteRole.FACILITATOR, SiteRole.ADMIN])
def test_staff_are_sent_to_set_up_two_factor_before_anything_else(app, role):
    staff = make_persona(app, "Sam S.", role)
    client = app.test_client()
    assert login(client, staff).status_code == 302
    for path in ("/", "/account", "/groups/new", "/me/meetings", "/admin/users"):
        response = client.get(path)
        assert response.status_code == 303 and response.location == "/account/two-factor", path
    assert post(client, "/account/profile", {"display_name": "Changed", "timezone": "UTC"}).status_code == 303
    assert client.get("/privacy").status_code == 200
    secret, _codes = set_up_through_the_pages(client)
    assert client.get("/account").status_code == 200
    # From now on signing in takes the code, and two-factor cannot be turned off.
    assert post(client, "/account/two-factor/disable").status_code == 303
    assert two_factor_row(app, staff).is_active
    fresh = app.test_client()
    assert login(fresh, staff).location.startswith("/login/two-factor")
    assert post(fresh, "/login/two-factor", {"code": code_now(secret, 30)}).status_code == 302


def test_members_are_not_asked_to_set_up_two_factor(app, member):
    client = app.test_client()
    login(client, member)
    assert client.get("/account").status_code == 200


def test_a_member_made_facilitator_is_asked_at_the_next_page(app, member):
    client = app.test_client()
    login(client, member)
    with app.app_context():
        member.user().role = SiteRole.FACILITATOR
        db.session.commit()
    assert client.get("/account").status_code == 303


def test_signing_out_is_always_possible(app):
    staff = make_persona(app, "Sam S.", SiteRole.FACILITATOR)
    client = app.test_client()
    login(client, staff)
    assert post(client, "/logout").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(UserSession.id).where(UserSession.user_id == staff.id)) is None


def test_the_setting_can_be_turned_off(db_path, smtp_server):
    from tests.conftest import make_app

    app = make_app(db_path, smtp_server[0].port, REQUIRE_2FA_FOR_STAFF=False)
    staff = make_persona(app, "Sam S.", SiteRole.ADMIN)
    client = app.test_client()
    login(client, staff)
    assert client.get("/account").status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_the_setting_defaults_to_on_outside_tests(monkeypatch, tmp_path):
    from supportnet.config import load_config

    monkeypatch.delenv("SUPPORTNET_REQUIRE_2FA_FOR_STAFF", raising=False)
    assert load_config(tmp_path, {"ENV": "development"})["REQUIRE_2FA_FOR_STAFF"] is True
    monkeypatch.setenv("SUPPORTNET_REQUIRE_2FA_FOR_STAFF", "0")
    assert load_config(tmp_path, {"ENV": "development"})["REQUIRE_2FA_FOR_STAFF"] is False


def test_the_otpauth_link_names_the_site_and_the_secret(app, member):
    with app.app_context():
        row = twofactor.begin_setup(member.user(), twofactor_now())
        uri = twofactor.provisioning_uri(row, member.email, "supportnet.test")
        parsed = pyotp.parse_uri(uri)
        assert parsed.secret == str(row.secret)
        assert parsed.issuer == "supportnet.test"
        assert repr(row.secret) == "'[encrypted text]'"
        db.session.rollback()
