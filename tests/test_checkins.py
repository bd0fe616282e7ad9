"""Check-ins for the member: recording quickly, bad input, the history with its chart, streaks and patterns,
the recovery date, export and deletion."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient
from sqlalchemy import func, select

from supportnet import accounts, checkins, clock, groups, scheduling, visibility
from supportnet.checkins import CheckInSpec
from supportnet.extensions import db
from supportnet.models import (
    CheckIn,
    CheckInTag,
    GroupKind,
    MeetingTiming,
    MemberRole,
    Membership,
    MemberStatus,
    Occurrence,
    OccurrenceStatus,
    OwnTag,
    Visibility,
)
from supportnet.recurrence import Frequency, Recurrence
from supportnet.scheduling import SeriesSpec
from tests.conftest import PINNED_NOW, Persona, login, make_persona, post

LONDON = ZoneInfo("Europe/London")
TODAY = date(2026, 11, 26)  # PINNED_NOW in London


# --- helpers shared by the check-in test modules ---


def browser(app: Flask, persona: Persona | None = None) -> FlaskClient:
    """A new browser (its own cookies), signed in as the persona unless it is None."""
    client = app.test_client()
    if persona is not None:
        assert login(client, persona).status_code == 302
    return client


def html(response) -> str:
    return response.get_data(as_text=True)


def text(response) -> str:
    """The page as text (tags removed, whitespace folded)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html(response)).split())


def checkin_form(**changes) -> dict:
    """The check-in form as a phone posts it when only mood and craving are tapped."""
    form = {"mood": "4", "craving": "2", "day": TODAY.isoformat()}
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def record(app: Flask, persona: Persona, at: datetime | None = None, **spec) -> int:
    """Record a check-in through the domain (at the pinned or given instant) and return its id."""
    spec.setdefault("mood", 4)
    spec.setdefault("craving", 2)
    with app.app_context():
        now = at or clock.now_utc()
        checkin = checkins.record(persona.user(), CheckInSpec(**spec), now)
        db.session.commit()
        return checkin.id


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (CheckIn, CheckInTag, OwnTag)
        }


def start_group(app: Flask, facilitator: Persona, name: str = "Thursday Circle", **fields) -> str:
    """A group the facilitator starts; returns its slug."""
    with app.app_context():
        values = {"kind": GroupKind.AFTERCARE, "timezone": "Europe/London"}
        values.update(fields)
        group = groups.create_group(facilitator.user(), name=name, now=clock.now_utc(), **values)
        db.session.commit()
        return group.slug


def add_member(app: Flask, slug: str, persona: Persona, role: MemberRole = MemberRole.MEMBER) -> None:
    """Make the persona an active member of the group."""
    with app.app_context():
        now, group = clock.now_utc(), group_of(slug)
        membership = visibility.membership_for(group, persona.user())
        if membership is None:
            membership = Membership(group=group, user=persona.user(), created_at=now)
            db.session.add(membership)
        membership.role, membership.status, membership.joined_at = role, MemberStatus.ACTIVE, now
        db.session.commit()


def group_of(slug: str):
    from supportnet.models import Group

    return db.session.scalar(select(Group).where(Group.slug == slug))


def schedule_meeting(app: Flask, slug: str, first: date = date(2026, 11, 26), start: time = time(19, 0),
                     title: str = "Integration circle") -> int:
    """A weekly 90-minute London meeting of the group; returns the id of its first occurrence."""
    with app.app_context():
        spec = SeriesSpec(
            title=title, first_date=first, start_time=start, duration_minutes=90,
            timezone="Europe/London", recurrence=Recurrence(Frequency.WEEKLY, weekdays=(first.weekday(),)),
            venue="Community room",
        )
        series = scheduling.create_series(group_of(slug), spec, clock.now_utc())
        db.session.commit()
        return db.session.scalars(
            select(Occurrence.id).where(Occurrence.series_id == series.id).order_by(Occurrence.starts_at)
        ).first()


@pytest.fixture
def mia(app) -> Persona:
    return make_persona(app, "Mia M.")


# --- recording ---


