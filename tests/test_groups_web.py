"""Groups and meetings through the web: who may do what, what each page shows, flows, bad input, the directory."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select, update
from werkzeug.datastructures import MultiDict

from supportnet import clock, groups, memberships, scheduling
from supportnet import visibility as visibility_rules
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    GroupTag,
    JoinPolicy,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    OccurrenceStatus,
    OnlineVisibility,
    SiteRole,
    Visibility,
)
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import PINNED_NOW, Persona, login, make_persona, post

LONDON = ZoneInfo("Europe/London")
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)


# --- building groups and meetings the way the domain tests do ---



def start_group(persona: Persona, name: str, **fields) -> Group:
    """A group started by the persona (call inside an app context)."""
    values = {"kind": GroupKind.AFTERCARE, "timezone": "Europe/London"}
    values.update(fields)
    return groups.create_group(persona.user(), name=name, now=clock.now_utc(), **values)


def add_member(group: Group, persona: Persona, role: MemberRole = MemberRole.MEMBER) -> Membership:
    """Make the persona an active member of the group, whatever its join policy (inside an app context)."""
    token = memberships.regenerate_invite(group, clock.now_utc())
    membership = memberships.join(group, persona.user(), clock.now_utc(), invite_token=token)
    if membership.status != MemberStatus.ACTIVE:
        memberships.approve(membership, clock.now_utc())
    if role != MemberRole.MEMBER:
        memberships.set_role(membership, role)
    return membership


def group_by_slug(slug: str) -> Group:
    return db.session.scalar(select(Group).where(Group.slug == slug))


def membership_of(slug: str, persona: Persona) -> Membership | None:
    return visibility_rules.membership_for(group_by_slug(slug), persona.user())


def occurrences_of(series_id: int) -> list[Occurrence]:
    return list(
        db.session.scalars(
            select(Occurrence).where(Occurrence.series_id == series_id).order_by(Occurrence.original_start)
        )
    )


def london(*args) -> datetime:
    """A London wall time as a UTC instant."""
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


# --- forms as a browser sends them ---


def group_form(**changes) -> dict:
    form = {
        "name": "Thursday Integration Circle",
        "slug": "",
        "description": "For graduates of the spring programme.",
        "kind": "aftercare",
        "other_tags": "",
        "visibility": "public",
        "join_policy": "open",
        "timezone": "Europe/London",
        "venue": "Community room",
        "address": "12 Canal Street",
        "contact_note": "",
    }
    form.update(changes)
    return form


def series_form(**changes) -> dict:
    """The series form for weekly() as a browser posts it."""
    form = {
        "title": "Integration circle",
        "description": "",
        "first_date": "2026-12-01",
        "start_time": "19:00",
        "duration_minutes": "90",
        "timezone": "Europe/London",
        "frequency": "weekly",
        "interval": "1",
        "weekdays": [str(TUESDAY)],
        "nth": "1",
        "weekday": "0",
        "month_day": "1",
        "ends": "never",
        "until": "",
        "count": "",
        "venue": "Community room",
        "address": "12 Canal Street",
        "location_notes": "",
        "online_url": "",
        "online_phone": "",
        "online_notes": "",
        "online_visibility": "members",
        "capacity": "",
    }
    form.update(changes)
    return form


def html(response) -> str:
    return response.get_data(as_text=True)


def text(response) -> str:
    """The page as text (tags removed, whitespace folded), for phrases that span markup."""
    return " ".join(re.sub(r"<[^>]+>", " ", html(response)).split())


def browser(app: Flask, persona: Persona | None = None) -> FlaskClient:
    """A new browser (its own cookies), signed in as the persona unless it is None."""
    client = app.test_client()
    if persona is not None:
        assert login(client, persona).status_code == 302
    return client


def redirects_to_login(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- a world: a public open group and a private invite group, each with a weekly series ---


@dataclass
class GroupRefs:
    slug: str
    id: int
    series_id: int
    occurrence_id: int
    invite_token: str
    member_membership_id: int


@dataclass
class World:
    public: GroupRefs
    private: GroupRefs
    personas: dict[str, Persona | None]
    other_group_slug: str

    def group(self, which: str) -> GroupRefs:
        return getattr(self, which)


PERSONAS = ("anonymous", "outsider", "member", "other_facilitator", "facilitator", "admin")
GROUPS = ("public", "private")


@pytest.fixture
def other_facilitator(app) -> Persona:
    return make_persona(app, "Fred G.", SiteRole.FACILITATOR)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    with app.app_context():
        refs = {}
        for which, visibility, policy, name in (
            ("public", Visibility.PUBLIC, JoinPolicy.OPEN, "Thursday Integration Circle"),
            ("private", Visibility.PRIVATE, JoinPolicy.INVITE, "Quiet Harbour Circle"),
        ):
            group = start_group(facilitator, name, visibility=visibility, join_policy=policy)
            series = scheduling.create_series(group, weekly(), clock.now_utc())
            membership = add_member(group, member)
            token = memberships.regenerate_invite(group, clock.now_utc())
            refs[which] = GroupRefs(
                slug=group.slug,
                id=group.id,
                series_id=series.id,
                occurrence_id=occurrences_of(series.id)[0].id,
                invite_token=token,
                member_membership_id=membership.id,
            )
        other = start_group(other_facilitator, "Saturday Walkers")
        db.session.commit()
        return World(
            public=refs["public"],
            private=refs["private"],
            personas={
                "anonymous": None,
                "outsider": outsider,
                "member": member,
                "other_facilitator": other_facilitator,
                "facilitator": facilitator,
                "admin": admin,
            },
            other_group_slug=other.slug,
        )


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


# --- 3. flows through the web ---


def occurrence_id_at(series_id: int, when: datetime) -> int:
    return db.session.scalars(
        select(Occurrence.id).where(Occurrence.series_id == series_id, Occurrence.original_start == when)
    ).one()


def flashes(response) -> str:
    found = re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html(response), re.S)
    return " ".join(" ".join(found).split())


def test_a_facilitator_starts_a_group_schedules_it_and_cancels_moves_and_restores_single_weeks(
    app, client, facilitator, member
):
    login(client, facilitator)
    assert client.get("/groups/new").status_code == 200
    created = post(client, "/groups/new", group_form(types=["W"], other_tags="O, Walking"))
    assert created.status_code == 302
    assert created.headers["Location"] == "/groups/thursday-integration-circle/meetings/new"
    assert client.get(created.headers["Location"]).status_code == 200
    scheduled = post(client, created.headers["Location"], series_form(), follow_redirects=True)
    assert scheduled.status_code == 200
    assert "The meeting is scheduled." in flashes(scheduled)
    assert "Tue 1 Dec 2026, 19:00\u201320:30" in text(scheduled)
    with app.app_context():
        group = group_by_slug("thursday-integration-circle")
        assert group.tag_codes == ["W", "O", "walking"]
        assert visibility_rules.membership_for(group, facilitator.user()).is_facilitator
        (series,) = scheduling.active_series(group)
        assert len(occurrences_of(series.id)) == 26
        second = occurrence_id_at(series.id, london(2026, 12, 8, 19, 0))
        third = occurrence_id_at(series.id, london(2026, 12, 15, 19, 0))

    cancelled = post(client, f"/meetings/{second}/cancel", {"note": "The hall is closed for repairs"})
    assert cancelled.status_code == 302
    moved = post(client, f"/meetings/{third}/move", {
        "date": "2026-12-16", "start_time": "18:30", "duration_minutes": "60", "note": "Wednesday this week",
    })
    assert moved.status_code == 302

    reader = browser(app, member)
    assert post(reader, "/groups/thursday-integration-circle/join").status_code == 302
    page = reader.get(f"/meetings/{second}")
    assert "Cancelled: The hall is closed for repairs" in text(page)
    group_page = text(reader.get("/groups/thursday-integration-circle"))
    assert "Cancelled The hall is closed for repairs" in group_page
    page = reader.get(f"/meetings/{third}")
    assert "Moved from Tue 15 Dec 2026, 19:00\u201320:30: Wednesday this week" in text(page)
    assert "Wed 16 Dec 2026, 18:30\u201319:30" in text(page)
    assert "Moved" in text(reader.get("/groups/thursday-integration-circle"))

    restored = post(client, f"/meetings/{third}/restore", follow_redirects=True)
    assert "The meeting is back on its usual time and place." in flashes(restored)
    page = reader.get(f"/meetings/{third}")
    assert "Moved from" not in text(page)
    assert "Tue 15 Dec 2026, 19:00\u201320:30" in text(page)
    with app.app_context():
        occ = db.session.get(Occurrence, third)
        assert (occ.status, occ.starts_at) == (OccurrenceStatus.SCHEDULED, london(2026, 12, 15, 19, 0))
        assert db.session.get(Occurrence, second).status == OccurrenceStatus.CANCELLED


def test_editing_a_series_after_some_meetings_happened_keeps_the_past_ones(app, client, world, facilitator):
    with app.app_context():
        before = {occ.id: (occ.starts_at, occ.status) for occ in occurrences_of(world.public.series_id)}
    # Two Tuesdays later: the meetings of 1 and 8 December have taken place.
    clock.set_frozen(datetime(2026, 12, 10, 12, 0, tzinfo=UTC))
    login(client, facilitator)
    edit_url = f"/groups/{world.public.slug}/meetings/{world.public.series_id}/edit"
    form_page = client.get(edit_url)
    assert 'value="2026-12-01"' in html(form_page)
    saved = post(client, edit_url, series_form(start_time="18:00"), follow_redirects=True)
    assert "Meetings that already happened stay as they were." in flashes(saved)
    with app.app_context():
        old = db.session.get(MeetingSeries, world.public.series_id)
        assert old.ended_at is not None
        past = [occ for occ in occurrences_of(old.id) if occ.starts_at < clock.now_utc()]
        assert [occ.starts_at for occ in past] == [london(2026, 12, 1, 19, 0), london(2026, 12, 8, 19, 0)]
        assert all(
            (occ.starts_at, occ.status) == before[occ.id] and not occ.superseded for occ in past
        )
        (successor,) = scheduling.active_series(db.session.get(Group, world.public.id))
        assert successor.previous_id == old.id
        assert occurrences_of(successor.id)[0].starts_at == london(2026, 12, 15, 18, 0)
    assert "Tue 15 Dec 2026, 18:00\u201319:30" in text(client.get(f"/groups/{world.public.slug}"))
    # The past meeting's own page still says when it took place.
    assert "Tue 1 Dec 2026, 19:00\u201320:30" in text(client.get(f"/meetings/{world.public.occurrence_id}"))


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
        assert scheduling.active_series(group) == []
    # An archived group takes no new members: no invite link is offered, and asking for one says why.
    members_page = client.get(f"/groups/{world.public.slug}/members")
    assert "Make a new invite link" not in html(members_page)
    with nothing_changes(app):
        refused = post(client, f"/groups/{world.public.slug}/invite")
        assert refused.status_code == 303
        assert "This group is archived." in flashes(client.get(refused.headers["Location"]))


# --- 4. bad input: a clear message, a 4xx, and nothing changes ---


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    """Every row of the group and meeting tables."""
    with app.app_context():
        return {
            model.__tablename__: [tuple(row) for row in db.session.execute(select(model.__table__)).all()]
            for model in (Group, GroupTag, Membership, MeetingSeries, Occurrence)
        }


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Group, GroupTag, Membership, MeetingSeries, Occurrence)
        }


@contextmanager
def nothing_changes(app: Flask) -> Iterator[None]:
    counts, rows = row_counts(app), snapshot(app)
    yield
    assert row_counts(app) == counts
    assert snapshot(app) == rows


def field_error(response, field: str) -> str:
    """The error text shown under a form field ('' when none)."""
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html(response), re.S)
    return " ".join(match.group(1).split()) if match else ""


def top_errors(response) -> str:
    match = re.search(r'<div class="form-errors" role="alert">(.*?)</div>', html(response), re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()) if match else ""


BAD_SERIES = {
    "unknown timezone": ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Choose a timezone from the list."),
    "zero duration": ({"duration_minutes": "0"}, "duration_minutes", "A meeting lasts between 1 minute and 24 hours."),
    "negative duration": (
        {"duration_minutes": "-30"}, "duration_minutes", "A meeting lasts between 1 minute and 24 hours.",
    ),
    "end date before the first date": (
        {"ends": "on", "until": "2026-11-30"}, "frequency", "The end date is before the first meeting.",
    ),
    "end date chosen without a date": (
        {"ends": "on", "until": ""}, "until", "Choose the last date, or choose another way to end.",
    ),
    "weekly with no weekday": ({"weekdays": []}, "weekdays", "Choose at least one weekday."),
    # Thursdays from Tuesday 1 December, ending Wednesday 2 December: not a single meeting.
    "a rule without meetings": (
        {"weekdays": [str(THURSDAY)], "ends": "on", "until": "2026-12-02"}, "frequency",
        "The end date is before the first meeting.",
    ),
    "a javascript link": (
        {"online_url": "javascript:alert(document.cookie)"}, "online_url", "Enter a web link starting with https://.",
    ),
    "an ftp link": ({"online_url": "ftp://files.example.net/room"}, "online_url", "Enter a web link"),
    "no place and no link": ({"venue": "", "address": ""}, "venue", "Add a place or an online link."),
    "a first date in the past": ({"first_date": "2026-11-20"}, "first_date", "The first meeting can't be in the past."),
    "a capacity of zero": ({"capacity": "0"}, "capacity", "Capacity is a number of people from 1 to 10000"),
    "the last date the calendar has": (
        {"ends": "on", "until": "9999-12-31"}, "until", "Choose a last date within 10 years from today",
    ),
    "the last date the calendar has, west of Greenwich": (
        {"ends": "on", "until": "9999-12-31", "timezone": "America/Los_Angeles"}, "until",
        "Choose a last date within 10 years from today",
    ),
    "the first date the calendar has, east of Greenwich": (
        {"first_date": "0001-01-01", "start_time": "00:30", "timezone": "Asia/Tokyo"}, "first_date",
        "Choose a first date from 1 Jan 1970 on",
    ),
    "a first date centuries ahead": (
        {"first_date": "9999-12-30"}, "first_date", "Choose a first date within 10 years from today",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SERIES))
def test_a_bad_new_series_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_SERIES[case]
    login(client, facilitator)
    with nothing_changes(app):
        response = post(client, f"/groups/{world.public.slug}/meetings/new", series_form(**changes))
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown.replace("&#39;", "'"), (field, shown, top_errors(response))


# An edit form shows a first date that has passed: there it means "from now on" (see scheduling.py).
@pytest.mark.parametrize("case", [case for case in BAD_SERIES if case != "a first date in the past"])
def test_a_bad_series_edit_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_SERIES[case]
    login(client, facilitator)
    with nothing_changes(app):
        response = post(
            client, f"/groups/{world.public.slug}/meetings/{world.public.series_id}/edit", series_form(**changes)
        )
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown.replace("&#39;", "'"), (field, shown, top_errors(response))


def test_capacity_below_the_number_already_going_is_refused(app, client, world, facilitator):
    with app.app_context():
        db.session.execute(
            update(Occurrence)
            .where(Occurrence.series_id == world.public.series_id, Occurrence.original_start == london(2026, 12, 8, 19))
            .values(going_count=7)
        )
        db.session.execute(
            update(Occurrence)
            .where(Occurrence.series_id == world.public.series_id, Occurrence.original_start > london(2026, 12, 8, 19))
            .values(going_count=3)
        )
        db.session.commit()
    login(client, facilitator)
    url = f"/groups/{world.public.slug}/meetings/{world.public.series_id}/edit"
    with nothing_changes(app):
        response = post(client, url, series_form(capacity="5"))
    assert response.status_code == 400
    assert "7 people are already going to the meeting on Tue 8 Dec 19:00. Set the capacity to at least 7." in (
        field_error(response, "capacity")
    )
    # Enough seats for everyone already going is fine.
    assert post(client, url, series_form(capacity="7")).status_code == 302
    with app.app_context():
        assert db.session.get(MeetingSeries, world.public.series_id).capacity == 7


def test_no_meeting_can_be_scheduled_for_an_archived_group(app, client, world, facilitator):
    with app.app_context():
        groups.archive_group(db.session.get(Group, world.public.id), clock.now_utc())
        db.session.commit()
    login(client, facilitator)
    with nothing_changes(app):
        response = post(client, f"/groups/{world.public.slug}/meetings/new", series_form())
    assert response.status_code == 400
    assert "This group is archived." in top_errors(response)


BAD_GROUPS = {
    "a slug another group uses": ({"slug": "quiet-harbour-circle"}, "slug", "Another group already uses that address."),
    "a reserved slug": ({"slug": "new"}, "slug", "That address is reserved; choose another."),
    "a malformed slug": ({"slug": "Not A Slug!"}, "slug", "Use 2 to 80 lower-case letters"),
    "an unknown Meeting Guide code": (
        {"other_tags": "walking, LGTBQ"}, None, "\u201cLGTBQ\u201d is not a Meeting Guide meeting type.",
    ),
    "an unknown timezone": ({"timezone": "Europe/Atlantis"}, "timezone", "Choose a timezone from the list."),
    "a private group open to all": (
        {"visibility": "private", "join_policy": "open"}, "join_policy", "A private group can't be open to everyone",
    ),
    "no name": ({"name": "   "}, "name", "Give the group a name."),
}


@pytest.mark.parametrize("case", list(BAD_GROUPS))
def test_a_bad_new_group_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_GROUPS[case]
    login(client, facilitator)
    with nothing_changes(app):
        response = post(client, "/groups/new", group_form(**{"name": "Another Circle", **changes}))
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown.replace("&#39;", "'"), (field, shown, top_errors(response))


@pytest.mark.parametrize("case", list(BAD_GROUPS))
def test_a_bad_group_edit_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_GROUPS[case]
    login(client, facilitator)
    with nothing_changes(app):
        response = post(client, f"/groups/{world.public.slug}/edit", group_form(**changes))
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown.replace("&#39;", "'"), (field, shown, top_errors(response))


BAD_MOVES = {
    "a time in the past": ({"date": "2026-11-25"}, "date", "Choose a time in the future."),
    "a zero length": ({"duration_minutes": "0"}, "duration_minutes", "A meeting lasts between 1 minute and 24 hours."),
    "a negative length": (
        {"duration_minutes": "-15"}, "duration_minutes", "A meeting lasts between 1 minute and 24 hours.",
    ),
    "no date": ({"date": ""}, "date", "Choose the new date."),
}


@pytest.mark.parametrize("case", list(BAD_MOVES))
def test_a_bad_move_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_MOVES[case]
    login(client, facilitator)
    data = {"date": "2026-12-02", "start_time": "19:00", "duration_minutes": "90", **changes}
    with nothing_changes(app):
        response = post(client, f"/meetings/{world.public.occurrence_id}/move", data)
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown, (field, shown, top_errors(response))


def test_a_meeting_that_already_started_cannot_be_cancelled_moved_or_restored(app, client, world, facilitator):
    clock.set_frozen(london(2026, 12, 1, 19, 30))
    login(client, facilitator)
    occ = world.public.occurrence_id
    with nothing_changes(app):
        cancelled = post(client, f"/meetings/{occ}/cancel", {"note": "Too late"}, follow_redirects=True)
        assert "This meeting has already started." in flashes(cancelled)
        moved = post(client, f"/meetings/{occ}/move", {"date": "2026-12-02", "start_time": "19:00"})
        assert moved.status_code == 400
        restored = post(client, f"/meetings/{occ}/restore", follow_redirects=True)
        assert "This meeting has already started." in flashes(restored)


MALFORMED_SERIES = [
    {"duration_minutes": "ninety"},
    {"duration_minutes": "1e9"},
    {"duration_minutes": "99999999999999999999999"},
    {"first_date": "2026-02-30"},
    {"first_date": "next tuesday"},
    {"first_date": ""},
    {"start_time": "7pm"},
    {"start_time": "25:61"},
    {"ends": "on", "until": "soon"},
    {"ends": "after", "count": "many"},
    {"ends": "after", "count": "0"},
    {"ends": "after", "count": "-3"},
    {"ends": "forever"},
    {"interval": "every"},
    {"interval": "0"},
    {"interval": "-1"},
    {"interval": "1000"},
    {"weekdays": ["9"]},
    {"weekdays": ["monday"]},
    {"frequency": "daily"},
    {"frequency": "monthly_weekday", "nth": "7"},
    {"frequency": "monthly_day", "month_day": "abc"},
    {"online_visibility": "world"},
    {"capacity": "lots"},
    {"capacity": "-4"},
    {"capacity": "100001"},
    {"title": ""},
    {"title": "x" * 500},
]


@pytest.mark.parametrize("changes", MALFORMED_SERIES, ids=lambda c: "-".join(f"{k}={v!s:.12}" for k, v in c.items()))
def test_malformed_series_values_never_cause_a_server_error(app, client, world, facilitator, changes):
    login(client, facilitator)
    urls = [
        f"/groups/{world.public.slug}/meetings/new",
        f"/groups/{world.public.slug}/meetings/{world.public.series_id}/edit",
    ]
    with nothing_changes(app):
        for url in urls:
            response = post(client, url, series_form(**changes))
            assert response.status_code == 400, (url, response.status_code)
            assert field_error(response, next(iter(changes))) or top_errors(response) or 'class="error"' in html(
                response
            ), url


MALFORMED_MOVES = [
    {"date": "2026-13-01"},
    {"date": "tomorrow"},
    {"start_time": "noon"},
    {"duration_minutes": "an hour"},
    {"duration_minutes": "99999999999999999999999"},
    {"note": "x" * 600},
]


@pytest.mark.parametrize("changes", MALFORMED_MOVES, ids=lambda c: "-".join(f"{k}={v!s:.12}" for k, v in c.items()))
def test_malformed_move_values_never_cause_a_server_error(app, client, world, facilitator, changes):
    login(client, facilitator)
    data = {"date": "2026-12-02", "start_time": "19:00", "duration_minutes": "90", **changes}
    with nothing_changes(app):
        response = post(client, f"/meetings/{world.public.occurrence_id}/move", data)
    assert response.status_code == 400


def test_malformed_group_and_member_values_never_cause_a_server_error(app, client, world, facilitator):
    login(client, facilitator)
    refs = world.public
    with nothing_changes(app):
        for data in (
            group_form(kind="spaceship"),
            group_form(visibility="everyone"),
            group_form(join_policy="maybe"),
            group_form(types=["NOPE"]),
            group_form(name="x" * 500),
            group_form(other_tags=", ".join(f"tag{n}" for n in range(30))),
            group_form(other_tags="a" * 60),
            group_form(other_tags="caf\u00e9!"),
        ):
            for url in ("/groups/new", f"/groups/{refs.slug}/edit"):
                response = post(client, url, data)
                assert response.status_code == 400, (url, data, response.status_code)
        assert post(client, f"/groups/{refs.slug}/members/{refs.member_membership_id}/role",
                    {"role": "owner"}).status_code == 400
        assert post(client, f"/groups/{refs.slug}/members/{refs.member_membership_id}/role", {}).status_code == 400
        assert post(client, f"/meetings/{refs.occurrence_id}/cancel", {"note": "x" * 600}).status_code == 303
        assert post(client, f"/groups/{refs.slug}/members/{refs.member_membership_id}/promote").status_code == 404
        assert post(client, f"/groups/{refs.slug}/join", {"token": "x" * 5000}).status_code < 500


@pytest.mark.parametrize("query", [
    "weekday=abc", "weekday=9", "weekday=-1", "time=midnight", "kind=spaceship", "format=teleport",
    "page=abc", "page=-5", "page=0", "page=100000", "page=99999999999999999999999",
    "tag=" + "x" * 500, "q=" + "%25" * 300, "q=%00", "tag=O&tag=W&tag=X&tag=Y&tag=C&tag=D&tag=M",
])
def test_malformed_directory_queries_never_cause_a_server_error(client, world, query):
    assert client.get(f"/groups?{query}").status_code == 200


# --- 5. the directory ---


@pytest.fixture
def directory(app, facilitator) -> None:
    """Listed groups that differ in day, time, kind, tags and format, and some that must never be listed."""
    meetings = {
        # name: (kind, tags, series spec changes)
        "Dawn Walkers": (GroupKind.MEETUP, ["OUT", "walking"], {
            "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(MONDAY,)), "first_date": date(2026, 11, 30),
            "start_time": time(7, 30),
        }),
        # 12:30 in New York is 17:30 UTC: afternoon where it meets, evening in UTC.
        "Lunchtime Listening": (GroupKind.PEER_SUPPORT, ["W"], {
            "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(WEDNESDAY,)), "first_date": date(2026, 12, 2),
            "start_time": time(12, 30), "timezone": "America/New_York", "venue": "", "address": "",
            "online_url": "https://meet.example.net/lunch",
        }),
        "Evening Aftercare": (GroupKind.AFTERCARE, ["BE"], {
            "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(THURSDAY,)), "first_date": date(2026, 12, 3),
            "online_url": "https://meet.example.net/evening",
        }),
        # Tuesday 21:00 in Los Angeles is Wednesday 05:00 UTC: Tuesday evening where it meets.
        "Pacific Late Shift": (GroupKind.AFTERCARE, ["C"], {
            "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(TUESDAY,)), "first_date": date(2026, 12, 1),
            "start_time": time(21, 0), "timezone": "America/Los_Angeles", "venue": "", "address": "",
            "online_url": "https://meet.example.net/late",
        }),
    }
    with app.app_context():
        for name, (kind, tags, changes) in meetings.items():
            group = start_group(facilitator, name, kind=kind, tags=tags, description=f"About {name.lower()}.")
            scheduling.create_series(group, weekly(**changes), clock.now_utc())
        hidden = {
            "Private Haven": {"visibility": Visibility.PRIVATE, "join_policy": JoinPolicy.INVITE},
            "Unlisted Friends": {"visibility": Visibility.UNLISTED},
            "Archived Circle": {},
        }
        for name, fields in hidden.items():
            group = start_group(facilitator, name, tags=["OUT", "W", "BE", "C"], **fields)
            for spec in (weekly(MONDAY, WEDNESDAY, THURSDAY), weekly(TUESDAY, start_time=time(12, 30))):
                scheduling.create_series(group, dataclasses.replace(spec, online_url="https://meet.example.net/x"),
                                         clock.now_utc())
            if name == "Archived Circle":
                groups.archive_group(group, clock.now_utc())
        db.session.commit()


LISTED = {"Dawn Walkers", "Lunchtime Listening", "Evening Aftercare", "Pacific Late Shift"}
NEVER_LISTED = ("Private Haven", "Unlisted Friends", "Archived Circle")


def listed(response) -> set[str]:
    """The names of the groups on a directory page."""
    assert response.status_code == 200
    page = html(response)
    found = {name for name in LISTED if f">{name}</a>" in page}
    for name in NEVER_LISTED:
        assert name not in page
    return found


@pytest.mark.parametrize(("query", "expected"), [
    ("", LISTED),
    ("weekday=0", {"Dawn Walkers"}),
    ("weekday=1", {"Pacific Late Shift"}),  # Tuesday where it meets, although Wednesday in UTC
    ("weekday=2", {"Lunchtime Listening"}),
    ("weekday=3", {"Evening Aftercare"}),
    ("weekday=5", set()),
    ("time=morning", {"Dawn Walkers"}),
    ("time=afternoon", {"Lunchtime Listening"}),
    ("time=evening", {"Evening Aftercare", "Pacific Late Shift"}),
    ("kind=meetup", {"Dawn Walkers"}),
    ("kind=peer_support", {"Lunchtime Listening"}),
    ("kind=aftercare", {"Evening Aftercare", "Pacific Late Shift"}),
    ("tag=W", {"Lunchtime Listening"}),
    ("tag=OUT", {"Dawn Walkers"}),
    ("tag=walking", {"Dawn Walkers"}),
    ("tag=OUT&tag=W", set()),
    # A hybrid meeting counts as in person and as online.
    ("format=in_person", {"Dawn Walkers", "Evening Aftercare"}),
    ("format=online", {"Lunchtime Listening", "Pacific Late Shift", "Evening Aftercare"}),
    ("format=hybrid", {"Evening Aftercare"}),
    ("where=canal+street", {"Dawn Walkers", "Evening Aftercare"}),
    ("where=COMMUNITY", {"Dawn Walkers", "Evening Aftercare"}),
    ("where=%25", set()),
    ("q=walkers", {"Dawn Walkers"}),
    ("q=LATE+SHIFT", {"Pacific Late Shift"}),
    ("q=about+evening", {"Evening Aftercare"}),  # the description counts too
    ("q=haven", set()),
    ("kind=aftercare&time=evening&format=online", {"Pacific Late Shift", "Evening Aftercare"}),
    ("kind=aftercare&where=canal", {"Evening Aftercare"}),
    ("weekday=3&time=morning", set()),
])
def test_directory_filters_include_and_exclude_the_right_groups(client, directory, query, expected):
    assert listed(client.get(f"/groups?{query}")) == expected


@pytest.mark.parametrize("text_typed", ["%", "_", "a_o"])
def test_directory_search_takes_percent_and_underscore_literally(client, directory, text_typed):
    assert listed(client.get("/groups", query_string={"q": text_typed})) == set()


def test_directory_filters_work_the_same_for_a_signed_in_member(app, directory, member):
    reader = browser(app, member)
    assert listed(reader.get("/groups?time=afternoon")) == {"Lunchtime Listening"}
    assert listed(reader.get("/groups?format=hybrid")) == {"Evening Aftercare"}


def test_the_directory_pages_through_more_than_twenty_groups(app, client, facilitator):
    with app.app_context():
        for n in range(1, 26):
            start_group(facilitator, f"Circle {n:02d}")
        db.session.commit()
    first = html(client.get("/groups"))
    assert [n for n in range(1, 26) if f">Circle {n:02d}<" in first] == list(range(1, 21))
    assert "Page 1 of 2" in first
    assert 'href="/groups?page=2"' in first
    second = html(client.get("/groups?page=2"))
    assert [n for n in range(1, 26) if f">Circle {n:02d}<" in second] == list(range(21, 26))
    assert "Page 2 of 2" in second
    assert 'href="/groups?page=1"' in second
    # Filters are kept when paging.
    assert 'href="/groups?q=circle&amp;page=2"' in html(client.get("/groups?q=circle"))
    assert "No groups match" in html(client.get("/groups?page=3"))


def test_a_signed_in_member_sees_their_groups_first(app, client, world, facilitator, member):
    with app.app_context():
        zebra = start_group(facilitator, "Zebra Crossing Circle")
        add_member(zebra, member)
        start_group(facilitator, "Aardvark Circle")
        db.session.commit()
    page = html(browser(app, member).get("/groups"))
    mine, everything = page.split('id="all-h"', 1)
    assert 'id="mine-h">Your groups' in mine
    for name in ("Zebra Crossing Circle", "Thursday Integration Circle", "Quiet Harbour Circle"):
        assert f">{name}</a>" in mine
    assert "Aardvark Circle" not in mine
    assert mine.index("Quiet Harbour Circle") < mine.index("Thursday Integration Circle") < mine.index("Zebra")
    # The private group is theirs to see, but is never listed for everyone.
    assert "Quiet Harbour Circle" not in everything
    assert "Aardvark Circle" in everything and "Zebra Crossing Circle" in everything
    assert "Your groups" not in html(client.get("/groups"))
    assert "Your groups" not in html(browser(app, member).get("/groups?kind=meetup"))


def test_cards_show_the_next_meeting_and_when_one_is_in_progress(app, client, world, facilitator):
    card = html(client.get("/groups")).split(">Thursday Integration Circle</a>", 1)[1].split("</li>", 1)[0]
    assert "Next:" in card
    assert "Tue 1 Dec 2026, 19:00\u201320:30" in card
    assert f'href="/meetings/{world.public.occurrence_id}"' in card

    clock.set_frozen(london(2026, 12, 1, 19, 45))
    card = html(client.get("/groups")).split(">Thursday Integration Circle</a>", 1)[1].split("</li>", 1)[0]
    assert "In progress now \u00b7 until 20:30" in " ".join(card.split())
    assert "Next:" not in card
    assert "In progress" in text(client.get(f"/groups/{world.public.slug}"))
    assert "In progress now" in text(client.get(f"/meetings/{world.public.occurrence_id}"))

    clock.set_frozen(london(2026, 12, 1, 20, 30))
    card = html(client.get("/groups")).split(">Thursday Integration Circle</a>", 1)[1].split("</li>", 1)[0]
    assert "Tue 8 Dec 2026, 19:00\u201320:30" in card


def test_a_cancelled_week_is_skipped_on_the_card_and_a_moved_one_is_marked(app, client, world, facilitator):
    login(client, facilitator)
    post(client, f"/meetings/{world.public.occurrence_id}/cancel", {"note": "Holiday"})
    with app.app_context():
        second = occurrence_id_at(world.public.series_id, london(2026, 12, 8, 19, 0))
    post(client, f"/meetings/{second}/move", {"date": "2026-12-09", "start_time": "19:00", "duration_minutes": "90"})
    card = html(browser(app).get("/groups")).split(">Thursday Integration Circle</a>", 1)[1].split("</li>", 1)[0]
    assert "Wed 9 Dec 2026, 19:00\u201320:30" in card
    assert "Moved" in card


# --- 6. the directory's query count does not grow with the number of groups ---


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def add_listed_groups(app: Flask, facilitator: Persona, member: Persona, start: int, stop: int) -> None:
    """Public groups numbered start..stop-1, each with tags and a weekly series, all joined by the member."""
    with app.app_context():
        creator = facilitator.user()
        joiner = member.user()
        now = clock.now_utc()
        for n in range(start, stop):
            group = groups.create_group(
                creator, name=f"Circle {n:03d}", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now,
                tags=["O", "W", f"area {n}"], slug=f"circle-{n:03d}",
            )
            recurrence = Recurrence(Frequency.WEEKLY, weekdays=(n % 7,), count=4)
            scheduling.create_series(group, weekly(recurrence=recurrence, first_date=date(2026, 11, 30)), now)
            memberships.join(group, joiner, now)
        db.session.commit()


def directory_queries(app: Flask, client: FlaskClient, url: str) -> int:
    client.get(url)  # warm up: the first request of a client may do one-off work
    with counting_queries(app) as statements:
        response = client.get(url)
    assert response.status_code == 200
    return len(statements)


def test_the_directory_issues_the_same_number_of_queries_for_5_groups_as_for_200(app, client, facilitator, member):
    signed_in = browser(app, member)
    add_listed_groups(app, facilitator, member, 0, 5)
    urls = ("/groups", "/groups?tag=O&format=in_person&time=evening")
    small = {url: (directory_queries(app, client, url), directory_queries(app, signed_in, url)) for url in urls}
    few_cards = html(signed_in.get("/groups")).count('class="card group-card"')
    assert few_cards == 10  # five under "Your groups", the same five under "All groups"

    add_listed_groups(app, facilitator, member, 5, 200)
    large = {url: (directory_queries(app, client, url), directory_queries(app, signed_in, url)) for url in urls}
    page = html(signed_in.get("/groups"))
    assert page.count('class="card group-card"') == 200 + 20
    assert "Page 1 of 10" in page
    assert large == small
    # A later page of many groups costs what the first page does.
    assert directory_queries(app, client, "/groups?page=3") == small["/groups"][0]


# --- edit forms show what is stored: sending one back unchanged changes nothing ---


class FormReader(HTMLParser):
    """The fields of the first POST form with a submit button in <main>, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._done = False
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self._done:
            return
        if tag == "form" and a.get("method") == "post" and "action" not in a:
            self._in_form = True
        elif not self._in_form:
            return
        elif tag == "input" and a.get("type") not in ("submit",):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data):
        if self._textarea:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, self._text.removeprefix("\r").removeprefix("\n")))
            self._textarea = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True


