"""Whoever can see members protects their account, and nobody quietly widens their own access.

The world (tests/worlds/data_controls.py): a private, invite-only group run by `facilitator`, with `member` and a peer.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from supportnet import clock, consent, groups
from supportnet.checkins import sharing as checkins_sharing
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    AuditEntry,
    CheckinSharing,
    JoinPolicy,
    MemberRole,
    Membership,
    Notification,
    NotificationKind,
    UserSession,
    Visibility,
)
from supportnet.notifications import dispatch as notif_dispatch
from tests.conftest import login, post
from tests.worlds.data_controls import (
    build_world,
    code_now,
    enable_two_factor,
    login_with_code,
    two_factor_row,
)

_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')


@pytest.fixture
def world(app):
    return build_world(app)


def share(app, membership_id: int, level=CheckinSharing.SUMMARIES) -> None:
    with app.app_context():
        checkins_sharing.set_sharing(db.session.get(Membership, membership_id), level, False, clock.now_utc())
        db.session.commit()


def promote(client, world, membership_id: int):
    return post(client, f"/groups/{world.slug}/members/{membership_id}/role", {"role": "facilitator"})


# --- two-factor for group facilitators -------------------------------------------------------------------------


class TestGroupFacilitatorsUseTwoFactor:
    @pytest.fixture
    def app_config(self) -> dict:
        return {"REQUIRE_2FA_FOR_STAFF": True}

    def test_a_member_made_facilitator_by_group_role_alone_must_set_up_two_factor_first(self, app, world):
        fac, member = world.persona("facilitator"), world.persona("member")
        secret = enable_two_factor(app, fac)
        fac_client = app.test_client()
        login_with_code(fac_client, fac, secret)
        mia = app.test_client()
        login(mia, member)
        assert mia.get("/account").status_code == 200, "a plain member is not asked"

        assert promote(fac_client, world, world.membership_id).status_code == 302
        # The group role alone (her site role stays "member") opens rosters, members, support and audit pages:
        for path in (f"/groups/{world.slug}/members", f"/meetings/{world.occurrence_id}/roster",
                     f"/groups/{world.slug}/support", f"/groups/{world.slug}/audit"):
            response = mia.get(path)
            assert response.status_code == 303 and response.location == "/account/two-factor", path

        # Setting up shows the key as a QR code drawn on the server, beside the key itself.
        assert post(mia, "/account/two-factor/setup").status_code == 302
        page = mia.get("/account/two-factor/confirm").get_data(as_text=True)
        qr = re.search(r'<img class="qr-code" id="totp-qr" src="data:image/svg\+xml;charset=utf-8,([^"]+)"', page)
        assert qr, "no QR code on the setup page"
        assert "<svg" in unquote(qr.group(1))
        secret_shown = _SECRET.search(page).group(1).replace(" ", "")
        done = post(mia, "/account/two-factor/confirm", {"code": code_now(secret_shown)})
        assert done.status_code == 200
        assert 'data-copy="recovery-codes"' in done.get_data(as_text=True)
        assert mia.get(f"/groups/{world.slug}/members").status_code == 200
        # And she cannot turn it off while she facilitates.
        post(mia, "/account/two-factor/disable")
        assert two_factor_row(app, member).is_active

    def test_an_operator_resets_a_locked_out_facilitators_two_factor_and_it_is_audited(self, app, world, runner):
        fac = world.persona("facilitator")
        enable_two_factor(app, fac)
        result = runner.invoke(args=["users", "reset-2fa", fac.email.upper()])
        assert result.exit_code == 0, result.output
        assert two_factor_row(app, fac) is None
        with app.app_context():
            assert db.session.scalar(select(UserSession.id).where(UserSession.user_id == fac.id)) is None
            entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == AuditAction.TWO_FACTOR_RESET))
            assert entry.subject_id == fac.id and entry.actor_id is None
        # Signing in again sends them straight to setting up a new authenticator.
        browser = app.test_client()
        assert login(browser, fac).status_code == 302
        assert browser.get(f"/groups/{world.slug}/members").location == "/account/two-factor"
        assert runner.invoke(args=["users", "reset-2fa", "nobody@example.org"]).exit_code != 0


# --- nobody promotes themselves into shared check-ins ----------------------------------------------------------


def test_an_admin_cannot_join_promote_themselves_and_read_shared_check_ins(app, world):
    share(app, world.membership_id, CheckinSharing.NOTES)
    admin = world.persona("admin")
    client = app.test_client()
    login(client, admin)
    post(client, f"/groups/{world.slug}/join", {"token": world.invite_token})
    with app.app_context():
        mine = db.session.scalar(select(Membership).where(Membership.user_id == admin.id,
                                                          Membership.group_id == world.group_id))
        mine_id = mine.id
    refused = promote(client, world, mine_id)
    assert refused.status_code == 303
    assert "make yourself a facilitator" in client.get(refused.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Membership, mine_id).role == MemberRole.MEMBER
    assert client.get(f"/groups/{world.slug}/support").status_code == 403
    with app.app_context():
        assert db.session.scalars(select(Notification).where(
            Notification.kind == NotificationKind.SHARING_AUDIENCE)).all() == []


def test_nobody_approves_their_own_request(app, world):
    admin = world.persona("admin")
    with app.app_context():
        group = groups.create_group(world.persona("facilitator").user(), name="Open Door", kind="meetup",
                                    timezone="UTC", now=clock.now_utc(), visibility=Visibility.PUBLIC,
                                    join_policy=JoinPolicy.APPROVAL)
        db.session.commit()
        slug = group.slug
    client = app.test_client()
    login(client, admin)
    post(client, f"/groups/{slug}/join")
    with app.app_context():
        mine_id = db.session.scalar(select(Membership.id).where(Membership.user_id == admin.id,
                                                                Membership.group_id != world.group_id))
    refused = post(client, f"/groups/{slug}/members/{mine_id}/approve")
    assert refused.status_code == 303
    with app.app_context():
        assert db.session.get(Membership, mine_id).status.value == "pending"


def test_members_who_share_are_told_who_can_now_see_it_and_can_stop_in_one_click(app, world, mailbox):
    share(app, world.peer_membership_id, CheckinSharing.NOTES)  # the peer shares; the member does not
    fac = world.persona("facilitator")
    client = app.test_client()
    login(client, fac)
    assert promote(client, world, world.membership_id).status_code == 302
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(
            Notification.kind == NotificationKind.SHARING_AUDIENCE)).all()
        assert {(n.user_id, n.channel.value) for n in rows} == {(world.peer.id, "email"), (world.peer.id, "in_app")}
        notif_dispatch.tick()
    (email,) = mailbox.to(world.peer.email)
    assert email["Subject"] == "Who can see what you share"
    text = mailbox.text(email)
    assert "Mia M. is now a facilitator" in text and "Quiet Harbour" not in text, "neutral: no group name"
    stop = mailbox.link(email, "/notifications/stop-sharing/")

    peer = app.test_client()
    login(peer, world.peer)
    inbox = peer.get("/notifications").get_data(as_text=True)
    assert "Mia M. is now a facilitator of Quiet Harbour Circle" in inbox
    sharing_page = peer.get("/me/sharing").get_data(as_text=True)
    assert "Fay F., Mia M. (its facilitators)" in sharing_page

    # One click (a confirmation page, then a POST) and nothing is shared any more, signed in or not.
    anonymous = app.test_client()
    assert anonymous.get(stop).status_code == 200
    assert post(anonymous, stop).status_code == 200
    with app.app_context():
        membership = db.session.get(Membership, world.peer_membership_id)
        assert checkins_sharing.sharing_of(membership, clock.now_utc()) == checkins_sharing.GroupSharing(
            CheckinSharing.NONE, False)
        assert consent.standing_for(membership.user_id, clock.now_utc()) == []
    assert anonymous.get(stop[:-3] + "xyz").status_code == 400


def test_the_stop_sharing_link_is_redacted_from_logs():
    from supportnet.logs import redact

    assert redact("GET /notifications/stop-sharing/abc.def HTTP/1.1") == \
        "GET /notifications/stop-sharing/[redacted] HTTP/1.1"
    assert redact("GET /account/not-me/abc HTTP/1.1") == "GET /account/not-me/[redacted] HTTP/1.1"

