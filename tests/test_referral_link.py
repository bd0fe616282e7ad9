"""A referral card's link, from the person's side: opening it, choosing a first meeting, signing in or up, and
being a member who is going, in one step; the link works once, and a used, expired, withdrawn or forged link
changes nothing."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from supportnet import clock, logs, referrals
from supportnet.extensions import db
from supportnet.models import Group, JoinPolicy, Membership, Referral, Rsvp, User, Visibility
from tests.conftest import ClosingClient, csrf_token, make_persona, post
from tests.pages import browser, flashes, form_as_shown, html, text
from tests.worlds.referrals import Card, Place, add_member, make_card, make_place, make_program, outcome

NEW = {"email": "sam@example.org", "password": "tea by the window", "display_name": "Sam S.",
       "timezone": "America/New_York", "consent": "y"}


@pytest.fixture(autouse=True)
def _closing_clients(app):
    # Every browser here closes its responses like a real server, so a sign-up's email goes out right after it.
    app.test_client_class = ClosingClient


@pytest.fixture
def place(app, facilitator) -> Place:
    return make_place(app, facilitator)


@pytest.fixture
def program_id(app) -> int:
    return make_program(app)


@pytest.fixture
def card(app, program_id, place) -> Card:
    return make_card(app, program_id, place, first_name="Sam")


def _choose(occurrence_id: int, **ticks) -> dict:
    return {"meeting": str(occurrence_id), **{name: "y" for name, on in ticks.items() if on}}


def _ticked(page, name: str) -> bool:
    """Whether the page shows the checkbox ticked (False when it is not there at all)."""
    found = re.search(rf'<input[^>]*name="{name}"[^>]*>', html(page))
    return found is not None and " checked" in found.group(0)


def _sign_up(client, url: str, fields: dict):
    """Fill in the sign-up form the link's page shows (its hidden choice included) and send it."""
    page = client.get(url)
    assert page.status_code == 200
    return post(client, url, {**form_as_shown(page).to_dict(), **fields})


def _counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(Membership)),
                db.session.scalar(select(func.count()).select_from(Rsvp)),
                db.session.scalar(select(func.count()).select_from(Referral).where(Referral.accepted_at.isnot(None))))


def test_a_signed_in_person_opens_the_link_and_is_a_member_who_is_going_in_one_step(app, card, place, outsider):
    tuesday = place.occurrence_id(app)
    otto = browser(app, outsider)
    page = otto.get(card.url)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    shown = unescape(text(page))
    assert "See you there. Ask for Fay at the door." in shown
    assert "Canal Circle" in shown and "Tue 1 Dec 2026, 19:00\u201320:30" in shown  # Otto's own zone: London
    # Both consents are offered, each in one sentence, and neither is ticked.
    assert referrals.PROGRESS_PURPOSE in shown and referrals.NAME_PURPOSE in shown
    assert not _ticked(page, "share_progress") and not _ticked(page, "share_name")
    assert f'value="{tuesday}" checked' not in html(page)
    assert outcome(app, card, place, outsider.id, tuesday).opened

    # Already signed in: the sign-up page sends them back to the link, the choice kept.
    back = otto.get(f"{card.url}/sign-up?meeting={tuesday}")
    assert back.status_code == 302 and back.headers["Location"] == f"{card.url}?meeting={tuesday}"
    response = post(otto, card.url, _choose(tuesday))
    assert response.status_code == 302 and response.headers["Location"] == f"/welcome/{tuesday}"
    welcome = otto.get(response.headers["Location"])
    assert "You're going" in text(welcome)
    assert f"/meetings/{tuesday}/calendar.ics" in html(welcome) and "/account#calendar" in html(welcome)
    got = outcome(app, card, place, outsider.id, tuesday)
    assert (got.accepted_by_id, got.membership, got.answer) == (outsider.id, "active", "going")
    assert not got.token_kept, "the printable copy of a used link is dropped"
    assert got.consents == (), "consents are off unless ticked"


