"""The group directory: filters, search, paging, cards, and a query count that does not grow."""


from __future__ import annotations

import dataclasses
from datetime import date, time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from supportnet import clock, groups, memberships, scheduling
from supportnet.extensions import db
from supportnet.models import (
    GroupKind,
    JoinPolicy,
    Visibility,
)
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import counting_queries, weekly
from tests.conftest import Persona, login, post
from tests.pages import browser, html, text
from tests.worlds.group_pages import (
    MONDAY,
    THURSDAY,
    TUESDAY,
    WEDNESDAY,
    World,
    add_member,
    build_world,
    london,
    occurrence_id_at,
    start_group,
)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    return build_world(app, member, outsider, facilitator, other_facilitator, admin)


# --- 5. the directory ---


@pytest.fixture
def directory(app, facilitator) -> None:
    """Listed groups that differ in day, time, kind, tags and format, and some that must never be listed."""
    meetings = {
        # name: (kind, tags, series spec changes)
        "Dawn Walkers": (GroupKind.MEETUP, ["OUT", "walking"], {
            "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(MONDAY,)), "first_date": date(2026, 11, 30),
            "start_time": time(7, 30),
        }),
        # 12:30 in New York is 17:30 UTC: afternoon where it meets, evening in UTC.
        "Lunchtime Listening": (GroupKind.PEER_SUPPORT, ["W"], {
            "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(WEDNESDAY,)), "first_date": date(2026, 12, 2),
            "start_time": time(12, 30), "timezone": "America/New_York", "venue": "", "address": "",
            "online_url": "https://meet.example.net/lunch",
        }),
        "Evening Aftercare": (GroupKind.AFTERCARE, ["BE"], {
            "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(THURSDAY,)), "first_date": date(2026, 12, 3),
            "online_url": "https://meet.example.net/evening",
        }),
        # Tuesday 21:00 in Los Angeles is Wednesday 05:00 UTC: Tuesday evening where it meets.
        "Pacific Late Shift": (GroupKind.AFTERCARE, ["C"], {
            "recurrence": Recurrence(Frequency.WEEKLY, weekdays=(TUESDAY,)), "first_date": date(2026, 12, 1),
            "start_time": time(21, 0), "timezone": "America/Los_Angeles", "venue": "", "address": "",
            "online_url": "https://meet.example.net/late",
        }),
    }
    with app.app_context():
        for name, (kind, tags, changes) in meetings.items():
            group = start_group(facilitator, name, kind=kind, tags=tags, description=f"About {name.lower()}.")
            scheduling.create_series(group, weekly(**changes), clock.now_utc())
        hidden = {
            "Private Haven": {"visibility": Visibility.PRIVATE, "join_policy": JoinPolicy.INVITE},
            "Unlisted Friends": {"visibility": Visibility.UNLISTED},
            "Archived Circle": {},
        }
        for name, fields in hidden.items():
            group = start_group(facilitator, name, tags=["OUT", "W", "BE", "C"], **fields)
            for spec in (weekly(MONDAY, WEDNESDAY, THURSDAY), weekly(TUESDAY, start_time=time(12, 30))):
                scheduling.create_series(group, dataclasses.replace(spec, online_url="https://meet.example.net/x"),
                                         clock.now_utc())
            if name == "Archived Circle":
                groups.archive_group(group, clock.now_utc())
        db.session.commit()


LISTED = {"Dawn Walkers", "Lunchtime Listening", "Evening Aftercare", "Pacific Late Shift"}
NEVER_LISTED = ("Private Haven", "Unlisted Friends", "Archived Circle")


def listed(response) -> set[str]:
    """The names of the groups on a directory page."""
    assert response.status_code == 200
    page = html(response)
    found = {name for name in LISTED if f">{name}</a>" in page}
    for name in NEVER_LISTED:
        assert name not in page
    return found


