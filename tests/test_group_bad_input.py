"""Bad input on the group and meeting forms: a clear message, a 4xx, and nothing changes."""


from __future__ import annotations

import pytest
from sqlalchemy import update

from supportnet import clock, groups
from supportnet.extensions import db
from supportnet.models import (
    Group,
    MeetingSeries,
    Occurrence,
)
from tests.conftest import login, post
from tests.pages import field_error, flashes, html, top_errors
from tests.worlds.group_pages import (
    THURSDAY,
    World,
    build_world,
    group_form,
    london,
    nothing_changes,
    series_form,
)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    return build_world(app, member, outsider, facilitator, other_facilitator, admin)


# --- 4. bad input: a clear message, a 4xx, and nothing changes ---





BAD_SERIES = {
    "unknown timezone": ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Choose a timezone from the list."),
    "zero duration": ({"duration_minutes": "0"}, "duration_minutes", "A meeting lasts between 1 minute and 24 hours."),
    "negative duration": (
        {"duration_minutes": "-30"}, "duration_minutes", "A meeting lasts between 1 minute and 24 hours.",
    ),
    "end date before the first date": (
        {"ends": "on", "until": "2026-11-30"}, "frequency", "The end date is before the first meeting.",
    ),
    "end date chosen without a date": (
        {"ends": "on", "until": ""}, "until", "Choose the last date, or choose another way to end.",
    ),
    "weekly with no weekday": ({"weekdays": []}, "weekdays", "Choose at least one weekday."),
    # Thursdays from Tuesday 1 December, ending Wednesday 2 December: not a single meeting.
    "a rule without meetings": (
        {"weekdays": [str(THURSDAY)], "ends": "on", "until": "2026-12-02"}, "frequency",
        "The end date is before the first meeting.",
    ),
    "a javascript link": (
        {"online_url": "javascript:alert(document.cookie)"}, "online_url", "Enter a web link starting with https://.",
    ),
    "an ftp link": ({"online_url": "ftp://files.example.net/room"}, "online_url", "Enter a web link"),
    "no place and no link": ({"venue": "", "address": ""}, "venue", "Add a place or an online link."),
    "a first date in the past": ({"first_date": "2026-11-20"}, "first_date", "The first meeting can't be in the past."),
    "a capacity of zero": ({"capacity": "0"}, "capacity", "Capacity is a number of people from 1 to 10000"),
    "the last date the calendar has": (
        {"ends": "on", "until": "9999-12-31"}, "until", "Choose a last date within 10 years from today",
    ),
    "the last date the calendar has, west of Greenwich": (
        {"ends": "on", "until": "9999-12-31", "timezone": "America/Los_Angeles"}, "until",
        "Choose a last date within 10 years from today",
    ),
    "the first date the calendar has, east of Greenwich": (
        {"first_date": "0001-01-01", "start_time": "00:30", "timezone": "Asia/Tokyo"}, "first_date",
        "Choose a first date from 1 Jan 1970 on",
    ),
    "a first date centuries ahead": (
        {"first_date": "9999-12-30"}, "first_date", "Choose a first date within 10 years from today",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SERIES))
def test_a_bad_new_series_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_SERIES[case]
    login(client, facilitator)
    with nothing_changes(app):
        response = post(client, f"/groups/{world.public.slug}/meetings/new", series_form(**changes))
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown.replace("&#39;", "'"), (field, shown, top_errors(response))


# An edit form shows a first date that has passed: there it means "from now on" (see scheduling.py).
@pytest.mark.parametrize("case", [case for case in BAD_SERIES if case != "a first date in the past"])
def test_a_bad_series_edit_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_SERIES[case]
    login(client, facilitator)
    with nothing_changes(app):
        response = post(
            client, f"/groups/{world.public.slug}/meetings/{world.public.series_id}/edit", series_form(**changes)
        )
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown.replace("&#39;", "'"), (field, shown, top_errors(response))


def test_capacity_below_the_number_already_going_is_refused(app, client, world, facilitator):
    with app.app_context():
        db.session.execute(
            update(Occurrence)
            .where(Occurrence.series_id == world.public.series_id, Occurrence.original_start == london(2026, 12, 8, 19))
            .values(going_count=7)
        )
        db.session.execute(
            update(Occurrence)
            .where(Occurrence.series_id == world.public.series_id, Occurrence.original_start > london(2026, 12, 8, 19))
            .values(going_count=3)
        )
        db.session.commit()
    login(client, facilitator)
    url = f"/groups/{world.public.slug}/meetings/{world.public.series_id}/edit"
    with nothing_changes(app):
        response = post(client, url, series_form(capacity="5"))
    assert response.status_code == 400
    assert "7 people are already going to the meeting on Tue 8 Dec 19:00. Set the capacity to at least 7." in (
        field_error(response, "capacity")
    )
    # Enough seats for everyone already going is fine.
    assert post(client, url, series_form(capacity="7")).status_code == 302
    with app.app_context():
        assert db.session.get(MeetingSeries, world.public.series_id).capacity == 7


