"""RSVPs, attendance and proofs through the web: who may do what, every transition (form and in-place fragment),
the rules, privacy on every page a member sees, standing RSVPs, self check-in, the chart, and bad input."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from supportnet import attendance, clock, memberships, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    AttendanceProof,
    Group,
    JoinPolicy,
    MeetingSeries,
    Occurrence,
    OnlineVisibility,
    Rsvp,
    RsvpStatus,
    SiteRole,
    StandingRsvp,
    Visibility,
)
from tests.conftest import BASE_URL, PINNED_NOW, Persona, login, make_persona, post
from tests.test_groups_web import (
    add_member,
    field_error,
    form_as_shown,
    html,
    london,
    occurrences_of,
    redirects_to_login,
    start_group,
    text,
    weekly,
)
from tests.test_notifications_world import going, make_world

MINUTE = timedelta(minutes=1)
FETCH = {"X-Requested-With": "fetch"}
# The first meeting of every series below: Tuesday 1 December 2026, 19:00-20:30 in London (= UTC in winter).
FIRST_START = london(2026, 12, 1, 19, 0)
FIRST_END = london(2026, 12, 1, 20, 30)
DURING = FIRST_START + 10 * MINUTE


# --- talking to the app ---


def browser(app: Flask, persona: Persona | None = None) -> FlaskClient:
    """A new browser (its own cookies), signed in as the persona unless it is None (at the clock's current time)."""
    client = app.test_client()
    if persona is not None:
        assert login(client, persona).status_code == 302
    return client


class _BoxFinder(HTMLParser):
    """The outer HTML of the element with a given id (for the RSVP box of one meeting)."""

    def __init__(self, source: str, element_id: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source, self.element_id = source, element_id
        self.lines = source.splitlines(keepends=True)
        self.start: int | None = None
        self.end: int | None = None
        self.depth = 0

    def _offset(self) -> int:
        line, col = self.getpos()
        return sum(len(x) for x in self.lines[: line - 1]) + col

    def handle_starttag(self, tag, attrs):
        if self.end is not None:
            return
        if self.start is None:
            if tag == "div" and dict(attrs).get("id") == self.element_id:
                self.start, self.depth = self._offset(), 1
        elif tag == "div":
            self.depth += 1

    def handle_endtag(self, tag):
        if self.start is None or self.end is not None or tag != "div":
            return
        self.depth -= 1
        if self.depth == 0:
            self.end = self._offset() + len("</div>")


def rsvp_box(page: str, occurrence_id: int) -> str:
    """The RSVP box of the meeting on the page ('' when the page has none)."""
    finder = _BoxFinder(page, f"rsvp-{occurrence_id}")
    finder.feed(page)
    if finder.start is None or finder.end is None:
        return ""
    return page[finder.start : finder.end]


def flashes(response) -> str:
    """The flashed messages on the page, as text."""
    found = re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html(response), re.S)
    return unescape(" ".join(" ".join(found).split()))


def box_text(box: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", box).replace("&#39;", "'").split())


def page_text(response) -> str:
    return text(response).replace("&#39;", "'")


def assert_fragment(response, occurrence_id: int, status: int = 200) -> str:
    """The response is just the updated RSVP box of the meeting (no page around it); return its text."""
    body = html(response).strip()
    assert response.status_code == status, (response.status_code, body[-500:])
    assert response.mimetype == "text/html"
    assert body.startswith(f'<div class="rsvp" id="rsvp-{occurrence_id}"'), body[:200]
    assert "<html" not in body and "<main" not in body and "<nav" not in body
    assert rsvp_box(body, occurrence_id) == body
    return box_text(body)


def rsvp_rows(occurrence_id: int) -> dict[int, RsvpStatus]:
    return dict(db.session.execute(select(Rsvp.user_id, Rsvp.status).where(Rsvp.occurrence_id == occurrence_id)).all())


def counters(occurrence_id: int) -> tuple[int, int]:
    occ = db.session.get(Occurrence, occurrence_id)
    return occ.going_count, occ.waitlist_count


# --- 1. who may do what: every route of the rsvp blueprint, for each persona, a public and a private group ---


@dataclass
class Refs:
    slug: str
    id: int
    series_id: int
    occurrence_id: int  # the next meeting: Tue 1 Dec 2026, 19:00
    past_occurrence_id: int  # Tue 24 Nov, which the member attended
    code: str  # the self check-in code of the next meeting
    proof_id: int  # the member's proof for this group
    proof_token: str


@dataclass
class World:
    public: Refs
    private: Refs
    personas: dict[str, Persona | None]
    member_id: int

    def group(self, which: str) -> Refs:
        return getattr(self, which)


PERSONAS = ("anonymous", "outsider", "member", "other_facilitator", "facilitator", "admin")
GROUPS = ("public", "private")


@pytest.fixture
def other_facilitator(app) -> Persona:
    return make_persona(app, "Fred G.", SiteRole.FACILITATOR)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    """Two groups that began meeting on Tuesday 24 November, which the member attended; the member made a proof."""
    refs = {}
    with app.app_context():
        clock.set_frozen(PINNED_NOW - timedelta(days=7))
        made = []
        for which, visibility, policy, name in (
            ("public", Visibility.PUBLIC, JoinPolicy.OPEN, "Thursday Integration Circle"),
            ("private", Visibility.PRIVATE, JoinPolicy.INVITE, "Quiet Harbour Circle"),
        ):
            group = start_group(facilitator, name, visibility=visibility, join_policy=policy)
            series = scheduling.create_series(group, weekly(first_date=date(2026, 11, 24)), clock.now_utc())
            add_member(group, member)
            made.append((which, group, series))
        start_group(other_facilitator, "Saturday Walkers")
        db.session.commit()
        clock.set_frozen(PINNED_NOW)
        for which, group, series in made:
            past, upcoming = occurrences_of(series.id)[:2]
            attendance.mark_attended(past, member.user(), facilitator.user(), clock.now_utc())
            code = attendance.new_code(upcoming, clock.now_utc())
            proof = attendance.create_proof(
                member.user(), shown_name="M. Example", label="Weekly support group", group=group, now=clock.now_utc()
            )
            refs[which] = Refs(
                slug=group.slug, id=group.id, series_id=series.id, occurrence_id=upcoming.id,
                past_occurrence_id=past.id, code=code, proof_id=proof.id, proof_token=attendance.proof_token(proof),
            )
        db.session.commit()
        assert db.session.get(Occurrence, refs["public"].occurrence_id).starts_at == FIRST_START
    return World(
        public=refs["public"],
        private=refs["private"],
        personas={
            "anonymous": None, "outsider": outsider, "member": member, "other_facilitator": other_facilitator,
            "facilitator": facilitator, "admin": admin,
        },
        member_id=member.id,
    )


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


# --- 2. every transition through the web, as a form and in place ---


@pytest.fixture
def seats(app, facilitator, member) -> dict:
    """A public open group with a weekly Tuesday meeting of 2 seats, and four members: Ann, Ben, Cat and Mia."""
    people = {name: make_persona(app, name) for name in ("Ann A.", "Ben B.", "Cat C.")}
    people["Mia M."] = member
    with app.app_context():
        group = start_group(facilitator, "Thursday Integration Circle")
        series = scheduling.create_series(group, weekly(capacity=2), clock.now_utc())
        for persona in people.values():
            add_member(group, persona)
        db.session.commit()
        first, second = occurrences_of(series.id)[:2]
        return {
            "slug": group.slug, "series_id": series.id, "occ": first.id, "second": second.id,
            "people": people, "facilitator": facilitator,
        }


def say(app: Flask, persona: Persona, occurrence_id: int, action: str = "going", **kwargs):
    """The persona answers in a browser of their own (action: going or cancel)."""
    url = f"/meetings/{occurrence_id}/rsvp" + ("/cancel" if action == "cancel" else "")
    return post(browser(app, persona), url, **kwargs)


def test_going_cant_go_and_going_again_through_the_form(app, seats, member):
    client = browser(app, member)
    occ = seats["occ"]

    going = post(client, f"/meetings/{occ}/rsvp")
    assert going.status_code == 302 and going.headers["Location"] == f"/meetings/{occ}"
    page = client.get(f"/meetings/{occ}")
    shown = box_text(rsvp_box(html(page), occ))
    assert "You're going." in shown and "a few going of 2 seats" in shown
    assert "Going" not in shown.replace("You're going", "").replace("a few going", "")  # no "Going" button any more
    assert "Can't go" in shown

    again = post(client, f"/meetings/{occ}/rsvp")  # a double click changes nothing
    assert again.status_code == 302
    with app.app_context():
        assert rsvp_rows(occ) == {member.id: RsvpStatus.GOING}
        assert counters(occ) == (1, 0)

    cancelled = post(client, f"/meetings/{occ}/rsvp/cancel", follow_redirects=True)
    assert cancelled.status_code == 200
    shown = box_text(rsvp_box(html(cancelled), occ))
    assert "You said you can't make it." in shown and "0 going of 2 seats" in shown
    assert "Can't go" not in shown and "Going" in shown

    assert post(client, f"/meetings/{occ}/rsvp/cancel").status_code == 302  # cancelling again: a no-op
    with app.app_context():
        assert rsvp_rows(occ) == {member.id: RsvpStatus.CANCELLED}
        assert counters(occ) == (0, 0)

    back = post(client, f"/meetings/{occ}/rsvp", follow_redirects=True)
    assert "You're going." in box_text(rsvp_box(html(back), occ))
    with app.app_context():
        assert rsvp_rows(occ) == {member.id: RsvpStatus.GOING}
        assert counters(occ) == (1, 0)


def test_going_cant_go_and_going_again_in_place(app, seats, member):
    client = browser(app, member)
    occ = seats["occ"]

    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp", headers=FETCH), occ)
    assert "You're going." in shown and "a few going of 2 seats" in shown and "Can't go" in shown
    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp", headers=FETCH), occ)  # twice: the same
    assert "You're going." in shown and "a few going of 2 seats" in shown

    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp/cancel", headers=FETCH), occ)
    assert "You said you can't make it." in shown and "0 going of 2 seats" in shown
    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp/cancel", headers=FETCH), occ)
    assert "You said you can't make it." in shown and "0 going of 2 seats" in shown

    fragment = post(client, f"/meetings/{occ}/rsvp", headers=FETCH, data={"next": f"/groups/{seats['slug']}"})
    assert "You're going." in assert_fragment(fragment, occ)
    # The fragment's forms still work without script, and send the person back to the page they were on.
    assert f'name="next" value="/groups/{seats["slug"]}"' in html(fragment)
    with app.app_context():
        assert rsvp_rows(occ) == {member.id: RsvpStatus.GOING}
        assert counters(occ) == (1, 0)


def test_a_full_meeting_puts_people_on_the_waitlist_and_shows_their_place(app, seats, member):
    ann, ben, cat = (seats["people"][n] for n in ("Ann A.", "Ben B.", "Cat C."))
    occ = seats["occ"]
    assert say(app, ann, occ).status_code == 302
    assert say(app, ben, occ).status_code == 302

    # The button says what will happen.
    mia = browser(app, member)
    assert "Join the waitlist" in box_text(rsvp_box(html(mia.get(f"/meetings/{occ}")), occ))

    shown = assert_fragment(say(app, cat, occ, headers=FETCH), occ)
    assert "You're on the waitlist: number 1." in shown and "a few going of 2 seats · a few on the waitlist" in shown
    assert "Leave the waitlist" in shown

    waiting = post(mia, f"/meetings/{occ}/rsvp", follow_redirects=True)
    shown = box_text(rsvp_box(html(waiting), occ))
    assert "You're on the waitlist: number 2." in shown and "a few going of 2 seats · a few on the waitlist" in shown
    mine = page_text(mia.get("/me/meetings"))
    assert "You're on the waitlist: number 2." in mine
    # The group page shows the same place.
    assert "You're on the waitlist: number 2." in box_text(rsvp_box(html(mia.get(f"/groups/{seats['slug']}")), occ))
    with app.app_context():
        assert counters(occ) == (2, 2)


def test_the_first_on_the_waitlist_gets_the_seat_someone_gives_up(app, seats, member):
    ann, ben, cat = (seats["people"][n] for n in ("Ann A.", "Ben B.", "Cat C."))
    occ = seats["occ"]
    for persona in (ann, ben, cat, member):
        assert say(app, persona, occ).status_code == 302

    shown = assert_fragment(say(app, ben, occ, "cancel", headers=FETCH), occ)
    assert "You said you can't make it." in shown and "a few going of 2 seats · a few on the waitlist" in shown

    assert "You're going." in page_text(browser(app, cat).get("/me/meetings"))
    mia = browser(app, member)
    assert "You're on the waitlist: number 1." in page_text(mia.get("/me/meetings"))

    # Leaving the waitlist frees no seat: nobody is promoted, the waitlist just gets shorter.
    shown = assert_fragment(post(mia, f"/meetings/{occ}/rsvp/cancel", headers=FETCH), occ)
    assert "a few going of 2 seats" in shown and "on the waitlist" not in shown
    with app.app_context():
        assert rsvp_rows(occ) == {
            ann.id: RsvpStatus.GOING, ben.id: RsvpStatus.CANCELLED, cat.id: RsvpStatus.GOING,
            member.id: RsvpStatus.CANCELLED,
        }
        assert counters(occ) == (2, 0)


def test_raising_the_capacity_in_the_series_form_seats_the_waitlist_in_order(app, seats, member, facilitator):
    ann, ben, cat = (seats["people"][n] for n in ("Ann A.", "Ben B.", "Cat C."))
    occ = seats["occ"]
    for persona in (ann, ben, cat, member):
        assert say(app, persona, occ).status_code == 302
    fay = browser(app, facilitator)
    url = f"/groups/{seats['slug']}/meetings/{seats['series_id']}/edit"

    form = form_as_shown(fay.get(url))
    assert form["capacity"] == "2"
    form.setlist("capacity", ["3"])
    assert fay.post(url, data=form).status_code == 302

    assert "You're going." in page_text(browser(app, cat).get("/me/meetings"))
    mia = browser(app, member)
    assert "You're on the waitlist: number 1." in page_text(mia.get("/me/meetings"))
    with app.app_context():
        assert counters(occ) == (3, 1)
        assert db.session.get(Occurrence, seats["second"]).capacity == 3

    # No limit at all: everyone waiting gets a seat.
    form.setlist("capacity", [""])
    assert fay.post(url, data=form).status_code == 302
    assert "You're going." in page_text(mia.get("/me/meetings"))
    assert "a few going" in box_text(rsvp_box(html(mia.get(f"/meetings/{occ}")), occ))
    with app.app_context():
        assert counters(occ) == (4, 0)


def test_lowering_the_capacity_below_the_people_going_is_refused_on_the_form(app, seats, facilitator):
    ann, ben = (seats["people"][n] for n in ("Ann A.", "Ben B."))
    occ = seats["occ"]
    for persona in (ann, ben):
        assert say(app, persona, occ).status_code == 302
    fay = browser(app, facilitator)
    url = f"/groups/{seats['slug']}/meetings/{seats['series_id']}/edit"
    form = form_as_shown(fay.get(url))
    form.setlist("capacity", ["1"])

    response = fay.post(url, data=form)

    assert response.status_code == 400
    assert field_error(response, "capacity") == (
        "2 people are already going to the meeting on Tue 1 Dec 19:00. Set the capacity to at least 2."
    )
    with app.app_context():
        assert db.session.get(MeetingSeries, seats["series_id"]).capacity == 2
        assert db.session.get(Occurrence, occ).capacity == 2
        assert counters(occ) == (2, 0)


# --- 3. the rules, through the web ---


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (FIRST_START, "This meeting has already started."),
        (FIRST_START + 30 * MINUTE, "This meeting has already started."),
        (FIRST_END, "This meeting is over."),
        (FIRST_END + timedelta(days=1), "This meeting is over."),
    ],
    ids=["at-the-start", "during", "at-the-end", "the-day-after"],
)
def test_no_rsvp_once_a_meeting_has_started(app, seats, member, at, message):
    occ = seats["occ"]
    clock.set_frozen(at)
    client = browser(app, member)
    for action in ("rsvp", "rsvp/cancel"):
        refused = post(client, f"/meetings/{occ}/{action}")
        assert refused.status_code == 303 and refused.headers["Location"] == f"/meetings/{occ}"
        page = client.get(refused.headers["Location"])
        assert message in flashes(page)
        box = rsvp_box(html(page), occ)
        assert box and "<form" not in box
        shown = assert_fragment(post(client, f"/meetings/{occ}/{action}", headers=FETCH), occ, 409)
        assert message in shown
        assert 'role="alert"' in html(post(client, f"/meetings/{occ}/{action}", headers=FETCH))
    with app.app_context():
        assert rsvp_rows(occ) == {}