@pytest.mark.parametrize(("query", "expected"), [
    ("", LISTED),
    ("weekday=0", {"Dawn Walkers"}),
    ("weekday=1", {"Pacific Late Shift"}),  # Tuesday where it meets, although Wednesday in UTC
    ("weekday=2", {"Lunchtime Listening"}),
    ("weekday=3", {"Evening Aftercare"}),
    ("weekday=5", set()),
    ("time=morning", {"Dawn Walkers"}),
    ("time=afternoon", {"Lunchtime Listening"}),
    ("time=evening", {"Evening Aftercare", "Pacific Late Shift"}),
    ("kind=meetup", {"Dawn Walkers"}),
    ("kind=peer_support", {"Lunchtime Listening"}),
    ("kind=aftercare", {"Evening Aftercare", "Pacific Late Shift"}),
    ("tag=W", {"Lunchtime Listening"}),
    ("tag=OUT", {"Dawn Walkers"}),
    ("tag=walking", {"Dawn Walkers"}),
    ("tag=OUT&tag=W", set()),
    # A hybrid meeting counts as in person and as online.
    ("format=in_person", {"Dawn Walkers", "Evening Aftercare"}),
    ("format=online", {"Lunchtime Listening", "Pacific Late Shift", "Evening Aftercare"}),
    ("format=hybrid", {"Evening Aftercare"}),
    ("where=canal+street", {"Dawn Walkers", "Evening Aftercare"}),
    ("where=COMMUNITY", {"Dawn Walkers", "Evening Aftercare"}),
    ("where=%25", set()),
    ("q=walkers", {"Dawn Walkers"}),
    ("q=LATE+SHIFT", {"Pacific Late Shift"}),
    ("q=about+evening", {"Evening Aftercare"}),  # the description counts too
    ("q=haven", set()),
    ("kind=aftercare&time=evening&format=online", {"Pacific Late Shift", "Evening Aftercare"}),
    ("kind=aftercare&where=canal", {"Evening Aftercare"}),
    ("weekday=3&time=morning", set()),
])
def test_directory_filters_include_and_exclude_the_right_groups(client, directory, query, expected):
    assert listed(client.get(f"/groups?{query}")) == expected


@pytest.mark.parametrize("text_typed", ["%", "_", "a_o"])
def test_directory_search_takes_percent_and_underscore_literally(client, directory, text_typed):
    assert listed(client.get("/groups", query_string={"q": text_typed})) == set()


def test_directory_filters_work_the_same_for_a_signed_in_member(app, directory, member):
    reader = browser(app, member)
    assert listed(reader.get("/groups?time=afternoon")) == {"Lunchtime Listening"}
    assert listed(reader.get("/groups?format=hybrid")) == {"Evening Aftercare"}


def test_the_directory_pages_through_more_than_twenty_groups(app, client, facilitator):
    with app.app_context():
        for n in range(1, 26):
            start_group(facilitator, f"Circle {n:02d}")
        db.session.commit()
    first = html(client.get("/groups"))
    assert [n for n in range(1, 26) if f">Circle {n:02d}<" in first] == list(range(1, 21))
    assert "Page 1 of 2" in first
    assert 'href="/groups?page=2"' in first
    second = html(client.get("/groups?page=2"))
    assert [n for n in range(1, 26) if f">Circle {n:02d}<" in second] == list(range(21, 26))
    assert "Page 2 of 2" in second
    assert 'href="/groups?page=1"' in second
    # Filters are kept when paging.
    assert 'href="/groups?q=circle&amp;page=2"' in html(client.get("/groups?q=circle"))
    assert "No groups match" in html(client.get("/groups?page=3"))


def test_a_signed_in_member_sees_their_groups_first(app, client, world, facilitator, member):
    with app.app_context():
        zebra = start_group(facilitator, "Zebra Crossing Circle")
        add_member(zebra, member)
        start_group(facilitator, "Aardvark Circle")
        db.session.commit()
    page = html(browser(app, member).get("/groups"))
    mine, everything = page.split('id="all-h"', 1)
    assert 'id="mine-h">Your groups' in mine
    for name in ("Zebra Crossing Circle", "Thursday Integration Circle", "Quiet Harbour Circle"):
        assert f">{name}</a>" in mine
    assert "Aardvark Circle" not in mine
    assert mine.index("Quiet Harbour Circle") < mine.index("Thursday Integration Circle") < mine.index("Zebra")
    # The private group is theirs to see, but is never listed for everyone.
    assert "Quiet Harbour Circle" not in everything
    assert "Aardvark Circle" in everything and "Zebra Crossing Circle" in everything
    assert "Your groups" not in html(client.get("/groups"))
    assert "Your groups" not in html(browser(app, member).get("/groups?kind=meetup"))


