"""RSVP privacy: members see counts and their own answer; facilitators see names."""


from __future__ import annotations

import re

import pytest

from supportnet import attendance, clock, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Occurrence,
    OnlineVisibility,
)
from tests.builders import weekly
from tests.conftest import make_persona, post
from tests.pages import browser, html, text
from tests.worlds.group_pages import add_member, occurrences_of, start_group
from tests.worlds.rsvp_pages import (
    FETCH,
    FIRST_START,
    box_text,
    say,
    two_seats_and_four_members,
)


@pytest.fixture
def seats(app, facilitator, member) -> dict:
    """A public open group with a weekly Tuesday meeting of 2 seats, and four members: Ann, Ben, Cat and Mia."""
    return two_seats_and_four_members(app, facilitator, member)


# --- 4. privacy: members see counts and their own answer; facilitators see names ---


def test_a_members_pages_name_nobody_else_and_the_roster_names_everyone_for_facilitators(
    app, seats, member, facilitator, admin, outsider
):
    ann, ben, cat = (seats["people"][n] for n in ("Ann A.", "Ben B.", "Cat C."))
    occ = seats["occ"]
    for persona in (ann, cat, member):  # Ann and Cat have the seats, Mia waits
        assert say(app, persona, occ).status_code == 302
    assert say(app, ben, occ, "cancel").status_code == 302
    with app.app_context():
        attendance.mark_attended(
            db.session.get(Occurrence, occ), ann.user(), facilitator.user(), FIRST_START
        )  # (marked ahead of time only to put a name in the attendance tables)
        db.session.commit()
    others = [p.display_name for p in (ann, ben, cat, facilitator)]
    others += [p.email for p in (ann, ben, cat, facilitator, member)]

    mia = browser(app, member)
    pages = {
        "meeting": mia.get(f"/meetings/{occ}"),
        "group": mia.get(f"/groups/{seats['slug']}"),
        "my meetings": mia.get("/me/meetings"),
        "going fragment": post(mia, f"/meetings/{occ}/rsvp", headers=FETCH),
        "cancel fragment": post(mia, f"/meetings/{occ}/rsvp/cancel", headers=FETCH),
        "going again fragment": post(mia, f"/meetings/{occ}/rsvp", headers=FETCH),
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        for other in others:
            assert other not in html(page), (name, other)
    assert "a few going of 2 seats · a few on the waitlist" in box_text(html(pages["going again fragment"]))
    assert mia.get(f"/meetings/{occ}/roster").status_code == 403

    for viewer in (facilitator, admin):
        roster = browser(app, viewer).get(f"/meetings/{occ}/roster")
        assert roster.status_code == 200
        going = re.search(r'<h2 id="going-h">(.*?)</section>', html(roster), re.S).group(1)
        assert "Going (2)" in going
        assert ann.display_name in going and cat.display_name in going
        waitlist = going.split("<h3>Waitlist</h3>")[1]
        assert re.findall(r"<li>([^<]+?)\s*<form", waitlist) == ["Mia M."]
        assert ben.display_name not in going  # said they can't come: only among the possible walk-ins
        assert ben.display_name in html(roster)
        assert "@example.org" not in html(roster)
        assert "Only the group's facilitators see this page." in text(roster)
    assert browser(app, outsider).get(f"/meetings/{occ}/roster").status_code == 403


@pytest.fixture
def online_call(app, facilitator, member) -> dict:
    """A public group's online meeting whose link only members with a seat see; 1 seat; Nora and Ben are members."""
    nora, ben = make_persona(app, "Nora N."), make_persona(app, "Ben B.")
    with app.app_context():
        group = start_group(facilitator, "Online Circle")
        for persona in (member, nora, ben):
            add_member(group, persona)
        spec = weekly(
            online_url="https://meet.example.net/quiet-room", online_phone="+44 20 7946 0001",
            online_visibility=OnlineVisibility.RSVP, capacity=1,
        )
        series = scheduling.create_series(group, spec, clock.now_utc())
        db.session.commit()
        return {"slug": group.slug, "occ": occurrences_of(series.id)[0].id, "nora": nora, "ben": ben}


def test_an_rsvp_only_link_is_shown_to_members_with_a_seat_and_to_facilitators(
    app, online_call, member, facilitator, admin, outsider
):
    occ, nora, ben = online_call["occ"], online_call["nora"], online_call["ben"]
    link = "https://meet.example.net/quiet-room"
    assert say(app, nora, occ).status_code == 302  # the one seat
    assert say(app, member, occ).status_code == 302  # waitlisted

    for persona, sees in (
        (None, False), (outsider, False), (ben, False), (member, False),  # Mia waits: no seat, no link
        (nora, True), (facilitator, True), (admin, True),
    ):
        client = browser(app, persona)
        page = client.get(f"/meetings/{occ}")
        assert page.status_code == 200
        assert (link in html(page)) is sees, persona and persona.display_name
        assert ("+44 20 7946 0001" in html(page)) is sees, persona and persona.display_name
        if not sees:
            assert "The link is shown to members who say they are coming." in text(page)
        for other in (f"/groups/{online_call['slug']}", "/groups", "/me/meetings"):
            response = client.get(other)
            assert link not in html(response), other

    # When Nora gives up her seat, Mia has it, and the link with it.
    assert say(app, nora, occ, "cancel").status_code == 302
    assert link in html(browser(app, member).get(f"/meetings/{occ}"))
    assert link not in html(browser(app, nora).get(f"/meetings/{occ}"))