def test_a_new_person_signs_up_from_the_link_and_is_going_once_the_email_is_confirmed(
        app, client, card, place, mailbox):
    tuesday = place.occurrence_id(app)
    client.set_cookie("supportnet_tz", "America/New_York")
    page = client.get(card.url)
    assert "14:00\u201315:30 your time" in text(page), "a visitor sees their own time, never the server's"
    chosen = post(client, card.url, {**_choose(tuesday, share_progress=True, share_name=True), "sign_up": "y"})
    assert chosen.status_code == 302
    sign_up = chosen.headers["Location"]
    assert sign_up.startswith(f"/r/{card.token}/sign-up?") and "progress=1" in sign_up and "name=1" in sign_up
    registered = _sign_up(client, sign_up, NEW)
    assert registered.status_code == 302 and registered.headers["Location"] == "/register/check-email"
    assert outcome(app, card, place, None, tuesday).accepted_by_id is None, "nothing until the email is confirmed"

    (message,) = mailbox.to("sam@example.org")
    link = mailbox.link(message, "/account/confirm/")
    assert client.get(link).status_code == 200
    confirmed = post(client, link)
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == f"/welcome/{tuesday}"
    assert "You're going" in text(client.get(confirmed.headers["Location"]))
    with app.app_context():
        sam = db.session.scalar(select(User.id).where(User.email == "sam@example.org"))
    got = outcome(app, card, place, sam, tuesday)
    assert (got.accepted_by_id, got.membership, got.answer) == (sam, "active", "going")
    assert [(scope, purpose) for scope, _key, purpose in got.consents] == [
        ("referral_progress", referrals.PROGRESS_PURPOSE), ("newcomer_name", referrals.NAME_PURPOSE)]
    # The link worked once: opening it again sends the person to sign in.
    again = browser(app).get(card.url)
    assert again.status_code == 302 and again.headers["Location"].startswith("/login")


def test_signing_in_from_the_link_keeps_the_choice(app, client, card, place, outsider):
    tuesday = place.occurrence_id(app)
    chosen = post(client, card.url, {**_choose(tuesday, share_progress=True), "sign_in": "y"})
    assert chosen.status_code == 302 and chosen.headers["Location"].startswith("/login?next=/r/")
    back = post(client, chosen.headers["Location"], {"email": outsider.email, "password": outsider.password})
    assert back.status_code == 302 and back.headers["Location"].startswith(f"/r/{card.token}?")
    page = client.get(back.headers["Location"])
    assert f'id="meeting-{tuesday}" value="{tuesday}" checked' in html(page)
    assert _ticked(page, "share_progress") and not _ticked(page, "share_name"), "the ticks survived"
    assert post(client, card.url, _choose(tuesday, share_progress=True)).status_code == 302
    got = outcome(app, card, place, outsider.id, tuesday)
    assert (got.membership, got.answer) == ("active", "going")
    assert [scope for scope, *_ in got.consents] == ["referral_progress"]


def test_a_consent_carried_in_the_address_is_a_box_the_person_sees_and_can_untick(app, client, card, place, mailbox):
    # Anyone holding the card's link can type an address that pre-ticks "share my progress". The sign-up page
    # shows that choice as a box the person can change, and records only what they send.
    tuesday = place.occurrence_id(app)
    crafted = f"{card.url}/sign-up?meeting={tuesday}&progress=1"
    page = client.get(crafted)
    box = re.search(r'<input[^>]*name="progress"[^>]*>', html(page)).group(0)
    assert 'type="checkbox"' in box and " checked" in box, box
    shown = form_as_shown(page).to_dict()
    shown.pop("progress")  # the person unticks it
    assert post(client, crafted, {**shown, **NEW}).status_code == 302
    (message,) = mailbox.to("sam@example.org")
    assert post(client, mailbox.link(message, "/account/confirm/")).status_code == 302
    with app.app_context():
        sam = db.session.scalar(select(User.id).where(User.email == "sam@example.org"))
    got = outcome(app, card, place, sam, tuesday)
    assert got.accepted_by_id == sam and got.consents == (), "a consent the person unticked was recorded"


def test_the_token_never_reaches_a_log_line(card):
    for line in (f'"GET /r/{card.token} HTTP/1.1" 200', f'"POST /r/{card.token}/sign-up?meeting=3 HTTP/1.1" 302',
                 f'"GET /login?next=/r/{card.token}?meeting%3D3 HTTP/1.1" 200',
                 f'"GET /login?next=%2Fr%2F{card.token}%3Fmeeting%3D3 HTTP/1.1" 200'):
        assert card.token not in logs.redact(line), line


@pytest.mark.parametrize("policy, visibility", [(JoinPolicy.INVITE, Visibility.PRIVATE),
                                                (JoinPolicy.APPROVAL, Visibility.PUBLIC),
                                                (JoinPolicy.APPROVAL, Visibility.PRIVATE)])
def test_invite_only_and_approval_groups_let_the_referred_person_in(app, facilitator, program_id, outsider,
                                                                     policy, visibility):
    place = make_place(app, facilitator, "Quiet Room", join_policy=policy, visibility=visibility)
    _run_by(app, place, program_id)  # the program runs the group: its card stands for an invitation
    card = make_card(app, program_id, place)
    tuesday = place.occurrence_id(app)
    otto = browser(app, outsider)
    assert otto.get(card.url).status_code == 200
    assert post(otto, card.url, _choose(tuesday)).status_code == 302
    got = outcome(app, card, place, outsider.id, tuesday)
    assert (got.membership, got.answer) == ("active", "going")
    # The honest path stays as it was: without the card, the group still needs its invite or approval.
    other = make_persona(app, "Nell N.")
    nell = browser(app, other)
    nell_join = post(nell, f"/groups/{place.slug}/join")
    assert outcome(app, card, place, other.id, tuesday).membership in (None, "pending"), nell_join.status_code


