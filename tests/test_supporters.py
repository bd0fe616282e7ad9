"""Supporters: a member invites up to 5 people by email; the invitation goes through the outbox to a real SMTP
server with a neutral subject and Accept / No thanks links; the supporter accepts or stops through those links
with no account; the member sees each state, removes them or sends an invitation again; ending a supporter stops
everything at once; deleting the account leaves nothing behind; the address is encrypted at rest and shown on
no page but the member's own list, and in no log line."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supportnet import clock, privacy
from supportnet.extensions import db
from supportnet.logs import redact
from supportnet.models import (
    Channel,
    Notification,
    NotificationKind,
    NotificationStatus,
    Relation,
    Supporter,
    SupporterEnd,
    User,
)
from supportnet.notifications import dispatch, outbox
from supportnet.supporters import people
from tests.conftest import PINNED_NOW, post
from tests.pages import browser, field_error, flashes, html, text, top_errors
from tests.worlds.supporters import (
    SAM,
    invitation,
    invite,
    notification_rows,
    raw_supporter_table,
    send_due,
    supporter_rows,
)

NEUTRAL_FORBIDDEN = ("recovery", "meeting", "group", "sober", "addiction", "treatment", "aftercare", "circle")
Kind = NotificationKind


def test_the_invitation_is_neutral_and_accepting_it_signed_out_makes_the_supporter_active(app, member, mailbox):
    mia = browser(app, member)
    response = invite(mia)
    assert response.status_code == 302
    assert mailbox.messages == [], "never sent while the member waits: the outbox sends it"
    message = invitation(app, mailbox)
    assert message["Subject"] == "Mia M. asks you to be there for them"
    body = mailbox.text(message)
    for word in NEUTRAL_FORBIDDEN:
        assert word not in message["Subject"].lower(), word
        assert word not in body.lower(), word
    assert "Accept:" in body and "No thanks:" in body and "don't need an account" in body
    accept = mailbox.link(message, "/accept")
    assert mailbox.link(message, "/stop").startswith("/supporter/")

    assert "Invited" in text(mia.get("/me/people"))
    home = html(mia.get("/"))
    assert home.count('href="/me/people"') == 2, "in the menu and on the home"
    stranger = app.test_client()  # the supporter: no account, signed out
    page = stranger.get(accept)
    assert page.status_code == 200 and "Be there for Mia M.?" in text(page)
    done = post(stranger, accept)
    assert done.status_code == 200
    assert "you are Mia M.'s supporter" in text(done) and "/stop" in html(done)
    assert "Active since" in text(mia.get("/me/people"))
    inbox = text(mia.get("/notifications"))
    assert "Sam accepted" in inbox
    assert SAM not in inbox, "the inbox names the supporter as the member calls them, never their address"

    replay = stranger.get(accept)
    assert replay.status_code == 404, "a used invitation link"
    send_due(app)
    assert len(mailbox.to(SAM)) == 1, "the invitation goes once"


def test_someone_signed_in_who_accepts_keeps_their_own_account_as_it_was(app, member, outsider, mailbox):
    invite(browser(app, member))
    accept = mailbox.link(invitation(app, mailbox), "/accept")
    otto = browser(app, outsider)
    assert post(otto, accept).status_code == 200
    assert otto.get("/me/people").status_code == 200
    assert "haven't asked anyone yet" in text(otto.get("/me/people")), "accepting adds nothing to their account"
    (supporter,) = supporter_rows(app, member.id)
    assert supporter.accepted_at == PINNED_NOW and supporter.user_id == member.id


def test_the_sixth_supporter_is_refused_and_the_form_keeps_what_was_typed(app, member):
    mia = browser(app, member)
    for n in range(5):
        assert invite(mia, name=f"Person {n}", email=f"p{n}@example.net").status_code == 302
    refused = invite(mia, name="Sixth Person", email="six@example.net")
    assert refused.status_code == 400
    assert "up to 5 supporters" in top_errors(refused)
    assert 'value="Sixth Person"' in html(refused) and 'value="six@example.net"' in html(refused)
    assert len(supporter_rows(app, member.id)) == 5
    # Removing one frees a place.
    first = supporter_rows(app, member.id)[0]
    assert post(mia, f"/me/people/{first.id}/remove").status_code == 302
    assert invite(mia, name="Sixth Person", email="six@example.net").status_code == 302


@pytest.mark.parametrize("address, words", [
    (" SAM.Supporter@Example.NET ", "already asked this address"),
    ("miam@example.org", "your own address"),
    ("MiaM@Example.org", "your own address"),
    ("not an address", "valid email address"),
])
def test_a_duplicate_or_own_or_bad_address_is_refused_with_a_message(app, member, address, words):
    mia = browser(app, member)
    assert invite(mia).status_code == 302
    refused = invite(mia, name="Again", email=address)
    assert refused.status_code == 400
    assert words in field_error(refused, "email")
    assert 'value="Again"' in html(refused)
    assert len(supporter_rows(app, member.id)) == 1


@pytest.mark.parametrize("name, words", [("", "Enter a name"), ("Sam\u202etxet", "invisible"), ("x" * 61, "60")])
def test_a_bad_name_is_refused(app, member, name, words):
    refused = invite(browser(app, member), name=name)
    assert refused.status_code == 400 and words in field_error(refused, "name")
    assert supporter_rows(app, member.id) == []


def test_the_supporter_stops_from_the_link_and_the_member_is_told(app, member, mailbox):
    mia = browser(app, member)
    invite(mia)
    message = invitation(app, mailbox)
    accept, stop = mailbox.link(message, "/accept"), mailbox.link(message, "/stop")
    stranger = app.test_client()
    post(stranger, accept)
    assert post(stranger, stop).status_code == 200
    page = text(mia.get("/me/people"))
    assert "Stopped by them on" in page and SAM not in page, "the address is deleted when the place ends"
    assert "Sam stopped" in text(mia.get("/notifications"))
    assert stranger.get(accept).status_code == 404 and post(stranger, accept).status_code == 404
    assert stranger.get(stop).status_code == 404
    (supporter,) = supporter_rows(app, member.id)
    assert supporter.end_reason == SupporterEnd.STOPPED and supporter.email is None


def test_declining_an_invitation_is_stopping_before_accepting(app, member, mailbox):
    invite(browser(app, member))
    message = invitation(app, mailbox)
    stranger = app.test_client()
    assert post(stranger, mailbox.link(message, "/stop")).status_code == 200
    assert stranger.get(mailbox.link(message, "/accept")).status_code == 404
    assert "Sam said no thanks" in text(browser(app, member).get("/notifications"))


def test_removing_a_supporter_ends_their_links(app, member, mailbox):
    mia = browser(app, member)
    invite(mia)
    message = invitation(app, mailbox)
    accept, stop = mailbox.link(message, "/accept"), mailbox.link(message, "/stop")
    (supporter,) = supporter_rows(app, member.id)
    assert post(mia, f"/me/people/{supporter.id}/remove").status_code == 302
    page = text(mia.get("/me/people"))
    assert "Removed on" in page and SAM not in page
    stranger = app.test_client()
    assert post(stranger, accept).status_code == 404, "an accept link replayed after removal"
    assert stranger.get(stop).status_code == 404
    assert supporter_rows(app, member.id)[0].accepted_at is None


def test_a_tampered_or_another_purpose_token_is_404(app, member, mailbox):
    invite(browser(app, member))
    message = invitation(app, mailbox)
    accept, stop = mailbox.link(message, "/accept"), mailbox.link(message, "/stop")
    token = accept.split("/")[2]
    stranger = app.test_client()
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert stranger.get(f"/supporter/{tampered}/accept").status_code == 404
    assert post(stranger, f"/supporter/{tampered}/accept").status_code == 404
    # The stop link's token does not accept, nor the other way round.
    assert stranger.get(f"/supporter/{stop.split('/')[2]}/accept").status_code == 404
    assert stranger.get(f"/supporter/{token}/stop").status_code == 404
    assert supporter_rows(app, member.id)[0].accepted_at is None


def test_another_members_supporter_is_404_for_remove_and_resend(app, member, outsider):
    invite(browser(app, member))
    (supporter,) = supporter_rows(app, member.id)
    otto = browser(app, outsider)
    assert post(otto, f"/me/people/{supporter.id}/remove").status_code == 404
    clock.set_frozen(PINNED_NOW + timedelta(days=2))  # a resend would be allowed for its owner
    otto = browser(app, outsider)
    assert post(otto, f"/me/people/{supporter.id}/resend").status_code == 404
    (after,) = supporter_rows(app, member.id)
    assert after.ended_at is None and after.nonce == supporter.nonce


def test_an_expired_invitation_is_410_and_can_be_sent_again_with_new_links(app, member, mailbox):
    mia = browser(app, member)
    invite(mia)
    old = invitation(app, mailbox)
    accept = mailbox.link(old, "/accept")
    clock.set_frozen(PINNED_NOW + timedelta(days=people.INVITATION_DAYS, minutes=1))
    stranger = app.test_client()
    gone = stranger.get(accept)
    assert gone.status_code == 410 and "expired" in text(gone)
    assert post(stranger, accept).status_code == 410
    mia = browser(app, member)  # signed in again after two weeks
    assert "expired" in text(mia.get("/me/people"))

    (supporter,) = supporter_rows(app, member.id)
    assert post(mia, f"/me/people/{supporter.id}/resend").status_code == 302
    mailbox.clear()
    new = invitation(app, mailbox)
    new_accept = mailbox.link(new, "/accept")
    assert new_accept != accept
    assert stranger.get(accept).status_code == 404, "the old link stops working"
    assert post(stranger, new_accept).status_code == 200
    assert "Active since" in text(mia.get("/me/people"))


def test_an_invitation_is_sent_again_at_most_once_a_day(app, member, mailbox):
    mia = browser(app, member)
    invite(mia)
    (supporter,) = supporter_rows(app, member.id)
    refused = post(mia, f"/me/people/{supporter.id}/resend")
    assert refused.status_code == 400 and "less than a day ago" in flashes(refused)
    clock.set_frozen(PINNED_NOW + timedelta(days=1))
    mia = browser(app, member)  # signed in again the next day
    assert post(mia, f"/me/people/{supporter.id}/resend").status_code == 302
    send_due(app)
    assert len(mailbox.to(SAM)) == 1, "the first, unsent invitation was replaced, not sent as well"
    rows = notification_rows(app, supporter_id=supporter.id, channel=Channel.EMAIL)
    assert [r.status for r in rows] == [NotificationStatus.CANCELLED, NotificationStatus.SENT]


def _pending_rows_for(app, member_id: int, supporter_id: int) -> None:
    """A reach-out and an alert waiting in the outbox for the supporter (as the other parts would write them)."""
    now = clock.now_utc()
    with app.app_context():
        outbox.write([
            outbox.new_row(member_id, kind, Channel.EMAIL, f"test:{kind.value}:{supporter_id}",
                           now + timedelta(hours=1), now, supporter_id=supporter_id)
            for kind in (Kind.REACH_OUT, Kind.SUPPORTER_ALERT)
        ])
        db.session.commit()


@pytest.mark.parametrize("how", ["removed", "stopped"])
def test_ending_a_supporter_cancels_everything_waiting_for_them(app, member, mailbox, how):
    mia = browser(app, member)
    invite(mia)
    message = invitation(app, mailbox)
    stranger = app.test_client()
    post(stranger, mailbox.link(message, "/accept"))
    (supporter,) = supporter_rows(app, member.id)
    _pending_rows_for(app, member.id, supporter.id)
    if how == "removed":
        assert post(mia, f"/me/people/{supporter.id}/remove").status_code == 302
    else:
        assert post(stranger, mailbox.link(message, "/stop")).status_code == 200
    waiting = [r for r in notification_rows(app, supporter_id=supporter.id)
               if r.kind in (Kind.REACH_OUT, Kind.SUPPORTER_ALERT)]
    assert len(waiting) == 2 and {r.status for r in waiting} == {NotificationStatus.CANCELLED}
    mailbox.clear()
    with app.app_context():
        dispatch.tick(clock.now_utc() + timedelta(hours=2))
    assert mailbox.messages == []


def test_deleting_the_account_leaves_no_supporter_and_no_pending_row(app, member, outsider):
    invite(browser(app, member))
    invite(browser(app, outsider), name="Sam too")
    (supporter,) = supporter_rows(app, member.id)
    _pending_rows_for(app, member.id, supporter.id)
    with app.app_context():
        privacy.delete_account(db.session.get(User, member.id), clock.now_utc())
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Supporter).where(Supporter.user_id == member.id)) == 0
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.supporter_id == supporter.id)) == 0
    assert len(supporter_rows(app)) == 1, "another member's supporter stays"


def test_the_address_is_encrypted_at_rest_and_shown_only_on_the_members_own_page(app, member, outsider, admin,
                                                                                  mailbox, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # SQL and its parameters too
    mia = browser(app, member)
    invite(mia, email="Hidden.Person@Example.net")
    assert "hidden.person@example.net" in html(mia.get("/me/people"))
    stored = raw_supporter_table(app).lower()
    assert "hidden.person" not in stored, "the address is encrypted in the row"
    message = invitation(app, mailbox, "hidden.person@example.net")
    accept = mailbox.link(message, "/accept")
    stranger = app.test_client()
    for page in (stranger.get(accept), post(stranger, accept), mia.get("/notifications"), mia.get("/"),
                 browser(app, outsider).get("/me/people"), browser(app, admin).get("/me/people")):
        assert "hidden.person" not in html(page).lower()
    (supporter,) = supporter_rows(app, member.id)
    post(mia, f"/me/people/{supporter.id}/remove")
    ours = " ".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records if not r.name.startswith("mail.log"))
    assert "supporter" in ours.lower(), "the SQL was logged: the check is not vacuous"
    assert "hidden.person" not in ours.lower()


def test_the_export_lists_the_members_supporters_with_their_states(app, member, mailbox):
    mia = browser(app, member)
    invite(mia)
    invite(mia, name="Alex", email="alex@example.net", relation="sponsor")
    post(app.test_client(), mailbox.link(invitation(app, mailbox), "/accept"))
    alex = supporter_rows(app, member.id)[1]
    post(mia, f"/me/people/{alex.id}/remove")
    with app.app_context():
        rows = people.export(db.session.get(User, member.id))
    assert rows == [
        {"name": "Sam", "relation": "friend", "email": SAM, "invited_at": PINNED_NOW.isoformat(),
         "accepted_at": PINNED_NOW.isoformat(), "ended_at": None, "end_reason": None},
        {"name": "Alex", "relation": "sponsor", "email": None, "invited_at": PINNED_NOW.isoformat(),
         "accepted_at": None, "ended_at": PINNED_NOW.isoformat(), "end_reason": "removed"},
    ]


def test_the_domain_refuses_a_sixth_and_a_duplicate_directly(app, member):
    with app.app_context():
        user, now = db.session.get(User, member.id), clock.now_utc()
        for n in range(5):
            people.invite(user, f"P{n}", f"p{n}@example.net", Relation.OTHER, now)
        with pytest.raises(people.DomainError, match="up to 5"):
            people.invite(user, "Six", "six@example.net", Relation.OTHER, now)


def test_an_invitation_nobody_answered_ends_a_month_after_it_expired_and_its_address_goes(app, member, mailbox):
    mia = browser(app, member)
    invite(mia)
    (supporter,) = supporter_rows(app, member.id)
    expired = PINNED_NOW + timedelta(days=people.INVITATION_DAYS, minutes=1)
    with app.app_context():
        # Expired, but the member may still send it again: kept for a month.
        assert privacy.purge(expired + people.EXPIRED_KEPT - timedelta(hours=1), app.config).unanswered_invitations == 0
        db.session.commit()
        report = privacy.purge(expired + people.EXPIRED_KEPT, app.config)
        db.session.commit()
    assert report.unanswered_invitations == 1
    (ended,) = supporter_rows(app, member.id)
    assert ended.end_reason == SupporterEnd.EXPIRED and ended.email is None
    assert post(browser(app, member), f"/me/people/{supporter.id}/resend").status_code == 400


def test_a_supporters_links_are_redacted_from_request_logs():
    assert redact("GET /supporter/abc.def-ghi/accept HTTP/1.1") == "GET /supporter/[redacted]/accept HTTP/1.1"
    assert redact("POST /supporter/abc.def/stop HTTP/1.1") == "POST /supporter/[redacted]/stop HTTP/1.1"


def test_someone_who_said_no_thanks_is_never_invited_again_and_an_address_at_most_once_a_day(app, member, mailbox):
    mia = browser(app, member)
    invite(mia)
    stop = mailbox.link(invitation(app, mailbox), "/stop")
    assert post(app.test_client(), stop).status_code == 200  # "No thanks"
    mailbox.clear()
    again = invite(mia)
    assert again.status_code == 400 and "asked not to be a supporter" in text(again)
    assert mailbox.to(SAM) == [] and len(supporter_rows(app, member.id)) == 1

    # Removed by the member and asked again at once: not the same address twice within a day.
    invite(mia, email="ana@example.net", name="Ana")
    (ana,) = [s for s in supporter_rows(app, member.id) if s.name == "Ana"]
    assert post(mia, f"/me/people/{ana.id}/remove").status_code == 302
    refused = invite(mia, email="ana@example.net", name="Ana")
    assert refused.status_code == 400 and "less than a day ago" in text(refused)
    clock.set_frozen(PINNED_NOW + timedelta(days=1, minutes=1))
    assert invite(browser(app, member), email="ana@example.net", name="Ana").status_code == 302