def test_no_meeting_can_be_scheduled_for_an_archived_group(app, client, world, facilitator):
    with app.app_context():
        groups.archive_group(db.session.get(Group, world.public.id), clock.now_utc())
        db.session.commit()
    login(client, facilitator)
    with nothing_changes(app):
        response = post(client, f"/groups/{world.public.slug}/meetings/new", series_form())
    assert response.status_code == 400
    assert "This group is archived." in top_errors(response)


BAD_GROUPS = {
    "a slug another group uses": ({"slug": "quiet-harbour-circle"}, "slug", "Another group already uses that address."),
    "a reserved slug": ({"slug": "new"}, "slug", "That address is reserved; choose another."),
    "a malformed slug": ({"slug": "Not A Slug!"}, "slug", "Use 2 to 80 lower-case letters"),
    "an unknown Meeting Guide code": (
        {"other_tags": "walking, LGTBQ"}, None, "\u201cLGTBQ\u201d is not a Meeting Guide meeting type.",
    ),
    "an unknown timezone": ({"timezone": "Europe/Atlantis"}, "timezone", "Choose a timezone from the list."),
    "a private group open to all": (
        {"visibility": "private", "join_policy": "open"}, "join_policy", "A private group can't be open to everyone",
    ),
    "no name": ({"name": "   "}, "name", "Give the group a name."),
}


@pytest.mark.parametrize("case", list(BAD_GROUPS))
def test_a_bad_new_group_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_GROUPS[case]
    login(client, facilitator)
    with nothing_changes(app):
        response = post(client, "/groups/new", group_form(**{"name": "Another Circle", **changes}))
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown.replace("&#39;", "'"), (field, shown, top_errors(response))


@pytest.mark.parametrize("case", list(BAD_GROUPS))
def test_a_bad_group_edit_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_GROUPS[case]
    login(client, facilitator)
    with nothing_changes(app):
        response = post(client, f"/groups/{world.public.slug}/edit", group_form(**changes))
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown.replace("&#39;", "'"), (field, shown, top_errors(response))


BAD_MOVES = {
    "a time in the past": ({"date": "2026-11-25"}, "date", "Choose a time in the future."),
    "a zero length": ({"duration_minutes": "0"}, "duration_minutes", "A meeting lasts between 1 minute and 24 hours."),
    "a negative length": (
        {"duration_minutes": "-15"}, "duration_minutes", "A meeting lasts between 1 minute and 24 hours.",
    ),
    "no date": ({"date": ""}, "date", "Choose the new date."),
}


@pytest.mark.parametrize("case", list(BAD_MOVES))
def test_a_bad_move_gets_a_clear_error_and_changes_nothing(app, client, world, facilitator, case):
    changes, field, message = BAD_MOVES[case]
    login(client, facilitator)
    data = {"date": "2026-12-02", "start_time": "19:00", "duration_minutes": "90", **changes}
    with nothing_changes(app):
        response = post(client, f"/meetings/{world.public.occurrence_id}/move", data)
    assert response.status_code == 400
    shown = field_error(response, field) if field else top_errors(response)
    assert message in shown, (field, shown, top_errors(response))


def test_a_meeting_that_already_started_cannot_be_cancelled_moved_or_restored(app, client, world, facilitator):
    clock.set_frozen(london(2026, 12, 1, 19, 30))
    login(client, facilitator)
    occ = world.public.occurrence_id
    with nothing_changes(app):
        cancelled = post(client, f"/meetings/{occ}/cancel", {"note": "Too late"}, follow_redirects=True)
        assert "This meeting has already started." in flashes(cancelled)
        moved = post(client, f"/meetings/{occ}/move", {"date": "2026-12-02", "start_time": "19:00"})
        assert moved.status_code == 400
        restored = post(client, f"/meetings/{occ}/restore", follow_redirects=True)
        assert "This meeting has already started." in flashes(restored)


