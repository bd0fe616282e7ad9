"""A member's private calendar feed: an unguessable, revocable address; discreet by default; only their meetings."""

from __future__ import annotations

import hashlib
import logging
import re

import icalendar
from sqlalchemy import select

from supportnet import calendars, memberships, rsvps, visibility
from supportnet.extensions import db
from supportnet.models import Group, Occurrence, User
from tests.conftest import PINNED_NOW, login, post
from tests.worlds.feeds import HOST, build_feed_world, events, make_address


def feed_path(token: str) -> str:
    return f"/calendar/{token}.ics"


def summaries(body: bytes) -> list[str]:
    return sorted(str(e["SUMMARY"]) for e in events(icalendar.Calendar.from_ical(body)))


def uids(body: bytes) -> set[str]:
    return {str(e["UID"]) for e in events(icalendar.Calendar.from_ical(body))}


def set_choices(client, *, discreet: bool, scope: str) -> None:
    data = {"scope": scope, **({"discreet": "y"} if discreet else {})}
    assert post(client, "/account/calendar", data).status_code == 302


# --- the address ---


def test_the_address_has_a_long_random_token_shown_once_and_only_its_hash_is_stored(app, client, member):
    login(client, member)
    page = client.get("/account").get_data(as_text=True)
    assert "Make my calendar address" in page
    url, token = make_address(client)
    assert url == f"http://supportnet.test/calendar/{token}.ics"
    assert len(token) >= 43  # 32 random bytes from `secrets`, base64url: 256 bits (at least 128 required)
    with app.app_context():
        user = member.user()
        assert user.calendar_token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = [str(v) for v in db.session.execute(select(User.__table__)).one()]
        assert all(token not in value for value in stored)
    # The page with the address is not kept anywhere, and later visits never show the address again.
    again = client.get("/account").get_data(as_text=True)
    assert token not in again and "Make a new address" in again
    # The address is offered for each calendar app.
    subscribe = post(client, "/account/calendar-address").get_data(as_text=True).replace("&amp;", "&")
    assert "webcal://supportnet.test/calendar/" in subscribe
    assert "https://calendar.google.com/calendar/render?cid=webcal%3A%2F%2Fsupportnet.test%2Fcalendar%2F" in subscribe
    assert "https://outlook.live.com/calendar/0/addfromweb?url=http%3A%2F%2Fsupportnet.test%2Fcalendar%2F" in subscribe
    assert "&name=Meetings" in subscribe


def test_tokens_differ_every_time(app, member):
    with app.app_context():
        user = member.user()
        tokens = {calendars.regenerate_token(user) for _ in range(50)}
        db.session.rollback()
    assert len(tokens) == 50


def test_a_new_address_makes_the_old_one_answer_404_and_turning_it_off_ends_both(app, client, member):
    login(client, member)
    _, old = make_address(client)
    calendar_app = app.test_client()
    assert calendar_app.get(feed_path(old)).status_code == 200
    _, new = make_address(client)
    assert calendar_app.get(feed_path(old)).status_code == 404
    assert calendar_app.get(feed_path(new)).status_code == 200
    assert post(client, "/account/calendar-off").status_code == 302
    assert calendar_app.get(feed_path(new)).status_code == 404
    assert calendar_app.get(feed_path("not-a-token")).status_code == 404
    assert calendar_app.head(feed_path(new)).status_code == 404