def test_no_rsvp_to_a_cancelled_meeting(app, seats, member, facilitator):
    occ = seats["occ"]
    assert post(browser(app, facilitator), f"/meetings/{occ}/cancel", {"note": "Snow."}).status_code == 302
    client = browser(app, member)

    refused = post(client, f"/meetings/{occ}/rsvp", follow_redirects=True)
    assert "This meeting is cancelled." in flashes(refused)
    assert "Cancelled: Snow." in text(refused)
    assert "<form" not in rsvp_box(html(refused), occ)
    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp", headers=FETCH), occ, 409)
    assert "This meeting is cancelled." in shown
    with app.app_context():
        assert rsvp_rows(occ) == {}


def test_an_outsider_of_an_approval_group_is_told_to_join_first_and_waits_while_pending(app, facilitator, outsider):
    with app.app_context():
        group = start_group(facilitator, "Approval Circle", join_policy=JoinPolicy.APPROVAL)
        series = scheduling.create_series(group, weekly(), clock.now_utc())
        db.session.commit()
        slug, occ = group.slug, occurrences_of(series.id)[0].id
    client = browser(app, outsider)

    refused = post(client, f"/meetings/{occ}/rsvp", follow_redirects=True)
    assert "Only members of this group can RSVP. Join the group first." in flashes(refused)
    standing = post(client, f"/groups/{slug}/meetings/{series.id}/standing", {"next": f"/groups/{slug}"},
                    follow_redirects=True)
    assert "Only members of this group can RSVP. Join the group first." in flashes(standing)

    assert post(client, f"/groups/{slug}/join").status_code == 302
    waiting = post(client, f"/meetings/{occ}/rsvp", headers=FETCH)
    assert "Your request to join this group is waiting for a facilitator." in assert_fragment(waiting, occ, 409)
    with app.app_context():
        assert rsvp_rows(occ) == {}
        assert db.session.scalar(select(func.count()).select_from(StandingRsvp)) == 0


