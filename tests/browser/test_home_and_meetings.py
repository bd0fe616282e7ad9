"""In a real browser, at desktop width and on a 390 px phone: the home of a new member, of a member with
meetings and of a facilitator, and the list of meetings by time with its place search."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from supportnet import clock, groups, memberships, rsvps, scheduling
from supportnet.extensions import db
from supportnet.models import GroupKind, JoinPolicy, Occurrence, SiteRole
from supportnet.recurrence import Frequency, Recurrence
from supportnet.scheduling import SeriesSpec
from tests.browser.test_rsvp_flow import sign_in
from tests.conftest import make_persona

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "390px"])


def fits_the_width(page: Page) -> None:
    """Nothing makes the page scroll sideways."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.fixture
def world(live_server) -> dict:
    """A public group (approval to join) meeting tomorrow at 19:00 London in Manchester, and an online one
    the day after; Mia is a member going tomorrow, Ned asks to join, Fay facilitates; Nia has no group."""
    app = live_server.app
    fay = make_persona(app, "Fay F.", SiteRole.FACILITATOR)
    mia, ned, nia = (make_persona(app, name) for name in ("Mia M.", "Ned N.", "Nia N."))
    # The live server runs on the real clock: tomorrow, so nothing has started whenever the test runs.
    tomorrow = (datetime.now(LONDON) + timedelta(days=1)).date()
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            fay.user(), name="Canal Circle", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now,
            join_policy=JoinPolicy.APPROVAL,
        )
        base = {"duration_minutes": 90, "timezone": "Europe/London", "recurrence": Recurrence(Frequency.ONCE)}
        room = scheduling.create_series(group, SeriesSpec(
            title="Room meeting", first_date=tomorrow, start_time=time(19, 0), venue="Friends Meeting House",
            address="6 Mount Street, Manchester", capacity=8, **base), now)
        scheduling.create_series(group, SeriesSpec(
            title="Online meeting", first_date=tomorrow + timedelta(days=1), start_time=time(12, 0),
            online_url="https://meet.example.net/x", **base), now)
        memberships.approve(memberships.join(group, mia.user(), now), now)
        memberships.join(group, ned.user(), now)
        occ = db.session.scalar(db.select(Occurrence).where(Occurrence.series_id == room.id))
        rsvps.rsvp(occ, mia.user(), now)
        db.session.commit()
        return {"occ": occ.id, "fay": fay, "mia": mia, "nia": nia}


@SIZES
def test_a_new_member_is_shown_where_to_start(new_page, live_server, world, viewport):
    page = new_page(viewport=viewport, timezone_id="Europe/London")
    sign_in(page, live_server.url, world["nia"])
    expect(page.get_by_role("heading", name="Find a group to start")).to_be_visible()
    expect(page.get_by_role("link", name="See meetings by time")).to_be_visible()
    expect(page.get_by_role("link", name="Check in now")).to_be_visible()
    fits_the_width(page)
    page.get_by_role("link", name="Browse groups").click()
    expect(page.get_by_role("heading", name="Find a group", exact=True)).to_be_visible()


@SIZES
def test_a_member_sees_their_meeting_and_says_they_cant_make_it_in_one_click(new_page, live_server, world, viewport):
    page = new_page(viewport=viewport, timezone_id="Europe/London")
    sign_in(page, live_server.url, world["mia"])
    box = page.locator(f"#rsvp-{world['occ']}")
    expect(box).to_contain_text("You're going.")
    expect(page.get_by_role("heading", name="Find a group to start")).to_have_count(0)
    fits_the_width(page)
    box.get_by_role("button", name="Can't go").click()
    expect(page.locator(f"#rsvp-{world['occ']}")).to_contain_text("You said you can't make it.")
    assert re.fullmatch(rf"{re.escape(live_server.url)}/?", page.url)


@SIZES
def test_a_facilitator_sees_counts_and_requests(new_page, live_server, world, viewport):
    page = new_page(viewport=viewport, timezone_id="Europe/London")
    sign_in(page, live_server.url, world["fay"])
    section = page.locator(".home-facilitate")
    expect(section).to_contain_text("1 going of 8 · 0 on the waitlist")
    expect(section.get_by_role("link", name="1 request to join")).to_be_visible()
    fits_the_width(page)


