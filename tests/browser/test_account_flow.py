"""A visitor's first minutes in a real browser: sign up, confirm, sign out and in; quick exit; a small screen."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

import pytest

from tests.browser.support import sign_in
from tests.conftest import Mailbox, make_persona

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser

EMAIL = "rosa@example.org"
PASSWORD = "a long and quiet river"
DISPLAY_NAME = "Rosa P."
BROWSER_ZONE = "America/New_York"
# For a person to look at after a run (CI can keep it as an artifact), so a fixed, well-known path.
SCREENSHOT_360 = "/tmp/register-360.png"  # noqa: S108


def wait_for_mail(mailbox: Mailbox, address: str, timeout: float = 10.0) -> EmailMessage:
    # The app sends after the response has gone out, so the mail arrives a moment after the page.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = mailbox.to(address)
        if messages:
            return messages[-1]
        time.sleep(0.05)
    raise AssertionError(f"no email to {address} within {timeout:.0f}s; got {len(mailbox.messages)} other(s)")


def test_a_visitor_registers_confirms_signs_out_and_signs_in_again(new_page, live_server, mailbox):
    page: Page = new_page(timezone_id=BROWSER_ZONE)
    page.goto(f"{live_server.url}/register")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()

    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Display name", exact=True).fill(DISPLAY_NAME)

    # static/js/app.js fills the timezone in from the browser's own zone. Checked softly here, so that a
    # broken pre-fill is reported after the rest of the flow has been exercised, not instead of it.
    timezone = page.get_by_label("Timezone", exact=True)
    prefilled = timezone.input_value()
    if prefilled != BROWSER_ZONE:
        timezone.select_option(BROWSER_ZONE)

    page.get_by_role("checkbox", name=re.compile("I agree")).check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    assert page.url == f"{live_server.url}/register/check-email"

    message = wait_for_mail(mailbox, EMAIL)
    assert message["Subject"] == "Confirm your email address"
    link = mailbox.link(message, "/account/confirm/")
    assert link.startswith(f"{live_server.url}/account/confirm/"), f"the email links elsewhere: {link}"

    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    page.get_by_role("button", name="Confirm my email").click()
    expect(page.get_by_role("heading", name=f"Hello, {DISPLAY_NAME}")).to_be_visible()
    expect(page.get_by_text("Your email is confirmed.")).to_be_visible()

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("^Hello"))).to_have_count(0)

    nav.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {DISPLAY_NAME}")).to_be_visible()
    assert page.url == f"{live_server.url}/"
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()

    assert prefilled == BROWSER_ZONE, (
        f"static/js/app.js did not pre-fill the timezone from the browser's zone: the select showed "
        f"{prefilled!r}, not {BROWSER_ZONE!r} (the test chose it by hand; the rest of the flow passed)"
    )


def test_quick_exit_replaces_the_page_in_the_history(page: Page, live_server):
    exit_url = live_server.app.config["QUICK_EXIT_URL"]
    assert exit_url == f"{live_server.url}/healthz"
    page.goto(f"{live_server.url}/")
    page.goto(f"{live_server.url}/privacy")
    entries_before = page.evaluate("history.length")

    page.get_by_role("link", name="Quick exit").click()
    page.wait_for_url(exit_url)
    assert page.url == exit_url
    # location.replace: the exit page took the place of /privacy instead of being added after it.
    assert page.evaluate("history.length") == entries_before

    page.go_back()
    assert page.url != f"{live_server.url}/privacy", "Back returned to the page the person quick-exited from"
    assert page.url == f"{live_server.url}/"


def test_the_register_page_fits_a_small_phone_and_starts_with_a_skip_link(new_page, live_server):
    page: Page = new_page(viewport={"width": 360, "height": 740})
    page.goto(f"{live_server.url}/register")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    page.screenshot(path=SCREENSHOT_360, full_page=True)

    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    expect(page.get_by_role("link", name="Skip to content")).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_quick_exit_signs_out_opens_a_neutral_tab_and_the_privacy_page_says_what_it_cannot_do(
    new_page, live_server
):
    mia = make_persona(live_server.app, "Mia M.")
    page: Page = new_page()
    sign_in(page, live_server.url, mia)
    page.goto(f"{live_server.url}/privacy")
    expect(page.get_by_text("no website can erase your browser's history")).to_be_visible()
    page.evaluate("sessionStorage.setItem('x', '1')")
    with page.context.expect_page() as new_tab:
        page.get_by_role("link", name="Quick exit").click()
    neutral = new_tab.value
    neutral.wait_for_load_state()
    assert neutral.url == live_server.app.config["QUICK_EXIT_URL"]
    page.wait_for_url(live_server.app.config["QUICK_EXIT_URL"])
    # Signed out: opening the site again later shows the welcome, not the member's home.
    # (The sign-out is a beacon the browser sends as the page goes: give it a moment to arrive.)
    again = page.context.new_page()
    for _ in range(20):
        again.goto(f"{live_server.url}/")
        if again.get_by_role("heading", name="Hello, Mia M.").count() == 0:
            break
        again.wait_for_timeout(250)
    expect(again.get_by_role("link", name="Create an account").first).to_be_visible()
    expect(again.get_by_role("heading", name="Hello, Mia M.")).to_have_count(0)
