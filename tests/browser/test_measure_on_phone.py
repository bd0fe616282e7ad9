"""On a phone-sized screen, a member takes the Brief Addiction Monitor, leaves out the questions the form skips,
and reads the result: item answers first, then Use, Risk and Protective, no crisis panel for calm answers."""

from __future__ import annotations

import re

import pytest

from tests.browser.support import PHONE, sign_in
from tests.conftest import make_persona

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser

# For a person to look at after a run, so a fixed, well-known path.
SCREENSHOT_FORM = "/tmp/measure-bam-390.png"  # noqa: S108
SCREENSHOT_RESULT = "/tmp/measure-bam-result-390.png"  # noqa: S108

# Item -> the option's label as printed; 5 and 7A-7G are left out, as the form says after "0" to 4 and 6.
ANSWERS = {
    "1": "Good", "2": "1-3", "3": "1-3", "4": "0 (Skip to #6)", "6": "0", "8": "Slightly", "9": "Considerably",
    "10": "4-8", "11": "1-3", "12": "Moderately", "13": "9-15", "14": "Yes", "15": "Slightly", "16": "16-30",
    "17": "Considerably",
}


def assert_no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px screen"


def test_a_member_takes_the_bam_on_a_phone_with_its_skips(new_page, live_server):
    base = live_server.url
    mia = make_persona(live_server.app, "Mia M.", tz="Europe/London")
    page: Page = new_page(viewport=PHONE, timezone_id="Europe/London", is_mobile=True, has_touch=True)
    sign_in(page, base, mia)

    page.get_by_role("link", name="Measures", exact=True).click()
    expect(page.get_by_role("heading", name="My measures")).to_be_visible()
    page.get_by_role("link", name="Brief Addiction Monitor (BAM)").click()
    expect(page.get_by_role("heading", name="Brief Addiction Monitor (BAM)")).to_be_visible()
    expect(page.get_by_text("SupportNet recorded you at meetings on 0 days in the past 30 days")).to_be_visible()
    assert_no_sideways_scrolling(page)

    for label, option in ANSWERS.items():
        item = page.locator(f"#item-{label}")
        item.get_by_text(option, exact=True).tap()
        expect(item.get_by_role("radio", name=option, exact=True)).to_be_checked()
    page.screenshot(path=SCREENSHOT_FORM, full_page=True)
    page.get_by_role("button", name="Save my answers").tap()

    expect(page.get_by_role("heading", name=re.compile("your result$"))).to_be_visible()
    expect(page.get_by_text("There is no total")).to_be_visible()
    scores = page.locator(".measure-scores")
    expect(scores.locator("dt", has_text="Use")).to_be_visible()
    expect(scores.locator("dd").nth(0)).to_have_text("0")
    expect(scores.locator("dd").nth(1)).to_have_text(str(2 + 1 + 1 + 1 + 1 + 1))
    expect(scores.locator("dd").nth(2)).to_have_text(str(3 + 2 + 2 + 3 + 4 + 4))
    expect(page.locator("#crisis")).to_have_count(0)
    expect(page.get_by_role("row", name=re.compile("^5\\. .* skipped$"))).to_be_visible()
    assert_no_sideways_scrolling(page)
    page.screenshot(path=SCREENSHOT_RESULT, full_page=True)


def test_the_items_a_bam_answer_skips_disappear_and_come_back(new_page, live_server):
    base = live_server.url
    mia = make_persona(live_server.app, "Mia M.", tz="Europe/London")
    page: Page = new_page(viewport=PHONE, timezone_id="Europe/London", is_mobile=True, has_touch=True)
    sign_in(page, base, mia)
    page.goto(f"{base}/me/measures/BAM/take")
    page.locator("#item-4").get_by_text("0 (Skip to #6)", exact=True).tap()
    expect(page.locator("#item-5")).to_be_hidden()
    page.locator("#item-4").get_by_text("1-3", exact=True).tap()
    expect(page.locator("#item-5")).to_be_visible()
    page.locator("#item-6").get_by_text("0", exact=True).tap()
    expect(page.locator("#item-7A")).to_be_hidden()
    expect(page.locator("#item-7G")).to_be_hidden()
