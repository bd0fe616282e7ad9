"""A member made a group's facilitator is sent through two-factor setup in a real browser and sees a QR code."""

from __future__ import annotations

import pyotp
import pytest

from supportnet import clock, memberships
from supportnet.extensions import db
from supportnet.models import Membership
from tests.worlds.data_controls import build_world

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server_config() -> dict:
    return {"REQUIRE_2FA_FOR_STAFF": True}


def test_a_new_group_facilitator_sets_up_two_factor_with_a_qr_code(page: Page, live_server):
    app = live_server.app
    world = build_world(app)  # (builds its world at a pinned time)
    clock.set_frozen(None)  # then the real clock: the authenticator code below is computed from it
    member = world.persona("member")
    with app.app_context():
        memberships.set_role(db.session.get(Membership, world.membership_id), "facilitator", now=clock.now_utc())
        db.session.commit()

    page.goto(f"{live_server.url}/login?next=/groups/{world.slug}/members")
    page.get_by_label("Email", exact=True).fill(member.email)
    page.get_by_label("Password", exact=True).fill(member.password)
    page.get_by_role("main").get_by_role("button", name="Sign in").click()

    # Her group role alone sends her to setting up two-factor before the member list.
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    assert page.url == f"{live_server.url}/account/two-factor"
    page.get_by_role("button", name="Set up two-factor authentication").click()

    qr = page.locator("img#totp-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code did not render"
    assert qr.get_attribute("src").startswith("data:image/svg+xml"), "drawn on the server, not fetched elsewhere"
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    expect(page.get_by_role("button", name="Copy the codes")).to_be_visible()
    expect(page.get_by_role("button", name="Print them")).to_be_visible()
    page.goto(f"{live_server.url}/groups/{world.slug}/members")
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
