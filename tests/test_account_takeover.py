"""Nobody gets into someone else's account: pre-registered addresses and email changes from a stolen session.

Each attack is played through the web client as the attacker would, and the honest path is checked beside it.
"""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import select

from supportnet.extensions import db
from supportnet.models import User
from tests.conftest import PASSWORD, login, post

VICTIM = "victim@example.org"
ATTACKER_SIGNUP = {"email": VICTIM, "password": "the attacker's own phrase", "display_name": "Mallory",
                   "timezone": "UTC", "consent": "y"}
VICTIM_SIGNUP = {"email": VICTIM, "password": "her very own long phrase", "display_name": "Vera V.",
                 "timezone": "Europe/Berlin", "consent": "y"}


def signed_in_name(client) -> str | None:
    page = client.get("/").get_data(as_text=True)
    return page.split("Hello, ", 1)[1].split("<", 1)[0] if "Hello, " in page else None


def can_sign_in(app, email: str, password: str) -> bool:
    browser = app.test_client()
    return login(browser, SimpleNamespace(email=email, password=password)).status_code == 302


# --- signing up with someone else's address -------------------------------------------------------------------


def test_an_attacker_who_signs_up_first_with_her_address_never_gets_her_account(app, client, mailbox):
    attacker = app.test_client()
    first = post(attacker, "/register", ATTACKER_SIGNUP)
    (attacker_link_mail,) = mailbox.to(VICTIM)  # the attacker cannot read this; it sits in her mailbox
    mailbox.clear()

    second = post(client, "/register", VICTIM_SIGNUP)
    assert (first.status_code, first.headers["Location"]) == (second.status_code, second.headers["Location"])
    (her_mail,) = mailbox.to(VICTIM)
    post(client, mailbox.link(her_mail, "/account/confirm/"))

    assert signed_in_name(client) == "Vera V.", "she is signed in with the name she chose, not the attacker's"
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == VICTIM))
        assert user.timezone == "Europe/Berlin"
    assert can_sign_in(app, VICTIM, VICTIM_SIGNUP["password"])
    assert not can_sign_in(app, VICTIM, ATTACKER_SIGNUP["password"]), "the attacker's password must not work"
    # The earlier sign-up's link stopped working when she signed up.
    stale = mailbox.link(attacker_link_mail, "/account/confirm/")
    assert app.test_client().get(stale).status_code == 400


def test_an_older_pending_sign_up_link_cannot_complete_the_account(app, client, mailbox):
    post(app.test_client(), "/register", ATTACKER_SIGNUP)
    old_link = mailbox.link(mailbox.to(VICTIM)[0], "/account/confirm/")
    post(client, "/register", VICTIM_SIGNUP)
    assert post(app.test_client(), old_link).status_code == 400
    assert not can_sign_in(app, VICTIM, ATTACKER_SIGNUP["password"])


def test_a_reset_of_a_pre_registered_address_takes_her_own_name(app, client, mailbox):
    post(app.test_client(), "/register", ATTACKER_SIGNUP)
    post(client, "/register", VICTIM_SIGNUP)
    mailbox.clear()
    post(client, "/forgot-password", {"email": VICTIM})
    link = mailbox.link(mailbox.to(VICTIM)[0], "/account/reset/")
    post(client, link, {"password": "a reset phrase of hers"})
    assert can_sign_in(app, VICTIM, "a reset phrase of hers")
    with app.app_context():
        assert db.session.scalar(select(User.display_name).where(User.email == VICTIM)) == "Vera V."


# --- changing the email from a stolen session -----------------------------------------------------------------


def _request_change(browser, new_email: str) -> None:
    response = post(browser, "/account/email", {"email": new_email, "current_password": PASSWORD})
    assert response.status_code == 302


def test_an_email_change_from_a_stolen_session_dies_with_her_password_reset(app, client, member, mailbox):
    thief = app.test_client()
    login(thief, member)  # a session he stole (and the password he saw)
    _request_change(thief, "thief@example.org")
    change_link = mailbox.link(mailbox.to("thief@example.org")[0], "/account/email/")

    # She notices something is wrong and resets her password: every session ends.
    post(client, "/forgot-password", {"email": member.email})
    reset = mailbox.link(mailbox.to(member.email)[-1], "/account/reset/")
    post(client, reset, {"password": "a fresh phrase of hers"})

    # The thief opens the link (signed out now, or signed in again elsewhere): nothing changes.
    assert thief.get(change_link).headers["Location"].startswith("/login")
    assert post(thief, change_link).headers["Location"].startswith("/login")
    with app.app_context():
        assert member.user().email == member.email
    # Even signing in again with her new password (had he seen it) does not revive the old link.
    login(thief, SimpleNamespace(email=member.email, password="a fresh phrase of hers"))
    assert post(thief, change_link).status_code == 400
    with app.app_context():
        assert member.user().email == member.email


def test_sign_out_everywhere_and_a_newer_request_void_a_pending_change(app, client, member, mailbox):
    login(client, member)
    _request_change(client, "first@example.org")
    first = mailbox.link(mailbox.to("first@example.org")[0], "/account/email/")
    _request_change(client, "second@example.org")
    assert post(client, first).status_code == 400, "a later request voids the earlier link"
    second = mailbox.link(mailbox.to("second@example.org")[0], "/account/email/")
    post(client, "/account/sessions/end-all")
    login(client, member)
    assert post(client, second).status_code == 400, "sign out everywhere voids it too"
    with app.app_context():
        assert member.user().email == member.email


def test_the_link_works_only_for_the_account_signed_in(app, client, member, outsider, mailbox):
    login(client, member)
    _request_change(client, "mia.new@example.org")
    link = mailbox.link(mailbox.to("mia.new@example.org")[0], "/account/email/")
    other = app.test_client()
    login(other, outsider)
    assert post(other, link).status_code == 400
    with app.app_context():
        assert member.user().email == member.email
        assert outsider.user().email == outsider.email


def test_the_old_address_is_told_first_and_this_wasnt_me_undoes_it_and_signs_everyone_out(
    app, client, member, mailbox
):
    thief = app.test_client()
    login(thief, member)
    _request_change(thief, "thief@example.org")
    post(thief, mailbox.link(mailbox.to("thief@example.org")[0], "/account/email/"))
    with app.app_context():
        assert member.user().email == "thief@example.org"
    (notice,) = mailbox.to(member.email)
    assert notice["Subject"] == "Your email address is changing"
    not_me = mailbox.link(notice, "/account/not-me/")

    assert client.get(not_me).status_code == 200
    done = post(client, not_me)
    assert done.headers["Location"] == "/forgot-password"
    with app.app_context():
        assert member.user().email == member.email
    assert signed_in_name(thief) is None, "the thief's session ended"
    assert post(client, not_me).status_code == 400, "the link works once"
    # She takes the account back with a reset sent to her own address.
    post(client, "/forgot-password", {"email": member.email})
    assert mailbox.link(mailbox.to(member.email)[-1], "/account/reset/")


def test_no_change_happens_when_the_notice_to_the_old_address_cannot_be_sent(app, client, member, mailbox):
    login(client, member)
    _request_change(client, "mia.new@example.org")
    link = mailbox.link(mailbox.to("mia.new@example.org")[0], "/account/email/")
    app.config["MAIL_URL"] = "smtp://127.0.0.1:9"  # the mail server is down
    response = post(client, link)
    assert response.status_code == 303
    with app.app_context():
        assert member.user().email == member.email
