"""The log sentinel: passwords, emailed tokens, calendar feed tokens, TOTP secrets, recovery codes and check-in
notes never reach a log record, whatever SupportNet, SQLAlchemy, Werkzeug or anything else logs at DEBUG.

One test walks through every flow that handles such a secret (and the failures around them), with every logger
at DEBUG, SQL echo included, then looks for each secret in every record: message, arguments and traceback.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from tests.conftest import Mailbox, login, post
from tests.worlds.data_controls import code_now, enable_two_factor, move_clock

NEW_PASSWORD = "sentinel-new-password-4417"
SECOND_PASSWORD = "sentinel-second-password-9902"
REGISTRATION_PASSWORD = "sentinel-registration-password-3381"
NOTE = "sentinel-checkin-note: I almost called my old dealer"
OWN_TAG = "sentinel-own-tag-payday"
_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
_CODES = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")
_FEED = re.compile(r"(https?://[^\"'<\s]+/calendar/([A-Za-z0-9_-]+)\.ics)")


@pytest.fixture(autouse=True)
def everything_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    for name in [*logging.root.manager.loggerDict, "sqlalchemy.engine", "sqlalchemy.pool", "werkzeug"]:
        caplog.set_level(logging.DEBUG, logger=name)
    yield


def records_text(caplog) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = []
    for record in caplog.records:
        parts.append(formatter.format(record))  # includes the traceback, if any
        parts.append(repr(record.args))
        parts.append(repr(getattr(record, "__dict__", {})))
    return "\n".join(parts)


def test_no_secret_reaches_a_log_record(app, client, member, mailbox: Mailbox, caplog):
    secrets: list[str] = [NEW_PASSWORD, SECOND_PASSWORD, REGISTRATION_PASSWORD, NOTE, OWN_TAG, member.password]

    # Registration and its emailed confirmation token.
    post(client, "/register", {"email": "newcomer@example.org", "password": REGISTRATION_PASSWORD,
                               "display_name": "New C.", "timezone": "UTC", "consent": "y"})
    confirm = mailbox.link(mailbox.to("newcomer@example.org")[0], "/account/confirm/")
    secrets.append(confirm.rsplit("/", 1)[-1])
    assert post(client, confirm).status_code == 302
    post(client, "/logout")

    # A password reset and its token; a wrong password first.
    assert login(client, member.__class__(member.email, "wrong password entirely", member.id, "")).status_code == 200
    post(client, "/forgot-password", {"email": member.email})
    reset = mailbox.link(mailbox.to(member.email)[0], "/account/reset/")
    secrets.append(reset.rsplit("/", 1)[-1])
    assert post(client, reset, {"password": NEW_PASSWORD}).status_code == 302
    member.password = NEW_PASSWORD
    assert login(client, member).status_code == 302

    # Two-factor: the secret shown while setting up, the codes, the recovery codes; a wrong code.
    post(client, "/account/two-factor/setup")
    secret = _SECRET.search(client.get("/account/two-factor/confirm").get_data(as_text=True)).group(1)
    secret = secret.replace(" ", "")
    secrets.append(secret)
    post(client, "/account/two-factor/confirm", {"code": "000000"})
    done = post(client, "/account/two-factor/confirm", {"code": code_now(secret)})
    codes = _CODES.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    secrets += codes + [code.replace("-", "") for code in codes]
    post(client, "/logout")
    step = login(client, member)
    post(client, step.location, {"code": "111111"})
    assert post(client, step.location, {"code": codes[0]}).status_code == 302

    # A check-in with a note and an own tag, edited; shown; exported.
    response = post(client, "/me/checkins/new", {"mood": "2", "craving": "7", "day": "2026-11-26", "note": NOTE,
                                                 "new_tags": OWN_TAG})
    assert response.status_code == 302, response.get_data(as_text=True)
    client.get("/me/checkins")
    client.get("/me/checkins/export.csv")

    # A private calendar feed: its address holds the token; a calendar app fetches it.
    page = post(client, "/account/calendar-address").get_data(as_text=True)
    feed_url, feed_token = _FEED.search(page).groups()
    secrets.append(feed_token)
    assert app.test_client().get(feed_url.split("supportnet.test", 1)[-1]).status_code == 200

    # Confirm it's you (a wrong password, then the right one and a code), change the password, export.
    move_clock(timedelta(minutes=30))
    post(client, "/account/confirm-identity", {"password": "wrong again", "code": "123456"})
    assert post(client, "/account/confirm-identity",
                {"password": NEW_PASSWORD, "code": code_now(secret)}).status_code == 302
    assert post(client, "/account/password",
                {"current_password": NEW_PASSWORD, "new_password": SECOND_PASSWORD}).status_code == 302
    assert post(client, "/account/data/export").status_code == 200

    assert caplog.records, "nothing was logged at all: the check would be vacuous"
    logged = records_text(caplog)
    assert "SELECT" in logged or "select" in logged.lower(), "SQL was not logged: turn the engine logger on"
    leaked = [s for s in secrets if s and s in logged]
    assert not leaked, leaked


def test_a_two_factor_secret_made_in_the_domain_is_not_logged(app, member, caplog):
    secret = enable_two_factor(app, member)
    client = app.test_client()
    step = login(client, member)
    post(client, step.location, {"code": code_now(secret)})
    assert secret not in records_text(caplog)
