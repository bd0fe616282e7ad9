"""Volunteer greeters: a member of a group can offer to greet newcomers, and is told (once, discreetly, in the
meeting's own time) when someone referred by a program accepts their card and is going; the first name only if
the newcomer agreed, asked again when the notice goes out. Nothing goes out once the newcomer is no longer
coming or the greeter no longer greets."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import select, update

from supportnet import clock, consent, followup
from supportnet.extensions import db
from supportnet.models import Channel, Membership, Notification, NotificationKind, NotificationStatus, Scope
from tests.conftest import PINNED_NOW, ClosingClient, make_persona, post
from tests.pages import browser, text
from tests.worlds.notifications import REVEALING_WORDS, rows, tick
from tests.worlds.referrals import Card, Place, add_member, make_card, make_place, make_program

NEWCOMER = NotificationKind.NEWCOMER


@pytest.fixture(autouse=True)
def _closing_clients(app):
    app.test_client_class = ClosingClient


@pytest.fixture
def place(app, facilitator, member) -> Place:
    """Canal Circle, where Mia (the member) volunteered to greet newcomers from the group's page."""
    place = make_place(app, facilitator, "Riverside Recovery Circle")
    mia = browser(app, member)
    assert post(mia, f"/groups/{place.slug}/join").status_code == 302
    offered = post(mia, f"/groups/{place.slug}/greeter", {"greet": "1"})
    assert offered.status_code == 302
    assert "Stop greeting" in text(mia.get(f"/groups/{place.slug}"))
    return place


@pytest.fixture
def program_id(app) -> int:
    return make_program(app)


def _accept(app, card: Card, place: Place, persona, *, name: bool = False, n: int = 0) -> int:
    occurrence_id = place.occurrence_id(app, n)
    data = {"meeting": str(occurrence_id), **({"share_name": "y"} if name else {})}
    assert post(browser(app, persona), card.url, data).status_code == 302
    return occurrence_id


def _replay_emails(app) -> None:
    """Put the greeters' email rows back to pending, as they were before a change withdrew them."""
    with app.app_context():
        db.session.execute(update(Notification).where(Notification.kind == NEWCOMER,
                                                      Notification.channel == Channel.EMAIL)
                           .values(status=NotificationStatus.PENDING))
        db.session.commit()


def _newcomer_mail(mailbox, persona) -> list:
    return [m for m in mailbox.to(persona.email) if m["Subject"].startswith("A newcomer is coming")]


def test_each_greeter_is_told_once_and_without_a_name_unless_the_newcomer_agreed(
        app, place, program_id, member, facilitator, outsider, mailbox):
    gus, nell = make_persona(app, "Gus G."), make_persona(app, "Nell N.")
    add_member(app, place, gus, greets=True)
    add_member(app, place, nell)
    card = make_card(app, program_id, place, first_name="Sam")
    _accept(app, card, place, outsider)  # the name box left as it was: off
    tick(app, PINNED_NOW)
    tick(app, PINNED_NOW)
    for greeter in (member, gus):
        (message,) = _newcomer_mail(mailbox, greeter)
        assert message["Subject"] == "A newcomer is coming on Tuesday 19:00"
        body = mailbox.text(message)
        assert "A newcomer is coming to the meeting on Tuesday 1 December 2026, 19:00" in body
        assert "Sam" not in body
        assert not any(word in (message["Subject"] + body).lower() for word in REVEALING_WORDS)
    for nobody in (nell, facilitator, outsider):
        assert _newcomer_mail(mailbox, nobody) == []
    # One notice per greeter and channel, and the in-app one is in the greeter's inbox.
    assert sorted((r.user_id, r.channel.value) for r in rows(app, kind=NEWCOMER)) == sorted(
        (p.id, c) for p in (member, gus) for c in ("email", "in_app"))
    assert "A newcomer is coming" in unescape(text(browser(app, member).get("/notifications")))


def test_the_first_name_is_told_only_while_the_newcomer_lets_greeters_know_it(
        app, place, program_id, member, outsider, mailbox):
    sam_card = make_card(app, program_id, place, first_name="Sam")
    robin_card = make_card(app, program_id, place, first_name="Robin")
    robin = make_persona(app, "Kit K.")
    _accept(app, sam_card, place, outsider, name=True)
    _accept(app, robin_card, place, robin, name=True, n=1)
    # Robin changes their mind before the notice goes out: the consent is asked again when it is composed.
    with app.app_context():
        consent.revoke(robin.id, consent.Recipient.group_greeters(place.group_id), [Scope.NEWCOMER_NAME],
                       clock.now_utc())
        db.session.commit()
    tick(app, PINNED_NOW)
    bodies = [mailbox.text(m) for m in _newcomer_mail(mailbox, member)]
    assert len(bodies) == 2
    assert any("A newcomer, Sam, is coming" in b for b in bodies)
    assert not any("Robin" in b for b in bodies)
    inbox = unescape(text(browser(app, member).get("/notifications")))
    assert "Sam" in inbox and "Robin" not in inbox