@SIZES
def test_meetings_by_time_with_a_place_search(new_page, live_server, world, viewport):
    page = new_page(viewport=viewport, timezone_id="Europe/London")
    page.goto(f"{live_server.url}/meetings")
    expect(page.get_by_role("heading", name="Tomorrow")).to_be_visible()
    cards = page.locator(".meeting-card")
    expect(cards).to_have_count(2)
    expect(cards.first).to_contain_text("In person")
    expect(cards.first).to_contain_text("Manchester")
    expect(cards.nth(1)).to_contain_text("Online")
    fits_the_width(page)
    page.get_by_label("Place").fill("manchester")
    page.get_by_role("button", name="Show meetings").click()
    expect(page.locator(".meeting-card")).to_have_count(1)
    expect(page.locator(".meeting-card")).to_contain_text("Room meeting")
    page.get_by_label("Place").fill("leeds")
    page.get_by_role("button", name="Show meetings").click()
    expect(page.get_by_text("No meetings match in the coming week.")).to_be_visible()


@SIZES
def test_a_visitor_sees_times_in_the_browsers_timezone(new_page, live_server, world, viewport):
    page = new_page(viewport=viewport, timezone_id="America/New_York")
    page.goto(f"{live_server.url}/meetings")
    # The script tells the server the browser's zone once (a cookie) and the page comes back in it.
    expect(page.locator(".meeting-card").first).to_contain_text("your time · 19:00 in London")
    expect(page.get_by_text("Days and times are in your timezone (America/New_York)")).to_be_visible()
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies["supportnet_tz"] == "America/New_York"
    page.goto(f"{live_server.url}/groups")
    expect(page.locator(".group-card").first).to_contain_text("in London")


def test_without_javascript_a_visitor_sees_the_meetings_own_time_labelled(new_page, live_server, world):
    page = new_page(timezone_id="America/New_York", java_script_enabled=False)
    page.goto(f"{live_server.url}/meetings")
    expect(page.locator(".meeting-card").first).to_contain_text("19:00\u201320:30 London time")
    assert "UTC" not in page.locator(".meeting-card").first.inner_text()


def table_fits(page: Page) -> None:
    """The table needs no sideways scrolling inside its box either (one card per row on a phone)."""
    assert page.evaluate(
        "[...document.querySelectorAll('.table-wrap')].every(w => w.scrollWidth <= w.clientWidth + 1)"
    )


def test_tables_of_people_fit_a_phone(new_page, live_server, world):
    admin = make_persona(live_server.app, "Ada A.", SiteRole.ADMIN)
    with live_server.app.app_context():
        slug = db.session.get(Occurrence, world["occ"]).series.group.slug
    fay = new_page(viewport=PHONE)
    sign_in(fay, live_server.url, world["fay"])
    fay.goto(f"{live_server.url}/groups/{slug}/members")
    expect(fay.get_by_label("Role of Mia M.")).to_be_visible()
    fits_the_width(fay)
    table_fits(fay)
    ada = new_page(viewport=PHONE)
    sign_in(ada, live_server.url, admin)
    ada.goto(f"{live_server.url}/admin/users")
    expect(ada.get_by_label("Role of Mia M.")).to_be_visible()
    fits_the_width(ada)
    table_fits(ada)


def test_the_schedule_form_shows_only_what_the_repeat_kind_needs(new_page, live_server, world):
    with live_server.app.app_context():
        slug = db.session.get(Occurrence, world["occ"]).series.group.slug
    page = new_page(viewport=PHONE)
    sign_in(page, live_server.url, world["fay"])
    page.goto(f"{live_server.url}/groups/{slug}/meetings/new")
    weekdays, month_day = page.get_by_text("For weekly meetings."), page.get_by_label("Day of the month")
    last_date, number = page.get_by_label("Last date"), page.get_by_label("Number of meetings", exact=True)
    expect(weekdays).to_be_visible()
    expect(month_day).to_be_hidden()
    expect(last_date).to_be_hidden()
    page.get_by_label("Monthly on a date (e.g. the 15th)").check()
    expect(month_day).to_be_visible()
    expect(weekdays).to_be_hidden()
    page.get_by_label("After a number of meetings").check()
    expect(number).to_be_visible()
    expect(last_date).to_be_hidden()
    page.get_by_label("Once", exact=True).check()
    expect(number).to_be_hidden()
    expect(page.get_by_label("Every how many weeks or months")).to_be_hidden()

    # Without JavaScript everything is there.
    plain = new_page(java_script_enabled=False)
    sign_in(plain, live_server.url, world["fay"])
    plain.goto(f"{live_server.url}/groups/{slug}/meetings/new")
    for control in ("Day of the month", "Last date", "Number of meetings", "Every how many weeks or months"):
        expect(plain.get_by_label(control, exact=True)).to_be_visible()