def test_an_outsider_of_a_private_group_gets_404_everywhere(app, world, outsider):
    client = browser(app, outsider)
    refs = world.private
    for url in (f"/meetings/{refs.occurrence_id}", f"/meetings/{refs.occurrence_id}/roster", f"/groups/{refs.slug}"):
        assert client.get(url).status_code == 404, url
    for url in (
        f"/meetings/{refs.occurrence_id}/rsvp",
        f"/meetings/{refs.occurrence_id}/rsvp/cancel",
        f"/groups/{refs.slug}/meetings/{refs.series_id}/standing",
        f"/groups/{refs.slug}/meetings/{refs.series_id}/standing/stop",
    ):
        assert post(client, url).status_code == 404, url
        assert post(client, url, headers=FETCH).status_code == 404, url
    with app.app_context():
        assert rsvp_rows(refs.occurrence_id) == {}


def test_an_rsvp_to_a_public_open_group_makes_the_person_a_member(app, seats, outsider):
    client = browser(app, outsider)
    before = page_text(client.get(f"/groups/{seats['slug']}"))
    assert "5 members" in before and "Join this group" in before

    assert "You're going." in assert_fragment(post(client, f"/meetings/{seats['occ']}/rsvp", headers=FETCH),
                                              seats["occ"])

    after = page_text(client.get(f"/groups/{seats['slug']}"))
    assert "6 members" in after and "You are a member of this group." in after
    assert "Coming every time?" in after  # members may now say "I come every time"


