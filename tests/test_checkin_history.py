"""A member's check-in history: the chart, patterns and streaks."""


from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from supportnet import accounts, clock
from supportnet.checkins import history as checkins_history
from supportnet.extensions import db
from supportnet.models import (
    CheckIn,
    OwnTag,
)
from tests.conftest import PINNED_NOW, Persona, make_persona
from tests.pages import browser, html, text
from tests.worlds.checkins import (
    LONDON,
    TODAY,
    record,
)


@pytest.fixture
def mia(app) -> Persona:
    return make_persona(app, "Mia M.")


# --- history, chart and patterns ---


def svg_dots(response) -> int:
    svg = html(response).split("<svg", 1)[1].split("</svg>", 1)[0]
    return svg.count("<circle")


def test_the_chart_renders_with_no_check_ins(app, mia):
    response = browser(app, mia).get("/me/checkins")
    assert response.status_code == 200
    assert 'class="trend-chart"' in html(response)
    assert svg_dots(response) == 0
    assert "No check-ins in this period yet" in html(response)
    assert "No check-ins in the last 30 days." in text(response)


def test_the_chart_renders_one_check_in_as_a_point_and_a_table_row(app, mia):
    record(app, mia, mood=5, craving=1)
    response = browser(app, mia).get("/me/checkins")
    assert response.status_code == 200
    assert svg_dots(response) == 2  # one mood point, one craving point
    assert "<polyline" not in html(response)
    assert "Thu 26 Nov 2026 5.0 1.0 1" in text(response)  # the accessible table


def test_the_chart_renders_a_year_of_daily_check_ins(app, mia):
    with app.app_context():
        user = mia.user()
        for n in range(365):
            day = TODAY - timedelta(days=n)
            db.session.add(CheckIn(user=user, recorded_at=PINNED_NOW, local_date=day, mood=1 + n % 5,
                                   craving=n % 11, created_at=PINNED_NOW, updated_at=PINNED_NOW))
        db.session.commit()
    response = browser(app, mia).get("/me/checkins?days=365")
    assert response.status_code == 200
    assert svg_dots(response) == 2 * 365
    assert html(response).count("<polyline") == 2
    assert "365 of the last 365 days have a check-in" in text(response)
    assert html(response).count("<tr><th scope=\"row\">") >= 365
    assert "365 check-ins" in text(response)
    # The month labels of a year.
    assert ">Jan</text>" in html(response) and ">Jun</text>" in html(response)


def test_days_with_several_check_ins_are_averaged_in_the_chart(app, mia):
    record(app, mia, mood=2, craving=8)
    record(app, mia, mood=4, craving=2)
    with app.app_context():
        [point] = checkins_history.daily_points(mia.user(), TODAY - timedelta(days=29), TODAY)
    assert (point.mood, point.craving, point.count) == (3.0, 5.0, 2)


def test_history_filters_by_tag_support_and_period(app, mia):
    record(app, mia, tags=["stress"], note="stressed one")
    record(app, mia, wants_support=True, note="asked for help")
    record(app, mia, new_tags=["payday"], note="own tag one")
    record(app, mia, day=TODAY - timedelta(days=60), note="two months ago")
    client = browser(app, mia)
    with app.app_context():
        own = db.session.scalar(select(OwnTag.id))

    def notes(query: str) -> set[str]:
        body = text(client.get(f"/me/checkins{query}"))
        return {n for n in ("stressed one", "asked for help", "own tag one", "two months ago") if n in body}

    assert notes("") == {"stressed one", "asked for help", "own tag one"}
    assert notes("?days=90") == {"stressed one", "asked for help", "own tag one", "two months ago"}
    assert notes("?tag=stress") == {"stressed one"}
    assert notes(f"?tag=own:{own}") == {"own tag one"}
    assert notes("?support=1") == {"asked for help"}
    assert notes("?days=nonsense&tag=%00&page=-4") == {"stressed one", "asked for help", "own tag one"}


def test_history_pages_through_many_check_ins(app, mia):
    for n in range(55):
        record(app, mia, day=TODAY - timedelta(days=n % 30))
    client = browser(app, mia)
    first = client.get("/me/checkins")
    assert "55 check-ins" in text(first) and "Page 1 of 2" in text(first)
    assert html(first).count('class="checkin-when"') == 50
    second = client.get("/me/checkins?page=2")
    assert html(second).count('class="checkin-when"') == 5


def test_patterns_tell_the_member_what_goes_with_higher_cravings(app, mia):
    for n in range(14):
        stressed = n % 2 == 0
        record(app, mia, day=TODAY - timedelta(days=n), craving=8 if stressed else 2, mood=2 if stressed else 4,
               tags=["stress"] if stressed else [])
    response = browser(app, mia).get("/me/checkins")
    body = text(response)
    assert "Cravings were higher on days tagged “Stress”: 8.0 on average, against 2.0 on other days." in body
    assert "Your mood was lower on days tagged “Stress”" in body
    assert "By weekday" in body