def test_cards_show_the_next_meeting_and_when_one_is_in_progress(app, client, world, facilitator):
    card = html(client.get("/groups")).split(">Thursday Integration Circle</a>", 1)[1].split("</li>", 1)[0]
    assert "Next:" in card
    assert "Tue 1 Dec 2026, 19:00\u201320:30" in card
    assert f'href="/meetings/{world.public.occurrence_id}"' in card

    clock.set_frozen(london(2026, 12, 1, 19, 45))
    card = html(client.get("/groups")).split(">Thursday Integration Circle</a>", 1)[1].split("</li>", 1)[0]
    assert "In progress now \u00b7 until 20:30" in " ".join(card.split())
    assert "Next:" not in card
    assert "In progress" in text(client.get(f"/groups/{world.public.slug}"))
    assert "In progress now" in text(client.get(f"/meetings/{world.public.occurrence_id}"))

    clock.set_frozen(london(2026, 12, 1, 20, 30))
    card = html(client.get("/groups")).split(">Thursday Integration Circle</a>", 1)[1].split("</li>", 1)[0]
    assert "Tue 8 Dec 2026, 19:00\u201320:30" in card


def test_a_cancelled_week_is_skipped_on_the_card_and_a_moved_one_is_marked(app, client, world, facilitator):
    login(client, facilitator)
    post(client, f"/meetings/{world.public.occurrence_id}/cancel", {"note": "Holiday"})
    with app.app_context():
        second = occurrence_id_at(world.public.series_id, london(2026, 12, 8, 19, 0))
    post(client, f"/meetings/{second}/move", {"date": "2026-12-09", "start_time": "19:00", "duration_minutes": "90"})
    card = html(browser(app).get("/groups")).split(">Thursday Integration Circle</a>", 1)[1].split("</li>", 1)[0]
    assert "Wed 9 Dec 2026, 19:00\u201320:30" in card
    assert "Moved" in card


# --- 6. the directory's query count does not grow with the number of groups ---


def add_listed_groups(app: Flask, facilitator: Persona, member: Persona, start: int, stop: int) -> None:
    """Public groups numbered start..stop-1, each with tags and a weekly series, all joined by the member."""
    with app.app_context():
        creator = facilitator.user()
        joiner = member.user()
        now = clock.now_utc()
        for n in range(start, stop):
            group = groups.create_group(
                creator, name=f"Circle {n:03d}", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now,
                tags=["O", "W", f"area {n}"], slug=f"circle-{n:03d}",
            )
            recurrence = Recurrence(Frequency.WEEKLY, weekdays=(n % 7,), count=4)
            scheduling.create_series(group, weekly(recurrence=recurrence, first_date=date(2026, 11, 30)), now)
            memberships.join(group, joiner, now)
        db.session.commit()


def directory_queries(app: Flask, client: FlaskClient, url: str) -> int:
    client.get(url)  # warm up: the first request of a client may do one-off work
    with counting_queries(app) as statements:
        response = client.get(url)
    assert response.status_code == 200
    return len(statements)


def test_the_directory_issues_the_same_number_of_queries_for_5_groups_as_for_200(app, client, facilitator, member):
    signed_in = browser(app, member)
    add_listed_groups(app, facilitator, member, 0, 5)
    urls = ("/groups", "/groups?tag=O&format=in_person&time=evening")
    small = {url: (directory_queries(app, client, url), directory_queries(app, signed_in, url)) for url in urls}
    few_cards = html(signed_in.get("/groups")).count('class="card group-card"')
    assert few_cards == 10  # five under "Your groups", the same five under "All groups"

    add_listed_groups(app, facilitator, member, 5, 200)
    large = {url: (directory_queries(app, client, url), directory_queries(app, signed_in, url)) for url in urls}
    page = html(signed_in.get("/groups"))
    assert page.count('class="card group-card"') == 200 + 20
    assert "Page 1 of 10" in page
    assert large == small
    # A later page of many groups costs what the first page does.
    assert directory_queries(app, client, "/groups?page=3") == small["/groups"][0]