# --- 4. privacy: members see counts and their own answer; facilitators see names ---


def test_a_members_pages_name_nobody_else_and_the_roster_names_everyone_for_facilitators(
    app, seats, member, facilitator, admin, outsider
):
    ann, ben, cat = (seats["people"][n] for n in ("Ann A.", "Ben B.", "Cat C."))
    occ = seats["occ"]
    for persona in (ann, cat, member):  # Ann and Cat have the seats, Mia waits
        assert say(app, persona, occ).status_code == 302
    assert say(app, ben, occ, "cancel").status_code == 302
    with app.app_context():
        attendance.mark_attended(
            db.session.get(Occurrence, occ), ann.user(), facilitator.user(), FIRST_START
        )  # (marked ahead of time only to put a name in the attendance tables)
        db.session.commit()
    others = [p.display_name for p in (ann, ben, cat, facilitator)]
    others += [p.email for p in (ann, ben, cat, facilitator, member)]

    mia = browser(app, member)
    pages = {
        "meeting": mia.get(f"/meetings/{occ}"),
        "group": mia.get(f"/groups/{seats['slug']}"),
        "my meetings": mia.get("/me/meetings"),
        "going fragment": post(mia, f"/meetings/{occ}/rsvp", headers=FETCH),
        "cancel fragment": post(mia, f"/meetings/{occ}/rsvp/cancel", headers=FETCH),
        "going again fragment": post(mia, f"/meetings/{occ}/rsvp", headers=FETCH),
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        for other in others:
            assert other not in html(page), (name, other)
    assert "a few going of 2 seats · a few on the waitlist" in box_text(html(pages["going again fragment"]))
    assert mia.get(f"/meetings/{occ}/roster").status_code == 403

    for viewer in (facilitator, admin):
        roster = browser(app, viewer).get(f"/meetings/{occ}/roster")
        assert roster.status_code == 200
        going = re.search(r'<h2 id="going-h">(.*?)</section>', html(roster), re.S).group(1)
        assert "Going (2)" in going
        assert ann.display_name in going and cat.display_name in going
        waitlist = going.split("<h3>Waitlist</h3>")[1]
        assert re.findall(r"<li>([^<]+?)\s*<form", waitlist) == ["Mia M."]
        assert ben.display_name not in going  # said they can't come: only among the possible walk-ins
        assert ben.display_name in html(roster)
        assert "@example.org" not in html(roster)
        assert "Only the group's facilitators see this page." in text(roster)
    assert browser(app, outsider).get(f"/meetings/{occ}/roster").status_code == 403


@pytest.fixture
def online_call(app, facilitator, member) -> dict:
    """A public group's online meeting whose link only members with a seat see; 1 seat; Nora and Ben are members."""
    nora, ben = make_persona(app, "Nora N."), make_persona(app, "Ben B.")
    with app.app_context():
        group = start_group(facilitator, "Online Circle")
        for persona in (member, nora, ben):
            add_member(group, persona)
        spec = weekly(
            online_url="https://meet.example.net/quiet-room", online_phone="+44 20 7946 0001",
            online_visibility=OnlineVisibility.RSVP, capacity=1,
        )
        series = scheduling.create_series(group, spec, clock.now_utc())
        db.session.commit()
        return {"slug": group.slug, "occ": occurrences_of(series.id)[0].id, "nora": nora, "ben": ben}


def test_an_rsvp_only_link_is_shown_to_members_with_a_seat_and_to_facilitators(
    app, online_call, member, facilitator, admin, outsider
):
    occ, nora, ben = online_call["occ"], online_call["nora"], online_call["ben"]
    link = "https://meet.example.net/quiet-room"
    assert say(app, nora, occ).status_code == 302  # the one seat
    assert say(app, member, occ).status_code == 302  # waitlisted

    for persona, sees in (
        (None, False), (outsider, False), (ben, False), (member, False),  # Mia waits: no seat, no link
        (nora, True), (facilitator, True), (admin, True),
    ):
        client = browser(app, persona)
        page = client.get(f"/meetings/{occ}")
        assert page.status_code == 200
        assert (link in html(page)) is sees, persona and persona.display_name
        assert ("+44 20 7946 0001" in html(page)) is sees, persona and persona.display_name
        if not sees:
            assert "The link is shown to members who say they are coming." in text(page)
        for other in (f"/groups/{online_call['slug']}", "/groups", "/me/meetings"):
            response = client.get(other)
            assert link not in html(response), other

    # When Nora gives up her seat, Mia has it, and the link with it.
    assert say(app, nora, occ, "cancel").status_code == 302
    assert link in html(browser(app, member).get(f"/meetings/{occ}"))
    assert link not in html(browser(app, nora).get(f"/meetings/{occ}"))


# --- 5. standing RSVPs through the web, across horizon extension ---


def test_i_come_every_time_survives_new_meetings_skips_one_week_and_stops(app, seats, member):
    slug, series_id = seats["slug"], seats["series_id"]
    mia = browser(app, member)
    assert "I come every time" in text(mia.get(f"/groups/{slug}"))

    started = post(mia, f"/groups/{slug}/meetings/{series_id}/standing", {"next": f"/groups/{slug}"},
                   follow_redirects=True)
    assert "You're down for every \u201cIntegration circle\u201d." in flashes(started)
    assert "You come every time." in text(started)
    assert page_text(mia.get("/me/meetings")).count("You're going.") == 26

    with app.app_context():
        weeks = occurrences_of(series_id)
        skipped, soon = weeks[5].id, weeks[3].id  # Tue 5 Jan 2027, Tue 22 Dec 2026
    shown = assert_fragment(post(mia, f"/meetings/{skipped}/rsvp/cancel", headers=FETCH), skipped)
    assert "You said you can't make it." in shown
    assert page_text(mia.get("/me/meetings")).count("You're going.") == 25

    # Three weeks later the scheduler makes three more meetings; the standing RSVP answers for them.
    later = PINNED_NOW + timedelta(weeks=3)
    clock.set_frozen(later)
    with app.app_context():
        assert scheduling.extend_horizons(later) == 3
        db.session.commit()
        weeks = occurrences_of(series_id)
        newest = weeks[-1].id
        assert len(weeks) == 29
    mia = browser(app, member)  # a new session: the old one went idle three weeks ago
    mine = page_text(mia.get("/me/meetings"))
    assert mine.count("You're going.") == 29 - 3 - 1  # three weeks took place, one skipped
    assert "Tue 1 Jun 2027, 19:00" in mine  # (London is on summer time by then: 19:00 there is 18:00 UTC)
    assert "You're going." in box_text(rsvp_box(html(mia.get(f"/meetings/{newest}")), newest))
    assert "You said you can't make it." in box_text(rsvp_box(html(mia.get(f"/meetings/{skipped}")), skipped))

    stopped = post(mia, f"/groups/{slug}/meetings/{series_id}/standing/stop", {"next": f"/groups/{slug}"},
                   follow_redirects=True)
    assert "You're no longer down for every \u201cIntegration circle\u201d." in flashes(stopped)
    assert "I come every time" in text(stopped)
    assert "Nothing yet." in page_text(mia.get("/me/meetings"))
    assert "You said you can't make it." in box_text(rsvp_box(html(mia.get(f"/meetings/{skipped}")), skipped))
    assert "You're" not in box_text(rsvp_box(html(mia.get(f"/meetings/{soon}")), soon))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StandingRsvp)) == 0
        assert rsvp_rows(skipped) == {member.id: RsvpStatus.CANCELLED}
        assert db.session.get(Occurrence, newest).going_count == 0
    # Stopping again is harmless.
    assert post(mia, f"/groups/{slug}/meetings/{series_id}/standing/stop").status_code == 302


