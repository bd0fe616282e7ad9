"""A referral's link emailed to an address the coordinator typed: it goes through the outbox (never while the
coordinator waits), once, with a subject and text that name no program, group or recovery; the address and the
link wait only encrypted and are deleted once the row is done; nothing else (the pages, the audit log, the logs)
ever shows the address; and it is not sent once the referral was withdrawn, used or has expired."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import AuditEntry, Notification, NotificationKind, NotificationStatus, Referral
from supportnet.notifications import dispatch
from tests.conftest import post
from tests.pages import browser, html
from tests.worlds.programs import (
    GROUP_A,
    PROGRAM_A,
    PUBLIC,
    ProgramWorld,
    build_program_world,
    link_on,
    make_referral,
    referral_ids,
    url_of,
)

ADDRESS = "sam.person@example.net"
NEUTRAL_FORBIDDEN = ("recovery", "treatment", "addiction", "aftercare", "sober", "program", "clinic")


@pytest.fixture
def world(app) -> ProgramWorld:
    return build_program_world(app)


def link_rows(app) -> list[Notification]:
    with app.app_context():
        rows = list(db.session.scalars(
            select(Notification).where(Notification.kind == NotificationKind.REFERRAL_LINK)
        ))
        for row in rows:
            db.session.expunge(row)
        return rows


def everything_stored(app) -> str:
    """Every notification payload and audit entry as the database holds them."""
    with app.app_context():
        payloads = db.session.execute(text("SELECT payload FROM notification")).scalars().all()
        details = db.session.execute(text("SELECT details FROM audit_entry")).scalars().all()
        return " ".join(str(v) for v in [*payloads, *details])


def test_the_link_goes_out_once_from_the_outbox_with_a_neutral_subject_and_is_scrubbed(app, world, mailbox, caplog):
    caplog.set_level(logging.DEBUG)
    coordinator = browser(app, world.coordinator_a)
    response = post(coordinator, url_of(world, "a", tail="/referrals/new"), {
        "suggestions": [f"g{world.group_a}", f"g{world.public}"], "first_name": "Sam", "valid_days": "30",
        "email": "  Sam.Person@Example.NET ",
    })
    assert response.status_code == 302
    assert mailbox.messages == [], "never sent while the coordinator waits"
    assert len(referral_ids(app)) == 1
    page = html(coordinator.get(response.location))
    link = link_on(page)
    assert ADDRESS not in page.lower() and "sam.person" not in page.lower(), "the page never shows the address"

    (row,) = link_rows(app)
    assert row.user_id is None and row.status == NotificationStatus.PENDING
    assert row.expires_at == clock.now_utc() + timedelta(days=30)
    stored = everything_stored(app)
    assert "sam.person" not in stored.lower() and link.rsplit("/", 1)[1] not in stored, "only encrypted"

    with app.app_context():
        report = dispatch.tick()
    assert report.sent == 1
    (message,) = mailbox.messages
    assert message["To"] == ADDRESS
    assert message["Subject"] == "An invitation for you"
    body = mailbox.text(message)
    assert link in body and mailbox.link(message, "/r/") == link.removeprefix("http://supportnet.test")
    html_body = message.get_body(preferencelist=("html",)).get_content()
    assert f'href="{link}"' in html_body
    for word in (*NEUTRAL_FORBIDDEN, PROGRAM_A.lower(), GROUP_A.lower(), PUBLIC.lower(), "sam"):
        assert word not in message["Subject"].lower(), word
        assert word not in body.lower().replace("sam.person", ""), word
        assert word not in html_body.lower(), word

    (row,) = link_rows(app)
    assert row.status == NotificationStatus.SENT and row.payload == {}, "the address and link are deleted once sent"
    with app.app_context():
        dispatch.tick()
        dispatch.tick(clock.now_utc() + timedelta(hours=1))
    assert len(mailbox.messages) == 1, "once"
    with app.app_context():
        details = [e.details for e in db.session.scalars(select(AuditEntry))]
    assert all("sam" not in str(d).lower() for d in details)
    # The app's own logs (the test's SMTP server, which logs what it receives, is not the app).
    ours = " ".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert "sam.person" not in ours.lower() and link.rsplit("/", 1)[1] not in ours


def test_a_withdrawn_referral_is_never_emailed_and_its_address_is_deleted_at_once(app, world, mailbox):
    referral_id, _token = make_referral(app, world, email=ADDRESS, link_for=lambda t: f"http://supportnet.test/r/{t}")
    coordinator = browser(app, world.coordinator_a)
    assert post(coordinator, url_of(world, "a", referral_id, "/withdraw")).status_code == 302
    (row,) = link_rows(app)
    assert row.status == NotificationStatus.CANCELLED and row.payload == {}
    with app.app_context():
        dispatch.tick()
    assert mailbox.messages == []


def test_a_referral_used_or_withdrawn_before_the_tick_is_cancelled_by_the_dispatcher(app, world, mailbox):
    """The dispatcher asks again at sending time: the referral changed after the row was written."""
    used, _ = make_referral(app, world, email=ADDRESS, link_for=lambda t: f"http://supportnet.test/r/{t}")
    withdrawn, _ = make_referral(app, world, email="other@example.net",
                                 link_for=lambda t: f"http://supportnet.test/r/{t}")
    with app.app_context():
        now = clock.now_utc()
        db.session.get(Referral, used).accepted_at = now
        # Withdrawn without the domain verb (as another process might): only the dispatcher's check stops it.
        db.session.get(Referral, withdrawn).withdrawn_at = now
        db.session.commit()
        report = dispatch.tick()
    assert report.cancelled == 2 and mailbox.messages == []
    rows = link_rows(app)
    assert {r.status for r in rows} == {NotificationStatus.CANCELLED}
    assert all(r.payload == {} for r in rows), "scrubbed when cancelled"


def test_the_email_expires_with_the_referral(app, world, mailbox):
    make_referral(app, world, email=ADDRESS, link_for=lambda t: f"http://supportnet.test/r/{t}", valid_days=1)
    with app.app_context():
        report = dispatch.tick(clock.now_utc() + timedelta(days=1, minutes=1))
    assert report.expired == 1 and mailbox.messages == []
    (row,) = link_rows(app)
    assert row.status == NotificationStatus.EXPIRED and row.payload == {}


def test_no_address_no_email(app, world, mailbox):
    make_referral(app, world)
    assert link_rows(app) == []
    with app.app_context():
        dispatch.tick()
    assert mailbox.messages == []
