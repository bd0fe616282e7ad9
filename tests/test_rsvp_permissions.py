"""Who may do what with RSVPs: every route of the rsvp blueprint, for each persona, a public and a private group."""


from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest

from supportnet import clock
from tests.conftest import post
from tests.pages import browser, html, redirects_to_login, text
from tests.worlds.rsvp_pages import (
    DURING,
    FETCH,
    GROUPS,
    PERSONAS,
    Refs,
    World,
    assert_fragment,
    box_text,
    build_world,
    rsvp_box,
)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    """Two groups that began meeting on Tuesday 24 November, which the member attended; the member made a proof."""
    return build_world(app, member, outsider, facilitator, other_facilitator, admin)


# --- 1. who may do what: every route of the rsvp blueprint, for each persona, a public and a private group ---


@dataclass(frozen=True)
class Route:
    """How to call one route, and what each persona gets for the public and the private group."""

    url: Callable[[World, Refs], str]
    public: tuple[int, ...]
    private: tuple[int, ...]
    data: Callable[[World, Refs], dict] = lambda w, g: {}
    at: datetime | None = None  # the clock for this route (None: Thursday 26 November, noon)

    def expected(self, which: str, persona: str) -> int:
        return getattr(self, which)[PERSONAS.index(persona)]


#                 anonymous outsider member other_fac facilitator admin
EVERYONE_OK = (200, 200, 200, 200, 200, 200)
SIGNED_IN = (302, 200, 200, 200, 200, 200)
MANAGE_PUBLIC = (302, 403, 403, 403, 200, 200)
MANAGE_PRIVATE = (302, 404, 403, 404, 200, 200)
CHANGE_PUBLIC = (302, 403, 403, 403, 302, 302)
CHANGE_PRIVATE = (302, 404, 403, 404, 302, 302)
# A public open group takes anyone's RSVP (it makes them a member); a private group is invisible to outsiders,
# and an admin, who sees it but is not a member, is told that only members can RSVP (303 with the message).
ANSWER_PUBLIC = (302, 302, 302, 302, 302, 302)
ANSWER_PRIVATE = (302, 404, 302, 404, 302, 303)
WITHDRAW_PRIVATE = (302, 404, 302, 404, 302, 302)
ONLY_THE_MEMBERS_OWN = (302, 404, 200, 404, 404, 404)
ONLY_THE_MEMBERS_OWN_CHANGE = (302, 404, 302, 404, 404, 404)


def _occ(suffix: str = ""):
    return lambda w, g: f"/meetings/{g.occurrence_id}{suffix}"


def _series(suffix: str):
    return lambda w, g: f"/groups/{g.slug}/meetings/{g.series_id}{suffix}"


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/meetings/<int:occurrence_id>/rsvp"): Route(_occ("/rsvp"), ANSWER_PUBLIC, ANSWER_PRIVATE),
    # "Can't go" is an answer like "going": an admin who is no member gets the same 303 with the message.
    ("POST", "/meetings/<int:occurrence_id>/rsvp/cancel"): Route(
        _occ("/rsvp/cancel"), ANSWER_PUBLIC, ANSWER_PRIVATE
    ),
    ("POST", "/groups/<slug>/meetings/<int:series_id>/standing"): Route(
        _series("/standing"), ANSWER_PUBLIC, ANSWER_PRIVATE
    ),
    ("POST", "/groups/<slug>/meetings/<int:series_id>/standing/stop"): Route(
        _series("/standing/stop"), ANSWER_PUBLIC, WITHDRAW_PRIVATE
    ),
    ("GET", "/me/meetings"): Route(lambda w, g: "/me/meetings", SIGNED_IN, SIGNED_IN),
    ("GET", "/meetings/<int:occurrence_id>/roster"): Route(_occ("/roster"), MANAGE_PUBLIC, MANAGE_PRIVATE),
    # Facilitators mark the member present during the meeting.
    ("POST", "/meetings/<int:occurrence_id>/attendance/<int:user_id>/<any(mark, unmark):action>"): Route(
        lambda w, g: f"/meetings/{g.occurrence_id}/attendance/{w.member_id}/mark", CHANGE_PUBLIC, CHANGE_PRIVATE,
        at=DURING,
    ),
    ("POST", "/meetings/<int:occurrence_id>/code"): Route(_occ("/code"), CHANGE_PUBLIC, CHANGE_PRIVATE, at=DURING),
    # With the right code during the meeting: members (facilitators are members) check in; people who are neither
    # members nor RSVP'd are told so (303 with the message); outsiders don't see the private group at all.
    ("POST", "/meetings/<int:occurrence_id>/check-in"): Route(
        _occ("/check-in"), (302, 303, 302, 303, 302, 303), (302, 404, 302, 404, 302, 303),
        lambda w, g: {"code": g.code}, at=DURING,
    ),
    ("GET", "/me/attendance/proofs"): Route(lambda w, g: "/me/attendance/proofs", SIGNED_IN, SIGNED_IN),
    # Only the member attended the group's meetings: for anyone else the group is not a choice (400).
    ("POST", "/me/attendance/proofs"): Route(
        lambda w, g: "/me/attendance/proofs", (302, 400, 302, 400, 400, 400), (302, 400, 302, 400, 400, 400),
        lambda w, g: {"shown_name": "M. Example", "group": str(g.id), "neutral_label": "Weekly support group"},
    ),
    ("GET", "/me/attendance/proofs/<int:proof_id>"): Route(
        lambda w, g: f"/me/attendance/proofs/{g.proof_id}", ONLY_THE_MEMBERS_OWN, ONLY_THE_MEMBERS_OWN
    ),
    ("POST", "/me/attendance/proofs/<int:proof_id>/revoke"): Route(
        lambda w, g: f"/me/attendance/proofs/{g.proof_id}/revoke",
        ONLY_THE_MEMBERS_OWN_CHANGE, ONLY_THE_MEMBERS_OWN_CHANGE,
    ),
    # The verification link is for whoever the member gives it to.
    ("GET", "/proof/<token>"): Route(lambda w, g: f"/proof/{g.proof_token}", EVERYONE_OK, EVERYONE_OK),
}