def test_a_standing_rsvp_queues_when_a_week_is_full(app, seats, member):
    ann, ben = (seats["people"][n] for n in ("Ann A.", "Ben B."))
    for persona in (ann, ben):
        assert say(app, persona, seats["second"]).status_code == 302
    mia = browser(app, member)
    assert post(mia, f"/groups/{seats['slug']}/meetings/{seats['series_id']}/standing").status_code == 302
    shown = box_text(rsvp_box(html(mia.get(f"/meetings/{seats['second']}")), seats["second"]))
    assert "You're on the waitlist: number 1." in shown
    assert "You're going." in box_text(rsvp_box(html(mia.get(f"/meetings/{seats['occ']}")), seats["occ"]))


# --- 6. attendance: marking, self check-in, history, the chart ---


@pytest.fixture
def meeting(app, facilitator, member) -> dict:
    """A public group's weekly meeting (first Tue 1 Dec 19:00): Gus said he's going, Walt is a member who didn't."""
    gus, walt, otto = make_persona(app, "Gus G."), make_persona(app, "Walt W."), make_persona(app, "Otto P.")
    with app.app_context():
        group = start_group(facilitator, "Thursday Integration Circle")
        for persona in (gus, walt, member):
            add_member(group, persona)
        series = scheduling.create_series(group, weekly(), clock.now_utc())
        db.session.commit()
        slug, occ = group.slug, occurrences_of(series.id)[0].id
    assert say(app, gus, occ).status_code == 302
    return {"slug": slug, "occ": occ, "gus": gus, "walt": walt, "otto": otto}


def roster_section(response, heading_id: str) -> str:
    return re.search(rf'<h2 id="{heading_id}">(.*?)</section>', html(response), re.S).group(1)


def test_a_facilitator_marks_a_going_member_and_a_walk_in_and_takes_one_back(app, meeting, facilitator):
    occ, gus, walt, otto = meeting["occ"], meeting["gus"], meeting["walt"], meeting["otto"]
    clock.set_frozen(FIRST_START - 16 * MINUTE)
    fay = browser(app, facilitator)
    too_early = post(fay, f"/meetings/{occ}/attendance/{gus.id}/mark", follow_redirects=True)
    assert "Attendance can be marked from 15 minutes before the meeting starts." in flashes(too_early)

    clock.set_frozen(DURING)
    fay = browser(app, facilitator)
    roster = fay.get(f"/meetings/{occ}/roster")
    assert gus.display_name in roster_section(roster, "going-h")
    assert walt.display_name in roster_section(roster, "walkin-h")
    assert "Mark attended" in roster_section(roster, "going-h")

    for person in (gus, walt):
        marked = post(fay, f"/meetings/{occ}/attendance/{person.id}/mark")
        assert marked.status_code == 302 and marked.headers["Location"] == f"/meetings/{occ}/roster"
    roster = fay.get(f"/meetings/{occ}/roster")
    assert "Attended ✓ (undo)" in roster_section(roster, "going-h")
    walk_ins = roster_section(roster, "walkin-h")
    assert re.search(r"Walt W\.\s*<form[^>]*/unmark\"", walk_ins)
    assert post(fay, f"/meetings/{occ}/attendance/{gus.id}/mark").status_code == 302  # twice: nothing new

    assert post(fay, f"/meetings/{occ}/attendance/{walt.id}/unmark").status_code == 302
    # Someone who is not a member and did not RSVP can't be marked.
    refused = post(fay, f"/meetings/{occ}/attendance/{otto.id}/mark", follow_redirects=True)
    assert "Only members of the group, or people who RSVP'd, can be marked as attending." in (
        flashes(refused).replace("&#39;", "'")
    )
    with app.app_context():
        assert set(db.session.scalars(select(Attendance.user_id).where(Attendance.occurrence_id == occ))) == {gus.id}


@pytest.mark.parametrize(
    ("at", "outcome"),
    [
        (FIRST_START - 16 * MINUTE, "Check-in opens 15 minutes before the meeting starts."),
        (FIRST_START - 15 * MINUTE, "recorded"),
        (FIRST_START + 45 * MINUTE, "recorded"),
        (FIRST_END - MINUTE, "recorded"),
        (FIRST_END, "This meeting is over, so check-in has closed. A facilitator can still mark you."),
        (FIRST_END + timedelta(hours=2), "This meeting is over, so check-in has closed."),
    ],
    ids=["16-min-before", "15-min-before", "during", "last-minute", "at-the-end", "after"],
)
def test_self_check_in_with_the_code_works_from_15_minutes_before_the_start_to_the_end(
    app, meeting, member, facilitator, at, outcome
):
    occ = meeting["occ"]
    clock.set_frozen(FIRST_START - 20 * MINUTE)
    fay = browser(app, facilitator)
    assert post(fay, f"/meetings/{occ}/code").status_code == 302
    code = re.search(r'<p class="checkin-code"[^>]*>([A-Z0-9]{6})</p>', html(fay.get(f"/meetings/{occ}/roster")))
    assert code, "the roster shows the code"

    clock.set_frozen(at)
    mia = browser(app, member)
    page = mia.get(f"/meetings/{occ}")
    form_shown = "Attending? Enter the meeting's code" in page_text(page)
    assert form_shown is (outcome == "recorded")
    # Typed the way people type: lower case, with a space.
    typed = f"{code.group(1)[:3].lower()} {code.group(1)[3:].lower()}"
    response = post(mia, f"/meetings/{occ}/check-in", {"code": typed}, follow_redirects=True)
    with app.app_context():
        recorded = attendance.has_attended(db.session.get(Occurrence, occ), member.user())
    if outcome == "recorded":
        assert "Your attendance is recorded. Welcome." in flashes(response)
        assert "Your attendance is recorded." in page_text(mia.get(f"/meetings/{occ}"))
        assert recorded
    else:
        assert outcome in flashes(response)
        assert not recorded


