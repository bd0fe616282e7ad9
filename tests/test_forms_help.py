"""Forms that help: the timezone picker (common zones first, no legacy aliases or Etc/GMT±N, a saved alias kept),
notification settings linked from the account page, and crisis numbers that are tel: links."""

from __future__ import annotations

import re

from supportnet.extensions import db
from supportnet.web.filters import phone_links
from tests.conftest import post
from tests.pages import browser, html
from tests.worlds.checkins import checkin_form


def test_the_timezone_picker_lists_common_zones_first_without_legacy_names(client):
    page = html(client.get("/register"))
    select = re.search(r'<select[^>]*name="timezone".*?</select>', page, re.S).group(0)
    groups = re.findall(r'<optgroup label="([^"]+)">', select)
    assert groups[:2] == ["Common", "All timezones"]
    values = re.findall(r'value="([^"]+)"', select)
    assert values[0] == "Europe/London"
    assert "Asia/Kolkata" in values and "America/Argentina/Buenos_Aires" in values
    for legacy in ("US/Eastern", "Etc/GMT+5", "Etc/GMT-3", "Asia/Calcutta", "GB", "Europe/Kiev"):
        assert legacy not in values
    assert len(values) == len(set(values))


def test_a_member_with_a_legacy_zone_keeps_it_when_saving_settings(app, member):
    with app.app_context():
        member.user().timezone = "US/Eastern"
        db.session.commit()
    mia = browser(app, member)
    page = html(mia.get("/account"))
    assert '<option selected value="US/Eastern">' in page


def test_the_account_page_links_to_notification_settings(app, member):
    assert 'href="/notifications/preferences"' in html(browser(app, member).get("/account"))


def test_crisis_numbers_are_tel_links(app, member):
    mia = browser(app, member)
    response = post(mia, "/me/checkins/new", checkin_form(mood="1"))
    page = html(mia.get(response.location))
    assert 'href="tel:112"' in page and 'href="tel:911"' in page and 'href="tel:999"' in page


def test_phone_links_escape_everything_else():
    linked = str(phone_links("<b>Call 116 123</b> or +1 800 273 8255, not 2026-12-01 nor v1.2.3"))
    assert linked.startswith("&lt;b&gt;Call ")
    assert '<a href="tel:116123">116 123</a>' in linked
    assert '<a href="tel:+18002738255">+1 800 273 8255</a>' in linked
    assert "tel:2026" not in linked and "tel:1" not in linked.split("v1")[1]
