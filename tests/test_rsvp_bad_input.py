"""Bad input on the RSVP and attendance pages never causes a server error; counts and lists as members see them."""


from __future__ import annotations

import pytest
from sqlalchemy import select

from supportnet import clock, memberships
from supportnet.extensions import db
from supportnet.models import (
    Group,
)
from tests.conftest import make_persona, post
from tests.pages import browser, html
from tests.worlds.notifications import going, make_world
from tests.worlds.rsvp_pages import (
    DURING,
    FETCH,
    World,
    box_text,
    build_world,
    page_text,
    rsvp_box,
    two_seats_and_four_members,
)


@pytest.fixture
def world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    """Two groups that began meeting on Tuesday 24 November, which the member attended; the member made a proof."""
    return build_world(app, member, outsider, facilitator, other_facilitator, admin)


@pytest.fixture
def seats(app, facilitator, member) -> dict:
    """A public open group with a weekly Tuesday meeting of 2 seats, and four members: Ann, Ben, Cat and Mia."""
    return two_seats_and_four_members(app, facilitator, member)


# --- 8. bad input never causes a server error ---


HUGE = "99999999999999999999999"
JUST_TOO_BIG = str(2**63)


def test_malformed_and_huge_ids_answer_404(app, world, facilitator, member):
    refs = world.public
    gets = [
        "/meetings/abc/roster", f"/meetings/{HUGE}/roster", f"/meetings/{JUST_TOO_BIG}/roster", "/meetings/-1/roster",
        "/meetings/0/roster", "/meetings/999999/roster",
        "/me/attendance/proofs/abc", f"/me/attendance/proofs/{HUGE}", f"/me/attendance/proofs/{JUST_TOO_BIG}",
        "/me/attendance/proofs/-3", "/me/attendance/proofs/999999",
    ]
    posts = [
        "/meetings/abc/rsvp", f"/meetings/{HUGE}/rsvp", f"/meetings/{JUST_TOO_BIG}/rsvp", "/meetings/-1/rsvp",
        "/meetings/1.5/rsvp", "/meetings/999999/rsvp",
        f"/meetings/{HUGE}/rsvp/cancel", "/meetings/abc/rsvp/cancel", "/meetings/999999/rsvp/cancel",
        f"/groups/{refs.slug}/meetings/abc/standing", f"/groups/{refs.slug}/meetings/{HUGE}/standing",
        f"/groups/{refs.slug}/meetings/{JUST_TOO_BIG}/standing/stop", f"/groups/{refs.slug}/meetings/999999/standing",
        f"/groups/no-such-group/meetings/{refs.series_id}/standing",
        f"/groups/{world.private.slug}/meetings/{refs.series_id}/standing",  # another group's series
        f"/meetings/{refs.occurrence_id}/attendance/abc/mark", f"/meetings/{refs.occurrence_id}/attendance/{HUGE}/mark",
        f"/meetings/{refs.occurrence_id}/attendance/999999/mark",
        f"/meetings/{refs.occurrence_id}/attendance/{member.id}/explode", f"/meetings/{HUGE}/attendance/1/unmark",
        f"/meetings/{HUGE}/code", f"/meetings/{HUGE}/check-in", "/meetings/abc/check-in",
        f"/me/attendance/proofs/{HUGE}/revoke", "/me/attendance/proofs/abc/revoke",
    ]
    fay = browser(app, facilitator)
    for url in gets:
        assert fay.get(url).status_code == 404, url
    for url in posts:
        assert post(fay, url).status_code == 404, url
        assert post(fay, url, headers=FETCH).status_code == 404, url
    # A member is refused the facilitators' routes of a meeting that exists before the person is looked up.
    mia = browser(app, member)
    for url in gets:
        assert mia.get(url).status_code == 404, url
    for url in posts:
        expected = 403 if url == f"/meetings/{refs.occurrence_id}/attendance/999999/mark" else 404
        assert post(mia, url).status_code == expected, url


def test_odd_form_values_never_cause_a_server_error(app, world, member, facilitator):
    refs = world.public
    mia = browser(app, member)
    occ = refs.occurrence_id
    for next_value in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "x" * 3000):
        answered = post(mia, f"/meetings/{occ}/rsvp", {"next": next_value})
        assert answered.status_code == 302 and answered.headers["Location"] == f"/meetings/{occ}", next_value
        fragment = post(mia, f"/meetings/{occ}/rsvp/cancel", {"next": next_value}, headers=FETCH)
        assert fragment.status_code == 200
    assert post(mia, f"/meetings/{occ}/rsvp", {"next": f"/groups/{refs.slug}"}).headers["Location"] == (
        f"/groups/{refs.slug}"
    )
    for code in ("", "x" * 5000, "é" * 6, "\x01\x02"):
        assert post(mia, f"/meetings/{occ}/check-in", {"code": code}).status_code == 303, code
    # A NUL is refused with every form (supportnet/web/security.py); before that, a leading NUL in the proof's
    # name passed the form and broke the database's length CHECK (SQLite's length() stops at a NUL): a 500.
    assert post(mia, f"/meetings/{occ}/check-in", {"code": "\x00"}).status_code in (303, 400)
    assert post(mia, "/me/attendance/proofs", {"shown_name": "\x00" * 10, "group": ""}).status_code == 400
    assert post(mia, "/me/attendance/proofs", {"shown_name": "\x01\x02", "group": ""}).status_code < 500
    clock.set_frozen(DURING)
    fay = browser(app, facilitator)
    assert post(fay, f"/meetings/{occ}/attendance/{member.id}/mark", {"extra": "x" * 10_000}).status_code == 302
    assert fay.get(f"/meetings/{occ}/roster?page=abc").status_code == 200
    # GET on a POST route is not allowed, and never a server error.
    assert mia.get(f"/meetings/{occ}/rsvp").status_code == 405
    assert mia.get(f"/meetings/{occ}/check-in").status_code == 405


def test_my_meetings_lists_each_meeting_once_in_the_viewers_timezone(app, seats, facilitator):
    sam = make_persona(app, "Sam K.", tz="America/New_York")
    with app.app_context():
        memberships.join(db.session.scalar(select(Group).where(Group.slug == seats["slug"])), sam.user(),
                         clock.now_utc())
        db.session.commit()
    client = browser(app, sam)
    assert post(client, f"/meetings/{seats['occ']}/rsvp").status_code == 302
    mine = page_text(client.get("/me/meetings"))
    # 19:00 in London is 14:00 in New York, and the page says so.
    assert "Tue 1 Dec 2026, 14:00" in mine and "19:00 in London" in mine
    assert mine.count("Integration circle") == 1


def test_counts_of_people_show_from_five_on_and_say_a_few_below(app, facilitator):
    """A count of 1 to 4 going or members could single someone out in a small group: it says "a few"."""
    from supportnet.web.filters import people_count

    assert [people_count(n) for n in (0, 1, 4, 5, 12)] == ["0", "a few", "a few", "5", "12"]
    world = make_world(app, facilitator)
    occ = world.occurrence_id()
    people = [make_persona(app, f"Person {n}") for n in range(5)]
    for person in people[:3]:
        going(world, person, occ)
    visitor = app.test_client()
    assert "a few going" in box_text(rsvp_box(html(visitor.get(f"/meetings/{occ}")), occ))
    assert "a few members" in page_text(visitor.get(f"/groups/{world.slug}"))  # 3 and their facilitator
    for person in people[3:]:
        going(world, person, occ)
    assert "5 going" in box_text(rsvp_box(html(visitor.get(f"/meetings/{occ}")), occ))
    assert "6 members" in page_text(visitor.get(f"/groups/{world.slug}"))