def test_a_wrong_code_or_no_code_is_refused(app, meeting, member, facilitator):
    occ = meeting["occ"]
    clock.set_frozen(FIRST_START - 5 * MINUTE)
    mia = browser(app, member)
    early = post(mia, f"/meetings/{occ}/check-in", {"code": "ABC234"}, follow_redirects=True)
    assert "Check-in isn't open yet: ask the facilitator to show the code." in flashes(early).replace("&#39;", "'")
    assert post(browser(app, facilitator), f"/meetings/{occ}/code").status_code == 302
    with app.app_context():
        real = attendance.code_for(db.session.get(Occurrence, occ))
    wrong = "ABC234" if real != "ABC234" else "ABC235"
    for typed, message in (
        (wrong, "That code doesn't match. Check the code shown in the meeting and try again."),
        ("", "Enter the code the facilitator shows."),
        ("X" * 40, "Enter the code the facilitator shows."),
    ):
        response = post(mia, f"/meetings/{occ}/check-in", {"code": typed})
        assert response.status_code == 303
        assert message in flashes(mia.get(response.headers["Location"])).replace("&#39;", "'"), typed
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == 0


def test_my_meetings_shows_the_members_attendance_history(app, meeting, member, facilitator):
    occ = meeting["occ"]
    mia = browser(app, member)
    assert "No attendance recorded yet." in page_text(mia.get("/me/meetings"))
    clock.set_frozen(DURING)
    assert post(browser(app, facilitator), f"/meetings/{occ}/attendance/{member.id}/mark").status_code == 302

    clock.set_frozen(FIRST_END + timedelta(days=1))
    mine = page_text(browser(app, member).get("/me/meetings"))
    past = mine.split("Meetings you attended", 1)[1]
    assert "Tue 1 Dec 2026 · Integration circle (Thursday Integration Circle)" in past
    assert "Make a proof of attendance" in past


@pytest.fixture
def three_months(app, facilitator, member) -> dict:
    """A weekly Tuesday meeting since 25 August 2026 (14 have taken place by now, one of them cancelled),
    with attendance marked: Mia, Gus and Walt came in turns."""
    gus, walt = make_persona(app, "Gus G."), make_persona(app, "Walt W.")
    with app.app_context():
        clock.set_frozen(PINNED_NOW - timedelta(weeks=14))
        group = start_group(facilitator, "Thursday Integration Circle")
        people = [member, gus, walt]
        for persona in people:
            add_member(group, persona)
        series = scheduling.create_series(group, weekly(first_date=date(2026, 8, 25)), clock.now_utc())
        weeks = occurrences_of(series.id)
        scheduling.cancel_occurrence(weeks[9], "Holiday.", clock.now_utc())
        db.session.commit()
        clock.set_frozen(PINNED_NOW)
        came = {}
        for n, occ in enumerate(weeks[:14]):
            if n == 9:
                continue
            who = people[: n % 4]  # 0, 1, 2, 3, 0, 1, ... people
            for persona in who:
                attendance.mark_attended(occ, persona.user(), facilitator.user(), clock.now_utc())
            came[occ.id] = len(who)
        db.session.commit()
        return {"slug": group.slug, "weeks": [o.id for o in weeks], "came": came, "next": weeks[14].id}


def test_the_roster_charts_attendance_over_the_last_12_meetings(app, three_months, facilitator, member):
    roster = browser(app, facilitator).get(f"/meetings/{three_months['next']}/roster")
    assert roster.status_code == 200
    page = html(roster)
    assert "Attendance, last 12 meetings" in text(roster)
    svg = re.search(r'<svg class="chart"[^>]*role="img"[^>]*>(.*?)</svg>', page, re.S)
    assert svg, "an SVG chart"
    assert "<title" in svg.group(1)
    # The last 12 meetings that took place (the cancelled week is left out), oldest first.
    weeks, came = three_months["weeks"], three_months["came"]
    shown = [w for n, w in enumerate(weeks[:14]) if n != 9][-12:]
    expected = [came[w] for w in shown]
    assert len(re.findall(r"<rect ", svg.group(1))) == 12
    values = [int(v) for v in re.findall(r'<text[^>]*class="bar-value">(\d+)</text>', svg.group(1))]
    assert values == expected
    # The same numbers in a table for screen readers.
    table = re.search(r"<table[^>]*>\s*<caption>Attendance per meeting</caption>(.*?)</table>", page, re.S)
    assert table, "an accessible table"
    rows = re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td></tr>", table.group(1))
    assert [int(n) for _, n in rows] == expected
    assert rows[0][0] == "Tue 1 Sep 2026, 19:00" and rows[-1][0] == "Tue 24 Nov 2026, 19:00"
    assert "Tue 27 Oct 2026" not in table.group(1)  # the cancelled week
    # Members see neither the chart nor the roster.
    assert browser(app, member).get(f"/meetings/{three_months['next']}/roster").status_code == 403


def test_a_roster_without_past_meetings_says_so(app, meeting, facilitator):
    roster = browser(app, facilitator).get(f"/meetings/{meeting['occ']}/roster")
    assert "No meetings have taken place yet." in text(roster)
    assert "<svg" not in html(roster)


def test_a_new_code_for_a_meeting_that_is_over_or_cancelled_is_refused_with_a_message(app, meeting, facilitator):
    occ = meeting["occ"]
    clock.set_frozen(FIRST_END + MINUTE)
    fay = browser(app, facilitator)
    over = post(fay, f"/meetings/{occ}/code")
    assert over.status_code == 303
    assert "This meeting is over, so check-in has closed." in flashes(fay.get(over.headers["Location"]))
    with app.app_context():
        assert attendance.code_for(db.session.get(Occurrence, occ)) is None


# --- 7. proof of attendance ---


@pytest.fixture
def attended(app, facilitator, member) -> dict:
    """Mia attended two meetings of the Quiet Harbour Circle (17 and 24 November), Nora one."""
    nora = make_persona(app, "Nora N.")
    with app.app_context():
        clock.set_frozen(PINNED_NOW - timedelta(weeks=2))
        group = start_group(facilitator, "Quiet Harbour Circle", visibility=Visibility.PRIVATE,
                            join_policy=JoinPolicy.INVITE)
        for persona in (member, nora):
            add_member(group, persona)
        series = scheduling.create_series(group, weekly(first_date=date(2026, 11, 17)), clock.now_utc())
        clock.set_frozen(PINNED_NOW)
        first, second = occurrences_of(series.id)[:2]
        for occ, people in ((first, (member, nora)), (second, (member,))):
            for persona in people:
                attendance.mark_attended(occ, persona.user(), facilitator.user(), clock.now_utc())
        db.session.commit()
        return {"group_id": group.id, "nora": nora}