def test_a_member_checks_in_with_two_taps_and_a_save(app, mia):
    client = browser(app, mia)
    page = client.get("/me/checkins/new")
    assert page.status_code == 200
    body = html(page)
    for word in ("Very low", "Low", "Okay", "Good", "Very good", "I&#39;d like support"):
        assert word in body
    assert f'value="{TODAY.isoformat()}"' in body
    response = post(client, "/me/checkins/new", checkin_form())
    assert response.status_code == 302
    assert re.fullmatch(r"/me/checkins/\d+/saved", response.location)
    with app.app_context():
        row = db.session.scalars(select(CheckIn)).one()
        assert (row.user_id, row.mood, row.craving, row.local_date) == (mia.id, 4, 2, TODAY)
        assert row.recorded_at == PINNED_NOW
        assert (row.energy, row.sleep, row.note, row.wants_support, row.share_note) == (None, None, None, False, False)
    saved = client.get(response.location)
    assert saved.status_code == 200
    assert "Check-in saved" in text(saved) and "Good" in text(saved)
    assert "not an emergency service" not in html(saved).split('<footer')[0]  # no support block for a good day


def test_every_optional_part_is_kept(app, mia):
    client = browser(app, mia)
    response = post(client, "/me/checkins/new", checkin_form(
        mood="2", craving="7", energy="1", sleep="5", tags=["stress", "loneliness"],
        new_tags="payday,  New  job ,payday",
        note="Rough day at work.\nCalled my sponsor.", share_note="y", wants_support="y",
        day=(TODAY - timedelta(days=2)).isoformat(),
    ))
    assert response.status_code == 302
    with app.app_context():
        row = db.session.scalars(select(CheckIn)).one()
        assert (row.mood, row.craving, row.energy, row.sleep) == (2, 7, 1, 5)
        assert row.note == "Rough day at work.\nCalled my sponsor."
        assert row.share_note and row.wants_support
        assert row.local_date == TODAY - timedelta(days=2)
        assert sorted(checkins.tag_labels(row)) == ["Loneliness", "New job", "Stress", "payday"]
        assert len(checkins.own_tags(mia.user())) == 2
    # Next time, the member's own tags are offered as checkboxes.
    assert "payday" in html(client.get("/me/checkins/new"))


def test_an_own_tag_typed_again_in_other_case_is_the_same_tag(app, mia):
    record(app, mia, new_tags=["Payday"])
    record(app, mia, new_tags=["payday"])
    with app.app_context():
        assert [t.label for t in checkins.own_tags(mia.user())] == ["Payday"]


def test_the_day_is_the_members_own_calendar_day(app):
    tokyo = make_persona(app, "Taro T.", tz="Asia/Tokyo")
    # 20:00 UTC on the 26th is already the 27th in Tokyo.
    record(app, tokyo, at=datetime(2026, 11, 26, 20, 0, tzinfo=UTC))
    with app.app_context():
        assert db.session.scalar(select(CheckIn.local_date)) == date(2026, 11, 27)


def test_a_note_of_exactly_the_limit_is_accepted(app, mia):
    response = post(browser(app, mia), "/me/checkins/new", checkin_form(note="x" * checkins.NOTE_MAX))
    assert response.status_code == 302
    with app.app_context():
        assert len(db.session.scalar(select(CheckIn)).note) == checkins.NOTE_MAX


