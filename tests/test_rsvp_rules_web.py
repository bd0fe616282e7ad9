"""The RSVP rules through the web: started and cancelled meetings, approval and private groups, joining by answering."""


from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supportnet import clock, scheduling
from supportnet.extensions import db
from supportnet.models import (
    JoinPolicy,
    StandingRsvp,
)
from tests.builders import weekly
from tests.conftest import post
from tests.pages import browser, html, text
from tests.worlds.group_pages import occurrences_of, start_group
from tests.worlds.rsvp_pages import (
    FETCH,
    FIRST_END,
    FIRST_START,
    MINUTE,
    World,
    assert_fragment,
    build_world,
    flashes,
    page_text,
    rsvp_box,
    rsvp_rows,
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


# --- 3. the rules, through the web ---


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (FIRST_START, "This meeting has already started."),
        (FIRST_START + 30 * MINUTE, "This meeting has already started."),
        (FIRST_END, "This meeting is over."),
        (FIRST_END + timedelta(days=1), "This meeting is over."),
    ],
    ids=["at-the-start", "during", "at-the-end", "the-day-after"],
)
def test_no_rsvp_once_a_meeting_has_started(app, seats, member, at, message):
    occ = seats["occ"]
    clock.set_frozen(at)
    client = browser(app, member)
    for action in ("rsvp", "rsvp/cancel"):
        refused = post(client, f"/meetings/{occ}/{action}")
        assert refused.status_code == 303 and refused.headers["Location"] == f"/meetings/{occ}"
        page = client.get(refused.headers["Location"])
        assert message in flashes(page)
        box = rsvp_box(html(page), occ)
        assert box and "<form" not in box
        shown = assert_fragment(post(client, f"/meetings/{occ}/{action}", headers=FETCH), occ, 409)
        assert message in shown
        assert 'role="alert"' in html(post(client, f"/meetings/{occ}/{action}", headers=FETCH))
    with app.app_context():
        assert rsvp_rows(occ) == {}


def test_no_rsvp_to_a_cancelled_meeting(app, seats, member, facilitator):
    occ = seats["occ"]
    assert post(browser(app, facilitator), f"/meetings/{occ}/cancel", {"note": "Snow."}).status_code == 302
    client = browser(app, member)

    refused = post(client, f"/meetings/{occ}/rsvp", follow_redirects=True)
    assert "This meeting is cancelled." in flashes(refused)
    assert "Cancelled: Snow." in text(refused)
    assert "<form" not in rsvp_box(html(refused), occ)
    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp", headers=FETCH), occ, 409)
    assert "This meeting is cancelled." in shown
    with app.app_context():
        assert rsvp_rows(occ) == {}


def test_an_outsider_of_an_approval_group_is_told_to_join_first_and_waits_while_pending(app, facilitator, outsider):
    with app.app_context():
        group = start_group(facilitator, "Approval Circle", join_policy=JoinPolicy.APPROVAL)
        series = scheduling.create_series(group, weekly(), clock.now_utc())
        db.session.commit()
        slug, occ = group.slug, occurrences_of(series.id)[0].id
    client = browser(app, outsider)

    refused = post(client, f"/meetings/{occ}/rsvp", follow_redirects=True)
    assert "Only members of this group can RSVP. Join the group first." in flashes(refused)
    standing = post(client, f"/groups/{slug}/meetings/{series.id}/standing", {"next": f"/groups/{slug}"},
                    follow_redirects=True)
    assert "Only members of this group can RSVP. Join the group first." in flashes(standing)

    assert post(client, f"/groups/{slug}/join").status_code == 302
    waiting = post(client, f"/meetings/{occ}/rsvp", headers=FETCH)
    assert "Your request to join this group is waiting for a facilitator." in assert_fragment(waiting, occ, 409)
    with app.app_context():
        assert rsvp_rows(occ) == {}
        assert db.session.scalar(select(func.count()).select_from(StandingRsvp)) == 0


def test_an_outsider_of_a_private_group_gets_404_everywhere(app, world, outsider):
    client = browser(app, outsider)
    refs = world.private
    for url in (f"/meetings/{refs.occurrence_id}", f"/meetings/{refs.occurrence_id}/roster", f"/groups/{refs.slug}"):
        assert client.get(url).status_code == 404, url
    for url in (
        f"/meetings/{refs.occurrence_id}/rsvp",
        f"/meetings/{refs.occurrence_id}/rsvp/cancel",
        f"/groups/{refs.slug}/meetings/{refs.series_id}/standing",
        f"/groups/{refs.slug}/meetings/{refs.series_id}/standing/stop",
    ):
        assert post(client, url).status_code == 404, url
        assert post(client, url, headers=FETCH).status_code == 404, url
    with app.app_context():
        assert rsvp_rows(refs.occurrence_id) == {}


def test_an_rsvp_to_a_public_open_group_makes_the_person_a_member(app, seats, outsider):
    client = browser(app, outsider)
    before = page_text(client.get(f"/groups/{seats['slug']}"))
    assert "5 members" in before and "Join this group" in before

    assert "You're going." in assert_fragment(post(client, f"/meetings/{seats['occ']}/rsvp", headers=FETCH),
                                              seats["occ"])

    after = page_text(client.get(f"/groups/{seats['slug']}"))
    assert "6 members" in after and "You are a member of this group." in after
    assert "Coming every time?" in after  # members may now say "I come every time"
