"""On a phone-sized screen, a member checks in with a few taps and sees the check-in in their chart."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import PASSWORD, make_persona

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
# For a person to look at after a run (CI can keep it as an artifact), so a fixed, well-known path.
SCREENSHOT_FORM = "/tmp/checkin-form-390.png"  # noqa: S108
SCREENSHOT_CHART = "/tmp/checkin-chart-390.png"  # noqa: S108


def assert_no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px screen"


def test_a_member_checks_in_on_a_phone_and_sees_it_in_the_chart(new_page, live_server):
    base = live_server.url
    mia = make_persona(live_server.app, "Mia M.", tz="Europe/London")
    page: Page = new_page(viewport=PHONE, timezone_id="Europe/London", is_mobile=True, has_touch=True)

    page.goto(f"{base}/login")
    page.get_by_label("Email", exact=True).fill(mia.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Hello, "))).to_be_visible()

    page.get_by_role("link", name="Check in", exact=True).click()
    expect(page.get_by_role("heading", name="Check in")).to_be_visible()
    assert_no_sideways_scrolling(page)

    mood = page.get_by_role("group", name="How are you feeling?")
    craving = page.get_by_role("group", name="Craving")
    mood.get_by_text("Good", exact=True).tap()
    craving.get_by_text("3", exact=True).tap()
    expect(mood.get_by_role("radio", name="Good", exact=True)).to_be_checked()
    expect(craving.get_by_role("radio", name="3", exact=True)).to_be_checked()
    # Two taps and the button: all on the first screen, no scrolling needed.
    save = page.get_by_role("button", name="Save check-in")
    box = save.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box
    page.screenshot(path=SCREENSHOT_FORM, full_page=True)
    save.tap()

    expect(page.get_by_role("heading", name="Check-in saved")).to_be_visible()
    expect(page.get_by_text("craving 3 of 10")).to_be_visible()
    page.get_by_role("link", name="See your trend").tap()

    expect(page.get_by_role("heading", name="My check-ins")).to_be_visible()
    chart = page.get_by_role("img", name=re.compile("Mood and craving"))
    expect(chart).to_be_visible()
    expect(chart.locator("circle")).to_have_count(2)  # today's mood and craving
    expect(page.locator("figcaption")).to_contain_text("1 of the last 30 days have a check-in.")
    chart_box = chart.bounding_box()
    assert chart_box is not None and chart_box["width"] <= PHONE["width"]
    assert_no_sideways_scrolling(page)

    # The same data as a table, for screen readers and anyone who prefers numbers.
    page.get_by_text("The chart's data as a table").tap()
    today = datetime.now(ZoneInfo("Europe/London")).date()
    row = page.get_by_role("row", name=re.compile(today.strftime("%a %-d %b %Y")))
    expect(row).to_contain_text("4.0")
    expect(row).to_contain_text("3.0")
    page.screenshot(path=SCREENSHOT_CHART, full_page=True)