BAD_INPUT = [
    ({"mood": None}, "Choose how you feel"),
    ({"mood": "0"}, "Choose how you feel"),
    ({"mood": "6"}, "Choose how you feel"),
    ({"mood": "very good"}, "Choose how you feel"),
    ({"craving": None}, "Choose your craving"),
    ({"craving": "-1"}, "Choose your craving"),
    ({"craving": "11"}, "Choose your craving"),
    ({"craving": "2.5"}, "Choose your craving"),
    ({"energy": "9"}, "Choose your energy"),
    ({"sleep": "0"}, "Choose how you slept"),
    ({"note": "x" * (checkins.NOTE_MAX + 1)}, "Keep the note to 5,000 characters"),
    ({"day": (TODAY + timedelta(days=1)).isoformat()}, "hasn&#39;t happened yet"),
    ({"day": "2030-01-01"}, "hasn&#39;t happened yet"),
    ({"day": (TODAY - timedelta(days=checkins.BACKDATE_DAYS + 1)).isoformat()}, "past year"),
    ({"day": "26/11/2026"}, "Not a valid date"),
    ({"day": ""}, "Choose the day"),
    ({"tags": ["cocaine"]}, "Choose tags from the list"),
    ({"tags": ["own:999"]}, "Choose tags from the list"),
    ({"new_tags": "y" * (checkins.OWN_TAG_MAX + 1)}, "Keep each tag to 40 characters"),
    ({"new_tags": "a,b,c,d,e,f"}, "at most 5 new tags"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_INPUT, ids=[repr(c)[:40] for c, _ in BAD_INPUT])
def test_bad_input_is_a_form_error_and_nothing_is_stored(app, mia, changes, message):
    before = row_counts(app)
    response = post(browser(app, mia), "/me/checkins/new", checkin_form(**changes))
    assert response.status_code == 400
    assert message in html(response)
    assert row_counts(app) == before


def test_a_future_day_is_refused_by_the_members_own_clock(app):
    # 23:30 UTC on the 26th is the 27th in Tokyo: "today" there, "tomorrow" for a London member.
    tokyo = make_persona(app, "Taro T.", tz="Asia/Tokyo")
    clock.set_frozen(datetime(2026, 11, 26, 23, 30, tzinfo=UTC))
    assert post(browser(app, tokyo), "/me/checkins/new", checkin_form(day="2026-11-27")).status_code == 302
    with app.app_context(), pytest.raises(checkins.DomainError, match="hasn't happened yet"):
        checkins.record(make_persona(app, "Lou L.").user(), CheckInSpec(4, 2, day=date(2026, 11, 27)), clock.now_utc())


def test_another_members_own_tag_cannot_be_borrowed(app, mia):
    other = make_persona(app, "Bea B.")
    record(app, other, new_tags=["secret word"])
    with app.app_context():
        other_tag = db.session.scalar(select(OwnTag.id))
    before = row_counts(app)
    response = post(browser(app, mia), "/me/checkins/new", checkin_form(tags=[f"own:{other_tag}"]))
    assert response.status_code == 400
    assert row_counts(app) == before


# --- around a meeting ---


def test_the_meeting_page_link_prefills_a_check_in_before_the_meeting(app, mia, facilitator):
    slug = start_group(app, facilitator)
    add_member(app, slug, mia)
    occurrence_id = schedule_meeting(app, slug)
    client = browser(app, mia)
    page = client.get(f"/me/checkins/new?occurrence={occurrence_id}&when=before")
    assert page.status_code == 200
    assert "Before Integration circle" in text(page)
    response = post(client, "/me/checkins/new", checkin_form(occurrence=str(occurrence_id), timing="before"))
    assert response.status_code == 302
    with app.app_context():
        row = db.session.scalars(select(CheckIn)).one()
        assert (row.occurrence_id, row.meeting_timing) == (occurrence_id, MeetingTiming.BEFORE)
    history = client.get("/me/checkins?meetings=1")
    assert "Before Integration circle" in text(history)


def test_a_meeting_the_member_cannot_see_is_neither_shown_nor_linked(app, mia, facilitator):
    slug = start_group(app, facilitator, name="Hidden Circle", visibility=Visibility.PRIVATE, join_policy="invite")
    occurrence_id = schedule_meeting(app, slug)
    client = browser(app, mia)
    page = client.get(f"/me/checkins/new?occurrence={occurrence_id}&when=before")
    assert page.status_code == 200
    assert "Integration circle" not in html(page)
    before = row_counts(app)
    response = post(client, "/me/checkins/new", checkin_form(occurrence=str(occurrence_id), timing="before"))
    assert response.status_code == 400
    assert "isn&#39;t available" in html(response)
    assert row_counts(app) == before


def test_a_garbled_meeting_timing_is_a_visible_form_error(app, mia, facilitator):
    slug = start_group(app, facilitator)
    occurrence_id = schedule_meeting(app, slug)
    before = row_counts(app)
    response = post(browser(app, mia), "/me/checkins/new", checkin_form(occurrence=str(occurrence_id), timing="during"))
    assert response.status_code == 400
    assert "Say whether this is before or after the meeting." in text(response)
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(hours=-2, minutes=-1), None),
        (timedelta(hours=-2), "before"),
        (timedelta(minutes=-5), "before"),
        (timedelta(0), "after"),
        (timedelta(minutes=90 + 6 * 60), "after"),
        (timedelta(minutes=90 + 6 * 60, seconds=1), None),
    ],
    ids=["too early", "2h before", "5 min before", "at the start", "6h after the end", "later"],
)
def test_the_occurrence_link_shows_from_two_hours_before_to_six_hours_after(app, mia, facilitator, offset, expected):
    slug = start_group(app, facilitator)
    occurrence_id = schedule_meeting(app, slug)
    with app.test_request_context():
        from flask_login import login_user

        occ = db.session.get(Occurrence, occurrence_id)
        login_user(mia.user())
        rendered = render_template("checkins/_occurrence_link.html", occ=occ, now=occ.starts_at + offset)
        if expected is None:
            assert "Check in" not in rendered
        else:
            assert f"Check in {expected} this meeting" in rendered
            assert f"/me/checkins/new?occurrence={occurrence_id}&amp;when={expected}" in rendered
        occ.status = OccurrenceStatus.CANCELLED
        assert "Check in" not in render_template("checkins/_occurrence_link.html", occ=occ, now=occ.starts_at)


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
        [point] = checkins.daily_points(mia.user(), TODAY - timedelta(days=29), TODAY)
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
    assert checkins.streak_of([], d) == checkins.Streak(0, 0, False)
    assert checkins.streak_of([d, d - timedelta(1), d - timedelta(2)], d) == checkins.Streak(3, 3, True)
    # Not yet checked in today: yesterday's streak still counts.
    assert checkins.streak_of([d - timedelta(1), d - timedelta(2)], d) == checkins.Streak(2, 2, False)
    # A missed day ends it; the longest run is remembered.
    run = [d - timedelta(n) for n in (2, 3, 4, 5)]
    assert checkins.streak_of(run, d) == checkins.Streak(0, 4, False)


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
        assert checkins.streak(night_owl.user(), clock.now_utc()) == checkins.Streak(6, 6, True)


