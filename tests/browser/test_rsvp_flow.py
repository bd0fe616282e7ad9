"""In a real browser: a member joins the waitlist of a full meeting without the page reloading, another member
gives up their seat, and the first one finds they are in; and the same buttons work with JavaScript off."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from supportnet import clock, groups, memberships, rsvps, scheduling
from supportnet.extensions import db
from supportnet.models import GroupKind, Occurrence, SiteRole
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec
from tests.browser.support import sign_in
from tests.conftest import make_persona

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def full_meeting(live_server) -> dict:
    """A public open group meeting tomorrow at 19:00 London with one seat, which Ann has; Mia and Ned are members."""
    app = live_server.app
    fay = make_persona(app, "Fay F.", SiteRole.FACILITATOR)
    ann, mia, ned = (make_persona(app, name) for name in ("Ann A.", "Mia M.", "Ned N."))
    # The live server runs on the real clock: tomorrow, so the meeting has not started whenever the test runs.
    tomorrow = (datetime.now(LONDON) + timedelta(days=1)).date()
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            fay.user(), name="Thursday Integration Circle", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now
        )
        spec = SeriesSpec(
            title="Integration circle", first_date=tomorrow, start_time=time(19, 0),
            duration_minutes=90, timezone="Europe/London",
            recurrence=Recurrence(Frequency.WEEKLY, weekdays=(tomorrow.weekday(),)), capacity=1,
            venue="Community room", address="12 Canal Street",
        )
        series = scheduling.create_series(group, spec, now)
        for persona in (ann, mia, ned):
            memberships.join(group, persona.user(), now)
        occ = db.session.scalars(
            db.select(Occurrence).where(Occurrence.series_id == series.id).order_by(Occurrence.starts_at)
        ).first()
        assert rsvps.rsvp(occ, ann.user(), now).is_going
        db.session.commit()
        return {"occ": occ.id, "ann": ann, "mia": mia, "ned": ned}


def test_a_member_waits_for_a_full_meeting_in_place_and_gets_the_seat_another_gives_up(
    new_page, live_server, full_meeting
):
    base, occ = live_server.url, full_meeting["occ"]
    meeting_url = f"{base}/meetings/{occ}"

    # Mia finds the meeting full and joins the waitlist.
    mia: Page = new_page(timezone_id="Europe/London")
    sign_in(mia, base, full_meeting["mia"])
    mia.goto(meeting_url)
    box = mia.locator(f"#rsvp-{occ}")
    expect(box).to_contain_text("a few going of 1 seat")
    # A marker that only survives if the page is never reloaded.
    mia.evaluate("window.__stillTheSamePage = 'yes'")
    with mia.expect_response(lambda r: r.url == f"{meeting_url}/rsvp" and r.request.method == "POST") as answer:
        box.get_by_role("button", name="Join the waitlist").click()
    assert answer.value.status == 200
    assert answer.value.request.headers.get("x-requested-with") == "fetch"

    box = mia.locator(f"#rsvp-{occ}")
    expect(box).to_contain_text("You're on the waitlist: number 1.")
    expect(box).to_contain_text("a few going of 1 seat · a few on the waitlist")
    expect(box.get_by_role("button", name="Leave the waitlist")).to_be_visible()
    # The news gets the focus, so a screen reader says it.
    expect(box.locator(".rsvp-state")).to_be_focused()
    # Updated in place: same address, same page (the marker is still there), nothing else reloaded.
    assert mia.url == meeting_url
    assert mia.evaluate("window.__stillTheSamePage") == "yes"

    # Ann, in her own browser, gives up her seat from "My meetings".
    ann: Page = new_page(timezone_id="Europe/London")
    sign_in(ann, base, full_meeting["ann"])
    ann.goto(f"{base}/me/meetings")
    ann_box = ann.locator(f"#rsvp-{occ}")
    expect(ann_box).to_contain_text("You're going.")
    ann.evaluate("window.__stillTheSamePage = 'yes'")
    ann_box.get_by_role("button", name="Can't go").click()
    expect(ann.locator(f"#rsvp-{occ}")).to_contain_text("You said you can't make it.")
    assert ann.evaluate("window.__stillTheSamePage") == "yes"

    # Mia looks again: she is in.
    mia.goto(f"{base}/me/meetings")
    expect(mia.locator(f"#rsvp-{occ}")).to_contain_text("You're going.")
    mia.goto(meeting_url)
    expect(mia.locator(f"#rsvp-{occ}")).to_contain_text("You're going.")
    expect(mia.locator(f"#rsvp-{occ}")).to_contain_text("a few going of 1 seat")


def test_the_rsvp_buttons_work_without_javascript(new_page, live_server, full_meeting):
    base, occ = live_server.url, full_meeting["occ"]
    meeting_url = f"{base}/meetings/{occ}"
    ned: Page = new_page(java_script_enabled=False, timezone_id="Europe/London")
    sign_in(ned, base, full_meeting["ned"])
    ned.goto(meeting_url)
    box = ned.locator(f"#rsvp-{occ}")

    # A plain form post, then back on the same page with the answer shown.
    with ned.expect_navigation():
        box.get_by_role("button", name="Join the waitlist").click()
    assert ned.url == meeting_url
    expect(ned.locator(f"#rsvp-{occ}")).to_contain_text("You're on the waitlist: number 1.")

    with ned.expect_navigation():
        ned.locator(f"#rsvp-{occ}").get_by_role("button", name="Leave the waitlist").click()
    assert ned.url == meeting_url
    expect(ned.locator(f"#rsvp-{occ}")).to_contain_text("You said you can't make it.")

    # From the group page, the answer brings Ned back to the group page.
    ned.goto(f"{base}/groups/thursday-integration-circle")
    with ned.expect_navigation():
        ned.locator(f"#rsvp-{occ}").get_by_role("button", name="Join the waitlist").click()
    assert ned.url == f"{base}/groups/thursday-integration-circle"
    expect(ned.locator(f"#rsvp-{occ}")).to_contain_text("You're on the waitlist: number 1.")
