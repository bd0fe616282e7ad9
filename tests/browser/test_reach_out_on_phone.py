"""On a phone-sized screen, a member taps "Reach out" on their home, sees the crisis resources beside it, sends
their message to the supporters who accepted, sees what was sent, and the email arrives at the SMTP server."""

from __future__ import annotations

import re

import pytest

from supportnet.notifications import dispatch
from tests.browser.support import PHONE, sign_in
from tests.worlds.reach_out import ANA, IVY, SAM, build_reach_world

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser

# For a person to look at after a run, so a fixed, well-known path.
SCREENSHOT_FORM = "/tmp/reach-out-390.png"  # noqa: S108
SCREENSHOT_SENT = "/tmp/reach-out-sent-390.png"  # noqa: S108


def assert_no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px screen"


def test_a_member_reaches_out_from_home_on_a_phone(new_page, live_server, mailbox):
    base, app = live_server.url, live_server.app
    world = build_reach_world(app)
    page: Page = new_page(viewport=PHONE, timezone_id="Europe/London", is_mobile=True, has_touch=True)
    sign_in(page, base, world.mia)

    page.get_by_role("link", name="Reach out", exact=True).tap()
    expect(page.get_by_role("heading", name="Reach out", exact=True)).to_be_visible()
    expect(page.locator("#crisis").get_by_text("SupportNet is not an emergency service.")).to_be_visible()
    expect(page.locator(".crisis-resources li").first).to_be_visible()
    expect(page.get_by_text("I'd appreciate a call today")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Sam")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Ana")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Ivy")).to_have_count(0)
    assert_no_sideways_scrolling(page)
    page.screenshot(path=SCREENSHOT_FORM, full_page=True)

    page.get_by_role("button", name="Send").tap()
    expect(page.get_by_role("heading", name="Message sent")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Sent to Ana and Sam at \d\d:\d\d: .I'd appreciate a call today."))) \
        .to_be_visible()
    expect(page.locator("#crisis").get_by_text("SupportNet is not an emergency service.")).to_be_visible()
    assert_no_sideways_scrolling(page)
    page.screenshot(path=SCREENSHOT_SENT, full_page=True)

    with app.app_context():
        dispatch.tick()
    assert sorted(m["To"] for m in mailbox.messages) == sorted([SAM, ANA])
    assert {m["Subject"] for m in mailbox.messages} == {"A message from Mia M."}
    assert all("I'd appreciate a call today" in mailbox.text(m) for m in mailbox.messages)
    assert not mailbox.to(IVY)

    page.get_by_role("link", name="your notifications").tap()
    expect(page.get_by_text("You reached out to Ana and Sam: 'I'd appreciate a call today'")).to_be_visible()