def test_a_streak_survives_the_clocks_going_forward(app):
    # America/New_York springs forward on Sunday 14 March 2027: that day has 23 hours.
    early = make_persona(app, "Eli E.", tz="America/New_York")
    new_york = ZoneInfo("America/New_York")
    for day in (12, 13, 14, 15):
        at = datetime(2027, 3, day, 23, 45, tzinfo=new_york).astimezone(UTC)
        clock.set_frozen(at)
        record(app, early, at=at)
    with app.app_context():
        assert checkins.streak(early.user(), clock.now_utc()) == checkins.Streak(4, 4, True)


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
        assert checkins.streak(traveller.user(), second) == checkins.Streak(2, 2, True)
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
        assert checkins.streak(traveller.user(), at + timedelta(hours=1)) == checkins.Streak(2, 2, True)


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
    marks = checkins.milestones(date(2024, 2, 29), date(2027, 3, 1))
    labels = {m.label: m.day for m in marks}
    assert labels["6 months"] == date(2024, 8, 29)
    assert labels["1 year"] == date(2025, 2, 28)
    assert labels["3 years"] == date(2027, 2, 28)
    assert marks[-1].label == "4 years"  # the first one still ahead


# --- editing, export and deletion ---


def test_a_member_edits_a_check_in(app, mia):
    checkin_id = record(app, mia, mood=2, craving=6, note="before", new_tags=["old tag"])
    client = browser(app, mia)
    page = client.get(f"/me/checkins/{checkin_id}")
    assert page.status_code == 200 and "before" in html(page)
    response = post(client, f"/me/checkins/{checkin_id}", checkin_form(mood="3", craving="4", note="after"))
    assert response.status_code == 302
    with app.app_context():
        row = db.session.get(CheckIn, checkin_id)
        assert (row.mood, row.craving, row.note, row.recorded_at) == (3, 4, "after", PINNED_NOW)
        # The own tag it no longer has was used nowhere else: it is gone, not kept.
        assert db.session.scalar(select(func.count()).select_from(OwnTag)) == 0
    response = post(client, f"/me/checkins/{checkin_id}", checkin_form(day="2026-12-25"))
    assert response.status_code == 400
    # An optional answer can be taken back.
    post(client, f"/me/checkins/{checkin_id}", checkin_form(energy="2"))
    post(client, f"/me/checkins/{checkin_id}", checkin_form(energy=""))
    with app.app_context():
        assert db.session.get(CheckIn, checkin_id).energy is None


def test_an_old_check_in_can_still_be_edited_without_moving_it(app, mia):
    old = TODAY - timedelta(days=checkins.BACKDATE_DAYS + 30)
    with app.app_context():
        row = CheckIn(user=mia.user(), recorded_at=PINNED_NOW, local_date=old, mood=3, craving=3,
                      created_at=PINNED_NOW, updated_at=PINNED_NOW)
        db.session.add(row)
        db.session.commit()
        checkin_id = row.id
    response = post(browser(app, mia), f"/me/checkins/{checkin_id}", checkin_form(day=old.isoformat(), mood="5"))
    assert response.status_code == 302


