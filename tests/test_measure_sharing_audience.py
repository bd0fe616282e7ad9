"""Whoever shares measures is told, like anyone who shares check-ins, when someone new can read them: a new
facilitator of the group, a new coordinator of the program. The one-click "stop sharing" ends measures too, and
an email written before the member stopped sharing is not sent."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from supportnet import clock, consent, programs
from supportnet.extensions import db
from supportnet.models import Membership, Notification, NotificationKind, NotificationStatus, Program, SiteRole
from supportnet.notifications import dispatch
from tests.conftest import Persona, make_persona, post
from tests.pages import browser
from tests.worlds.measures_sharing import MeasuresWorld, build, share, take


@pytest.fixture
def world(app, facilitator) -> MeasuresWorld:
    return build(app, facilitator)


@pytest.fixture
def mia(app, world) -> Persona:
    persona = world.member("Mia M.")
    take(app, persona, "PHQ-9", 1, date(2026, 11, 3))
    return persona


def _audience_notices(app) -> list[tuple[int, str, NotificationStatus]]:
    with app.app_context():
        return sorted((n.user_id, n.channel.value, n.status) for n in db.session.scalars(
            select(Notification).where(Notification.kind == NotificationKind.SHARING_AUDIENCE)))


def _promote(app, world: MeasuresWorld, persona: Persona):
    with app.app_context():
        membership_id = db.session.scalar(select(Membership.id).where(
            Membership.group_id == world.group_id, Membership.user_id == persona.id))
    return post(browser(app, world.facilitator), f"/groups/{world.slug}/members/{membership_id}/role",
                {"role": "facilitator"})


def test_a_member_who_shares_only_measures_hears_of_a_new_facilitator_and_stops_in_one_click(
        app, world, mia, mailbox):
    share(app, mia, world.group_key, "scores")  # no check-ins shared, only measure scores
    quiet = world.member("Noa N.")  # shares nothing: told nothing
    sam = world.member("Sam S.")
    assert _promote(app, world, sam).status_code == 302
    assert {(uid, channel) for uid, channel, _ in _audience_notices(app)} == {(mia.id, "email"), (mia.id, "in_app")}
    assert quiet.id not in {uid for uid, _, _ in _audience_notices(app)}
    with app.app_context():
        dispatch.tick()
    (email,) = mailbox.to(mia.email)
    body = mailbox.text(email)
    assert email["Subject"] == "Who can see what you share"
    assert "Sam S. is now a facilitator" in body and "measures" in body
    assert "Thursday Circle" not in body, "the email names no group"

    stop = mailbox.link(email, "/notifications/stop-sharing/")
    anonymous = app.test_client()
    assert "your measures" in anonymous.get(stop).get_data(as_text=True)
    assert post(anonymous, stop).status_code == 200
    with app.app_context():
        assert consent.standing_for(mia.id, clock.now_utc()) == []
    # The facilitator reads nothing of her any more.
    assert browser(app, sam).get(f"/groups/{world.slug}/measures/{mia.id}").status_code == 404


def test_a_member_who_shares_measures_with_the_program_hears_of_a_new_coordinator(app, world, mia, mailbox):
    share(app, mia, world.program_key, "answers")
    admin = make_persona(app, "Ada A.", role=SiteRole.ADMIN)
    newcomer = make_persona(app, "Cole C.")
    with app.app_context():
        programs.add_coordinator(db.session.get(Program, world.program_id), newcomer.email,
                                 by=admin.user(), now=clock.now_utc())
        db.session.commit()
    assert {(uid, channel) for uid, channel, _ in _audience_notices(app)} == {(mia.id, "email"), (mia.id, "in_app")}
    with app.app_context():
        dispatch.tick()
    (email,) = mailbox.to(mia.email)
    body = mailbox.text(email)
    assert "Cole C. is now a coordinator of a program you share your measures with" in body
    assert "Harbour" not in body, "the email names no program"
    assert "/me/sharing" in body
    inbox = browser(app, mia).get("/notifications").get_data(as_text=True)
    assert "Cole C. is now a coordinator" in inbox


def test_an_email_written_before_the_member_stopped_sharing_is_not_sent(app, world, mia, mailbox):
    share(app, mia, world.program_key, "scores")
    admin = make_persona(app, "Ada A.", role=SiteRole.ADMIN)
    newcomer = make_persona(app, "Cole C.")
    with app.app_context():
        programs.add_coordinator(db.session.get(Program, world.program_id), newcomer.email,
                                 by=admin.user(), now=clock.now_utc())
        db.session.commit()
    share(app, mia, world.program_key, "none")  # she stops before the outbox runs
    with app.app_context():
        dispatch.tick()
    assert mailbox.to(mia.email) == []
    # The inbox copy was hers at once (as for a new facilitator); the email waiting in the outbox is cancelled.
    assert _audience_notices(app) == [(mia.id, "email", NotificationStatus.CANCELLED),
                                      (mia.id, "in_app", NotificationStatus.SENT)]
