"""The signed-in member's home: the next meetings with their state, today's meetings, today's check-in, unread
notices, a start for someone with no group, and for facilitators the counts and requests of their groups."""

from __future__ import annotations

from datetime import date, time

from sqlalchemy import event

from supportnet import clock, rsvps, scheduling
from supportnet.checkins import records as checkins_records
from supportnet.extensions import db
from supportnet.models import JoinPolicy, MemberRole, Occurrence, Visibility
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import make_persona, post
from tests.pages import browser, html, text
from tests.worlds.group_pages import add_member, evening_circle, group_by_slug, occurrences_of, start_group

THURSDAY = 3


def test_a_new_member_without_a_group_is_shown_where_to_start(app, member):
    page = browser(app, member).get("/")
    assert page.status_code == 200
    body = text(page)
    assert "Find a group to start" in body
    assert 'href="/groups"' in html(page) and 'href="/meetings"' in html(page)
    assert "will appear here" not in body
    assert "Check in now" in body


def test_a_member_sees_their_next_meeting_with_its_state_and_can_say_they_cant_make_it(app, facilitator, member):
    slug, _series_id, (tonight, _next_week, _) = evening_circle(app, facilitator)
    with app.app_context():
        add_member(group_by_slug(slug), member)
        rsvps.rsvp(db.session.get(Occurrence, tonight), member.user(), clock.now_utc())
        db.session.commit()
    client = browser(app, member)
    body = text(client.get("/"))
    assert "Your next meetings" in body
    assert "You're going." in body
    assert "Today in your groups" in body and "Integration circle" in body
    assert "Find a group to start" not in body
    # "Can't go" is one click from home and brings the member back home.
    answer = post(client, f"/meetings/{tonight}/rsvp/cancel", {"next": "/"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    with app.app_context():
        assert rsvps.rsvp_for(db.session.get(Occurrence, tonight), member.user()).status.value == "cancelled"


def test_a_waitlisted_member_sees_their_place(app, facilitator, member):
    slug, _series_id, (tonight, _, _) = evening_circle(app, facilitator, capacity=1)
    other = make_persona(app, "Olu O.")
    with app.app_context():
        add_member(group_by_slug(slug), member)
        add_member(group_by_slug(slug), other)
        occ = db.session.get(Occurrence, tonight)
        rsvps.rsvp(occ, other.user(), clock.now_utc())
        rsvps.rsvp(occ, member.user(), clock.now_utc())
        db.session.commit()
    body = text(browser(app, member).get("/"))
    assert "You're on the waitlist: number 1" in body
    assert "Olu" not in body  # only facilitators see names


def test_a_cancelled_meeting_shows_the_reason_and_never_says_youre_going(app, facilitator, member):
    slug, _series_id, (tonight, _, _) = evening_circle(app, facilitator)
    with app.app_context():
        add_member(group_by_slug(slug), member)
        rsvps.rsvp(db.session.get(Occurrence, tonight), member.user(), clock.now_utc())
        db.session.commit()
    fay = browser(app, facilitator)
    assert post(fay, f"/meetings/{tonight}/cancel", {"note": "The room is flooded"}).status_code in (302, 303)
    page = browser(app, member).get("/")
    body = text(page)
    assert "Cancelled" in body and "The room is flooded" in body
    assert "You're going" not in body
    assert 'class="rsvp-state rsvp-going"' not in html(page)
    # The change notice arrived in the inbox and is listed as unread on the home page.
    assert "Unread notifications" in body and "You're all caught up" not in body


def test_todays_check_in_is_offered_until_done(app, member):
    client = browser(app, member)
    assert "Check in now" in text(client.get("/"))
    with app.app_context():
        checkins_records.record(member.user(), checkins_records.CheckInSpec(mood=4, craving=1), clock.now_utc())
        db.session.commit()
    body = text(client.get("/"))
    assert "Done for today" in body and "Check in now" not in body


def test_the_check_in_shows_the_time_the_member_chose(app, member):
    from supportnet.notifications import hooks as notif_hooks
    from supportnet.notifications import preferences as notif_preferences

    with app.app_context():
        user = member.user()
        prefs = notif_preferences.preferences(user)
        import dataclasses

        notif_hooks.save_preferences(
            user, dataclasses.replace(prefs, prompt_days=frozenset(range(7)), prompt_time=time(20, 30)),
            clock.now_utc(),
        )
        db.session.commit()
    assert "reminded at 20:30" in text(browser(app, member).get("/"))


def test_a_facilitator_sees_counts_and_requests_but_members_do_not(app, facilitator, member):
    slug, _series_id, (tonight, _, _) = evening_circle(app, facilitator, join_policy=JoinPolicy.APPROVAL)
    going = make_persona(app, "Gus G.")
    with app.app_context():
        add_member(group_by_slug(slug), going)
        rsvps.rsvp(db.session.get(Occurrence, tonight), going.user(), clock.now_utc())
        db.session.commit()
    asker = browser(app, member)
    post(asker, f"/groups/{slug}/join")
    body = text(browser(app, facilitator).get("/"))
    assert "Groups you facilitate" in body
    assert "1 going · 0 on the waitlist" in body
    assert "1 request to join" in body
    member_home = text(browser(app, going).get("/"))
    assert "Groups you facilitate" not in member_home and "1 request to join" not in member_home


def test_a_group_facilitator_without_the_site_role_sees_their_group(app, facilitator, member):
    slug, _series_id, _ = evening_circle(app, facilitator)
    with app.app_context():
        add_member(group_by_slug(slug), member, MemberRole.FACILITATOR)
        db.session.commit()
    assert "Groups you facilitate" in text(browser(app, member).get("/"))


def test_home_runs_the_same_number_of_queries_with_more_meetings(app, facilitator, member):
    def count_queries(client) -> int:
        with app.app_context():
            engine = db.engine
        seen = []

        def _count(*_args):
            seen.append(1)

        event.listen(engine, "before_cursor_execute", _count)
        try:
            assert client.get("/").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", _count)
        return len(seen)

    slug, _series_id, ids = evening_circle(app, facilitator)
    with app.app_context():
        add_member(group_by_slug(slug), member)
        rsvps.rsvp(db.session.get(Occurrence, ids[0]), member.user(), clock.now_utc())
        db.session.commit()
    client = browser(app, member)
    client.get("/")
    one = count_queries(client)
    with app.app_context():
        group = group_by_slug(slug)
        for n in range(3):
            series = scheduling.create_series(
                group, weekly(THURSDAY, first_date=date(2026, 11, 26), start_time=time(14 + n, 0),
                              title=f"Extra {n}"), clock.now_utc())
            for occ in occurrences_of(series.id)[:2]:
                rsvps.rsvp(occ, member.user(), clock.now_utc())
        db.session.commit()
    assert count_queries(client) == one


def test_signed_out_visitors_still_get_the_welcome(client):
    body = text(client.get("/"))
    assert "Create an account" in body and "Your next meetings" not in body


def test_private_group_visibility_unchanged(app, facilitator, member):
    # A private group's meetings show on its members' home like any other group's.
    with app.app_context():
        group = start_group(facilitator, "Quiet Room", visibility=Visibility.PRIVATE, join_policy=JoinPolicy.INVITE)
        scheduling.create_series(
            group, weekly(THURSDAY, first_date=date(2026, 11, 26), recurrence=Recurrence(Frequency.ONCE),
                          title="Quiet hour"), clock.now_utc())
        add_member(group, member)
        db.session.commit()
    assert "Quiet hour" in text(browser(app, member).get("/"))