def test_export_gives_every_check_in_as_csv_and_json(app, mia):
    record(app, mia, mood=1, craving=9, note="=HYPERLINK(\"http://evil\")", tags=["stress"], new_tags=["payday"],
           wants_support=True, day=TODAY - timedelta(days=1))
    record(app, mia, mood=5, craving=0)
    with app.app_context():
        checkins.set_recovery_date(mia.user(), date(2026, 1, 1), PINNED_NOW)
        db.session.commit()
    client = browser(app, mia)
    response = client.get("/me/checkins/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="checkins-2026-11-26.csv"'
    assert "no-store" in response.headers["Cache-Control"]
    rows = list(csv.DictReader(io.StringIO(html(response))))
    assert [r["date"] for r in rows] == ["2026-11-25", "2026-11-26"]
    assert rows[0]["mood_label"] == "Very low" and rows[0]["tags"] == "Stress; payday"
    assert rows[0]["wants_support"] == "yes"
    # A note that looks like a formula stays text in a spreadsheet.
    assert rows[0]["note"] == "'=HYPERLINK(\"http://evil\")"

    response = client.get("/me/checkins/export.json")
    assert response.mimetype == "application/json"
    data = json.loads(html(response))
    assert data["recovery_date"] == "2026-01-01" and data["timezone"] == "Europe/London"
    assert [c["mood"] for c in data["checkins"]] == [1, 5]
    assert data["checkins"][0]["note"] == "=HYPERLINK(\"http://evil\")"
    assert data["checkins"][0]["tags"] == ["Stress", "payday"]


def test_deleting_one_check_in_removes_it_for_good(app, mia):
    keep = record(app, mia, new_tags=["shared tag"])
    gone = record(app, mia, note="delete me", new_tags=["shared tag", "only here"])
    client = browser(app, mia)
    response = post(client, f"/me/checkins/{gone}/delete")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(CheckIn, gone) is None
        assert db.session.get(CheckIn, keep) is not None
        assert [t.label for t in checkins.own_tags(mia.user())] == ["shared tag"]
        assert db.session.scalar(select(func.count()).select_from(CheckInTag)) == 1


def test_deleting_everything_needs_the_word_and_then_removes_every_row(app, mia):
    other = make_persona(app, "Bea B.")
    record(app, other, note="not mine", new_tags=["hers"])
    for _ in range(3):
        record(app, mia, note="mine", new_tags=["mine"])
    client = browser(app, mia)
    before = row_counts(app)
    for word in ("", "yes", "delete all"):
        response = post(client, "/me/checkins/delete-all", {"confirm": word})
        assert response.status_code == 303
        assert row_counts(app) == before
    response = post(client, "/me/checkins/delete-all", {"confirm": "DELETE"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(CheckIn.user_id)).all() == [other.id]
        assert db.session.scalars(select(OwnTag.user_id)).all() == [other.id]
    assert "All your check-ins are deleted (3)" in text(client.get("/me/checkins"))


def test_check_in_pages_need_a_signed_in_member(client):
    for path in ("/me/checkins", "/me/checkins/new", "/me/checkins/1", "/me/checkins/1/saved", "/me/recovery",
                 "/me/sharing", "/me/checkins/export.csv", "/me/checkins/export.json"):
        response = client.get(path)
        assert response.status_code == 302 and response.location.startswith("/login"), path


def test_the_history_page_takes_a_fixed_number_of_queries(app, mia):
    from sqlalchemy import event

    def count_queries(n: int) -> int:
        with app.app_context():
            db.session.execute(CheckIn.__table__.delete())
            db.session.commit()
        for i in range(n):
            record(app, mia, tags=["stress"], new_tags=[f"tag {i % 3}"], note="n")
        client = browser(app, mia)
        seen: list[str] = []
        with app.app_context():
            engine = db.engine

        def listener(*args):
            seen.append(args[2])

        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get("/me/checkins").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    assert count_queries(2) == count_queries(20)


def test_the_nav_offers_check_in_to_signed_in_members(app, mia, client):
    assert "/me/checkins/new" not in html(client.get("/"))
    assert '<a href="/me/checkins/new">Check in</a>' in html(browser(app, mia).get("/"))
