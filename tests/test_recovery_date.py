"""The recovery date a member may set, and what it shows."""


from __future__ import annotations

from datetime import date

import pytest

from supportnet.checkins import recovery as checkins_recovery
from tests.conftest import Persona, make_persona, post
from tests.pages import browser, html, text
from tests.worlds.checkins import (
    TODAY,
)


@pytest.fixture
def mia(app) -> Persona:
    return make_persona(app, "Mia M.")


# --- recovery date ---


def test_the_recovery_date_is_off_by_default_and_private(app, mia):
    client = browser(app, mia)
    assert "Keep a day count" in text(client.get("/me/checkins"))
    page = client.get("/me/recovery")
    assert page.status_code == 200
    assert "Optional and private" in text(page)
    with app.app_context():
        assert mia.user().recovery_date is None


def test_a_member_sets_changes_restarts_and_removes_the_recovery_date(app, mia):
    client = browser(app, mia)
    response = post(client, "/me/recovery", {"recovery_date": "2026-08-28", "save": "Save"})
    assert response.status_code == 302
    page = text(client.get("/me/recovery"))
    assert "90 days" in page  # 28 Aug to 26 Nov
    assert "Next milestone: 6 months on 28 February 2027." in page
    for milestone in ("1 day", "1 week", "30 days", "60 days", "90 days"):
        assert milestone in page
    assert "90 days" in text(client.get("/me/checkins"))

    post(client, "/me/recovery", {"recovery_date": "2025-11-26", "save": "Save"})
    assert "365 days" in text(client.get("/me/recovery")) and "1 year" in text(client.get("/me/recovery"))

    post(client, "/me/recovery", {"recovery_date": "2025-11-26", "restart": "Count from today"})
    with app.app_context():
        assert mia.user().recovery_date == TODAY
    assert "0 days" in text(client.get("/me/recovery"))

    post(client, "/me/recovery", {"clear": "Remove my recovery date"})
    with app.app_context():
        assert mia.user().recovery_date is None


@pytest.mark.parametrize(("value", "message"), [("2026-11-27", "Choose today or a day in the past"),
                                                 ("", "Choose a date"), ("1850-01-01", "Check the year")])
def test_a_recovery_date_in_the_future_or_missing_is_refused(app, mia, value, message):
    response = post(browser(app, mia), "/me/recovery", {"recovery_date": value, "save": "Save"})
    assert response.status_code == 400
    assert message in html(response)
    with app.app_context():
        assert mia.user().recovery_date is None


def test_milestones_follow_the_calendar():
    marks = checkins_recovery.milestones(date(2024, 2, 29), date(2027, 3, 1))
    labels = {m.label: m.day for m in marks}
    assert labels["6 months"] == date(2024, 8, 29)
    assert labels["1 year"] == date(2025, 2, 28)
    assert labels["3 years"] == date(2027, 2, 28)
    assert marks[-1].label == "4 years"  # the first one still ahead
