"""Sign-up and password-reset emails are never silently lost: they go through the outbox, with retries.

The one-time link waits in the outbox only encrypted with the data key, and is deleted once sent or expired.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, text

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import Notification, NotificationKind, NotificationStatus
from supportnet.notifications import dispatch as notif_dispatch
from tests.conftest import csrf_token

NEW = {"email": "newcomer@example.org", "password": "tea by the window", "display_name": "Nora N.",
       "timezone": "UTC", "consent": "y"}


def account_rows(app) -> list[Notification]:
    with app.app_context():
        return list(db.session.scalars(select(Notification).where(Notification.kind == NotificationKind.ACCOUNT)))


def raw_payloads(app) -> str:
    with app.app_context():
        return " ".join(str(p) for p in db.session.execute(text("SELECT payload FROM notification")).scalars())


def dropping_client(app) -> FlaskClient:
    """A browser whose connection drops as soon as the answer arrives: the response is never closed, so nothing
    queued for "after the response" runs in the web process."""
    return FlaskClient(app, app.response_class, use_cookies=True)


def test_a_sign_up_whose_connection_dropped_is_still_sent_by_the_scheduler(app, mailbox):
    browser = dropping_client(app)
    response = browser.post("/register", data={"csrf_token": csrf_token(browser), **NEW})
    assert response.headers["Location"] == "/register/check-email"
    assert mailbox.messages == []
    (row,) = account_rows(app)
    assert row.status == NotificationStatus.PENDING
    assert "/account/confirm/" not in raw_payloads(app), "the link is stored only encrypted"

    with app.app_context():
        notif_dispatch.tick()
    (message,) = mailbox.to(NEW["email"])
    assert message["Subject"] == "Confirm your email address"
    assert mailbox.link(message, "/account/confirm/")
    (row,) = account_rows(app)
    assert row.status == NotificationStatus.SENT and row.payload == {}, "the link is deleted once sent"


def test_a_mail_server_outage_delays_a_reset_email_but_does_not_lose_it(app, client, member, mailbox):
    working = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = "smtp://127.0.0.1:9"  # nothing listens there
    known = client.post("/forgot-password", data={"csrf_token": csrf_token(client), "email": member.email})
    unknown = client.post("/forgot-password", data={"csrf_token": csrf_token(client), "email": "nobody@example.org"})
    assert (known.status_code, known.headers["Location"]) == (unknown.status_code, unknown.headers["Location"])
    assert mailbox.messages == []
    (row,) = account_rows(app)
    assert row.status == NotificationStatus.PENDING and row.attempts == 1, "the first try failed and waits"

    app.config["MAIL_URL"] = working
    clock.set_frozen(clock.now_utc() + timedelta(minutes=5))
    with app.app_context():
        notif_dispatch.tick()
    (message,) = mailbox.to(member.email)
    assert message["Subject"] == "Reset your password"
    assert account_rows(app)[0].payload == {}


def test_a_link_that_could_not_be_sent_in_time_is_deleted_with_a_warning_without_the_address(
    app, client, member, mailbox, caplog
):
    app.config["MAIL_URL"] = "smtp://127.0.0.1:9"
    client.post("/forgot-password", data={"csrf_token": csrf_token(client), "email": member.email})
    clock.set_frozen(clock.now_utc() + timedelta(hours=2))  # the reset link lived one hour
    with caplog.at_level(logging.WARNING, logger="supportnet.notifications"), app.app_context():
        notif_dispatch.tick()
    (row,) = account_rows(app)
    assert row.status == NotificationStatus.EXPIRED and row.payload == {}
    warnings = [r.getMessage() for r in caplog.records if "password-reset email was not sent" in r.getMessage()]
    assert warnings and all(member.email not in w for w in warnings)
    assert mailbox.messages == []