def _run_by(app, place, program_id: int | None) -> None:
    with app.app_context():
        db.session.get(Group, place.group_id).program_id = program_id
        db.session.commit()


@pytest.mark.parametrize("runs_it", [False, True])
def test_a_card_never_overrides_the_approval_of_a_group_its_program_does_not_run(app, facilitator, program_id,
                                                                                 outsider, runs_it):
    # Printed while the program ran the group; since then the group left the program and asks for approval.
    place = make_place(app, facilitator, "Quiet Room", join_policy=JoinPolicy.APPROVAL)
    _run_by(app, place, program_id)
    card = make_card(app, program_id, place)
    _run_by(app, place, program_id if runs_it else None)
    tuesday = place.occurrence_id(app)
    before = _counts(app)
    response = post(browser(app, outsider), card.url, _choose(tuesday))
    if runs_it:
        assert response.status_code == 302
        assert outcome(app, card, place, outsider.id, tuesday).membership == "active"
        return
    assert response.status_code == 409 and "no longer takes people through this card" in text(response)
    assert _counts(app) == before, "the card was used up, or she joined past the facilitators' approval"
    assert outcome(app, card, place, outsider.id, tuesday).accepted_by_id is None


def test_someone_a_facilitator_removed_stays_out(app, card, place, outsider, facilitator):
    add_member(app, place, outsider)
    fay = browser(app, facilitator)
    with app.app_context():
        mid = db.session.scalar(select(Membership.id).where(Membership.user_id == outsider.id))
    assert post(fay, f"/groups/{place.slug}/members/{mid}/remove").status_code in (302, 303)
    tuesday = place.occurrence_id(app)
    before = _counts(app)
    response = post(browser(app, outsider), card.url, _choose(tuesday))
    assert response.status_code == 403 and "removed you" in text(response)
    assert _counts(app) == before


def test_a_second_use_after_acceptance_sends_to_sign_in_and_changes_nothing(app, card, place, outsider):
    tuesday = place.occurrence_id(app)
    assert post(browser(app, outsider), card.url, _choose(tuesday)).status_code == 302
    visitor = browser(app)
    again = visitor.get(card.url)
    assert again.status_code == 302 and again.headers["Location"] == "/login"
    assert "This invitation was already used. Sign in to see your meetings." in flashes(visitor.get("/login"))
    # Someone else holding the card posts the accept form: refused, nothing changes.
    other = make_persona(app, "Nell N.")
    before = _counts(app)
    response = post(browser(app, other), card.url, _choose(tuesday))
    assert response.status_code == 410 and referrals.USED_MESSAGE in text(response)
    assert _counts(app) == before
    assert outcome(app, card, place, outsider.id, tuesday).accepted_by_id == outsider.id


@pytest.mark.parametrize("how", ["expired", "withdrawn"])
def test_expired_and_withdrawn_links_say_what_to_do_and_accept_nothing(app, program_id, place, outsider, how):
    if how == "expired":
        card = make_card(app, program_id, place, days=10, created_at=clock.now_utc() - timedelta(days=11))
    else:
        card = make_card(app, program_id, place)
        with app.app_context():
            db.session.get(Referral, card.referral_id).withdrawn_at = clock.now_utc()
            db.session.commit()
    tuesday = place.occurrence_id(app)
    for client in (browser(app), browser(app, outsider)):
        page = client.get(card.url)
        assert page.status_code == 410
        assert "Ask the person who gave you the card" in text(page)
    before = _counts(app)
    assert post(browser(app, outsider), card.url, _choose(tuesday)).status_code == 410
    assert post(browser(app), f"{card.url}/sign-up", {**NEW, "meeting": str(tuesday)}).status_code == 410
    assert _counts(app) == before


def test_a_forged_token_gets_the_same_kind_page_for_everyone_and_changes_nothing(app, card, place, outsider,
                                                                                 member):
    tuesday = place.occurrence_id(app)
    forged = "/r/" + card.token[:-2] + ("AA" if not card.token.endswith("AA") else "BB")
    before = _counts(app)
    for client in (browser(app), browser(app, outsider), browser(app, member)):
        assert client.get(forged).status_code == 404
        response = post(client, forged, _choose(tuesday))
        assert response.status_code == 404 and "ask the person who gave you the card" in text(response)
    assert _counts(app) == before
    assert not outcome(app, card, place, None, tuesday).opened, "a forged link opened nothing"


