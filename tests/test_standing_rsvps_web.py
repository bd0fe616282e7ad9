"""Standing RSVPs through the web, across horizon extension."""


from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supportnet import clock, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Occurrence,
    RsvpStatus,
    StandingRsvp,
)
from tests.conftest import PINNED_NOW, post
from tests.pages import browser, html, text
from tests.worlds.group_pages import occurrences_of
from tests.worlds.rsvp_pages import (
    FETCH,
    assert_fragment,
    box_text,
    flashes,
    page_text,
    rsvp_box,
    rsvp_rows,
    say,
    two_seats_and_four_members,
)


@pytest.fixture
def seats(app, facilitator, member) -> dict:
    """A public open group with a weekly Tuesday meeting of 2 seats, and four members: Ann, Ben, Cat and Mia."""
    return two_seats_and_four_members(app, facilitator, member)


# --- 5. standing RSVPs through the web, across horizon extension ---


def test_i_come_every_time_survives_new_meetings_skips_one_week_and_stops(app, seats, member):
    slug, series_id = seats["slug"], seats["series_id"]
    mia = browser(app, member)
    assert "I come every time" in text(mia.get(f"/groups/{slug}"))

    started = post(mia, f"/groups/{slug}/meetings/{series_id}/standing", {"next": f"/groups/{slug}"},
                   follow_redirects=True)
    assert "You're down for every \u201cIntegration circle\u201d." in flashes(started)
    assert "You come every time." in text(started)
    assert page_text(mia.get("/me/meetings")).count("You're going.") == 26

    with app.app_context():
        weeks = occurrences_of(series_id)
        skipped, soon = weeks[5].id, weeks[3].id  # Tue 5 Jan 2027, Tue 22 Dec 2026
    shown = assert_fragment(post(mia, f"/meetings/{skipped}/rsvp/cancel", headers=FETCH), skipped)
    assert "You said you can't make it." in shown
    assert page_text(mia.get("/me/meetings")).count("You're going.") == 25

    # Three weeks later the scheduler makes three more meetings; the standing RSVP answers for them.
    later = PINNED_NOW + timedelta(weeks=3)
    clock.set_frozen(later)
    with app.app_context():
        assert scheduling.extend_horizons(later) == 3
        db.session.commit()
        weeks = occurrences_of(series_id)
        newest = weeks[-1].id
        assert len(weeks) == 29
    mia = browser(app, member)  # a new session: the old one went idle three weeks ago
    mine = page_text(mia.get("/me/meetings"))
    assert mine.count("You're going.") == 29 - 3 - 1  # three weeks took place, one skipped
    assert "Tue 1 Jun 2027, 19:00" in mine  # (London is on summer time by then: 19:00 there is 18:00 UTC)
    assert "You're going." in box_text(rsvp_box(html(mia.get(f"/meetings/{newest}")), newest))
    assert "You said you can't make it." in box_text(rsvp_box(html(mia.get(f"/meetings/{skipped}")), skipped))

    stopped = post(mia, f"/groups/{slug}/meetings/{series_id}/standing/stop", {"next": f"/groups/{slug}"},
                   follow_redirects=True)
    assert "You're no longer down for every \u201cIntegration circle\u201d." in flashes(stopped)
    assert "I come every time" in text(stopped)
    assert "Nothing yet." in page_text(mia.get("/me/meetings"))
    assert "You said you can't make it." in box_text(rsvp_box(html(mia.get(f"/meetings/{skipped}")), skipped))
    assert "You're" not in box_text(rsvp_box(html(mia.get(f"/meetings/{soon}")), soon))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StandingRsvp)) == 0
        assert rsvp_rows(skipped) == {member.id: RsvpStatus.CANCELLED}
        assert db.session.get(Occurrence, newest).going_count == 0
    # Stopping again is harmless.
    assert post(mia, f"/groups/{slug}/meetings/{series_id}/standing/stop").status_code == 302


def test_a_standing_rsvp_queues_when_a_week_is_full(app, seats, member):
    ann, ben = (seats["people"][n] for n in ("Ann A.", "Ben B."))
    for persona in (ann, ben):
        assert say(app, persona, seats["second"]).status_code == 302
    mia = browser(app, member)
    assert post(mia, f"/groups/{seats['slug']}/meetings/{seats['series_id']}/standing").status_code == 302
    shown = box_text(rsvp_box(html(mia.get(f"/meetings/{seats['second']}")), seats["second"]))
    assert "You're on the waitlist: number 1." in shown
    assert "You're going." in box_text(rsvp_box(html(mia.get(f"/meetings/{seats['occ']}")), seats["occ"]))
