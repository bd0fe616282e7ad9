"""Privacy on the group pages: member lists, contact notes, indexing, online links."""


from __future__ import annotations

from datetime import date

import pytest

from supportnet import clock, memberships, scheduling
from supportnet.extensions import db
from supportnet.models import (
    JoinPolicy,
    OnlineVisibility,
)
from tests.builders import weekly
from tests.conftest import login, make_persona
from tests.pages import browser, html, text
from tests.worlds.group_pages import (
    WEDNESDAY,
    World,
    add_member,
    build_world,
    membership_of,
    occurrences_of,
    start_group,
)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    return build_world(app, member, outsider, facilitator, other_facilitator, admin)


# --- 2. privacy on pages ---


@pytest.fixture
def circle(app, facilitator, member) -> dict:
    """A public open group with a contact note, its facilitator, two members and a weekly meeting."""
    nora = make_persona(app, "Nora N.")
    with app.app_context():
        group = start_group(facilitator, "Thursday Integration Circle", contact_note="Door code 4512, ring twice.")
        add_member(group, member)
        add_member(group, nora)
        series = scheduling.create_series(group, weekly(), clock.now_utc())
        db.session.commit()
        return {"slug": group.slug, "nora": nora, "occurrence_id": occurrences_of(series.id)[0].id}


def test_a_member_sees_how_many_members_there_are_but_not_who_they_are(client, circle, member, facilitator):
    login(client, member)
    page = client.get(f"/groups/{circle['slug']}")
    assert page.status_code == 200
    assert "a few members" in text(page)
    for name in (facilitator.display_name, circle["nora"].display_name):
        assert name not in html(page)
    assert "@example.org" not in html(page)
    meeting = client.get(f"/meetings/{circle['occurrence_id']}")
    for name in (facilitator.display_name, circle["nora"].display_name):
        assert name not in html(meeting)
    # The members list is the facilitators' page, not the members'.
    assert client.get(f"/groups/{circle['slug']}/members").status_code == 403


@pytest.mark.parametrize("who", ["facilitator", "admin"])
def test_the_members_page_shows_display_names_and_join_dates_but_never_an_email(
    client, circle, member, facilitator, admin, who
):
    login(client, {"facilitator": facilitator, "admin": admin}[who])
    page = client.get(f"/groups/{circle['slug']}/members")
    assert page.status_code == 200
    for name in (facilitator.display_name, member.display_name, circle["nora"].display_name):
        assert name in html(page)
    assert "26 Nov 2026" in text(page)  # when they joined, in the viewer's timezone
    assert "@example.org" not in html(page)
    assert "@" not in text(page)


def test_a_pending_request_shows_the_name_to_facilitators_but_never_the_email(app, client, facilitator, outsider):
    with app.app_context():
        group = start_group(facilitator, "Approval Circle", join_policy=JoinPolicy.APPROVAL)
        memberships.join(group, outsider.user(), clock.now_utc())
        db.session.commit()
        slug = group.slug
    login(client, facilitator)
    page = client.get(f"/groups/{slug}/members")
    assert outsider.display_name in html(page)
    assert "@example.org" not in html(page)


@pytest.mark.parametrize("viewer", ["anonymous", "outsider", "member"])
def test_the_directory_and_the_group_page_name_no_members(client, circle, facilitator, member, outsider, viewer):
    if viewer != "anonymous":
        login(client, {"outsider": outsider, "member": member}[viewer])
    names = (facilitator.display_name, member.display_name, circle["nora"].display_name)
    for url in ("/groups", f"/groups/{circle['slug']}", f"/meetings/{circle['occurrence_id']}"):
        page = client.get(url)
        assert page.status_code == 200
        assert "Thursday Integration Circle" in html(page)
        for name in names:
            assert name not in html(page), (url, name)
        assert "@example.org" not in html(page)


def test_the_contact_note_is_shown_to_members_only(app, circle, facilitator, member, outsider, admin):
    note = "Door code 4512"
    for persona, sees in ((None, False), (outsider, False), (admin, False), (member, True), (facilitator, True)):
        client = browser(app, persona)
        assert (note in html(client.get(f"/groups/{circle['slug']}"))) is sees, persona
        assert note not in html(client.get("/groups"))
        assert note not in html(client.get(f"/meetings/{circle['occurrence_id']}"))
    # Someone who left is no longer a member.
    with app.app_context():
        memberships.leave(membership_of(circle["slug"], member), clock.now_utc())
        db.session.commit()
    assert note not in html(browser(app, member).get(f"/groups/{circle['slug']}"))


def test_pages_of_private_groups_and_member_lists_are_not_indexed(app, world, member, facilitator):
    noindex = '<meta name="robots" content="noindex">'
    reader = browser(app, member)
    assert noindex in html(reader.get(f"/groups/{world.private.slug}"))
    assert noindex in html(reader.get(f"/meetings/{world.private.occurrence_id}"))
    assert noindex in html(browser(app).get(f"/invite/{world.private.invite_token}"))
    assert noindex in html(browser(app, facilitator).get(f"/groups/{world.public.slug}/members"))
    assert '<meta name="robots" content="index, follow">' in html(browser(app).get(f"/groups/{world.public.slug}"))


@pytest.fixture
def online_meetings(app, facilitator, member) -> dict:
    """Three hybrid meetings of one public group, one for each online_visibility choice."""
    with app.app_context():
        group = start_group(facilitator, "Online Circle")
        add_member(group, member)
        ids = {}
        for n, visibility in enumerate(OnlineVisibility):
            spec = weekly(
                WEDNESDAY + n, first_date=date(2026, 12, 2 + n), title=f"Call for {visibility.value}",
                online_url=f"https://meet.example.net/{visibility.value}-room", online_phone=f"+44 20 7946 00{n}0",
                online_visibility=visibility,
            )
            ids[visibility] = occurrences_of(scheduling.create_series(group, spec, clock.now_utc()).id)[0].id
        db.session.commit()
        return {"slug": group.slug, "occurrences": ids}


#                      anonymous outsider member facilitator admin
ONLINE_LINK_SEEN_BY = {
    OnlineVisibility.EVERYONE: (True, True, True, True, True),
    OnlineVisibility.MEMBERS: (False, False, True, True, True),
    # Until RSVPs exist nobody has said they are coming: only the group's managers see it.
    OnlineVisibility.RSVP: (False, False, False, True, True),
}


def test_the_online_link_is_shown_to_whom_the_facilitator_chose(
    app, online_meetings, facilitator, member, outsider, admin
):
    viewers = (None, outsider, member, facilitator, admin)
    for visibility, seen_by in ONLINE_LINK_SEEN_BY.items():
        url = f"https://meet.example.net/{visibility.value}-room"
        for persona, sees in zip(viewers, seen_by, strict=True):
            client = browser(app, persona)
            page = client.get(f"/meetings/{online_meetings['occurrences'][visibility]}")
            assert page.status_code == 200
            shown = url in html(page)
            assert shown is sees, (visibility, persona and persona.display_name)
            phone = f"+44 20 7946 00{list(OnlineVisibility).index(visibility)}0"
            assert (phone in html(page)) is sees, (visibility, persona and persona.display_name)
            if not sees:
                assert "The link is shown to members" in text(page)
            # No other page gives the link away.
            for other in ("/groups", f"/groups/{online_meetings['slug']}"):
                assert url not in html(client.get(other))