def test_the_permission_table_covers_every_route_of_the_rsvp_blueprint(app):
    rules = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] == "rsvp"
        for method in rule.methods & {"GET", "POST"}
    }
    assert rules == set(ROUTES), (
        f"missing from the table: {sorted(rules - set(ROUTES))}; no such route: {sorted(set(ROUTES) - rules)}"
    )
    other_methods = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] == "rsvp"
        for method in rule.methods - {"GET", "POST", "HEAD", "OPTIONS"}
    }
    assert not other_methods, other_methods


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("method", "rule"), list(ROUTES))
def test_each_persona_gets_the_expected_answer_from_each_rsvp_route(app, world, method, rule, persona):
    # Fresh fixtures for every route and persona: what one successful POST changes can't affect another.
    route = ROUTES[(method, rule)]
    if route.at is not None:
        clock.set_frozen(route.at)
    client = browser(app, world.personas[persona])
    wrong = []
    for which in GROUPS:
        refs = world.group(which)
        url = route.url(world, refs)
        response = client.get(url) if method == "GET" else post(client, url, route.data(world, refs))
        expected = route.expected(which, persona)
        if response.status_code != expected:
            wrong.append((which, url, f"expected {expected}, got {response.status_code}", text(response)[-300:]))
        elif persona == "anonymous" and expected == 302 and not redirects_to_login(response):
            wrong.append((which, url, "anonymous redirect goes elsewhere", response.headers["Location"]))
        elif persona != "anonymous" and expected in (302, 303) and response.headers["Location"].startswith("/login"):
            wrong.append((which, url, "signed-in persona sent to /login", response.headers["Location"]))
    assert not wrong, wrong


# The in-place answer (what static/js/app.js asks for): the updated box with 200, or with 409 and the message.
FRAGMENT_ROUTES = {
    "going": Route(_occ("/rsvp"), (302, 200, 200, 200, 200, 200), (302, 404, 200, 404, 200, 409)),
    "cant_go": Route(_occ("/rsvp/cancel"), (302, 200, 200, 200, 200, 200), (302, 404, 200, 404, 200, 409)),
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", list(FRAGMENT_ROUTES))
def test_each_persona_gets_the_expected_fragment(app, world, action, persona):
    route = FRAGMENT_ROUTES[action]
    client = browser(app, world.personas[persona])
    for which in GROUPS:
        refs = world.group(which)
        response = post(client, route.url(world, refs), headers=FETCH)
        expected = route.expected(which, persona)
        assert response.status_code == expected, (which, text(response)[-300:])
        if expected == 302:
            assert redirects_to_login(response)
        elif expected in (200, 409):
            shown = assert_fragment(response, refs.occurrence_id, expected)
            if expected == 409:
                assert "Only members of this group can RSVP. Join the group first." in shown


#              anonymous  outsider   member     other_fac  facilitator admin
RSVP_BOX = {
    "public": ("sign in", "buttons", "buttons", "buttons", "buttons", "buttons"),
    # An admin sees a private group's pages, but only members answer there.
    "private": (None, None, "buttons", None, "buttons", "members only"),
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_rsvp_box_on_the_meeting_and_group_pages_for_each_persona(app, world, persona):
    client = browser(app, world.personas[persona])
    for which in GROUPS:
        refs = world.group(which)
        expected = RSVP_BOX[which][PERSONAS.index(persona)]
        for url in (f"/meetings/{refs.occurrence_id}", f"/groups/{refs.slug}"):
            response = client.get(url)
            if expected is None:
                assert response.status_code == 404, (which, url)
                continue
            assert response.status_code == 200, (which, url)
            box = rsvp_box(html(response), refs.occurrence_id)
            assert box, (which, url)
            shown = box_text(box)
            assert "0 going" in shown
            if expected == "sign in":
                assert "Sign in to say you're coming." in shown
                assert "<form" not in box
            elif expected == "members only":
                assert "Members of the group can say they're coming." in shown
                assert "<form" not in box
            else:
                assert f'action="/meetings/{refs.occurrence_id}/rsvp"' in box
                assert f'action="/meetings/{refs.occurrence_id}/rsvp/cancel"' in box
                assert re.search(r'name="csrf_token" value="[^"]+"', box)
                assert "Going" in shown and "Can't go" in shown
        # A meeting that took place has no buttons for anyone.
        if expected is not None:
            past = client.get(f"/meetings/{refs.past_occurrence_id}")
            assert past.status_code == 200
            box = rsvp_box(html(past), refs.past_occurrence_id)
            assert box and "<form" not in box and "Sign in" not in box
