"""Joining, approval, invites, leaving, removal, roles and archiving through the web."""


from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from supportnet import clock, memberships, timetable
from supportnet.extensions import db
from supportnet.models import (
    Group,
    JoinPolicy,
    MemberRole,
    MemberStatus,
)
from tests.conftest import PINNED_NOW, login, post
from tests.pages import browser, flashes, html, text
from tests.worlds.group_pages import (
    World,
    build_world,
    membership_of,
    nothing_changes,
    start_group,
)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    return build_world(app, member, outsider, facilitator, other_facilitator, admin)


def test_an_open_group_takes_a_member_at_once(app, client, world, outsider):
    login(client, outsider)
    joined = post(client, f"/groups/{world.public.slug}/join", follow_redirects=True)
    assert "Welcome to Thursday Integration Circle." in flashes(joined)
    assert "You are a member of this group." in text(joined)
    with app.app_context():
        assert membership_of(world.public.slug, outsider).status == MemberStatus.ACTIVE


def test_an_approval_group_asks_and_a_facilitator_approves_on_the_members_page(app, client, facilitator, outsider):
    with app.app_context():
        slug = start_group(facilitator, "Approval Circle", join_policy=JoinPolicy.APPROVAL).slug
        db.session.commit()
    asker = browser(app, outsider)
    asked = post(asker, f"/groups/{slug}/join", follow_redirects=True)
    assert "Your request is sent." in flashes(asked)
    assert "Your request to join is waiting for a facilitator." in text(asked)
    with app.app_context():
        membership = membership_of(slug, outsider)
        assert membership.status == MemberStatus.PENDING
        membership_id = membership.id
    # A pending request is not membership: no members-only details, no managing.
    assert asker.get(f"/groups/{slug}/members").status_code == 403

    login(client, facilitator)
    assert "(1 waiting)" in text(client.get(f"/groups/{slug}"))
    members_page = client.get(f"/groups/{slug}/members")
    assert "Waiting to join" in text(members_page)
    assert f"/groups/{slug}/members/{membership_id}/approve" in html(members_page)
    approved = post(client, f"/groups/{slug}/members/{membership_id}/approve", follow_redirects=True)
    assert "Otto O. is now a member." in flashes(approved)
    with app.app_context():
        assert membership_of(slug, outsider).status == MemberStatus.ACTIVE
    assert "You are a member of this group." in text(asker.get(f"/groups/{slug}"))


def test_a_facilitator_declines_a_request(app, client, facilitator, outsider):
    with app.app_context():
        group = start_group(facilitator, "Approval Circle", join_policy=JoinPolicy.APPROVAL)
        membership_id = memberships.join(group, outsider.user(), clock.now_utc()).id
        db.session.commit()
        slug = group.slug
    login(client, facilitator)
    declined = post(client, f"/groups/{slug}/members/{membership_id}/decline", follow_redirects=True)
    assert "Otto O. was declined." in flashes(declined)
    with app.app_context():
        assert membership_of(slug, outsider).status == MemberStatus.DECLINED


INVITE_LINK = re.compile(r'value="http://supportnet\.test(/invite/[^"]+)"')


def make_invite_link(client: FlaskClient, slug: str) -> str:
    page = post(client, f"/groups/{slug}/invite")
    assert page.status_code == 200
    links = INVITE_LINK.findall(html(page))
    assert len(links) == 1, links
    assert html(page).count(links[0]) == 1
    return links[0]


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_an_invite_group_is_joined_only_through_a_fresh_invite_link(app, client, facilitator, outsider, visibility):
    with app.app_context():
        slug = start_group(facilitator, "Invite Circle", visibility=visibility, join_policy=JoinPolicy.INVITE).slug
        db.session.commit()
    joiner = browser(app, outsider)
    # Without a link: the public group says how to join, the private one does not exist for outsiders.
    if visibility == "public":
        assert "New members join through an invite link" in text(joiner.get(f"/groups/{slug}"))
        refused = post(joiner, f"/groups/{slug}/join", follow_redirects=True)
        assert "This invite link is invalid or has expired." in flashes(refused)
    else:
        assert joiner.get(f"/groups/{slug}").status_code == 404
        assert post(joiner, f"/groups/{slug}/join").status_code == 404
    with app.app_context():
        assert membership_of(slug, outsider) is None

    login(client, facilitator)
    old_link = make_invite_link(client, slug)
    # The link is shown when it is made, and never again.
    assert "/invite/" not in html(client.get(f"/groups/{slug}/members"))
    new_link = make_invite_link(client, slug)
    assert new_link != old_link
    assert joiner.get(old_link).status_code == 404
    old_token = old_link.rsplit("/", 1)[-1]
    stale = post(joiner, f"/groups/{slug}/join", {"token": old_token}, follow_redirects=True)
    if visibility == "private":
        assert stale.status_code == 404
    else:
        assert "This invite link is invalid or has expired." in flashes(stale)
    with app.app_context():
        assert membership_of(slug, outsider) is None

    invite_page = joiner.get(new_link)
    assert invite_page.status_code == 200
    assert "Join Invite Circle" in text(invite_page)
    token = new_link.rsplit("/", 1)[-1]
    assert f'value="{token}"' in html(invite_page)
    joined = post(joiner, f"/groups/{slug}/join", {"token": token}, follow_redirects=True)
    assert "Welcome to Invite Circle." in flashes(joined)
    with app.app_context():
        assert membership_of(slug, outsider).status == MemberStatus.ACTIVE


