"""Moving one meeting through the web: far-off dates are refused with a message, a wall time the clocks skip is
shown to the facilitator before it is saved."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from supportnet import clock, groups, scheduling, timetable
from supportnet.extensions import db
from supportnet.models import GroupKind, Occurrence, OccurrenceStatus
from tests.builders import weekly
from tests.conftest import login, post


@pytest.fixture
def occ_id(app, facilitator) -> int:
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            facilitator.user(), name="Tuesday circle", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now
        )
        series = scheduling.create_series(group, weekly(), now)
        db.session.commit()
        return db.session.scalars(
            select(Occurrence.id).where(Occurrence.series_id == series.id).order_by(Occurrence.starts_at).offset(2)
        ).first()


def starts_at(app, occ_id: int) -> tuple[datetime, OccurrenceStatus]:
    with app.app_context():
        occ = db.session.get(Occurrence, occ_id)
        return occ.starts_at, occ.status


def test_moving_a_meeting_to_the_first_day_of_the_calendar_is_refused_with_a_message(app, client, facilitator,
                                                                                      occ_id):
    login(client, facilitator)
    with app.app_context():
        db.session.get(Occurrence, occ_id).series.timezone = "Asia/Tokyo"
        db.session.commit()
    response = post(client, f"/meetings/{occ_id}/move", {"date": "0001-01-01", "start_time": "00:30"})
    assert response.status_code == 400
    assert "Choose a time in the future." in response.get_data(as_text=True)


@pytest.mark.parametrize("day", ["9999-12-31", "2040-01-01"])
def test_moving_a_meeting_to_a_far_off_date_is_refused_with_a_message(app, client, facilitator, occ_id, day):
    login(client, facilitator)
    before = starts_at(app, occ_id)
    response = post(client, f"/meetings/{occ_id}/move", {"date": day, "start_time": "23:30", "duration_minutes": "60"})
    assert response.status_code == 400
    assert "Choose a date within 10 years from today." in response.get_data(as_text=True)
    assert starts_at(app, occ_id) == before


def test_a_wall_time_the_clocks_skip_is_shown_before_the_move_is_saved(app, client, facilitator, occ_id):
    login(client, facilitator)
    before = starts_at(app, occ_id)
    url = f"/meetings/{occ_id}/move"
    # 01:30 on 28 March 2027 does not exist in London: the clocks go from 01:00 to 02:00.
    form = {"date": "2027-03-28", "start_time": "01:30", "duration_minutes": "60"}
    response = post(client, url, form)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "01:30 does not exist on Sun 28 Mar 2027" in page
    assert "The meeting would start at 02:30" in page
    assert starts_at(app, occ_id) == before  # nothing saved yet
    # The facilitator confirms the time the page showed (the form carries it back).
    confirmed = post(client, url, {**form, "confirm_start": "2027-03-28T02:30"})
    assert confirmed.status_code == 302
    assert starts_at(app, occ_id) == (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), OccurrenceStatus.MOVED)


def test_a_confirmation_for_another_time_does_not_save_a_different_one(app, client, facilitator, occ_id):
    login(client, facilitator)
    before = starts_at(app, occ_id)
    # A confirmation left over from another date is no confirmation for this one.
    form = {"date": "2027-03-28", "start_time": "01:30", "duration_minutes": "60", "confirm_start": "2027-03-21T02:30"}
    response = post(client, f"/meetings/{occ_id}/move", form)
    assert response.status_code == 200
    assert "The meeting would start at 02:30" in response.get_data(as_text=True)
    assert starts_at(app, occ_id) == before


def test_an_ordinary_move_needs_no_confirmation(app, client, facilitator, occ_id):
    login(client, facilitator)
    response = post(
        client, f"/meetings/{occ_id}/move", {"date": "2027-03-28", "start_time": "03:30", "duration_minutes": "60"}
    )
    assert response.status_code == 302
    assert starts_at(app, occ_id)[0] == datetime(2027, 3, 28, 2, 30, tzinfo=UTC)


def test_an_end_date_saved_before_dates_were_limited_may_stay(app, facilitator):
    from datetime import date

    from supportnet.models import MeetingSeries
    from supportnet.recurrence import Frequency, Recurrence

    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(
            facilitator.user(), name="Long circle", kind=GroupKind.AFTERCARE, timezone="Europe/London", now=now
        )
        long = Recurrence(Frequency.WEEKLY, weekdays=(1,), until=date(2036, 11, 24))
        series_id = scheduling.create_series(group, weekly(recurrence=long), now).id
        db.session.commit()
    clock.set_frozen(datetime(2026, 11, 20, tzinfo=UTC))  # from here, 24 November 2036 is more than 10 years ahead
    with app.app_context():
        series = db.session.get(MeetingSeries, series_id)
        spec = timetable.spec_for(series)
        scheduling.update_series(series, dataclasses.replace(spec, title="Longer circle"), clock.now_utc())
        db.session.commit()
        assert db.session.get(MeetingSeries, series_id).title == "Longer circle"