MALFORMED_SERIES = [
    {"duration_minutes": "ninety"},
    {"duration_minutes": "1e9"},
    {"duration_minutes": "99999999999999999999999"},
    {"first_date": "2026-02-30"},
    {"first_date": "next tuesday"},
    {"first_date": ""},
    {"start_time": "7pm"},
    {"start_time": "25:61"},
    {"ends": "on", "until": "soon"},
    {"ends": "after", "count": "many"},
    {"ends": "after", "count": "0"},
    {"ends": "after", "count": "-3"},
    {"ends": "forever"},
    {"interval": "every"},
    {"interval": "0"},
    {"interval": "-1"},
    {"interval": "1000"},
    {"weekdays": ["9"]},
    {"weekdays": ["monday"]},
    {"frequency": "daily"},
    {"frequency": "monthly_weekday", "nth": "7"},
    {"frequency": "monthly_day", "month_day": "abc"},
    {"online_visibility": "world"},
    {"capacity": "lots"},
    {"capacity": "-4"},
    {"capacity": "100001"},
    {"title": ""},
    {"title": "x" * 500},
]


@pytest.mark.parametrize("changes", MALFORMED_SERIES, ids=lambda c: "-".join(f"{k}={v!s:.12}" for k, v in c.items()))
def test_malformed_series_values_never_cause_a_server_error(app, client, world, facilitator, changes):
    login(client, facilitator)
    urls = [
        f"/groups/{world.public.slug}/meetings/new",
        f"/groups/{world.public.slug}/meetings/{world.public.series_id}/edit",
    ]
    with nothing_changes(app):
        for url in urls:
            response = post(client, url, series_form(**changes))
            assert response.status_code == 400, (url, response.status_code)
            assert field_error(response, next(iter(changes))) or top_errors(response) or 'class="error"' in html(
                response
            ), url


MALFORMED_MOVES = [
    {"date": "2026-13-01"},
    {"date": "tomorrow"},
    {"start_time": "noon"},
    {"duration_minutes": "an hour"},
    {"duration_minutes": "99999999999999999999999"},
    {"note": "x" * 600},
]


@pytest.mark.parametrize("changes", MALFORMED_MOVES, ids=lambda c: "-".join(f"{k}={v!s:.12}" for k, v in c.items()))
def test_malformed_move_values_never_cause_a_server_error(app, client, world, facilitator, changes):
    login(client, facilitator)
    data = {"date": "2026-12-02", "start_time": "19:00", "duration_minutes": "90", **changes}
    with nothing_changes(app):
        response = post(client, f"/meetings/{world.public.occurrence_id}/move", data)
    assert response.status_code == 400


def test_malformed_group_and_member_values_never_cause_a_server_error(app, client, world, facilitator):
    login(client, facilitator)
    refs = world.public
    with nothing_changes(app):
        for data in (
            group_form(kind="spaceship"),
            group_form(visibility="everyone"),
            group_form(join_policy="maybe"),
            group_form(types=["NOPE"]),
            group_form(name="x" * 500),
            group_form(other_tags=", ".join(f"tag{n}" for n in range(30))),
            group_form(other_tags="a" * 60),
            group_form(other_tags="caf\u00e9!"),
        ):
            for url in ("/groups/new", f"/groups/{refs.slug}/edit"):
                response = post(client, url, data)
                assert response.status_code == 400, (url, data, response.status_code)
        assert post(client, f"/groups/{refs.slug}/members/{refs.member_membership_id}/role",
                    {"role": "owner"}).status_code == 400
        assert post(client, f"/groups/{refs.slug}/members/{refs.member_membership_id}/role", {}).status_code == 400
        assert post(client, f"/meetings/{refs.occurrence_id}/cancel", {"note": "x" * 600}).status_code == 303
        assert post(client, f"/groups/{refs.slug}/members/{refs.member_membership_id}/promote").status_code == 404
        assert post(client, f"/groups/{refs.slug}/join", {"token": "x" * 5000}).status_code < 500


@pytest.mark.parametrize("query", [
    "weekday=abc", "weekday=9", "weekday=-1", "time=midnight", "kind=spaceship", "format=teleport",
    "page=abc", "page=-5", "page=0", "page=100000", "page=99999999999999999999999",
    "tag=" + "x" * 500, "q=" + "%25" * 300, "q=%00", "tag=O&tag=W&tag=X&tag=Y&tag=C&tag=D&tag=M",
])
def test_malformed_directory_queries_never_cause_a_server_error(client, world, query):
    assert client.get(f"/groups?{query}").status_code == 200
