"""Visitors who are not signed in see times in their own timezone once their browser has said which (a cookie),
with the meeting's own time beside it; before that, the meeting's own local time, labelled, and never UTC."""

from __future__ import annotations

from datetime import date, time

from supportnet import clock, scheduling
from supportnet.extensions import db
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.pages import browser, text
from tests.worlds.group_pages import start_group


def _meeting(app, facilitator):
    with app.app_context():
        group = start_group(facilitator, "Canal Circle")
        scheduling.create_series(
            group, weekly(title="Evening", first_date=date(2026, 11, 26), start_time=time(19, 0),
                          recurrence=Recurrence(Frequency.ONCE)), clock.now_utc())
        db.session.commit()
        return group.slug


def test_without_a_zone_visitors_see_the_meetings_own_time_labelled(app, client, facilitator):
    slug = _meeting(app, facilitator)
    for url in ("/groups", f"/groups/{slug}", "/meetings"):
        page = text(client.get(url))
        assert "19:00\u201320:30 London time" in page, url
        assert "UTC" not in page.replace("counted in UTC", ""), url


def test_with_the_browsers_zone_visitors_see_their_time_and_the_meetings(app, client, facilitator):
    slug = _meeting(app, facilitator)
    client.set_cookie("supportnet_tz", "America/New_York")
    for url in ("/groups", f"/groups/{slug}", "/meetings"):
        page = text(client.get(url))
        assert "14:00\u201315:30 your time · 19:00 in London" in page, url
    assert "Days and times are in your timezone (America/New_York)" in text(client.get("/meetings"))


def test_a_forged_zone_cookie_is_ignored(app, client, facilitator):
    _meeting(app, facilitator)
    for forged in ("Mars/Olympus", "../../etc/passwd", "<script>", ""):
        client.set_cookie("supportnet_tz", forged)
        response = client.get("/groups")
        assert response.status_code == 200
        assert "19:00\u201320:30 London time" in text(response)
        assert "<script>" not in response.get_data(as_text=True).split("<body")[1].split(">")[0]


def test_a_members_own_zone_wins_over_the_cookie(app, facilitator, member):
    _meeting(app, facilitator)
    mia = browser(app, member)  # Europe/London
    mia.set_cookie("supportnet_tz", "America/New_York")
    assert "Thu 26 Nov 2026, 19:00\u201320:30" in text(mia.get("/meetings"))
    assert "your time · 19:00 in London" not in text(mia.get("/meetings"))