def proof_facts(response) -> str:
    match = re.search(r'<dl class="meta proof">.*?</dl>', html(response), re.S)
    assert match, "the proof's facts"
    return match.group(0)


def verify_path(response) -> str:
    match = re.search(r'<strong class="verify-link">([^<]+)</strong>', html(response))
    assert match, "a verification link"
    assert match.group(1).startswith(f"{BASE_URL}/proof/")
    return match.group(1).removeprefix(BASE_URL)


def test_a_member_makes_a_proof_with_a_neutral_label_that_anyone_can_verify(
    app, attended, member, facilitator, outsider
):
    mia = browser(app, member)
    form = mia.get("/me/attendance/proofs")
    assert form.status_code == 200
    assert 'value="Mia M."' in html(form)  # the display name is suggested, and can be changed
    assert "Quiet Harbour Circle" in html(form)

    made = post(mia, "/me/attendance/proofs", {
        "shown_name": "Mia Martinez", "group": str(attended["group_id"]), "neutral_label": "Weekly support group",
    })
    assert made.status_code == 302 and re.fullmatch(r"/me/attendance/proofs/\d+", made.headers["Location"])
    proof_page = mia.get(made.headers["Location"])
    facts = proof_facts(proof_page)
    for fact in ("Mia Martinez", "Weekly support group", "2026-11-17", "2026-11-24", "26 November 2026"):
        assert fact in facts
    path = verify_path(proof_page)

    for viewer in (None, outsider, facilitator):
        verified = browser(app, viewer).get(path)
        assert verified.status_code == 200
        assert verified.headers["X-Robots-Tag"] == "noindex"
        assert verified.headers["Cache-Control"] == "no-store"
        assert proof_facts(verified) == facts  # the same facts ...
        assert "This proof is valid" in text(verified)
        main = re.search(r"<main.*?</main>", html(verified), re.S).group(0)
        # ... and nothing else: no email, no group name, nobody else, not the member's display name.
        for hidden in (
            member.email, "@example.org", "Quiet Harbour Circle", "Integration circle", member.display_name,
            attended["nora"].display_name, facilitator.display_name, "Community room", "12 Canal Street",
        ):
            assert hidden not in main, (viewer, hidden)


def test_a_proof_without_a_neutral_label_names_the_group_or_all_groups(app, attended, member):
    mia = browser(app, member)
    named = post(mia, "/me/attendance/proofs", {"shown_name": "Mia M.", "group": str(attended["group_id"])},
                 follow_redirects=True)
    assert "Quiet Harbour Circle" in proof_facts(named)
    everything = post(mia, "/me/attendance/proofs", {"shown_name": "Mia M.", "group": ""}, follow_redirects=True)
    assert "Support group meetings" in proof_facts(everything)
    listed = page_text(mia.get("/me/attendance/proofs"))
    assert "Quiet Harbour Circle · 2 dates" in listed and "Support group meetings · 2 dates" in listed


def test_a_revoked_proof_link_answers_404_and_only_its_member_can_revoke_it(app, attended, member):
    mia = browser(app, member)
    made = post(mia, "/me/attendance/proofs", {"shown_name": "Mia M.", "group": "", "neutral_label": "Meetings"})
    proof_url = made.headers["Location"]
    path = verify_path(mia.get(proof_url))
    assert browser(app).get(path).status_code == 200

    nora = browser(app, attended["nora"])
    assert nora.get(proof_url).status_code == 404
    assert post(nora, f"{proof_url}/revoke").status_code == 404
    assert browser(app).get(path).status_code == 200

    revoked = post(mia, f"{proof_url}/revoke", follow_redirects=True)
    assert "The proof is revoked: its verification link no longer works." in flashes(revoked)
    assert "Revoked" in text(revoked)
    assert browser(app).get(path).status_code == 404
    page = mia.get(proof_url)
    assert "This proof was revoked." in text(page) and "verify-link" not in html(page)
    assert post(mia, f"{proof_url}/revoke").status_code == 302  # revoking twice is harmless
    assert browser(app).get(path).status_code == 404


def test_a_tampered_or_forged_proof_token_answers_404(app, attended, member):
    mia = browser(app, member)
    made = post(mia, "/me/attendance/proofs", {"shown_name": "Mia M.", "group": ""})
    path = verify_path(mia.get(made.headers["Location"]))
    token = path.removeprefix("/proof/")
    payload, signature = token.rsplit(".", 1)
    with app.app_context():
        proof_id = db.session.scalar(select(AttendanceProof.id))
    forged = [
        # One character of the signature, then of the payload: the first, since a last base64 character partly
        # holds padding bits, where a change can decode to the very same bytes.
        f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}",
        f"{'A' if payload[0] != 'A' else 'B'}{payload[1:]}.{signature}",
        URLSafeSerializer("not-the-secret", salt=attendance.PROOF_SALT).dumps(proof_id),
        URLSafeSerializer(app.config["SECRET_KEY"], salt="another-salt").dumps(proof_id),
        URLSafeSerializer(app.config["SECRET_KEY"], salt=attendance.PROOF_SALT).dumps(proof_id + 1),
        URLSafeSerializer(app.config["SECRET_KEY"], salt=attendance.PROOF_SALT).dumps(str(proof_id)),
        URLSafeSerializer(app.config["SECRET_KEY"], salt=attendance.PROOF_SALT).dumps(True),
        payload, "x", "x" * 5000, "%00", "..%2F..%2Fetc%2Fpasswd",
    ]
    client = browser(app)
    assert client.get(path).status_code == 200
    for bad in forged:
        assert client.get(f"/proof/{bad}").status_code == 404, bad


def test_a_proof_needs_attendance_and_sensible_values(app, attended, member, outsider):
    otto = browser(app, outsider)
    nothing = post(otto, "/me/attendance/proofs", {"shown_name": "Otto", "group": ""})
    assert nothing.status_code == 400
    assert "There is no attendance to show yet." in text(nothing)

    mia = browser(app, member)
    group = str(attended["group_id"])
    for data, message in (
        ({"shown_name": "", "group": group}, "Enter the name the proof should show."),
        ({"shown_name": "   ", "group": group}, "Enter the name the proof should show."),
        ({"shown_name": "x" * 61, "group": group}, "Field cannot be longer than 60 characters."),
        ({"shown_name": "Mia", "group": group, "neutral_label": "x" * 121}, "120"),
        ({"shown_name": "Mia", "group": "999999"}, "Not a valid choice"),
        ({"shown_name": "Mia", "group": "abc"}, "Not a valid choice"),
        ({"shown_name": "Mia", "group": "99999999999999999999999"}, "Not a valid choice"),
    ):
        response = post(mia, "/me/attendance/proofs", data)
        assert response.status_code == 400, data
        assert message in text(response), (data, text(response)[-400:])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AttendanceProof)) == 0


