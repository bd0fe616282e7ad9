"""Who may do what on the group and meeting pages: every route, for each persona."""


from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from supportnet.extensions import db
from supportnet.models import (
    MeetingSeries,
    MemberRole,
    MemberStatus,
)
from tests.conftest import login, post
from tests.pages import redirects_to_login, text
from tests.worlds.group_pages import (
    FRIDAY,
    GROUPS,
    PERSONAS,
    GroupRefs,
    World,
    build_world,
    group_form,
    membership_of,
    series_form,
)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    return build_world(app, member, outsider, facilitator, other_facilitator, admin)


# --- 1. who may do what: every route of groups and meetings, for each persona ---


@dataclass(frozen=True)
class Route:
    """How to call one route for a group, and what each persona gets for the public and the private group."""

    url: Callable[[World, GroupRefs, str], str]
    public: tuple[int, ...]
    private: tuple[int, ...]
    data: Callable[[World, GroupRefs, str], dict] = lambda w, g, which: {}

    def expected(self, which: str, persona: str) -> int:
        return getattr(self, which)[PERSONAS.index(persona)]


#                   anonymous outsider member other_fac facilitator admin
EVERYONE = (200, 200, 200, 200, 200, 200)
SEE_PRIVATE = (404, 404, 200, 404, 200, 200)
MANAGE_PUBLIC = (302, 403, 403, 403, 200, 200)
MANAGE_PRIVATE = (302, 404, 403, 404, 200, 200)
CHANGE_PUBLIC = (302, 403, 403, 403, 302, 302)
CHANGE_PRIVATE = (302, 404, 403, 404, 302, 302)
FACILITATORS_ONLY = (302, 403, 403, 200, 200, 200)


def _group_url(suffix: str = ""):
    return lambda w, g, which: f"/groups/{g.slug}{suffix}"


def _series_url(suffix: str):
    return lambda w, g, which: f"/groups/{g.slug}/meetings/{g.series_id}{suffix}"


def _occurrence_url(suffix: str = ""):
    return lambda w, g, which: f"/meetings/{g.occurrence_id}{suffix}"


def _new_group_data(w, g, which) -> dict:
    if which == "public":
        return group_form(name="A brand new circle")
    return group_form(name="A brand new quiet circle", visibility="private", join_policy="invite")


def _same_group_data(w, g, which) -> dict:
    if which == "public":
        return group_form(name="Thursday Integration Circle")
    return group_form(name="Quiet Harbour Circle", visibility="private", join_policy="invite")


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/groups"): Route(lambda w, g, which: "/groups", EVERYONE, EVERYONE),
    ("GET", "/groups/new"): Route(lambda w, g, which: "/groups/new", FACILITATORS_ONLY, FACILITATORS_ONLY),
    ("POST", "/groups/new"): Route(
        lambda w, g, which: "/groups/new", (302, 403, 403, 302, 302, 302), (302, 403, 403, 302, 302, 302),
        _new_group_data,
    ),
    ("GET", "/groups/<slug>"): Route(_group_url(), EVERYONE, SEE_PRIVATE),
    ("GET", "/groups/<slug>/edit"): Route(_group_url("/edit"), MANAGE_PUBLIC, MANAGE_PRIVATE),
    ("POST", "/groups/<slug>/edit"): Route(_group_url("/edit"), CHANGE_PUBLIC, CHANGE_PRIVATE, _same_group_data),
    ("POST", "/groups/<slug>/archive"): Route(_group_url("/archive"), CHANGE_PUBLIC, CHANGE_PRIVATE),
    # Making an invite link shows the members page with the new link on it.
    ("POST", "/groups/<slug>/invite"): Route(_group_url("/invite"), MANAGE_PUBLIC, MANAGE_PRIVATE),
    # Joining without an invite: the open group lets anyone in (members stay members); the private group is
    # invisible to outsiders, and an admin, who sees it, is told that it needs an invite (303 with a message).
    ("POST", "/groups/<slug>/join"): Route(
        _group_url("/join"), (302, 302, 302, 302, 302, 302), (302, 404, 302, 404, 302, 303)
    ),
    # The group's only facilitator cannot leave (303 with a message); others leave or were never in.
    ("POST", "/groups/<slug>/leave"): Route(
        _group_url("/leave"), (302, 302, 302, 302, 303, 302), (302, 404, 302, 404, 303, 302)
    ),
    ("GET", "/groups/<slug>/members"): Route(_group_url("/members"), MANAGE_PUBLIC, MANAGE_PRIVATE),
    ("POST", "/groups/<slug>/members/<int:membership_id>/<any(approve, decline, remove):action>"): Route(
        lambda w, g, which: f"/groups/{g.slug}/members/{g.member_membership_id}/approve",
        CHANGE_PUBLIC, CHANGE_PRIVATE,
    ),
    ("POST", "/groups/<slug>/members/<int:membership_id>/role"): Route(
        lambda w, g, which: f"/groups/{g.slug}/members/{g.member_membership_id}/role",
        CHANGE_PUBLIC, CHANGE_PRIVATE, lambda w, g, which: {"role": "member"},
    ),
    ("GET", "/groups/<slug>/meetings/new"): Route(_group_url("/meetings/new"), MANAGE_PUBLIC, MANAGE_PRIVATE),
    ("POST", "/groups/<slug>/meetings/new"): Route(
        _group_url("/meetings/new"), CHANGE_PUBLIC, CHANGE_PRIVATE,
        lambda w, g, which: series_form(title="Friday check-in", first_date="2026-12-04", weekdays=[str(FRIDAY)]),
    ),
    ("GET", "/groups/<slug>/meetings/<int:series_id>/edit"): Route(
        _series_url("/edit"), MANAGE_PUBLIC, MANAGE_PRIVATE
    ),
    ("POST", "/groups/<slug>/meetings/<int:series_id>/edit"): Route(
        _series_url("/edit"), CHANGE_PUBLIC, CHANGE_PRIVATE, lambda w, g, which: series_form()
    ),
    ("POST", "/groups/<slug>/meetings/<int:series_id>/end"): Route(_series_url("/end"), CHANGE_PUBLIC, CHANGE_PRIVATE),
    # Anyone holding a valid invite link sees the group's invite page, signed in or not.
    ("GET", "/invite/<token>"): Route(lambda w, g, which: f"/invite/{g.invite_token}", EVERYONE, EVERYONE),
    ("GET", "/meetings/<int:occurrence_id>"): Route(_occurrence_url(), EVERYONE, SEE_PRIVATE),
    ("POST", "/meetings/<int:occurrence_id>/cancel"): Route(
        _occurrence_url("/cancel"), CHANGE_PUBLIC, CHANGE_PRIVATE, lambda w, g, which: {"note": "Holiday"}
    ),
    ("GET", "/meetings/<int:occurrence_id>/move"): Route(_occurrence_url("/move"), MANAGE_PUBLIC, MANAGE_PRIVATE),
    ("POST", "/meetings/<int:occurrence_id>/move"): Route(
        _occurrence_url("/move"), CHANGE_PUBLIC, CHANGE_PRIVATE,
        lambda w, g, which: {"date": "2026-12-02", "start_time": "19:00", "duration_minutes": "90"},
    ),
    ("POST", "/meetings/<int:occurrence_id>/restore"): Route(
        _occurrence_url("/restore"), CHANGE_PUBLIC, CHANGE_PRIVATE
    ),
}


