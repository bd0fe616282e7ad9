"""Recording a check-in: two taps and a save, bad input, and check-ins around a meeting."""


from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import render_template
from sqlalchemy import select

from supportnet import clock
from supportnet.checkins import records as checkins_records
from supportnet.checkins.records import CheckInSpec
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    CheckIn,
    MeetingTiming,
    Occurrence,
    OccurrenceStatus,
    OwnTag,
    Visibility,
)
from tests.conftest import PINNED_NOW, Persona, make_persona, post
from tests.pages import browser, html, text
from tests.worlds.checkins import (
    TODAY,
    add_member,
    checkin_form,
    record,
    row_counts,
    schedule_meeting,
    start_group,
)


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
        assert sorted(checkins_records.tag_labels(row)) == ["Loneliness", "New job", "Stress", "payday"]
        assert len(checkins_records.own_tags(mia.user())) == 2
    # Next time, the member's own tags are offered as checkboxes.
    assert "payday" in html(client.get("/me/checkins/new"))


def test_an_own_tag_typed_again_in_other_case_is_the_same_tag(app, mia):
    record(app, mia, new_tags=["Payday"])
    record(app, mia, new_tags=["payday"])
    with app.app_context():
        assert [t.label for t in checkins_records.own_tags(mia.user())] == ["Payday"]


def test_the_day_is_the_members_own_calendar_day(app):
    tokyo = make_persona(app, "Taro T.", tz="Asia/Tokyo")
    # 20:00 UTC on the 26th is already the 27th in Tokyo.
    record(app, tokyo, at=datetime(2026, 11, 26, 20, 0, tzinfo=UTC))
    with app.app_context():
        assert db.session.scalar(select(CheckIn.local_date)) == date(2026, 11, 27)


def test_a_note_of_exactly_the_limit_is_accepted(app, mia):
    response = post(browser(app, mia), "/me/checkins/new", checkin_form(note="x" * checkins_records.NOTE_MAX))
    assert response.status_code == 302
    with app.app_context():
        assert len(db.session.scalar(select(CheckIn)).note) == checkins_records.NOTE_MAX


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
    ({"note": "x" * (checkins_records.NOTE_MAX + 1)}, "Keep the note to 5,000 characters"),
    ({"day": (TODAY + timedelta(days=1)).isoformat()}, "hasn&#39;t happened yet"),
    ({"day": "2030-01-01"}, "hasn&#39;t happened yet"),
    ({"day": (TODAY - timedelta(days=checkins_records.BACKDATE_DAYS + 1)).isoformat()}, "past year"),
    ({"day": "26/11/2026"}, "Not a valid date"),
    ({"day": ""}, "Choose the day"),
    ({"tags": ["cocaine"]}, "Choose tags from the list"),
    ({"tags": ["own:999"]}, "Choose tags from the list"),
    ({"new_tags": "y" * (checkins_records.OWN_TAG_MAX + 1)}, "Keep each tag to 40 characters"),
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
    with app.app_context(), pytest.raises(DomainError, match="hasn't happened yet"):
        checkins_records.record(
            make_persona(app, "Lou L.").user(), CheckInSpec(4, 2, day=date(2026, 11, 27)), clock.now_utc()
        )


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
