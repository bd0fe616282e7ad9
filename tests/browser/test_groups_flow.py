"""A facilitator sets up a weekly group in a real browser; a member finds it through the filters and joins."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from supportnet.models import SiteRole
from tests.conftest import PASSWORD, make_persona

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Hello, "))).to_be_visible()


def test_a_facilitator_schedules_a_weekly_group_and_a_member_finds_and_joins_it(new_page, live_server):
    app, base = live_server.app, live_server.url
    fran = make_persona(app, "Fran F.", SiteRole.FACILITATOR, tz="Europe/London")
    sam = make_persona(app, "Sam K.", tz="America/New_York")

    # The facilitator creates the group.
    page: Page = new_page(timezone_id="Europe/London")
    sign_in(page, base, fran.email)
    page.goto(f"{base}/groups/new")
    page.get_by_label("Name", exact=True).fill("Thursday Integration Circle")
    page.get_by_label("Description").fill("A weekly circle after treatment.\n\nAll welcome.")
    page.get_by_label("Peer support circle").check()
    page.get_by_label("Women").check()
    page.get_by_label("Timezone", exact=True).select_option("Europe/London")
    page.get_by_label("Usual venue").fill("Community Library, Room 2")
    page.get_by_role("button", name="Save group").click()

    # ... and lands on "Schedule a meeting": weekly on Thursday, 19:00, 90 minutes.
    expect(page.get_by_role("heading", name="Schedule a meeting")).to_be_visible()
    page.get_by_label("Title").fill("Integration circle")
    # Tomorrow (London), so the test never depends on whether 19:00 has passed today.
    tomorrow = (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=1)).date()
    page.get_by_label("First date").fill(tomorrow.isoformat())
    page.get_by_label("Starts at").fill("19:00")
    page.get_by_label("Length in minutes").fill("90")
    page.get_by_label("Weekly, or every few weeks").check()
    page.get_by_label("Thursday").check()
    page.get_by_role("button", name="Save meeting").click()
    expect(page.get_by_text("The meeting is scheduled.")).to_be_visible()
    meetings = page.locator("ul.meetings li")
    expect(meetings).to_have_count(8)
    expect(meetings.first).to_contain_text("19:00")

    # One week off: the second meeting is cancelled with a reason members will see.
    meetings.nth(1).get_by_role("link").click()
    page.get_by_label("Reason shown to members").fill("No meeting over the holidays.")
    page.get_by_role("button", name="Cancel this meeting").click()
    expect(page.get_by_text("Cancelled: No meeting over the holidays.")).to_be_visible()

    # A member in New York finds it: Thursday evenings, in person, women.
    member: Page = new_page(timezone_id="America/New_York")
    sign_in(member, base, sam.email)
    member.get_by_role("link", name="Find a group").click()
    member.get_by_label("Day", exact=True).select_option("Thursday")
    member.get_by_label("Time of day").select_option("evening")
    member.get_by_label("Where", exact=True).select_option("in_person")
    member.get_by_role("checkbox", name="Women (W)").check()
    member.get_by_role("button", name="Show groups").click()
    card = member.locator(".group-card", has_text="Thursday Integration Circle")
    expect(card).to_be_visible()
    # Shown in the member's own time (19:00 in London is 14:00 in New York, or 15:00 in the weeks when only
    # one of them has changed its clocks), with the meeting's own time beside it.
    first = tomorrow + timedelta(days=(3 - tomorrow.weekday()) % 7)
    in_new_york = datetime(first.year, first.month, first.day, 19, tzinfo=ZoneInfo("Europe/London")).astimezone(
        ZoneInfo("America/New_York")
    )
    expect(card).to_contain_text(f"{in_new_york:%H:%M}")
    expect(card).to_contain_text("19:00 in London")

    # A filter that does not match leaves it out.
    member.get_by_label("Day", exact=True).select_option("Monday")
    member.get_by_role("button", name="Show groups").click()
    expect(member.locator(".group-card", has_text="Thursday Integration Circle")).to_have_count(0)

    member.goto(f"{base}/groups")
    member.get_by_role("link", name="Thursday Integration Circle").click()
    expect(member.get_by_text("a few members")).to_be_visible()
    member.get_by_role("button", name="Join this group").click()
    expect(member.get_by_text("Welcome to Thursday Integration Circle.")).to_be_visible()
    expect(member.get_by_text("a few members")).to_be_visible()
    # The cancelled week shows as cancelled to the member too.
    expect(member.locator("ul.meetings li").nth(1)).to_contain_text("Cancelled")
