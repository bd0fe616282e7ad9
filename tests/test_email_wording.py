"""Emails read right: "stop these emails" names the kind in a phrase that fits the sentence, a cancellation
carries the facilitator's reason (also when subjects are discreet), and the development mailbox shows and
serves attachments such as a reminder's .ics."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import Occurrence
from tests.conftest import login, make_persona, post
from tests.worlds.notifications import FIRST, cant_go, going, make_world, run, set_prefs

DAY_BEFORE = FIRST - timedelta(hours=24)


@pytest.fixture
def world(app, facilitator):
    return make_world(app, facilitator)


def test_the_stop_sentence_of_a_seat_email_reads_properly(app, client, world, member, mailbox):
    first = make_persona(app, "Wes W.")
    occ = world.occurrence_id(0)
    with app.app_context():
        db.session.get(Occurrence, occ).capacity = 1
        db.session.commit()
    going(world, first, occ)
    going(world, member, occ)  # waits
    cant_go(world, first, occ)  # the seat goes to the member
    run(app, clock.now_utc())
    (seat,) = [m for m in mailbox.to(member.email) if "seat" in mailbox.text(m).lower()]
    body = mailbox.text(seat)
    assert "Stop emails about seats from the waitlist:" in body
    assert "about i get a seat" not in body.lower()
    # The confirmation page says the same.
    page = client.get(mailbox.link(seat, "/notifications/stop/")).get_data(as_text=True)
    assert "seats from the waitlist" in page and "I get a seat" not in page


def test_a_reminder_stop_sentence(app, world, member, mailbox):
    going(world, member, world.occurrence_id(0))
    run(app, DAY_BEFORE)
    (reminder,) = mailbox.to(member.email)
    assert "Stop emails about meeting reminders:" in mailbox.text(reminder)


def test_the_cancellation_email_includes_the_facilitators_reason_with_a_neutral_subject(
    app, client, world, facilitator, member, mailbox
):
    occ = world.occurrence_id(0)
    going(world, member, occ)
    login(client, facilitator)
    assert post(client, f"/meetings/{occ}/cancel", {"note": "The hall is closed for repairs"}).status_code in (302, 303)
    run(app, clock.now_utc())
    (cancelled,) = [m for m in mailbox.to(member.email) if m["Subject"].startswith("Cancelled")]
    # Discreet by default: the reason is the facilitator's own words and may name the group, so the email says
    # there is one and links to it; a member who chose descriptive emails gets it quoted.
    assert "The facilitator gave a reason. Read it on the meeting's page" in mailbox.text(cancelled)
    assert "closed for repairs" not in mailbox.text(cancelled)
    assert cancelled["Subject"] == "Cancelled: Tuesday 19:00"


def test_a_member_with_descriptive_emails_gets_the_reason_quoted(app, client, world, facilitator, member, mailbox):
    set_prefs(app, member, descriptive_subjects=True)
    occ = world.occurrence_id(0)
    going(world, member, occ)
    login(client, facilitator)
    assert post(client, f"/meetings/{occ}/cancel", {"note": "The hall is closed for repairs"}).status_code in (302, 303)
    run(app, clock.now_utc())
    (cancelled,) = [m for m in mailbox.to(member.email) if m["Subject"].startswith("Cancelled")]
    assert "The facilitator says: The hall is closed for repairs" in mailbox.text(cancelled)


def test_the_dev_mailbox_shows_and_serves_attachments(app, client, world, member):
    app.config["MAIL_URL"] = ""
    going(world, member, world.occurrence_id(0))
    run(app, DAY_BEFORE)
    listing = client.get("/dev/mailbox").get_data(as_text=True)
    path = re.search(r'href="(/dev/mailbox/[^"]+)"', listing).group(1)
    page = client.get(path).get_data(as_text=True)
    assert "Attachments" in page and "meeting.ics" in page and "text/calendar" in page
    download = client.get(f"{path}/attachments/0")
    assert download.status_code == 200
    assert download.mimetype == "text/calendar"
    assert download.get_data(as_text=True).startswith("BEGIN:VCALENDAR")
    assert client.get(f"{path}/attachments/5").status_code == 404
    assert client.get("/dev/mailbox/nope/attachments/0").status_code == 404