def test_nothing_goes_out_once_the_newcomer_cancels(app, place, program_id, member, outsider, mailbox):
    card = make_card(app, program_id, place)
    occurrence_id = _accept(app, card, place, outsider)
    written = rows(app, kind=NEWCOMER)
    assert written
    otto = browser(app, outsider)
    assert post(otto, f"/meetings/{occurrence_id}/rsvp/cancel").status_code == 302
    assert "A newcomer is coming" not in text(browser(app, member).get("/notifications"))
    # The rows as they were before the cancellation withdrew them: the send-time check alone must stop them.
    _replay_emails(app)
    tick(app, PINNED_NOW)
    assert _newcomer_mail(mailbox, member) == []
    (email,) = rows(app, kind=NEWCOMER, channel=Channel.EMAIL)
    assert (email.status, email.last_error) == (NotificationStatus.CANCELLED, "the newcomer is no longer coming")


def test_nothing_goes_out_once_the_greeter_stops_or_leaves_and_a_return_does_not_greet(
        app, place, program_id, member, outsider, mailbox):
    gus = make_persona(app, "Gus G.")
    add_member(app, place, gus, greets=True)
    card = make_card(app, program_id, place)
    _accept(app, card, place, outsider)
    mia = browser(app, member)
    assert post(mia, f"/groups/{place.slug}/leave").status_code == 302
    gus_client = browser(app, gus)
    assert post(gus_client, f"/groups/{place.slug}/greeter", {"greet": "0"}).status_code == 302
    # Replay the greeters' email rows as pending: the send-time checks alone must stop them.
    _replay_emails(app)
    tick(app, PINNED_NOW)
    assert _newcomer_mail(mailbox, member) == [] and _newcomer_mail(mailbox, gus) == []
    reasons = {r.user_id: r.last_error for r in rows(app, kind=NEWCOMER, channel=Channel.EMAIL)}
    assert reasons == {member.id: "no longer a member", gus.id: "no longer greets newcomers"}
    # Mia comes back: she is a member again, not a greeter until she offers again.
    assert post(mia, f"/groups/{place.slug}/join").status_code == 302
    with app.app_context():
        greets = db.session.scalar(select(Membership.greets_newcomers).where(
            Membership.group_id == place.group_id, Membership.user_id == member.id))
        assert greets is False
    assert "Greet newcomers" in text(mia.get(f"/groups/{place.slug}"))


def test_a_waitlisted_newcomer_is_not_announced(app, facilitator, program_id, member, outsider, mailbox):
    place = make_place(app, facilitator, "Small Room", capacity=1)
    add_member(app, place, member, greets=True)
    occurrence_id = place.occurrence_id(app)
    assert post(browser(app, member), f"/meetings/{occurrence_id}/rsvp").status_code == 302
    _accept(app, make_card(app, program_id, place), place, outsider)
    tick(app, PINNED_NOW)
    assert rows(app, kind=NEWCOMER) == [] and _newcomer_mail(mailbox, member) == []


def test_only_active_members_can_offer_to_greet(app, place, outsider, facilitator):
    otto = browser(app, outsider)
    assert post(otto, f"/groups/{place.slug}/greeter", {"greet": "1"}).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(Membership.id).where(Membership.user_id == outsider.id)) is None
    # The honest path: the facilitator, a member, offers too.
    assert post(browser(app, facilitator), f"/groups/{place.slug}/greeter", {"greet": "1"}).status_code == 302


def test_a_newcomer_who_gets_a_seat_from_the_waitlist_is_announced_then(app, facilitator, member, program_id,
                                                                       outsider):
    small = make_place(app, facilitator, "Small Room", capacity=1)
    mia = browser(app, member)
    assert post(mia, f"/groups/{small.slug}/join").status_code == 302
    assert post(mia, f"/groups/{small.slug}/greeter", {"greet": "1"}).status_code == 302
    seated = make_persona(app, "Olly O.")
    add_member(app, small, seated)
    tuesday = small.occurrence_id(app)
    olly = browser(app, seated)
    assert post(olly, f"/meetings/{tuesday}/rsvp").status_code in (302, 303)
    card = make_card(app, program_id, small)
    _accept(app, card, small, outsider)  # the one seat is taken: waitlisted
    assert _greeter_rows(app, member.id) == [], "a waitlisted newcomer is not coming yet"
    assert post(olly, f"/meetings/{tuesday}/rsvp/cancel").status_code in (302, 303)  # the seat goes to the newcomer
    assert _greeter_rows(app, member.id) != [], "the greeter was not told when the newcomer got the seat"
    keys = _greeter_rows(app, member.id)
    assert post(olly, f"/meetings/{tuesday}/rsvp").status_code in (302, 303)  # waitlisted now: changes nothing
    assert _greeter_rows(app, member.id) == keys


def _greeter_rows(app, user_id: int) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(Notification.dedupe_key).where(
            Notification.kind == NEWCOMER, Notification.user_id == user_id,
            Notification.status == NotificationStatus.PENDING)))


def test_the_name_consent_ends_with_the_referral_it_was_given_through(app, place, program_id, outsider):
    card = make_card(app, program_id, place, first_name="Sam")
    _accept(app, card, place, outsider, name=True)

    def names_given() -> list:
        with app.app_context():
            return [c.scope for c in consent.standing_for(outsider.id, clock.now_utc())
                    if c.scope == Scope.NEWCOMER_NAME]

    assert names_given() == [Scope.NEWCOMER_NAME]
    with app.app_context():
        # The retention pass deletes the referral 90 days after it was used: the first name it carried is gone,
        # and so is the consent to tell it, which would otherwise stand on the sharing page about nothing.
        assert followup.fold_old_referrals(clock.now_utc() + timedelta(days=91)) == 1
        db.session.commit()
    assert names_given() == []