def test_the_permission_table_covers_every_route_of_groups_and_meetings(app):
    rules = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in ("groups", "meetings")
        for method in rule.methods & {"GET", "POST"}
    }
    assert rules == set(ROUTES), (
        f"missing from the table: {sorted(rules - set(ROUTES))}; no such route: {sorted(set(ROUTES) - rules)}"
    )
    other_methods = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in ("groups", "meetings")
        for method in rule.methods - {"GET", "POST", "HEAD", "OPTIONS"}
    }
    assert not other_methods, other_methods


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("method", "rule"), list(ROUTES))
def test_each_persona_gets_the_expected_answer_from_each_route(app, client, world, method, rule, persona):
    # Fresh fixtures for every route and persona: what one successful POST changes can't affect another.
    route = ROUTES[(method, rule)]
    if world.personas[persona] is not None:
        login(client, world.personas[persona])
    wrong = []
    for which in GROUPS:
        refs = world.group(which)
        url = route.url(world, refs, which)
        response = client.get(url) if method == "GET" else post(client, url, route.data(world, refs, which))
        expected = route.expected(which, persona)
        if response.status_code != expected:
            wrong.append((which, url, f"expected {expected}, got {response.status_code}", text(response)[-300:]))
        elif persona == "anonymous" and expected == 302 and not redirects_to_login(response):
            wrong.append((which, url, "anonymous redirect goes elsewhere", response.headers["Location"]))
        elif persona != "anonymous" and expected == 302 and response.headers["Location"].startswith("/login"):
            wrong.append((which, url, "signed-in persona sent to /login", response.headers["Location"]))
    assert not wrong, wrong


def test_a_facilitator_cannot_reach_another_groups_members_or_series_through_their_own_group(
    app, client, world, other_facilitator
):
    login(client, other_facilitator)
    mine = world.other_group_slug
    for which in GROUPS:
        refs = world.group(which)
        assert client.get(f"/groups/{mine}/meetings/{refs.series_id}/edit").status_code == 404
        assert post(client, f"/groups/{mine}/meetings/{refs.series_id}/end").status_code == 404
        assert post(client, f"/groups/{mine}/members/{refs.member_membership_id}/remove").status_code == 404
        assert post(client, f"/groups/{mine}/members/{refs.member_membership_id}/role",
                    {"role": "facilitator"}).status_code == 404
    with app.app_context():
        assert membership_of(world.public.slug, world.personas["member"]).status == MemberStatus.ACTIVE
        assert membership_of(world.public.slug, world.personas["member"]).role == MemberRole.MEMBER
        assert db.session.get(MeetingSeries, world.public.series_id).ended_at is None


def test_unknown_groups_meetings_and_invites_answer_404(client, world, facilitator):
    login(client, facilitator)
    assert client.get("/groups/no-such-group").status_code == 404
    assert client.get("/groups/no-such-group/edit").status_code == 404
    assert client.get("/meetings/999999").status_code == 404
    assert client.get(f"/groups/{world.public.slug}/meetings/999999/edit").status_code == 404
    assert post(client, f"/groups/{world.public.slug}/members/999999/approve").status_code == 404
    assert client.get("/invite/not-a-real-token").status_code == 404
