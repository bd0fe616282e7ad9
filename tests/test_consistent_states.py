"""Pages never contradict themselves: a cancelled meeting is not "You're going" nor offered as a calendar entry
that is on, one-off meetings are not offered "every time", a waitlisted member is not also a walk-in, the roster
never says "last 0 meetings", inbox items never read "New New", and admins are not shown links that answer 403."""

from __future__ import annotations

import re

from supportnet import clock, rsvps, scheduling
from supportnet.extensions import db
from supportnet.models import JoinPolicy, MemberRole, Occurrence
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import make_persona, post
from tests.pages import browser, html, text
from tests.worlds.group_pages import add_member, canal_circle, group_by_slug, start_group


def test_a_cancelled_meeting_page_never_says_youre_going_nor_offers_the_ics_as_on(app, facilitator, member):
    slug, _, occ = canal_circle(app, facilitator, member)
    mia = browser(app, member)
    assert post(mia, f"/meetings/{occ}/rsvp").status_code == 302
    before = html(mia.get(f"/meetings/{occ}"))
    assert "You're going." in before and "Download for your calendar (.ics)" in before
    assert post(browser(app, facilitator), f"/meetings/{occ}/cancel", {"note": "Snow"}).status_code in (302, 303)
    after = html(mia.get(f"/meetings/{occ}"))
    assert "You're going" not in after and "rsvp-going" not in after
    assert "This meeting is cancelled" in after
    assert "Download for your calendar (.ics)" not in after and "Add to Google Calendar" not in after
    assert "Remove it from your calendar (.ics)" in after
    # The group page and My meetings agree.
    for url in (f"/groups/{slug}", "/me/meetings", "/"):
        page = html(mia.get(url))
        assert "rsvp-going" not in page, url


def test_one_off_meetings_are_not_offered_every_time(app, facilitator, member):
    with app.app_context():
        group = start_group(facilitator, "Canal Circle")
        one_off = scheduling.create_series(
            group, weekly(title="Picnic", recurrence=Recurrence(Frequency.ONCE)), clock.now_utc()
        )
        add_member(group, member)
        db.session.commit()
        slug, series_id = group.slug, one_off.id
    mia = browser(app, member)
    page = text(mia.get(f"/groups/{slug}"))
    assert "I come every time" not in page and "Coming every time?" not in page
    # Sending the form anyway is refused with a reason, and changes nothing.
    refused = post(mia, f"/groups/{slug}/meetings/{series_id}/standing", follow_redirects=True)
    assert "one-off meeting" in text(refused)
    with app.app_context():
        from supportnet.models import StandingRsvp

        assert db.session.scalar(db.select(db.func.count()).select_from(StandingRsvp)) == 0


def test_repeating_meetings_are_still_offered_every_time(app, facilitator, member):
    slug, _, _ = canal_circle(app, facilitator, member)
    assert "I come every time" in text(browser(app, member).get(f"/groups/{slug}"))


def test_a_waitlisted_member_is_on_the_waitlist_not_among_walk_ins(app, facilitator, member):
    kim = make_persona(app, "Kim K.")
    _, _, occ = canal_circle(app, facilitator, member, kim, capacity=1)
    assert post(browser(app, kim), f"/meetings/{occ}/rsvp").status_code == 302
    assert post(browser(app, member), f"/meetings/{occ}/rsvp").status_code == 302  # waitlisted
    roster = html(browser(app, facilitator).get(f"/meetings/{occ}/roster"))
    walk_ins = re.search(r'<h2 id="walkin-h">(.*?)</section>', roster, re.S).group(1)
    going = re.search(r'<h2 id="going-h">(.*?)</section>', roster, re.S).group(1)
    assert "Mia M." not in walk_ins and "Kim K." not in walk_ins
    assert "Mia M." in going.split("Waitlist")[1]


def test_the_roster_heading_never_says_last_0_meetings(app, facilitator, member):
    _, _, occ = canal_circle(app, facilitator, member)
    page = text(browser(app, facilitator).get(f"/meetings/{occ}/roster"))
    assert "last 0" not in page
    assert "No meetings have taken place yet." in page


def test_inbox_items_never_say_new_new(app, facilitator, member):
    slug, _, _ = canal_circle(app, facilitator, join_policy=JoinPolicy.APPROVAL)
    post(browser(app, member), f"/groups/{slug}/join")
    inbox = text(browser(app, facilitator).get("/notifications"))
    assert "New request to join" in inbox
    assert "New New" not in inbox


def test_admins_are_not_shown_links_that_answer_403(app, facilitator, admin):
    slug, _, occ = canal_circle(app, facilitator)
    ada = browser(app, admin)
    for url in (f"/groups/{slug}", f"/meetings/{occ}", "/", "/groups", "/meetings"):
        page = html(ada.get(url))
        for href in set(re.findall(r'<a [^>]*href="(/[^"#]*)"', page)):
            if href.startswith(("/logout", "/static")) or href.endswith(".ics"):
                continue
            assert ada.get(href).status_code != 403, f"{url} links to {href}, which answers 403"
    # The group's own facilitator still gets the link.
    assert f"/groups/{slug}/support" in html(browser(app, facilitator).get(f"/groups/{slug}"))


def test_a_group_facilitator_sees_the_support_link(app, facilitator, member):
    slug, _, _ = canal_circle(app, facilitator)
    with app.app_context():
        add_member(group_by_slug(slug), member, MemberRole.FACILITATOR)
        db.session.commit()
    assert f"/groups/{slug}/support" in html(browser(app, member).get(f"/groups/{slug}"))


def test_rsvp_state_on_a_standing_series_is_unchanged(app, facilitator, member):
    # The everyday path still works: "I come every time" then one week off.
    slug, series_id, occ = canal_circle(app, facilitator, member)
    mia = browser(app, member)
    assert post(mia, f"/groups/{slug}/meetings/{series_id}/standing").status_code == 302
    with app.app_context():
        assert rsvps.rsvp_for(db.session.get(Occurrence, occ), member.user()).is_going