def test_patterns_wait_for_a_week_of_check_ins(app, mia):
    for n in range(6):
        record(app, mia, day=TODAY - timedelta(days=n), tags=["stress"])
    assert "after about a week of check-ins" in text(browser(app, mia).get("/me/checkins"))


def test_weekday_patterns_name_the_hardest_day(app, mia):
    for n in range(28):
        day = TODAY - timedelta(days=n)
        record(app, mia, day=day, craving=9 if day.weekday() == 4 else 2)
    assert "Cravings were highest on Fridays: 9.0 on average" in text(browser(app, mia).get("/me/checkins?days=90"))


# --- streaks ---


def test_streak_counts_consecutive_days_ending_today_or_yesterday():
    d = date(2026, 11, 26)
    assert checkins_history.streak_of([], d) == checkins_history.Streak(0, 0, False)
    assert checkins_history.streak_of([d, d - timedelta(1), d - timedelta(2)], d) == checkins_history.Streak(3, 3, True)
    # Not yet checked in today: yesterday's streak still counts.
    assert checkins_history.streak_of([d - timedelta(1), d - timedelta(2)], d) == checkins_history.Streak(2, 2, False)
    # A missed day ends it; the longest run is remembered.
    run = [d - timedelta(n) for n in (2, 3, 4, 5)]
    assert checkins_history.streak_of(run, d) == checkins_history.Streak(0, 4, False)


def test_a_streak_survives_the_clocks_going_back(app):
    # Europe/London leaves summer time on Sunday 25 October 2026. A member who checks in every night at
    # 00:30 local time checks in at 23:30 UTC the day before while on summer time: by UTC date the 25th
    # would be missing, by the member's own days there is no gap.
    night_owl = make_persona(app, "Nia N.", tz="Europe/London")
    for day in (22, 23, 24, 25, 26, 27):
        at = datetime(2026, 10, day, 0, 30, tzinfo=LONDON)
        clock.set_frozen(at)
        record(app, night_owl, at=at.astimezone(UTC))
    with app.app_context():
        utc_days = {r.astimezone(UTC).date() for r in db.session.scalars(select(CheckIn.recorded_at))}
        assert date(2026, 10, 25) not in utc_days  # the naive way would break the streak
        assert checkins_history.streak(night_owl.user(), clock.now_utc()) == checkins_history.Streak(6, 6, True)


def test_a_streak_survives_the_clocks_going_forward(app):
    # America/New_York springs forward on Sunday 14 March 2027: that day has 23 hours.
    early = make_persona(app, "Eli E.", tz="America/New_York")
    new_york = ZoneInfo("America/New_York")
    for day in (12, 13, 14, 15):
        at = datetime(2027, 3, day, 23, 45, tzinfo=new_york).astimezone(UTC)
        clock.set_frozen(at)
        record(app, early, at=at)
    with app.app_context():
        assert checkins_history.streak(early.user(), clock.now_utc()) == checkins_history.Streak(4, 4, True)


def test_a_streak_survives_a_move_to_another_timezone(app):
    # Late on the 25th in London (23:30 UTC), then the member flies to New York and checks in on the
    # evening of the 26th there (01:00 UTC on the 27th). By UTC date that is a gap; by their days it is not.
    traveller = make_persona(app, "Tom T.", tz="Europe/London")
    first = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    clock.set_frozen(first)
    record(app, traveller, at=first)
    with app.app_context():
        accounts.update_profile(traveller.user(), "Tom T.", "America/New_York")
        db.session.commit()
    second = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    clock.set_frozen(second)
    record(app, traveller, at=second)
    with app.app_context():
        days = db.session.scalars(select(CheckIn.local_date).order_by(CheckIn.id)).all()
        assert days == [date(2026, 11, 25), date(2026, 11, 26)]  # the first stays the day it was
        assert checkins_history.streak(traveller.user(), second) == checkins_history.Streak(2, 2, True)
    assert "2 days" in text(browser(app, traveller).get("/me/checkins"))


def test_a_move_west_does_not_put_the_latest_day_in_the_future_of_the_streak(app):
    # Checked in on the 27th in Tokyo, then in Los Angeles it is still the 26th: the streak is still alive.
    traveller = make_persona(app, "Kai K.", tz="Asia/Tokyo")
    at = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)  # 01:00 on the 27th in Tokyo
    record(app, traveller, at=at, day=date(2026, 11, 26))
    record(app, traveller, at=at)
    with app.app_context():
        accounts.update_profile(traveller.user(), "Kai K.", "America/Los_Angeles")
        db.session.commit()
        assert checkins_history.streak(traveller.user(), at + timedelta(hours=1)) == checkins_history.Streak(2, 2, True)
