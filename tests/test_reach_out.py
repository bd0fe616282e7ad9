""""Reach out": the member's chosen message goes by email through the outbox, once to each supporter they chose
and who accepted, with a neutral subject; a double click sends once; a supporter removed before the email goes
gets nothing; another member's supporter cannot be reached; the message is never plain in the database; the
member sees what was sent, on the page and in their inbox; the crisis resources are always beside the button."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text, update

from supportnet import clock
from supportnet.extensions import db
from supportnet.models import (
    Channel,
    Notification,
    NotificationKind,
    NotificationStatus,
    SafetyPlan,
    Supporter,
    SupporterEnd,
)
from supportnet.notifications import dispatch
from supportnet.supporters import people
from tests.conftest import make_persona, post
from tests.pages import browser, form_as_shown, html
from tests.pages import text as page_text
from tests.worlds.checkins import checkin_form
from tests.worlds.reach_out import ANA, EVE, IVY, SAM, ZED, ReachWorld, build_reach_world

DEFAULT = "I'd appreciate a call today"
NEUTRAL_FORBIDDEN = ("recovery", "group", "meeting", "addiction", "sober", "support", "crisis", "relapse")


@pytest.fixture
def world(app) -> ReachWorld:
    return build_reach_world(app)


def load_form(client) -> dict:
    """The reach-out form as the page shows it (every active supporter ticked, a fresh nonce)."""
    page = client.get("/me/reach-out")
    assert page.status_code == 200
    return form_as_shown(page)


def rows(app, channel: Channel | None = None) -> list[Notification]:
    with app.app_context():
        query = select(Notification).where(Notification.kind == NotificationKind.REACH_OUT)
        if channel is not None:
            query = query.where(Notification.channel == channel)
        result = list(db.session.scalars(query.order_by(Notification.id)))
        db.session.expunge_all()
        return result


def tick(app):
    with app.app_context():
        return dispatch.tick()


def test_reaching_out_sends_one_email_to_each_supporter_who_accepted(app, world, mailbox):
    mia = browser(app, world.mia)
    form = load_form(mia)
    assert sorted(int(v) for v in form.getlist("supporters")) == sorted([world.sam, world.ana]), "all ticked"
    page = html(mia.get("/me/reach-out"))
    assert "Ivy" not in page and "Eve" not in page, "only supporters who accepted and have not stopped"
    assert "not an emergency service" in page and "crisis-resources" in page, "the crisis resources beside it"
    assert DEFAULT in page.replace("&#39;", "'")

    response = mia.post("/me/reach-out", data=form)
    assert response.status_code == 302
    assert re.fullmatch(r"/me/reach-out/sent/[\w-]+", response.location)
    assert mailbox.messages == [], "never sent while the member waits: through the outbox"

    assert tick(app).sent == 2
    assert sorted(m["To"] for m in mailbox.messages) == sorted([SAM, ANA])
    for message in mailbox.messages:
        assert message["Subject"] == "A message from Mia M."
        assert message["Reply-To"] is None
        body = mailbox.text(message)
        assert f'"{DEFAULT}"' in body
        assert "They chose to send this to you through SupportNet. If you can, get in touch with them the way " \
               "you usually do." in " ".join(body.split())
        assert world.mia.email not in message.as_string()
        for word in NEUTRAL_FORBIDDEN:
            assert word not in message["Subject"].lower(), word
        assert "/supporter/" in body, "the supporter can stop at any time"
    assert not mailbox.to(IVY) and not mailbox.to(EVE) and not mailbox.to(ZED)
    tick(app)
    assert len(mailbox.messages) == 2, "once"

    sent = mia.get(response.location)
    assert sent.status_code == 200
    assert re.search(r"Sent to Ana and Sam at \d\d:\d\d: .I'd appreciate a call today.",
                     page_text(sent).replace("&#39;", "'"))
    assert "not an emergency service" in html(sent)
    inbox = page_text(mia.get("/notifications")).replace("&#39;", "'")
    assert f"You reached out to Ana and Sam: '{DEFAULT}'" in inbox


def test_only_the_supporters_ticked_get_the_message(app, world, mailbox):
    mia = browser(app, world.mia)
    form = load_form(mia)
    form.setlist("supporters", [str(world.sam)])
    assert mia.post("/me/reach-out", data=form).status_code == 302
    tick(app)
    assert [m["To"] for m in mailbox.messages] == [SAM]


def test_nobody_ticked_is_a_clear_error_and_nothing_is_queued(app, world):
    mia = browser(app, world.mia)
    form = load_form(mia)
    form.setlist("supporters", [])
    response = mia.post("/me/reach-out", data=form)
    assert response.status_code == 400
    assert "Choose at least one person" in html(response)
    assert rows(app) == []


def test_clicking_twice_sends_once(app, world, mailbox):
    mia = browser(app, world.mia)
    form = load_form(mia)
    first = mia.post("/me/reach-out", data=form)
    second = mia.post("/me/reach-out", data=form)  # a double click, or the browser resending the POST
    assert first.status_code == second.status_code == 302 and first.location == second.location
    assert len(rows(app, Channel.EMAIL)) == 2 and len(rows(app, Channel.IN_APP)) == 1
    tick(app)
    assert sorted(m["To"] for m in mailbox.messages) == sorted([SAM, ANA])


def test_two_loaded_forms_are_two_presses(app, world, mailbox):
    # Each loaded page is a deliberate press of its own (the member came back to send again): it sends. What
    # never sends twice is one loaded form, however often it is posted.
    mia = browser(app, world.mia)
    tab_one, tab_two = load_form(mia), load_form(mia)
    assert tab_one["nonce"] != tab_two["nonce"]
    for form in (tab_one, tab_two, tab_one, tab_two):
        assert mia.post("/me/reach-out", data=form).status_code == 302
    tick(app)
    assert sorted(m["To"] for m in mailbox.messages) == sorted([SAM, SAM, ANA, ANA])
    assert len(rows(app, Channel.IN_APP)) == 2


def test_a_supporter_removed_before_the_email_goes_gets_nothing(app, world, mailbox):
    mia = browser(app, world.mia)
    assert mia.post("/me/reach-out", data=load_form(mia)).status_code == 302
    with app.app_context():
        people.end(db.session.get(Supporter, world.sam), SupporterEnd.REMOVED, clock.now_utc())
        db.session.commit()
    tick(app)
    assert [m["To"] for m in mailbox.messages] == [ANA]
    statuses = {n.supporter_id: n.status for n in rows(app, Channel.EMAIL)}
    assert statuses[world.sam] == NotificationStatus.CANCELLED


def test_the_dispatcher_checks_the_supporter_again_before_sending(app, world, mailbox):
    # The supporter's row changed by other means than `people.end` (which would also cancel the email): the
    # dispatcher still reads the row when it sends, so nothing goes to a place that has ended.
    mia = browser(app, world.mia)
    assert mia.post("/me/reach-out", data=load_form(mia)).status_code == 302
    with app.app_context():
        db.session.execute(update(Supporter).where(Supporter.id == world.ana).values(
            ended_at=clock.now_utc(), end_reason=SupporterEnd.STOPPED, email=None))
        db.session.execute(update(Supporter).where(Supporter.id == world.sam).values(accepted_at=None))
        db.session.commit()
    tick(app)
    assert mailbox.messages == []
    assert {n.status for n in rows(app, Channel.EMAIL)} == {NotificationStatus.CANCELLED}


@pytest.mark.parametrize("who", ["zed", "ivy", "eve", "nobody"])
def test_a_supporter_who_is_not_an_active_supporter_of_the_member_is_refused(app, world, mailbox, who):
    # The attacker (or a stale page) puts another member's supporter, an unanswered invitation, a supporter who
    # stopped, or a made-up id into the form: nothing is queued for anyone.
    target = {"zed": world.zed, "ivy": world.ivy, "eve": world.eve, "nobody": 999_999}[who]
    mia = browser(app, world.mia)
    form = load_form(mia)
    form.setlist("supporters", [str(world.sam), str(target)])
    response = mia.post("/me/reach-out", data=form)
    assert response.status_code == 404
    assert rows(app) == []
    tick(app)
    assert mailbox.messages == []


def test_another_members_record_of_what_was_sent_is_not_found(app, world):
    mia = browser(app, world.mia)
    form = load_form(mia)
    response = mia.post("/me/reach-out", data=form)
    otto = browser(app, world.otto)
    assert otto.get(response.location).status_code == 404
    assert mia.get(response.location).status_code == 200


def test_a_form_without_its_nonce_is_refused(app, world):
    mia = browser(app, world.mia)
    form = load_form(mia)
    form["nonce"] = "x"
    response = mia.post("/me/reach-out", data=form)
    assert response.status_code == 400 and "load the page again" in html(response)
    assert rows(app) == []


def test_the_message_is_never_plain_in_the_database(app, world, mailbox):
    secret = "Mia here, the kettle plan, ring me please 7731"
    mia = browser(app, world.mia)
    response = post(mia, "/me/reach-out/message", {"choice": "own", "own": secret})
    assert response.status_code == 302
    assert secret in html(mia.get("/me/reach-out"))
    assert mia.post("/me/reach-out", data=load_form(mia)).status_code == 302
    with app.app_context():
        stored = " ".join(str(v) for v in [
            *db.session.execute(text("SELECT payload FROM notification")).scalars(),
            *db.session.execute(text("SELECT reach_out_message FROM safety_plan")).scalars(),
        ])
    assert "kettle" not in stored and "7731" not in stored and "Sam" not in stored
    tick(app)
    assert all(secret in mailbox.text(m) for m in mailbox.messages) and len(mailbox.messages) == 2


def test_choosing_the_message_leaves_the_safety_plan_alone(app, world):
    mia = browser(app, world.mia)
    page = html(mia.get("/me/reach-out/message"))
    for phrasing in ("I&#39;d appreciate a call today", "Could you check in on me today?",
                     "I&#39;m having a hard day and would like to talk"):
        assert phrasing in page
    assert post(mia, "/me/reach-out/message", {"choice": "Could you check in on me today?"}).status_code == 302
    with app.app_context():
        plan = db.session.get(SafetyPlan, world.mia.id)
        assert plan.reach_out_message == "Could you check in on me today?"
        assert (plan.warning_signs, plan.coping_strategies, plan.distractions, plan.people_to_ask,
                plan.professionals, plan.safer_environment) == (None,) * 6


@pytest.mark.parametrize(("own", "error"), [
    ("", "Write a short message"),
    ("x" * 201, "200 characters"),
    ("Call me\u202e today", "invisible"),
    ("Call\u200b me", "invisible"),
])
def test_a_bad_own_message_is_a_form_error_and_nothing_changes(app, world, own, error):
    mia = browser(app, world.mia)
    response = post(mia, "/me/reach-out/message", {"choice": "own", "own": own})
    assert response.status_code == 400 and error in html(response)
    with app.app_context():
        assert db.session.get(SafetyPlan, world.mia.id) is None


def test_a_choice_that_is_not_offered_is_refused(app, world):
    mia = browser(app, world.mia)
    response = post(mia, "/me/reach-out/message", {"choice": "Send money to ..."})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(SafetyPlan, world.mia.id) is None


def test_the_button_is_on_home_and_beside_the_crisis_resources_after_a_hard_check_in(app, world):
    mia = browser(app, world.mia)
    home = html(mia.get("/"))
    assert 'href="/me/reach-out"' in home
    saved = post(mia, "/me/checkins/new", checkin_form(mood="1"))
    assert saved.status_code == 302
    page = html(mia.get(saved.location))
    assert "not an emergency service" in page and 'href="/me/reach-out"' in page


def test_with_no_supporter_there_is_no_button_but_the_crisis_resources_stay(app, world):
    lee = make_persona(app, "Lee L.")
    client = browser(app, lee)
    assert 'href="/me/reach-out"' not in html(client.get("/"))
    page = html(client.get("/me/reach-out"))
    assert 'href="/me/people"' in page and "not an emergency service" in page
    assert "<form method=\"post\" novalidate>" not in page
    saved = post(client, "/me/checkins/new", checkin_form(mood="1"))
    crisis = html(client.get(saved.location))
    assert "not an emergency service" in crisis and 'href="/me/reach-out"' not in crisis


def test_the_same_loaded_form_sent_again_with_more_people_ticked_sends_nothing_more(app, world, mailbox):
    # Back, tick one more person, send again: the first press stands, so what the member is shown as sent
    # always names everyone who got it.
    mia = browser(app, world.mia)
    form = load_form(mia)
    form.setlist("supporters", [str(world.sam)])
    first = mia.post("/me/reach-out", data=form)
    form.setlist("supporters", [str(world.sam), str(world.ana)])
    again = mia.post("/me/reach-out", data=form)
    assert again.status_code == 302 and again.location == first.location
    tick(app)
    assert [m["To"] for m in mailbox.messages] == [SAM]
    sent = page_text(mia.get(first.location))
    assert "Sam" in sent and "Ana" not in sent
