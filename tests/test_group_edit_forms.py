"""Edit forms show what is stored: sending one back unchanged changes nothing."""


from __future__ import annotations

import re
from datetime import date, time

import pytest

from supportnet import clock, groups, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    JoinPolicy,
    OnlineVisibility,
)
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import login
from tests.pages import form_as_shown, html, top_errors
from tests.worlds.group_pages import (
    FRIDAY,
    MONDAY,
    THURSDAY,
    World,
    build_world,
    nothing_changes,
    start_group,
)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    return build_world(app, member, outsider, facilitator, other_facilitator, admin)


# --- edit forms show what is stored: sending one back unchanged changes nothing ---


def test_sending_the_group_edit_form_back_unchanged_changes_nothing(app, client, world, facilitator):
    with app.app_context():
        groups.update_group(
            db.session.get(Group, world.private.id), now=clock.now_utc(), tags=["W", "LGBTQ", "walking", "BRK"],
            kind=GroupKind.PEER_SUPPORT, contact_note="Ring twice.\n\nAsk for Sam.", join_policy=JoinPolicy.APPROVAL,
        )
        db.session.commit()
    login(client, facilitator)
    url = f"/groups/{world.private.slug}/edit"
    shown = form_as_shown(client.get(url))
    assert shown.getlist("types") == ["W", "LGBTQ"]
    assert shown["other_tags"] == "walking, BRK"
    assert (shown["kind"], shown["visibility"], shown["join_policy"]) == ("peer_support", "private", "approval")
    assert shown["contact_note"] == "Ring twice.\n\nAsk for Sam."
    with nothing_changes(app):
        assert client.post(url, data=shown).status_code == 302


@pytest.mark.parametrize("spec_changes", [
    {},
    {"recurrence": Recurrence(Frequency.WEEKLY, interval=2, weekdays=(MONDAY, THURSDAY), count=6),
     "first_date": date(2026, 11, 30), "capacity": 12, "online_url": "https://meet.example.net/room",
     "online_visibility": OnlineVisibility.EVERYONE, "description": "Bring a friend.\n\nTea after."},
    {"recurrence": Recurrence(Frequency.MONTHLY_WEEKDAY, nth=-1, weekday=FRIDAY, until=date(2027, 6, 30))},
    {"recurrence": Recurrence(Frequency.MONTHLY_DAY, month_day=15), "timezone": "America/New_York"},
    {"recurrence": Recurrence(Frequency.ONCE), "first_date": date(2026, 12, 24), "start_time": time(10, 15)},
], ids=["weekly", "fortnightly", "last-friday", "monthly-15th", "once"])
def test_sending_the_series_edit_form_back_unchanged_changes_nothing(app, client, facilitator, spec_changes):
    with app.app_context():
        group = start_group(facilitator, "Form Circle")
        series = scheduling.create_series(group, weekly(**spec_changes), clock.now_utc())
        db.session.commit()
        url = f"/groups/{group.slug}/meetings/{series.id}/edit"
    login(client, facilitator)
    shown = form_as_shown(client.get(url))
    with nothing_changes(app):
        response = client.post(url, data=shown)
        assert response.status_code == 302, (top_errors(response), re.findall(r'class="error"[^>]*>(.*?)<', html(
            response)))
