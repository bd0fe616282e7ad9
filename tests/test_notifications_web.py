"""The notification pages: emailed "stop these" and "can't make it" links (signed, confirmed by a POST, a 400
that changes nothing when tampered with), preferences, the inbox with its unread count, and announcements.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import Channel, NotificationKind, NotificationStatus, Occurrence, Rsvp, RsvpStatus
from supportnet.notifications import announcements as notif_announcements
from supportnet.notifications import preferences as notif_preferences
from tests.conftest import login, make_persona, post
from tests.security_harness import snapshot
from tests.worlds.notifications import FIRST, going, join, make_world, rows, run, user_id

Kind = NotificationKind
DAY_BEFORE = FIRST - timedelta(hours=24)


@pytest.fixture
def world(app, facilitator):
    return make_world(app, facilitator)


def reminder_email(app, world, member, mailbox):
    going(world, member, world.occurrence_id(0))
    run(app, DAY_BEFORE)
    (message,) = mailbox.to(member.email)
    return message


def tampered(token: str) -> list[str]:
    """Ways to break a signed token: a changed signature, a changed payload, a token cut short."""
    payload, signature = token.split(".")
    # (Not the last character: its low bits are padding, so changing them may leave the same bytes.)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["u"] = data["u"] + 1
    forged = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
    return [f"{payload}.{flipped}", f"{forged}.{signature}", token[:-5], "not-a-token"]


# --- "stop these emails" ---


def test_stop_link_shows_a_confirmation_and_only_a_post_stops_the_emails(app, client, world, member, mailbox):
    message = reminder_email(app, world, member, mailbox)
    url = mailbox.link(message, "/notifications/stop/")
    assert message["List-Unsubscribe"] == f"<http://supportnet.test{url}>"
    before = snapshot(app)
    page = client.get(url)
    assert page.status_code == 200
    assert "Stop these emails?" in page.get_data(as_text=True)
    assert snapshot(app) == before  # GET changed nothing (mail scanners follow links)
    assert client.post(url).status_code == 400  # no CSRF token
    assert snapshot(app) == before
    done = post(client, url)
    assert done.status_code == 200 and "any more" in done.get_data(as_text=True)
    with app.app_context():
        prefs = notif_preferences.preferences(member.user())
    assert not prefs.wants(Kind.REMINDER, Channel.EMAIL)
    assert prefs.wants(Kind.REMINDER, Channel.IN_APP)
    assert prefs.wants(Kind.CHANGE, Channel.EMAIL)
    pending_email = [r for r in rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL)
                     if r.status == NotificationStatus.PENDING]
    assert pending_email == []
    run(app, FIRST - timedelta(hours=1))
    assert len(mailbox.to(member.email)) == 1  # no more reminder emails


def test_tampered_stop_links_get_a_400_page_that_changes_nothing(app, client, world, member, mailbox):
    url = mailbox.link(reminder_email(app, world, member, mailbox), "/notifications/stop/")
    token = url.rsplit("/", 1)[1]
    before = snapshot(app)
    for bad in tampered(token):
        for response in (client.get(f"/notifications/stop/{bad}"), post(client, f"/notifications/stop/{bad}")):
            assert response.status_code == 400, bad
            assert "This link can't be used" in response.get_data(as_text=True)
            assert "Nothing was changed" in response.get_data(as_text=True)
    assert snapshot(app) == before


# --- "can't make it" ---


def test_cant_make_it_frees_the_seat_after_a_confirmation_and_the_waitlist_moves_up(
    app, client, world, member, mailbox
):
    waiting = make_persona(app, "Wes W.")
    occ_id = world.occurrence_id(0)
    with app.app_context():
        db.session.get(Occurrence, occ_id).capacity = 1
        db.session.commit()
    going(world, waiting, occ_id)  # gets the seat
    going(world, member, occ_id)  # waits
    with app.app_context():
        from supportnet import rsvps

        rsvps.cancel(db.session.get(Occurrence, occ_id), waiting.user(), clock.now_utc())
        db.session.commit()
    going(world, waiting, occ_id)  # now waitlisted behind nobody: member has the seat
    run(app, DAY_BEFORE)
    (reminder,) = [m for m in mailbox.to(member.email) if m["Subject"].startswith("Reminder")]
    url = mailbox.link(reminder, "/notifications/cant-make-it/")
    before = snapshot(app)
    page = client.get(url)
    assert page.status_code == 200
    assert "Tuesday 1 December 2026, 19:00" in page.get_data(as_text=True)
    assert snapshot(app) == before
    assert client.post(url).status_code == 400
    assert snapshot(app) == before
    with clock.frozen(DAY_BEFORE):
        done = post(client, url)
    assert done.status_code == 200 and "Your place is free" in done.get_data(as_text=True)
    with app.app_context():
        answers = dict(db.session.execute(select(Rsvp.user_id, Rsvp.status).where(Rsvp.occurrence_id == occ_id)).all())
    assert answers == {member.id: RsvpStatus.CANCELLED, waiting.id: RsvpStatus.GOING}
    run(app, DAY_BEFORE + timedelta(minutes=1))
    assert [m["Subject"] for m in mailbox.to(waiting.email)][-1] == "You have a seat: Tuesday 19:00"
    run(app, FIRST - timedelta(hours=1))
    assert not [m for m in mailbox.to(member.email) if m["Subject"].startswith("Reminder")][1:]


def test_tampered_cant_make_it_links_get_a_400_page_that_changes_nothing(app, client, world, member, mailbox):
    url = mailbox.link(reminder_email(app, world, member, mailbox), "/notifications/cant-make-it/")
    token = url.rsplit("/", 1)[1]
    before = snapshot(app)
    for bad in tampered(token):
        for response in (client.get(f"/notifications/cant-make-it/{bad}"),
                         post(client, f"/notifications/cant-make-it/{bad}")):
            assert response.status_code == 400, bad
            assert "Nothing was changed" in response.get_data(as_text=True)
    assert snapshot(app) == before


def test_a_stop_token_is_not_a_cant_make_it_token(app, client, world, member, mailbox):
    message = reminder_email(app, world, member, mailbox)
    stop_token = mailbox.link(message, "/notifications/stop/").rsplit("/", 1)[1]
    before = snapshot(app)
    assert post(client, f"/notifications/cant-make-it/{stop_token}").status_code == 400
    assert snapshot(app) == before


# --- preferences ---


def test_preferences_page_saves_every_choice(app, client, member):
    login(client, member)
    page = client.get("/notifications/preferences")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Facilitators:" not in body  # a member without a group to facilitate
    form = {
        "reminder__in_app": "y", "change__email": "y", "change__in_app": "y",
        "reminder_offsets": ["10080", "15"],
        "quiet_hours": "y", "quiet_start": "21:30", "quiet_end": "06:45",
        "prompt_days": ["0", "2", "4"], "prompt_time": "07:15",
        "missed_after": "4", "descriptive_subjects": "y",
        "missed_you__email": "y",
    }
    response = post(client, "/notifications/preferences", form)
    assert response.status_code == 302
    with app.app_context():
        prefs = notif_preferences.preferences(member.user())
    assert prefs.channels_for(Kind.REMINDER) == [Channel.IN_APP]
    assert prefs.channels_for(Kind.ANNOUNCEMENT) == []
    assert prefs.channels_for(Kind.MISSED_YOU) == [Channel.EMAIL]
    assert prefs.reminder_offsets == (10080, 15)
    assert (prefs.quiet_start.isoformat(), prefs.quiet_end.isoformat()) == ("21:30:00", "06:45:00")
    assert prefs.prompt_days == frozenset({0, 2, 4}) and prefs.prompt_time.isoformat() == "07:15:00"
    assert prefs.missed_after == 4 and prefs.descriptive_subjects
    # ... and the page shows them back.
    again = client.get("/notifications/preferences").get_data(as_text=True)
    assert re.search(r'name="quiet_start"[^>]*value="21:30"', again)


def test_preferences_refuse_quiet_hours_without_times(app, client, member):
    login(client, member)
    response = post(client, "/notifications/preferences", {"quiet_hours": "y", "prompt_time": "08:00",
                                                             "missed_after": "3"})
    assert response.status_code == 400
    assert "both a start and an end" in response.get_data(as_text=True)


def test_facilitators_see_their_own_kinds(app, client, facilitator):
    login(client, facilitator)
    body = client.get("/notifications/preferences").get_data(as_text=True)
    assert "Facilitators: who&#39;s coming" in body or "Facilitators: who's coming" in body


# --- the inbox ---


def test_inbox_lists_in_app_notifications_and_the_nav_counts_unread(app, client, world, member, mailbox):
    going(world, member, world.occurrence_id(0))
    run(app, DAY_BEFORE)
    with clock.frozen(DAY_BEFORE):
        login(client, member)
        page = client.get("/notifications").get_data(as_text=True)
        assert "Reminder: Sober Tuesday, Tuesday 19:00" in page  # behind the sign-in, names are shown
        assert 'aria-label="1 unread"' in page
        (row,) = rows(app, channel=Channel.IN_APP, user_id=user_id(app, member), status=NotificationStatus.SENT)
        response = post(client, f"/notifications/{row.id}/open", {"next": "/meetings/1"})
        assert response.status_code == 302 and response.location == "/meetings/1"
        assert 'aria-label="1 unread"' not in client.get("/notifications").get_data(as_text=True)


def test_mark_all_read(app, client, world, member):
    join(world, member)
    with app.app_context():
        from supportnet.models import Group

        for text in ("One", "Two"):
            notif_announcements.announce(db.session.get(Group, world.group_id), world.facilitator.user(), "", text,
                                   clock.now_utc())
        db.session.commit()
    login(client, member)
    assert 'aria-label="2 unread"' in client.get("/notifications").get_data(as_text=True)
    post(client, "/notifications/read")
    assert "unread" not in client.get("/notifications").get_data(as_text=True)


def test_members_cannot_open_someone_elses_notification(app, client, world, member, outsider):
    join(world, member)
    with app.app_context():
        from supportnet.models import Group

        notif_announcements.announce(db.session.get(Group, world.group_id), world.facilitator.user(), "", "Hi",
                               clock.now_utc())
        db.session.commit()
    (row,) = rows(app, channel=Channel.IN_APP)
    login(client, outsider)
    assert post(client, f"/notifications/{row.id}/open").status_code == 404


# --- announcements ---


def test_facilitator_writes_to_the_group_and_a_double_submit_sends_once(app, client, world, facilitator, member,
                                                                         mailbox):
    join(world, member)
    login(client, facilitator)
    page = client.get(f"/groups/{world.slug}/announce")
    assert page.status_code == 200
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {"subject": "New room", "body": "We meet upstairs from now on.", "nonce": nonce}
    assert post(client, f"/groups/{world.slug}/announce", form).status_code == 302
    assert post(client, f"/groups/{world.slug}/announce", form).status_code == 302
    run(app, clock.now_utc())
    (message,) = mailbox.to(member.email)
    assert message["Subject"] == "A message from your facilitator"
    assert "We meet upstairs from now on." in mailbox.text(message)
    assert f"/groups/{world.slug}/announce" in client.get(f"/groups/{world.slug}").get_data(as_text=True)


def test_members_cannot_write_to_the_group(app, client, world, member):
    join(world, member)
    login(client, member)
    assert client.get(f"/groups/{world.slug}/announce").status_code == 403
    assert post(client, f"/groups/{world.slug}/announce", {"body": "Hi all"}).status_code == 403
    assert rows(app) == []


# --- development and production mail ---


def test_without_a_mail_server_development_mail_goes_to_the_dev_mailbox(app, client, world, member, capsys):
    app.config["MAIL_URL"] = ""
    going(world, member, world.occurrence_id(0))
    run(app, DAY_BEFORE)
    err = capsys.readouterr().err
    assert "[dev mail] 'Reminder: Tuesday 19:00' (read it at" in err
    assert "miam@example.org" not in err, "the terminal line names no recipient"
    page = client.get("/dev/mailbox").get_data(as_text=True)
    assert "Reminder: Tuesday 19:00" in page
    message_path = re.search(r'href="(/dev/mailbox/[^"]+)"', page).group(1)
    assert "A reminder that you&#39;re going to a meeting" in client.get(message_path).get_data(as_text=True)


def test_production_without_a_mail_server_keeps_notifications_waiting(app, world, member):
    going(world, member, world.occurrence_id(0))
    app.config.update(MAIL_URL="", SUPPORTNET_ENV="production")
    run(app, DAY_BEFORE)
    (row,) = [r for r in rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL) if r.payload["offset"] == 1440]
    assert row.status == NotificationStatus.PENDING
    assert row.last_error == "SUPPORTNET_MAIL_URL is not set"


def test_emailed_link_tokens_never_reach_the_logs():
    from supportnet.logs import redact

    line = '"GET /notifications/stop/eyJ1IjoyfQ.abc HTTP/1.1" 200 / "POST /notifications/cant-make-it/eyJ.x HTTP/1.1"'
    assert redact(line) == ('"GET /notifications/stop/[redacted] HTTP/1.1" 200 / '
                            '"POST /notifications/cant-make-it/[redacted] HTTP/1.1"')