# --- 8. bad input never causes a server error ---


HUGE = "99999999999999999999999"
JUST_TOO_BIG = str(2**63)


def test_malformed_and_huge_ids_answer_404(app, world, facilitator, member):
    refs = world.public
    gets = [
        "/meetings/abc/roster", f"/meetings/{HUGE}/roster", f"/meetings/{JUST_TOO_BIG}/roster", "/meetings/-1/roster",
        "/meetings/0/roster", "/meetings/999999/roster",
        "/me/attendance/proofs/abc", f"/me/attendance/proofs/{HUGE}", f"/me/attendance/proofs/{JUST_TOO_BIG}",
        "/me/attendance/proofs/-3", "/me/attendance/proofs/999999",
    ]
    posts = [
        "/meetings/abc/rsvp", f"/meetings/{HUGE}/rsvp", f"/meetings/{JUST_TOO_BIG}/rsvp", "/meetings/-1/rsvp",
        "/meetings/1.5/rsvp", "/meetings/999999/rsvp",
        f"/meetings/{HUGE}/rsvp/cancel", "/meetings/abc/rsvp/cancel", "/meetings/999999/rsvp/cancel",
        f"/groups/{refs.slug}/meetings/abc/standing", f"/groups/{refs.slug}/meetings/{HUGE}/standing",
        f"/groups/{refs.slug}/meetings/{JUST_TOO_BIG}/standing/stop", f"/groups/{refs.slug}/meetings/999999/standing",
        f"/groups/no-such-group/meetings/{refs.series_id}/standing",
        f"/groups/{world.private.slug}/meetings/{refs.series_id}/standing",  # another group's series
        f"/meetings/{refs.occurrence_id}/attendance/abc/mark", f"/meetings/{refs.occurrence_id}/attendance/{HUGE}/mark",
        f"/meetings/{refs.occurrence_id}/attendance/999999/mark",
        f"/meetings/{refs.occurrence_id}/attendance/{member.id}/explode", f"/meetings/{HUGE}/attendance/1/unmark",
        f"/meetings/{HUGE}/code", f"/meetings/{HUGE}/check-in", "/meetings/abc/check-in",
        f"/me/attendance/proofs/{HUGE}/revoke", "/me/attendance/proofs/abc/revoke",
    ]
    fay = browser(app, facilitator)
    for url in gets:
        assert fay.get(url).status_code == 404, url
    for url in posts:
        assert post(fay, url).status_code == 404, url
        assert post(fay, url, headers=FETCH).status_code == 404, url
    # A member is refused the facilitators' routes of a meeting that exists before the person is looked up.
    mia = browser(app, member)
    for url in gets:
        assert mia.get(url).status_code == 404, url
    for url in posts:
        expected = 403 if url == f"/meetings/{refs.occurrence_id}/attendance/999999/mark" else 404
        assert post(mia, url).status_code == expected, url


def test_odd_form_values_never_cause_a_server_error(app, world, member, facilitator):
    refs = world.public
    mia = browser(app, member)
    occ = refs.occurrence_id
    for next_value in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "x" * 3000):
        answered = post(mia, f"/meetings/{occ}/rsvp", {"next": next_value})
        assert answered.status_code == 302 and answered.headers["Location"] == f"/meetings/{occ}", next_value
        fragment = post(mia, f"/meetings/{occ}/rsvp/cancel", {"next": next_value}, headers=FETCH)
        assert fragment.status_code == 200
    assert post(mia, f"/meetings/{occ}/rsvp", {"next": f"/groups/{refs.slug}"}).headers["Location"] == (
        f"/groups/{refs.slug}"
    )
    for code in ("", "x" * 5000, "é" * 6, "\x01\x02"):
        assert post(mia, f"/meetings/{occ}/check-in", {"code": code}).status_code == 303, code
    # A NUL is refused with every form (supportnet/web/security.py); before that, a leading NUL in the proof's
    # name passed the form and broke the database's length CHECK (SQLite's length() stops at a NUL): a 500.
    assert post(mia, f"/meetings/{occ}/check-in", {"code": "\x00"}).status_code in (303, 400)
    assert post(mia, "/me/attendance/proofs", {"shown_name": "\x00" * 10, "group": ""}).status_code == 400
    assert post(mia, "/me/attendance/proofs", {"shown_name": "\x01\x02", "group": ""}).status_code < 500
    clock.set_frozen(DURING)
    fay = browser(app, facilitator)
    assert post(fay, f"/meetings/{occ}/attendance/{member.id}/mark", {"extra": "x" * 10_000}).status_code == 302
    assert fay.get(f"/meetings/{occ}/roster?page=abc").status_code == 200
    # GET on a POST route is not allowed, and never a server error.
    assert mia.get(f"/meetings/{occ}/rsvp").status_code == 405
    assert mia.get(f"/meetings/{occ}/check-in").status_code == 405


def test_my_meetings_lists_each_meeting_once_in_the_viewers_timezone(app, seats, facilitator):
    sam = make_persona(app, "Sam K.", tz="America/New_York")
    with app.app_context():
        memberships.join(db.session.scalar(select(Group).where(Group.slug == seats["slug"])), sam.user(),
                         clock.now_utc())
        db.session.commit()
    client = browser(app, sam)
    assert post(client, f"/meetings/{seats['occ']}/rsvp").status_code == 302
    mine = page_text(client.get("/me/meetings"))
    # 19:00 in London is 14:00 in New York, and the page says so.
    assert "Tue 1 Dec 2026, 14:00" in mine and "19:00 in London" in mine
    assert mine.count("Integration circle") == 1


def test_counts_of_people_show_from_five_on_and_say_a_few_below(app, facilitator):
    """A count of 1 to 4 going or members could single someone out in a small group: it says "a few"."""
    from supportnet.web.filters import people_count

    assert [people_count(n) for n in (0, 1, 4, 5, 12)] == ["0", "a few", "a few", "5", "12"]
    world = make_world(app, facilitator)
    occ = world.occurrence_id()
    people = [make_persona(app, f"Person {n}") for n in range(5)]
    for person in people[:3]:
        going(world, person, occ)
    visitor = app.test_client()
    assert "a few going" in box_text(rsvp_box(html(visitor.get(f"/meetings/{occ}")), occ))
    assert "a few members" in page_text(visitor.get(f"/groups/{world.slug}"))  # 3 and their facilitator
    for person in people[3:]:
        going(world, person, occ)
    assert "5 going" in box_text(rsvp_box(html(visitor.get(f"/meetings/{occ}")), occ))
    assert "6 members" in page_text(visitor.get(f"/groups/{world.slug}"))
