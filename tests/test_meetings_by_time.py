"""Meetings by time: in progress now, later today, tomorrow and the next days, in the viewer's timezone, with the
directory's filters and a place search, privacy of private groups, paging, and a fixed number of queries."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import event

from supportnet import clock, groups, scheduling
from supportnet.extensions import db
from supportnet.models import JoinPolicy, Occurrence, Visibility
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import PINNED_NOW, make_persona
from tests.pages import browser, html
from tests.worlds.group_pages import add_member, start_group

ONCE = Recurrence(Frequency.ONCE)


def one_off(group, title, day, start, minutes=60, **fields):
    """A one-off meeting of the group at a local wall time (in London unless told)."""
    spec = weekly(title=title, first_date=day, start_time=start, duration_minutes=minutes, recurrence=ONCE, **fields)
    return scheduling.create_series(group, spec, clock.now_utc())


def sections(response) -> dict[str, list[str]]:
    """Meeting titles under each section of the page, in order."""
    assert response.status_code == 200
    page = html(response)
    found: dict[str, list[str]] = {}
    for match in re.finditer(r'data-section="([^"]+)"(.*?)</section>', page, re.S):
        found[match.group(1)] = re.findall(r'class="meeting-title"><a href="[^"]+">([^<]+)</a>', match.group(2))
    return found


def titles(response) -> list[str]:
    return [t for ts in sections(response).values() for t in ts]


@pytest.fixture
def at():
    """Set the clock (the app reads it per request)."""
    def _at(instant: datetime) -> None:
        clock.set_frozen(instant)
    yield _at
    clock.set_frozen(PINNED_NOW)


def test_sections_now_later_today_tomorrow_and_the_days_after(app, client, facilitator):
    # Thursday 26 November 2026, 12:00 in London.
    with app.app_context():
        group = start_group(facilitator, "Canal Circle")
        clock.set_frozen(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
        one_off(group, "Online now", date(2026, 11, 26), time(11, 30), 90, venue="", address="",
                online_url="https://meet.example.net/a")
        one_off(group, "Room now", date(2026, 11, 26), time(11, 30), 90)
        one_off(group, "Tonight", date(2026, 11, 26), time(19, 0))
        one_off(group, "Friday lunch", date(2026, 11, 27), time(12, 0))
        one_off(group, "Sunday walk", date(2026, 11, 29), time(10, 0))
        one_off(group, "Far away", date(2026, 12, 10), time(10, 0))
        clock.set_frozen(PINNED_NOW)
        db.session.commit()
    found = sections(client.get("/meetings"))
    assert found == {
        "now": ["Online now"],  # an in-person meeting that began cannot be joined from the list
        "today": ["Tonight"],
        "tomorrow": ["Friday lunch"],
        "2026-11-29": ["Sunday walk"],
    }
    page = html(client.get("/meetings"))
    assert "Next 7 days" in page and "Sunday 29 November" in page


def test_in_progress_across_midnight_stays_in_progress_not_yesterday(app, facilitator, member, at):
    with app.app_context():
        group = start_group(facilitator, "Late Night")
        one_off(group, "Midnight online", date(2026, 11, 27), time(23, 30), 60, venue="", address="",
                online_url="https://meet.example.net/late")
        one_off(group, "Saturday dawn", date(2026, 11, 28), time(6, 0))
        db.session.commit()
    at(datetime(2026, 11, 28, 0, 10, tzinfo=UTC))  # 00:10 on Saturday in London
    found = sections(browser(app, member).get("/meetings"))
    assert found == {"now": ["Midnight online"], "today": ["Saturday dawn"]}


def test_days_follow_the_viewers_clock_across_a_dst_change(app, facilitator, at):
    # Clocks go forward in London at 01:00 UTC on Sunday 28 March 2027.
    traveller = make_persona(app, "Tia T.", tz="Europe/London")
    at(datetime(2027, 3, 26, 12, 0, tzinfo=UTC))  # Friday
    with app.app_context():
        group = start_group(facilitator, "Spring Group")
        one_off(group, "Sunday early", date(2027, 3, 28), time(0, 30))  # 00:30 GMT, before the change
        one_off(group, "Sunday late", date(2027, 3, 28), time(23, 30))  # 22:30 UTC, after it
        one_off(group, "Monday early", date(2027, 3, 29), time(0, 30))  # Sunday 23:30 UTC, still Monday here
        db.session.commit()
    found = sections(browser(app, traveller).get("/meetings"))
    assert found == {"2027-03-28": ["Sunday early", "Sunday late"], "2027-03-29": ["Monday early"]}


def test_a_viewer_elsewhere_sees_days_in_their_own_timezone(app, facilitator):
    # 19:00 on Thursday in London is 06:00 on Friday in Sydney.
    sydney = make_persona(app, "Sam S.", tz="Australia/Sydney")
    with app.app_context():
        group = start_group(facilitator, "Evening Circle")
        one_off(group, "London evening", date(2026, 11, 26), time(19, 0))
        db.session.commit()
    response = browser(app, sydney).get("/meetings")
    # It is 23:00 on Thursday in Sydney now: the meeting is tomorrow there, though tonight in London.
    assert sections(response) == {"tomorrow": ["London evening"]}
    assert sections(browser(app, facilitator).get("/meetings")) == {"today": ["London evening"]}
    assert "in London" in html(response)


def test_private_and_unlisted_groups_only_for_their_members(app, facilitator, member, outsider):
    with app.app_context():
        public = start_group(facilitator, "Open Door")
        private = start_group(facilitator, "Quiet Room", visibility=Visibility.PRIVATE, join_policy=JoinPolicy.INVITE)
        unlisted = start_group(facilitator, "Side Door", visibility=Visibility.UNLISTED)
        archived = start_group(facilitator, "Old Room")
        one_off(public, "Public meeting", date(2026, 11, 26), time(19, 0))
        one_off(private, "Private meeting", date(2026, 11, 26), time(19, 0))
        one_off(unlisted, "Unlisted meeting", date(2026, 11, 26), time(19, 0))
        one_off(archived, "Archived meeting", date(2026, 11, 26), time(19, 0))
        add_member(private, member)
        groups.archive_group(archived, clock.now_utc())
        db.session.commit()
    assert titles(browser(app).get("/meetings")) == ["Public meeting"]
    assert titles(browser(app, outsider).get("/meetings")) == ["Public meeting"]
    assert sorted(titles(browser(app, member).get("/meetings"))) == ["Private meeting", "Public meeting"]


def test_cancelled_meetings_are_left_out(app, client, facilitator):
    with app.app_context():
        group = start_group(facilitator, "Canal Circle")
        series = one_off(group, "Called off", date(2026, 11, 26), time(19, 0))
        occ = db.session.scalar(db.select(Occurrence).where(Occurrence.series_id == series.id))
        scheduling.cancel_occurrence(occ, "Snow", clock.now_utc())
        db.session.commit()
    assert titles(client.get("/meetings")) == []


@pytest.fixture
def places(app, facilitator):
    with app.app_context():
        group = start_group(facilitator, "Mixed Group")
        one_off(group, "Manchester room", date(2026, 11, 26), time(18, 0), venue="Friends Meeting House",
                address="6 Mount Street, Manchester")
        one_off(group, "Leeds hybrid", date(2026, 11, 26), time(19, 0), venue="Hall",
                address="1 Park Row, Leeds", online_url="https://meet.example.net/leeds")
        one_off(group, "Online only", date(2026, 11, 26), time(20, 0), venue="", address="",
                online_url="https://meet.example.net/online")
        db.session.commit()


@pytest.mark.parametrize(("query", "expected"), [
    ("where=manchester", ["Manchester room"]),
    ("where=FRIENDS+MEETING", ["Manchester room"]),
    ("where=park+row", ["Leeds hybrid"]),
    ("where=%25", []),
    ("format=in_person", ["Manchester room", "Leeds hybrid"]),
    ("format=online", ["Leeds hybrid", "Online only"]),
    ("format=hybrid", ["Leeds hybrid"]),
    ("time=evening", ["Manchester room", "Leeds hybrid", "Online only"]),
    ("time=morning", []),
    ("weekday=3", ["Manchester room", "Leeds hybrid", "Online only"]),
    ("weekday=4", []),
    ("q=online", ["Online only"]),
    ("weekday=99&format=teleport&time=never&kind=x", ["Manchester room", "Leeds hybrid", "Online only"]),
])
def test_filters_and_place_search(client, places, query, expected):
    assert titles(client.get(f"/meetings?{query}")) == expected


def test_cards_show_the_format_and_the_city_or_online(client, places):
    page = html(client.get("/meetings"))
    cards = dict(re.findall(r'>([^<]+)</a></h3>.*?class="meeting-where">(.*?)</p>', page, re.S))
    flat = {title: " ".join(re.sub(r"<[^>]+>", " ", where).split()) for title, where in cards.items()}
    assert flat == {
        "Manchester room": "In person Manchester",
        "Leeds hybrid": "Hybrid Leeds · online",
        "Online only": "Online",
    }
    assert "meet.example.net" not in page  # the list never shows an online link


def test_pages_and_a_fixed_number_of_queries(app, client, facilitator):
    def queries(url: str) -> int:
        with app.app_context():
            engine = db.engine
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    with app.app_context():
        group = start_group(facilitator, "Busy Group")
        one_off(group, "First", date(2026, 11, 26), time(18, 0))
        db.session.commit()
    client.get("/meetings")
    few = queries("/meetings")
    with app.app_context():
        group = start_group(facilitator, "Busier Group")
        for n in range(40):
            one_off(group, f"Meeting {n:02d}", date(2026, 11, 27 + n % 3), time(8 + n % 12, n % 60))
        db.session.commit()
    assert queries("/meetings") == few
    first, second = titles(client.get("/meetings")), titles(client.get("/meetings?page=2"))
    assert len(first) == 30 and len(second) == 11
    assert not set(first) & set(second)
    assert "Later meetings" in html(client.get("/meetings"))
    assert client.get("/meetings?page=999999999999").status_code == 200


def test_type_codes_explain_themselves_and_several_can_be_chosen(app, client, facilitator):
    with app.app_context():
        both = start_group(facilitator, "Women Speakers", tags=["W", "SP"])
        one = start_group(facilitator, "Women Only", tags=["W"])
        one_off(both, "Both types", date(2026, 11, 26), time(19, 0))
        one_off(one, "One type", date(2026, 11, 26), time(20, 0))
        db.session.commit()
    assert titles(client.get("/meetings?tag=W")) == ["Both types", "One type"]
    assert titles(client.get("/meetings?tag=W&tag=SP")) == ["Both types"]
    for url in ("/meetings", "/groups"):
        page = html(client.get(url))
        assert "What the meeting types mean" in page
        assert "<dt>O</dt><dd>Open: anyone may come" in page and "<dt>SP</dt><dd>Speaker</dd>" in page
        assert page.count('type="checkbox" name="tag"') >= 10  # several types can be ticked together
    # The join policy no longer says "Open", which is a meeting type meaning something else.
    fay = browser(app, facilitator)
    assert "Open: anyone can join" not in html(fay.get("/groups/new"))
    assert "Anyone can join straight away" in html(fay.get("/groups/new"))


@pytest.mark.parametrize("url", [
    "/meetings?q=%00&where=%00&tag=%00", "/groups?where=%00", "/meetings?where=" + "x" * 5000,
    "/meetings?page=-3&weekday=-1&time=%00", "/meetings?tag=" + "&tag=".join("ABCDEFGH"),
])
def test_odd_input_gets_a_page_not_an_error(client, places, url):
    assert client.get(url).status_code == 200
