"""A facilitator starts a group and schedules, edits, cancels, moves and restores its meetings through the web."""


from __future__ import annotations

from datetime import UTC, datetime

import pytest

from supportnet import clock, timetable, visibility
from supportnet.extensions import db
from supportnet.models import (
    Group,
    MeetingSeries,
    Occurrence,
    OccurrenceStatus,
)
from tests.conftest import login, post
from tests.pages import browser, flashes, html, text
from tests.worlds.group_pages import (
    World,
    build_world,
    group_by_slug,
    group_form,
    london,
    occurrence_id_at,
    occurrences_of,
    series_form,
)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    return build_world(app, member, outsider, facilitator, other_facilitator, admin)


# --- 3. flows through the web ---


def test_a_facilitator_starts_a_group_schedules_it_and_cancels_moves_and_restores_single_weeks(
    app, client, facilitator, member
):
    login(client, facilitator)
    assert client.get("/groups/new").status_code == 200
    created = post(client, "/groups/new", group_form(types=["W"], other_tags="O, Walking"))
    assert created.status_code == 302
    assert created.headers["Location"] == "/groups/thursday-integration-circle/meetings/new"
    assert client.get(created.headers["Location"]).status_code == 200
    scheduled = post(client, created.headers["Location"], series_form(), follow_redirects=True)
    assert scheduled.status_code == 200
    assert "The meeting is scheduled." in flashes(scheduled)
    assert "Tue 1 Dec 2026, 19:00\u201320:30" in text(scheduled)
    with app.app_context():
        group = group_by_slug("thursday-integration-circle")
        assert group.tag_codes == ["W", "O", "walking"]
        assert visibility.membership_for(group, facilitator.user()).is_facilitator
        (series,) = timetable.active_series(group)
        assert len(occurrences_of(series.id)) == 26
        second = occurrence_id_at(series.id, london(2026, 12, 8, 19, 0))
        third = occurrence_id_at(series.id, london(2026, 12, 15, 19, 0))

    cancelled = post(client, f"/meetings/{second}/cancel", {"note": "The hall is closed for repairs"})
    assert cancelled.status_code == 302
    moved = post(client, f"/meetings/{third}/move", {
        "date": "2026-12-16", "start_time": "18:30", "duration_minutes": "60", "note": "Wednesday this week",
    })
    assert moved.status_code == 302

    reader = browser(app, member)
    assert post(reader, "/groups/thursday-integration-circle/join").status_code == 302
    page = reader.get(f"/meetings/{second}")
    assert "Cancelled: The hall is closed for repairs" in text(page)
    group_page = text(reader.get("/groups/thursday-integration-circle"))
    assert "Cancelled The hall is closed for repairs" in group_page
    page = reader.get(f"/meetings/{third}")
    assert "Moved from Tue 15 Dec 2026, 19:00\u201320:30: Wednesday this week" in text(page)
    assert "Wed 16 Dec 2026, 18:30\u201319:30" in text(page)
    assert "Moved" in text(reader.get("/groups/thursday-integration-circle"))

    restored = post(client, f"/meetings/{third}/restore", follow_redirects=True)
    assert "The meeting is back on its usual time and place." in flashes(restored)
    page = reader.get(f"/meetings/{third}")
    assert "Moved from" not in text(page)
    assert "Tue 15 Dec 2026, 19:00\u201320:30" in text(page)
    with app.app_context():
        occ = db.session.get(Occurrence, third)
        assert (occ.status, occ.starts_at) == (OccurrenceStatus.SCHEDULED, london(2026, 12, 15, 19, 0))
        assert db.session.get(Occurrence, second).status == OccurrenceStatus.CANCELLED


def test_editing_a_series_after_some_meetings_happened_keeps_the_past_ones(app, client, world, facilitator):
    with app.app_context():
        before = {occ.id: (occ.starts_at, occ.status) for occ in occurrences_of(world.public.series_id)}
    # Two Tuesdays later: the meetings of 1 and 8 December have taken place.
    clock.set_frozen(datetime(2026, 12, 10, 12, 0, tzinfo=UTC))
    login(client, facilitator)
    edit_url = f"/groups/{world.public.slug}/meetings/{world.public.series_id}/edit"
    form_page = client.get(edit_url)
    assert 'value="2026-12-01"' in html(form_page)
    saved = post(client, edit_url, series_form(start_time="18:00"), follow_redirects=True)
    assert "Meetings that already happened stay as they were." in flashes(saved)
    with app.app_context():
        old = db.session.get(MeetingSeries, world.public.series_id)
        assert old.ended_at is not None
        past = [occ for occ in occurrences_of(old.id) if occ.starts_at < clock.now_utc()]
        assert [occ.starts_at for occ in past] == [london(2026, 12, 1, 19, 0), london(2026, 12, 8, 19, 0)]
        assert all(
            (occ.starts_at, occ.status) == before[occ.id] and not occ.superseded for occ in past
        )
        (successor,) = timetable.active_series(db.session.get(Group, world.public.id))
        assert successor.previous_id == old.id
        assert occurrences_of(successor.id)[0].starts_at == london(2026, 12, 15, 18, 0)
    assert "Tue 15 Dec 2026, 18:00\u201319:30" in text(client.get(f"/groups/{world.public.slug}"))
    # The past meeting's own page still says when it took place.
    assert "Tue 1 Dec 2026, 19:00\u201320:30" in text(client.get(f"/meetings/{world.public.occurrence_id}"))