def form_as_shown(response) -> MultiDict:
    reader = FormReader()
    reader.feed(html(response))
    return MultiDict(reader.fields)


def test_sending_the_group_edit_form_back_unchanged_changes_nothing(app, client, world, facilitator):
    with app.app_context():
        groups.update_group(
            db.session.get(Group, world.private.id), now=clock.now_utc(), tags=["W", "LGBTQ", "walking", "BRK"],
            kind=GroupKind.PEER_SUPPORT, contact_note="Ring twice.\n\nAsk for Sam.", join_policy=JoinPolicy.APPROVAL,
        )
        db.session.commit()
    login(client, facilitator)
    url = f"/groups/{world.private.slug}/edit"
    shown = form_as_shown(client.get(url))
    assert shown.getlist("types") == ["W", "LGBTQ"]
    assert shown["other_tags"] == "walking, BRK"
    assert (shown["kind"], shown["visibility"], shown["join_policy"]) == ("peer_support", "private", "approval")
    assert shown["contact_note"] == "Ring twice.\n\nAsk for Sam."
    with nothing_changes(app):
        assert client.post(url, data=shown).status_code == 302


@pytest.mark.parametrize("spec_changes", [
    {},
    {"recurrence": Recurrence(Frequency.WEEKLY, interval=2, weekdays=(MONDAY, THURSDAY), count=6),
     "first_date": date(2026, 11, 30), "capacity": 12, "online_url": "https://meet.example.net/room",
     "online_visibility": OnlineVisibility.EVERYONE, "description": "Bring a friend.\n\nTea after."},
    {"recurrence": Recurrence(Frequency.MONTHLY_WEEKDAY, nth=-1, weekday=FRIDAY, until=date(2027, 6, 30))},
    {"recurrence": Recurrence(Frequency.MONTHLY_DAY, month_day=15), "timezone": "America/New_York"},
    {"recurrence": Recurrence(Frequency.ONCE), "first_date": date(2026, 12, 24), "start_time": time(10, 15)},
], ids=["weekly", "fortnightly", "last-friday", "monthly-15th", "once"])
def test_sending_the_series_edit_form_back_unchanged_changes_nothing(app, client, facilitator, spec_changes):
    with app.app_context():
        group = start_group(facilitator, "Form Circle")
        series = scheduling.create_series(group, weekly(**spec_changes), clock.now_utc())
        db.session.commit()
        url = f"/groups/{group.slug}/meetings/{series.id}/edit"
    login(client, facilitator)
    shown = form_as_shown(client.get(url))
    with nothing_changes(app):
        response = client.post(url, data=shown)
        assert response.status_code == 302, (top_errors(response), re.findall(r'class="error"[^>]*>(.*?)<', html(
            response)))
