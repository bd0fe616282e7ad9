"""On a phone-sized screen, a member in London finds a coach in New York, books one of the free times shown in
her own zone with a note, moves the session to another time and then cancels it; the coach sees it on his
sessions page with her note. Nothing scrolls sideways, and each time is a target a thumb can hit."""

from __future__ import annotations

import re
from datetime import time

import pytest

from supportnet import clock
from supportnet.coaching import coaches
from supportnet.extensions import db
from supportnet.models import SiteRole, User
from tests.browser.support import PHONE, sign_in
from tests.conftest import make_persona

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser

SCREENSHOT_TIMES = "/tmp/session-times-390.png"  # noqa: S108 -- for a person to look at after a run
NOTE = "First session. Mornings are hard for me."


def assert_no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px screen"


def _coach(app, admin_email: str, coach_email: str) -> None:
    with app.app_context():
        admin = db.session.scalar(db.select(User).where(User.email == admin_email))
        coach = coaches.grant(coach_email, by=admin, now=clock.now_utc())
        coach.display_name, coach.timezone, coach.offers = "Cole (recovery coach)", "America/New_York", "Peer support"
        for weekday in range(7):
            coaches.add_window(coach, weekday, time(7), time(21))
        db.session.commit()


def test_a_member_books_moves_and_cancels_a_session_on_a_phone(new_page, live_server):
    base, app = live_server.url, live_server.app
    mia = make_persona(app, "Mia M.", tz="Europe/London")
    cole = make_persona(app, "Cole C.", tz="America/New_York")
    admin = make_persona(app, "Ada A.", role=SiteRole.ADMIN)
    _coach(app, admin.email, cole.email)
    page: Page = new_page(viewport=PHONE, timezone_id="Europe/London", is_mobile=True, has_touch=True)
    sign_in(page, base, mia)

    page.get_by_role("link", name="Sessions", exact=True).tap()
    expect(page.get_by_role("heading", name="Your sessions")).to_be_visible()
    page.get_by_role("link", name="Find a coach").tap()
    page.get_by_role("link", name="Cole (recovery coach)").tap()
    expect(page.get_by_role("heading", name="Free times")).to_be_visible()
    expect(page.get_by_text("Times are in your zone, Europe/London (the coach is in America/New_York)")).to_be_visible()
    assert_no_sideways_scrolling(page)

    first = page.locator("label.slot").first
    box = first.bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44, box
    chosen = first.locator(".slot-time").inner_text()
    day = page.locator("fieldset.slot-day legend").first.inner_text()  # e.g. "Friday 4 December"
    page.screenshot(path=SCREENSHOT_TIMES, full_page=False)
    first.tap()
    expect(first.get_by_role("radio")).to_be_checked()
    page.get_by_label("A short note for Cole (recovery coach) (optional)").fill(NOTE)
    page.get_by_role("button", name="Book this time").tap()

    expect(page.get_by_role("heading", name="Session with Cole (recovery coach)")).to_be_visible()
    expect(page.get_by_text("Your session is booked.")).to_be_visible()
    weekday, number = day.split()[0][:3], day.split()[1]
    expect(page.get_by_text(re.compile(rf"^{weekday} {number} .*, {chosen}\u2013"))).to_be_visible()
    expect(page.get_by_text(NOTE)).to_be_visible()
    expect(page.get_by_role("link", name="Add to your calendar (.ics)")).to_be_visible()
    assert_no_sideways_scrolling(page)

    # The coach sees it, and her note, on his own sessions page (in his zone).
    coach_page: Page = new_page(viewport=PHONE, timezone_id="America/New_York", is_mobile=True, has_touch=True)
    sign_in(coach_page, base, cole)
    coach_page.goto(f"{base}/coach/sessions")
    coach_page.get_by_role("link", name=re.compile(r"\d{2}:\d{2}")).first.tap()
    expect(coach_page.get_by_role("heading", name="Session with Mia M.")).to_be_visible()
    expect(coach_page.get_by_text(NOTE)).to_be_visible()

    # Move it to another time, then cancel it.
    options = page.locator("#move-to option:not([value=''])")
    target = options.nth(1).get_attribute("value")
    page.get_by_label("A new time (your time)").select_option(value=target)
    page.get_by_role("button", name="Move my session").tap()
    expect(page.get_by_text("Your session was moved.")).to_be_visible()
    page.get_by_role("button", name="Cancel this session").tap()
    expect(page.get_by_text("Your session is cancelled.")).to_be_visible()
    expect(page.locator(".status-cancelled")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Move my session")).to_have_count(0)
    assert_no_sideways_scrolling(page)