def test_the_private_feed_is_private_and_never_indexed(app, client, member):
    login(client, member)
    _, token = make_address(client)
    response = app.test_client().get(feed_path(token))  # a calendar app: no cookies, no Accept header
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["Cache-Control"] == "private"
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["ETag"] == '"' + hashlib.sha256(response.data).hexdigest() + '"'
    again = app.test_client().get(feed_path(token), headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == "private" and again.headers["X-Robots-Tag"] == "noindex"
    head = app.test_client().head(feed_path(token))
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == response.headers["ETag"]


def test_a_feed_with_nothing_in_it_is_still_a_valid_calendar(app, client, outsider):
    login(client, outsider)
    _, token = make_address(client)
    body = app.test_client().get(feed_path(token)).data
    cal = icalendar.Calendar.from_ical(body)
    assert str(cal["VERSION"]) == "2.0" and str(cal["PRODID"])
    assert events(cal) == []
    assert body.startswith(b"BEGIN:VCALENDAR\r\n") and body.endswith(b"END:VCALENDAR\r\n")


def test_the_token_never_reaches_the_logs(app, client, member, caplog):
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    login(client, member)
    _, token = make_address(client)
    app.test_client().get(feed_path(token))
    # What a server would log for that request, through the loggers SupportNet configures.
    logging.getLogger("werkzeug").info('127.0.0.1 - - "GET %s HTTP/1.1" 200 -', feed_path(token))
    logging.getLogger("gunicorn.access").info('"GET %s HTTP/1.1" 200', feed_path(token))
    assert caplog.records
    assert token not in caplog.text
    assert all(token not in record.getMessage() for record in caplog.records)


# --- what is in it ---


def test_discreet_by_default_neutral_titles_and_no_descriptions(app, client, member, facilitator):
    world = build_feed_world(app, facilitator, member)
    login(client, member)
    _, token = make_address(client)
    body = app.test_client().get(feed_path(token)).data
    cal = icalendar.Calendar.from_ical(body)
    assert str(cal["NAME"]) == "Meetings"
    titles = summaries(body)
    assert titles and all(re.fullmatch(r"Group \u00b7 (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:\d\d", t) for t in titles)
    assert all("DESCRIPTION" not in e for e in events(cal))
    # No place either: a venue or an online link on a lock screen says as much as a title.
    assert all("LOCATION" not in e for e in events(cal))
    assert all(str(e["URL"]).endswith("/me/meetings") for e in events(cal))
    text = body.decode()
    for revealing in ("Café", "Evening circle", "Quiet", "Brooklyn", "Peer Support", "recovery", world.slugs["london"]):
        assert revealing not in text, revealing
    # The moved meeting (Friday 11 December at 18:00 in London) carries its own day and time.
    assert "Group \u00b7 Fri 18:00" in titles


def test_full_titles_and_descriptions_when_the_member_switches_them_on(app, client, member, facilitator):
    build_feed_world(app, facilitator, member)
    login(client, member)
    set_choices(client, discreet=False, scope="rsvp")
    _, token = make_address(client)
    body = app.test_client().get(feed_path(token)).data
    titles = set(summaries(body))
    assert {"Evening circle", "Quiet circle", "Monday night"} <= titles
    cal = icalendar.Calendar.from_ical(body)
    assert all("DESCRIPTION" in e for e in events(cal))
    with app.app_context():
        assert not member.user().calendar_discreet


def test_rsvpd_meetings_only_or_every_meeting_of_the_members_groups(app, client, member, facilitator):
    world = build_feed_world(app, facilitator, member)
    login(client, member)
    _, token = make_address(client)
    with app.app_context():
        going = {f"occurrence-{occ.id}@{HOST}" for _, occ in rsvps.my_upcoming(member.user(), PINNED_NOW)}
    only_mine = uids(app.test_client().get(feed_path(token)).data)
    # Exactly what "My meetings" lists (none of Mia's meetings is cancelled in a group that hides cancellations).
    assert only_mine == going and len(going) > 20
    assert f"occurrence-{world.occurrences['moved']}@{HOST}" in only_mine
    set_choices(client, discreet=True, scope="all")
    everything = uids(app.test_client().get(feed_path(token)).data)
    assert only_mine < everything
    with app.app_context():
        assert member.user().calendar_all_meetings
        # Sydney is a group Mia is not in: none of its meetings are in her feed.
        sydney = db.session.scalar(select(Group).where(Group.slug == world.slugs["sydney"]))
        syd_ids = {o.id for s in sydney.series for o in s.occurrences}
    assert not any(uid in everything for uid in (f"occurrence-{i}@{HOST}" for i in syd_ids))


def test_online_links_only_where_the_member_may_see_them(app, client, member, facilitator, outsider):
    world = build_feed_world(app, facilitator, member)
    login(client, member)
    set_choices(client, discreet=False, scope="all")
    _, token = make_address(client)
    body = app.test_client().get(feed_path(token)).data.decode()
    assert "https://meet.example.org/evening" in body  # everyone
    assert "https://meet.example.org/monday" in body  # members
    cal = icalendar.Calendar.from_ical(body.encode())
    quiet = [e for e in events(cal) if str(e["SUMMARY"]) == "Quiet circle"]
    # RSVP only: the week Mia has a seat for shows the link, the others do not.
    with_link = [e for e in quiet if "meet.example.org/quiet" in str(e.get("LOCATION", ""))]
    assert len(with_link) == 1 and len(quiet) > 10
    assert str(with_link[0]["DTSTART"].dt.date()) == "2026-12-03"
    assert f"occurrence-{world.occurrences['ny_moved']}@{HOST}" in body  # her RSVP'd Monday, in "all" too


def test_leaving_a_group_takes_its_meetings_out(app, client, member, facilitator):
    world = build_feed_world(app, facilitator, member)
    login(client, member)
    set_choices(client, discreet=False, scope="all")
    _, token = make_address(client)
    before = set(summaries(app.test_client().get(feed_path(token)).data))
    assert "Monday night" in before
    with app.app_context():
        group = db.session.scalar(select(Group).where(Group.slug == world.slugs["new_york"]))
        memberships.leave(visibility.membership_for(group, member.user()), PINNED_NOW)
        db.session.commit()
    after = set(summaries(app.test_client().get(feed_path(token)).data))
    assert "Monday night" not in after and "Evening circle" in after


def test_cancelled_meetings_follow_the_groups_choice(app, client, member, facilitator):
    world = build_feed_world(app, facilitator, member)
    login(client, member)
    set_choices(client, discreet=False, scope="all")
    _, token = make_address(client)
    cal = icalendar.Calendar.from_ical(app.test_client().get(feed_path(token)).data)
    by_id = {str(e["UID"]): e for e in events(cal)}
    # New York shows cancellations: its moved-then-cancelled week is there, marked cancelled.
    ny = by_id[f"occurrence-{world.occurrences['ny_moved_cancelled']}@{HOST}"]
    assert str(ny["STATUS"]) == "CANCELLED" and str(ny["SUMMARY"]) == "Cancelled: Monday night"
    # London does not: its cancelled weeks are simply not there.
    assert f"occurrence-{world.occurrences['moved_cancelled']}@{HOST}" not in by_id
    with app.app_context():
        assert db.session.get(Occurrence, world.occurrences["moved_cancelled"]).is_cancelled


def test_settings_choices_are_saved_and_need_a_valid_form(app, client, member):
    login(client, member)
    page = client.get("/account").get_data(as_text=True)
    [discreet] = re.findall(r'<input[^>]*name="discreet"[^>]*>', page)
    assert "checked" in discreet  # on by default
    response = post(client, "/account/calendar", {"scope": "everything"})
    assert response.status_code == 400
    set_choices(client, discreet=False, scope="all")
    with app.app_context():
        user = member.user()
        assert (user.calendar_discreet, user.calendar_all_meetings) == (False, True)
    set_choices(client, discreet=True, scope="rsvp")
    with app.app_context():
        user = member.user()
        assert (user.calendar_discreet, user.calendar_all_meetings) == (True, False)
