"""axe-core (vendored under static/vendor, injected by the test only) finds no violation on the pages a member
and a facilitator use every day: home, meetings by time, the directory, a group, a meeting (on and cancelled),
the roster and the inbox, measures, my people, one-to-one sessions on both sides, at desktop width and at 390 px."""

from __future__ import annotations

import json
from datetime import time

import pytest

from supportnet import clock, scheduling
from supportnet.checkins import scores
from supportnet.coaching import booking, coaches
from supportnet.extensions import db
from supportnet.measures import instruments
from supportnet.models import Occurrence, Relation, SiteRole, User
from supportnet.supporters import alerts, people
from supportnet.supporters import plan as safety_plan
from tests.browser.support import DESKTOP, PHONE, sign_in
from tests.conftest import make_persona
from tests.worlds.browser_home import build_home_world

try:
    from playwright.sync_api import Page
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = None

pytestmark = pytest.mark.browser

AXE = "/static/vendor/axe-core/axe.min.js"


@pytest.fixture
def world(live_server) -> dict:
    """A public group (approval to join) meeting tomorrow at 19:00 London in Manchester, and an online one
    the day after; Mia is a member going tomorrow, Ned asks to join, Fay facilitates; Nia has no group."""
    return build_home_world(live_server)


def violations(page: Page, base: str) -> list[dict]:
    """The axe-core violations of the page as it is now (rule id, impact and the first offending elements)."""
    page.add_script_tag(url=f"{base}{AXE}")
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]} for v in found
    ]


def scan(page: Page, base: str, paths: list[str]) -> dict[str, list[dict]]:
    problems = {}
    for path in paths:
        page.goto(f"{base}{path}")
        found = violations(page, base)
        if found:
            problems[path] = found
    return problems


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "390px"])
def test_no_violations_on_the_everyday_pages(new_page, live_server, world, viewport):
    base, occ = live_server.url, world["occ"]
    with live_server.app.app_context():
        slug = db.session.get(Occurrence, occ).series.group.slug
    visitor = new_page(viewport=viewport, timezone_id="Europe/London")
    problems = scan(visitor, base, ["/", "/meetings", "/groups", f"/groups/{slug}", "/meetings?where=nowhere"])

    member = new_page(viewport=viewport, timezone_id="Europe/London")
    sign_in(member, base, world["mia"])
    problems |= {f"mia {k}": v for k, v in scan(member, base, ["/", f"/meetings/{occ}", "/notifications"]).items()}

    # --- measures: the list, taking the BAM, a result with the crisis panel, the trend ---
    with live_server.app.app_context():
        mia = db.session.get(User, world["mia"].id)
        answers = {"1": 4, "2": 1, "3": 1, "4": 0, "6": 0, "8": 1, "9": 3, "10": 2, "11": 1, "12": 2, "13": 3,
                   "14": 4, "15": 1, "16": 4, "17": 3}
        response, _ = scores.record(mia, instruments.current("BAM"), answers, clock.now_utc())
        db.session.commit()
        measure_pages = ["/me/measures", "/me/measures/BAM/take", f"/me/measures/responses/{response.id}",
                         "/me/measures/BAM/trend"]
    problems |= {f"mia {k}": v for k, v in scan(member, base, measure_pages).items()}

    # --- my people: supporters, alert rules, "reach out", the safety plan, the sharing page that lists them ---
    with live_server.app.app_context():
        mia = db.session.get(User, world["mia"].id)
        now = clock.now_utc()
        sam = people.invite(mia, "Sam", "sam@example.net", Relation.FRIEND, now)
        people.accept(sam, now)
        ana = people.invite(mia, "Ana", "ana@example.net", Relation.SPONSOR, now)  # still invited
        alerts.create(mia, sam.id, "no_checkin", 3, now)
        safety_plan.save(mia, {"warning_signs": "Skipping meals", "coping_strategies": "A walk by the river"}, now)
        db.session.commit()
        supporter_pages = [f"/supporter/{people.token_for(ana, 'accept')}/accept",
                           f"/supporter/{people.token_for(sam, 'stop')}/stop"]
    people_pages = ["/me/people", "/me/people/alerts", "/me/reach-out", "/me/reach-out/message", "/me/safety-plan",
                    "/me/safety-plan/print", "/me/sharing"]
    problems |= {f"mia {k}": v for k, v in scan(member, base, people_pages).items()}
    problems |= {f"supporter {k}": v for k, v in scan(visitor, base, supporter_pages).items()}

    newcomer = new_page(viewport=viewport, timezone_id="Europe/London")
    sign_in(newcomer, base, world["nia"])
    problems |= {f"nia {k}": v for k, v in scan(newcomer, base, ["/"]).items()}

    fay = new_page(viewport=viewport, timezone_id="Europe/London")
    sign_in(fay, base, world["fay"])
    fay_pages = ["/", f"/meetings/{occ}/roster", f"/groups/{slug}", f"/groups/{slug}/measures",
                 f"/groups/{slug}/measures/suggestions"]
    problems |= {f"fay {k}": v for k, v in scan(fay, base, fay_pages).items()}

    # --- one-to-one sessions: Fay coaches too; Mia booked her first free time with a note ---
    admin = make_persona(live_server.app, "Ada A.", role=SiteRole.ADMIN)
    with live_server.app.app_context():
        now = clock.now_utc()
        coach = coaches.grant(world["fay"].email, by=db.session.get(User, admin.id), now=now)
        for weekday in range(7):
            coaches.add_window(coach, weekday, time(8), time(20))
        first = coaches.free_slots(coach, now)[0].starts
        session = booking.book(db.session.get(User, world["mia"].id), coach, first, "Mornings are hard.", now)
        db.session.commit()
        coach_id, session_id = coach.id, session.id
    problems |= {f"mia {k}": v for k, v in scan(member, base, [
        "/coaches", f"/coaches/{coach_id}", "/me/sessions", f"/me/sessions/{session_id}"]).items()}
    problems |= {f"fay {k}": v for k, v in scan(fay, base, [
        "/coach/sessions", f"/coach/sessions/{session_id}", "/coach/profile", "/coach/availability"]).items()}

    # A cancelled meeting, as the member who was going sees it.
    with live_server.app.app_context():
        scheduling.cancel_occurrence(db.session.get(Occurrence, occ), "The room is closed", clock.now_utc())
        db.session.commit()
    problems |= {f"mia cancelled {k}": v for k, v in scan(member, base, [f"/meetings/{occ}", "/"]).items()}
    assert not problems, json.dumps(problems, indent=1)


def test_the_scan_does_find_a_violation(new_page, live_server):
    # The check of the check: an image without a text alternative is reported.
    page = new_page()
    page.goto(f"{live_server.url}/privacy")
    page.evaluate("() => { const img = document.createElement('img'); img.src = '/static/img/favicon.svg';"
                  " document.querySelector('main').appendChild(img); }")
    assert "image-alt" in {v["id"] for v in violations(page, live_server.url)}