def test_an_invite_link_asks_a_signed_out_visitor_to_sign_in_first(app, client, world):
    page = client.get(f"/invite/{world.private.invite_token}")
    assert page.status_code == 200
    assert "Sign in or create an account first" in text(page)
    assert f'action="/groups/{world.private.slug}/join"' not in html(page)


def test_a_member_leaves_a_group(app, client, world, member):
    login(client, member)
    left = post(client, f"/groups/{world.public.slug}/leave", follow_redirects=True)
    assert "You left Thursday Integration Circle." in flashes(left)
    assert "Join this group" in text(left)
    # Leaving a private group: its page is gone for them, so they land on the directory.
    left = post(client, f"/groups/{world.private.slug}/leave")
    assert left.headers["Location"] == "/groups"
    assert client.get(f"/groups/{world.private.slug}").status_code == 404
    with app.app_context():
        assert membership_of(world.public.slug, member).status == MemberStatus.LEFT
        assert membership_of(world.private.slug, member).status == MemberStatus.LEFT


def test_a_facilitator_removes_a_member_who_cannot_rejoin_on_their_own(app, client, world, facilitator, member):
    login(client, facilitator)
    removed = post(
        client, f"/groups/{world.public.slug}/members/{world.public.member_membership_id}/remove",
        follow_redirects=True,
    )
    assert "Mia M. was removed." in flashes(removed)
    assert "Mia M." not in text(removed).split("was removed.", 1)[1]
    gone = browser(app, member)
    assert "A facilitator removed you from this group." in text(gone.get(f"/groups/{world.public.slug}"))
    rejoin = post(gone, f"/groups/{world.public.slug}/join", follow_redirects=True)
    assert "A facilitator removed you from this group." in flashes(rejoin)
    with app.app_context():
        assert membership_of(world.public.slug, member).status == MemberStatus.REMOVED


def test_a_member_is_made_co_facilitator_and_back(app, client, world, facilitator, member):
    login(client, facilitator)
    role_url = f"/groups/{world.public.slug}/members/{world.public.member_membership_id}/role"
    promoted = post(client, role_url, {"role": "facilitator"}, follow_redirects=True)
    assert "Mia M. is now a facilitator." in flashes(promoted)
    co = browser(app, member)
    assert co.get(f"/groups/{world.public.slug}/members").status_code == 200
    assert "Facilitator tools" in text(co.get(f"/groups/{world.public.slug}"))
    demoted = post(client, role_url, {"role": "member"}, follow_redirects=True)
    assert "Mia M. is now a member." in flashes(demoted)
    assert co.get(f"/groups/{world.public.slug}/members").status_code == 403
    assert "Facilitator tools" not in text(co.get(f"/groups/{world.public.slug}"))


def test_the_last_facilitator_can_neither_leave_nor_step_down_nor_remove_themselves(app, client, world, facilitator):
    with app.app_context():
        own_id = membership_of(world.public.slug, facilitator).id
    login(client, facilitator)
    base = f"/groups/{world.public.slug}"
    attempts = [
        (f"{base}/leave", {}, "You are the group's last facilitator. Make someone else a facilitator before"),
        (f"{base}/members/{own_id}/role", {"role": "member"}, "A group always keeps at least one facilitator."),
        (f"{base}/members/{own_id}/remove", {}, "A group always keeps at least one facilitator."),
    ]
    for url, data, message in attempts:
        refused = post(client, url, data)
        assert refused.status_code == 303, url
        page = client.get(refused.headers["Location"])
        assert message in flashes(page).replace("&#39;", "'"), url
        with app.app_context():
            own = membership_of(world.public.slug, facilitator)
            assert (own.status, own.role) == (MemberStatus.ACTIVE, MemberRole.FACILITATOR)
    assert client.get(f"{base}/members").status_code == 200


def test_with_a_co_facilitator_the_first_facilitator_may_leave(app, client, world, facilitator, member):
    login(client, facilitator)
    post(client, f"/groups/{world.public.slug}/members/{world.public.member_membership_id}/role",
         {"role": "facilitator"})
    left = post(client, f"/groups/{world.public.slug}/leave", follow_redirects=True)
    assert "You left Thursday Integration Circle." in flashes(left)
    with app.app_context():
        assert membership_of(world.public.slug, facilitator).status == MemberStatus.LEFT
        assert membership_of(world.public.slug, member).is_facilitator


def test_an_archived_group_leaves_the_directory_and_stays_for_its_members(app, client, world, facilitator, member):
    assert "Thursday Integration Circle" in html(client.get("/groups"))
    login(client, facilitator)
    archived = post(client, f"/groups/{world.public.slug}/archive", follow_redirects=True)
    assert "The group is archived" in flashes(archived)
    assert "Thursday Integration Circle" not in html(client.get("/groups"))
    assert "Thursday Integration Circle" not in html(browser(app).get("/groups"))
    assert "Thursday Integration Circle" not in html(browser(app).get("/groups?q=thursday"))
    page = browser(app, member).get(f"/groups/{world.public.slug}")
    assert page.status_code == 200
    assert "This group is archived. Its history is kept." in text(page)
    assert "Leave the group" not in text(page)
    assert browser(app).get(f"/groups/{world.public.slug}").status_code == 404
    with app.app_context():
        group = db.session.get(Group, world.public.id)
        assert group.archived_at == PINNED_NOW
        assert timetable.active_series(group) == []
    # An archived group takes no new members: no invite link is offered, and asking for one says why.
    members_page = client.get(f"/groups/{world.public.slug}/members")
    assert "Make a new invite link" not in html(members_page)
    with nothing_changes(app):
        refused = post(client, f"/groups/{world.public.slug}/invite")
        assert refused.status_code == 303
        assert "This group is archived." in flashes(client.get(refused.headers["Location"]))