def test_a_meeting_of_a_group_not_suggested_is_refused(app, card, place, outsider, other_facilitator):
    elsewhere = make_place(app, other_facilitator, "Another Circle")
    theirs = elsewhere.occurrence_id(app)
    before = _counts(app)
    response = post(browser(app, outsider), card.url, _choose(theirs))
    assert response.status_code == 400
    assert _counts(app) == before
    # The sign-up path refuses it too (the choice rides in the address there).
    visitor = browser(app)
    refused = visitor.get(f"{card.url}/sign-up?meeting={theirs}")
    assert refused.status_code == 303 and refused.headers["Location"] == card.url
    assert post(visitor, f"{card.url}/sign-up?meeting={theirs}", {**NEW, "meeting": str(theirs)}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.email == NEW["email"])) is None
    # The honest path: one of the suggested meetings.
    assert post(browser(app, outsider), card.url, _choose(place.occurrence_id(app, 1))).status_code == 302


def test_another_persons_stale_confirmation_after_acceptance_accepts_nothing(app, card, place, mailbox):
    tuesday = place.occurrence_id(app)
    clients = {}
    for email, name in (("sam@example.org", "Sam S."), ("kit@example.org", "Kit K.")):
        client = browser(app)
        sign_up = post(client, card.url, {**_choose(tuesday), "sign_up": "y"}).headers["Location"]
        assert _sign_up(client, sign_up, {**NEW, "email": email, "display_name": name}).status_code == 302
        clients[email] = client
    links = {email: mailbox.link(mailbox.to(email)[0], "/account/confirm/") for email in clients}
    assert post(clients["sam@example.org"], links["sam@example.org"]).headers["Location"] == f"/welcome/{tuesday}"
    stale = post(clients["kit@example.org"], links["kit@example.org"])
    assert stale.status_code == 302 and stale.headers["Location"] == "/"
    assert referrals.USED_MESSAGE in flashes(clients["kit@example.org"].get("/"))
    with app.app_context():
        sam, kit = (db.session.scalar(select(User.id).where(User.email == e)) for e in clients)
    assert outcome(app, card, place, sam, tuesday).accepted_by_id == sam
    kit_outcome = outcome(app, card, place, kit, tuesday)
    assert (kit_outcome.membership, kit_outcome.answer, kit_outcome.consents) == (None, None, ())


def test_a_full_meeting_puts_the_person_on_the_waitlist_and_says_so(app, facilitator, program_id, outsider,
                                                                    member):
    place = make_place(app, facilitator, "Small Room", capacity=1)
    card = make_card(app, program_id, place)
    tuesday = place.occurrence_id(app)
    mia = browser(app, member)
    post(mia, f"/groups/{place.slug}/join")
    assert post(mia, f"/meetings/{tuesday}/rsvp").status_code == 302
    otto = browser(app, outsider)
    response = post(otto, card.url, _choose(tuesday))
    assert response.status_code == 302
    page = text(otto.get(response.headers["Location"]))
    assert "You're on the waitlist" in page and "number 1" in page and "full" in page
    got = outcome(app, card, place, outsider.id, tuesday)
    assert (got.membership, got.answer) == ("active", "waitlisted")


def test_the_first_open_is_recorded_once(app, card, place):
    visitor = browser(app)
    visitor.get(card.url)
    with app.app_context():
        first = db.session.get(Referral, card.referral_id).opened_at
    assert first == clock.now_utc()
    with clock.frozen(clock.now_utc() + timedelta(hours=3)):
        assert browser(app).get(card.url).status_code == 200
    with app.app_context():
        assert db.session.get(Referral, card.referral_id).opened_at == first


def test_two_people_accepting_one_card_at_once_only_one_gets_in(app, card, place, outsider, member):
    tuesday = place.occurrence_id(app)
    clients = [browser(app, outsider), browser(app, member)]
    tokens = [csrf_token(c) for c in clients]
    start = threading.Barrier(2)
    answers: list[int] = []

    def accept(client, token):
        start.wait()
        answers.append(client.post(card.url, data={"csrf_token": token, **_choose(tuesday)}).status_code)

    threads = [threading.Thread(target=accept, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers)[0] == 302 and sorted(answers)[1] in (409, 410), answers
    with app.app_context():
        going = db.session.scalars(select(Rsvp.user_id).where(Rsvp.occurrence_id == tuesday)).all()
        referral = db.session.get(Referral, card.referral_id)
        assert going == [referral.accepted_by_id]
        members = db.session.scalars(select(Membership.user_id).where(
            Membership.group_id == place.group_id, Membership.user_id.in_([outsider.id, member.id]))).all()
        assert members == [referral.accepted_by_id]
