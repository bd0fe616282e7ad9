"""Every RSVP transition through the web, as a form and in place: going, can't go, the waitlist, capacity."""


from __future__ import annotations

import pytest

from supportnet.extensions import db
from supportnet.models import (
    MeetingSeries,
    Occurrence,
    RsvpStatus,
)
from tests.conftest import post
from tests.pages import browser, field_error, form_as_shown, html
from tests.worlds.rsvp_pages import (
    FETCH,
    assert_fragment,
    box_text,
    counters,
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


# --- 2. every transition through the web, as a form and in place ---


def test_going_cant_go_and_going_again_through_the_form(app, seats, member):
    client = browser(app, member)
    occ = seats["occ"]

    going = post(client, f"/meetings/{occ}/rsvp")
    assert going.status_code == 302 and going.headers["Location"] == f"/meetings/{occ}"
    page = client.get(f"/meetings/{occ}")
    shown = box_text(rsvp_box(html(page), occ))
    assert "You're going." in shown and "a few going of 2 seats" in shown
    assert "Going" not in shown.replace("You're going", "").replace("a few going", "")  # no "Going" button any more
    assert "Can't go" in shown

    again = post(client, f"/meetings/{occ}/rsvp")  # a double click changes nothing
    assert again.status_code == 302
    with app.app_context():
        assert rsvp_rows(occ) == {member.id: RsvpStatus.GOING}
        assert counters(occ) == (1, 0)

    cancelled = post(client, f"/meetings/{occ}/rsvp/cancel", follow_redirects=True)
    assert cancelled.status_code == 200
    shown = box_text(rsvp_box(html(cancelled), occ))
    assert "You said you can't make it." in shown and "0 going of 2 seats" in shown
    assert "Can't go" not in shown and "Going" in shown

    assert post(client, f"/meetings/{occ}/rsvp/cancel").status_code == 302  # cancelling again: a no-op
    with app.app_context():
        assert rsvp_rows(occ) == {member.id: RsvpStatus.CANCELLED}
        assert counters(occ) == (0, 0)

    back = post(client, f"/meetings/{occ}/rsvp", follow_redirects=True)
    assert "You're going." in box_text(rsvp_box(html(back), occ))
    with app.app_context():
        assert rsvp_rows(occ) == {member.id: RsvpStatus.GOING}
        assert counters(occ) == (1, 0)


def test_going_cant_go_and_going_again_in_place(app, seats, member):
    client = browser(app, member)
    occ = seats["occ"]

    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp", headers=FETCH), occ)
    assert "You're going." in shown and "a few going of 2 seats" in shown and "Can't go" in shown
    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp", headers=FETCH), occ)  # twice: the same
    assert "You're going." in shown and "a few going of 2 seats" in shown

    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp/cancel", headers=FETCH), occ)
    assert "You said you can't make it." in shown and "0 going of 2 seats" in shown
    shown = assert_fragment(post(client, f"/meetings/{occ}/rsvp/cancel", headers=FETCH), occ)
    assert "You said you can't make it." in shown and "0 going of 2 seats" in shown

    fragment = post(client, f"/meetings/{occ}/rsvp", headers=FETCH, data={"next": f"/groups/{seats['slug']}"})
    assert "You're going." in assert_fragment(fragment, occ)
    # The fragment's forms still work without script, and send the person back to the page they were on.
    assert f'name="next" value="/groups/{seats["slug"]}"' in html(fragment)
    with app.app_context():
        assert rsvp_rows(occ) == {member.id: RsvpStatus.GOING}
        assert counters(occ) == (1, 0)


def test_a_full_meeting_puts_people_on_the_waitlist_and_shows_their_place(app, seats, member):
    ann, ben, cat = (seats["people"][n] for n in ("Ann A.", "Ben B.", "Cat C."))
    occ = seats["occ"]
    assert say(app, ann, occ).status_code == 302
    assert say(app, ben, occ).status_code == 302

    # The button says what will happen.
    mia = browser(app, member)
    assert "Join the waitlist" in box_text(rsvp_box(html(mia.get(f"/meetings/{occ}")), occ))

    shown = assert_fragment(say(app, cat, occ, headers=FETCH), occ)
    assert "You're on the waitlist: number 1." in shown and "a few going of 2 seats · a few on the waitlist" in shown
    assert "Leave the waitlist" in shown

    waiting = post(mia, f"/meetings/{occ}/rsvp", follow_redirects=True)
    shown = box_text(rsvp_box(html(waiting), occ))
    assert "You're on the waitlist: number 2." in shown and "a few going of 2 seats · a few on the waitlist" in shown
    mine = page_text(mia.get("/me/meetings"))
    assert "You're on the waitlist: number 2." in mine
    # The group page shows the same place.
    assert "You're on the waitlist: number 2." in box_text(rsvp_box(html(mia.get(f"/groups/{seats['slug']}")), occ))
    with app.app_context():
        assert counters(occ) == (2, 2)


def test_the_first_on_the_waitlist_gets_the_seat_someone_gives_up(app, seats, member):
    ann, ben, cat = (seats["people"][n] for n in ("Ann A.", "Ben B.", "Cat C."))
    occ = seats["occ"]
    for persona in (ann, ben, cat, member):
        assert say(app, persona, occ).status_code == 302

    shown = assert_fragment(say(app, ben, occ, "cancel", headers=FETCH), occ)
    assert "You said you can't make it." in shown and "a few going of 2 seats · a few on the waitlist" in shown

    assert "You're going." in page_text(browser(app, cat).get("/me/meetings"))
    mia = browser(app, member)
    assert "You're on the waitlist: number 1." in page_text(mia.get("/me/meetings"))

    # Leaving the waitlist frees no seat: nobody is promoted, the waitlist just gets shorter.
    shown = assert_fragment(post(mia, f"/meetings/{occ}/rsvp/cancel", headers=FETCH), occ)
    assert "a few going of 2 seats" in shown and "on the waitlist" not in shown
    with app.app_context():
        assert rsvp_rows(occ) == {
            ann.id: RsvpStatus.GOING, ben.id: RsvpStatus.CANCELLED, cat.id: RsvpStatus.GOING,
            member.id: RsvpStatus.CANCELLED,
        }
        assert counters(occ) == (2, 0)


def test_raising_the_capacity_in_the_series_form_seats_the_waitlist_in_order(app, seats, member, facilitator):
    ann, ben, cat = (seats["people"][n] for n in ("Ann A.", "Ben B.", "Cat C."))
    occ = seats["occ"]
    for persona in (ann, ben, cat, member):
        assert say(app, persona, occ).status_code == 302
    fay = browser(app, facilitator)
    url = f"/groups/{seats['slug']}/meetings/{seats['series_id']}/edit"

    form = form_as_shown(fay.get(url))
    assert form["capacity"] == "2"
    form.setlist("capacity", ["3"])
    assert fay.post(url, data=form).status_code == 302

    assert "You're going." in page_text(browser(app, cat).get("/me/meetings"))
    mia = browser(app, member)
    assert "You're on the waitlist: number 1." in page_text(mia.get("/me/meetings"))
    with app.app_context():
        assert counters(occ) == (3, 1)
        assert db.session.get(Occurrence, seats["second"]).capacity == 3

    # No limit at all: everyone waiting gets a seat.
    form.setlist("capacity", [""])
    assert fay.post(url, data=form).status_code == 302
    assert "You're going." in page_text(mia.get("/me/meetings"))
    assert "a few going" in box_text(rsvp_box(html(mia.get(f"/meetings/{occ}")), occ))
    with app.app_context():
        assert counters(occ) == (4, 0)


def test_lowering_the_capacity_below_the_people_going_is_refused_on_the_form(app, seats, facilitator):
    ann, ben = (seats["people"][n] for n in ("Ann A.", "Ben B."))
    occ = seats["occ"]
    for persona in (ann, ben):
        assert say(app, persona, occ).status_code == 302
    fay = browser(app, facilitator)
    url = f"/groups/{seats['slug']}/meetings/{seats['series_id']}/edit"
    form = form_as_shown(fay.get(url))
    form.setlist("capacity", ["1"])

    response = fay.post(url, data=form)

    assert response.status_code == 400
    assert field_error(response, "capacity") == (
        "2 people are already going to the meeting on Tue 1 Dec 19:00. Set the capacity to at least 2."
    )
    with app.app_context():
        assert db.session.get(MeetingSeries, seats["series_id"]).capacity == 2
        assert db.session.get(Occurrence, occ).capacity == 2
        assert counters(occ) == (2, 0)
