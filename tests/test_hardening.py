"""Smaller holes from the same probe: re-authentication before erasing all check-ins, invisible characters in
names, plain https meeting links (saved and emitted), no caching of private groups' pages, a quiet dev mail log."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select, update

from supportnet import clock, groups, mail, scheduling
from supportnet.checkins import records as checkins_records
from supportnet.checkins.records import CheckInSpec
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import CheckIn, MeetingSeries, OnlineVisibility, SiteRole
from supportnet.notifications import announcements as notif_announcements
from supportnet.textsafety import has_invisible, safe_meeting_url
from tests.builders import weekly
from tests.conftest import PASSWORD, login, make_persona, post
from tests.worlds.data_controls import build_world


def checkin_count(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.user_id == user_id))


def test_deleting_all_check_ins_from_a_stale_session_needs_confirming_it_is_you(app, client, member):
    with app.app_context():
        checkins_records.record(member.user(), CheckInSpec(mood=3, craving=2), clock.now_utc())
        db.session.commit()
    login(client, member)
    clock.set_frozen(clock.now_utc() + timedelta(minutes=30))  # someone else at her unlocked computer
    response = post(client, "/me/checkins/delete-all", {"confirm": "DELETE"})
    assert response.status_code == 303 and response.location.startswith("/account/confirm-identity")
    assert checkin_count(app, member.id) == 1
    post(client, "/account/confirm-identity", {"password": PASSWORD})
    post(client, "/me/checkins/delete-all", {"confirm": "DELETE"})
    assert checkin_count(app, member.id) == 0


@pytest.mark.parametrize("char", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u2060", "\ufeff", "\u00ad"])
def test_display_names_with_bidi_or_invisible_characters_are_refused(app, client, member, char):
    login(client, member)
    response = post(client, "/account/profile", {"display_name": f"Ada{char}A.", "timezone": "UTC"})
    assert response.status_code == 400
    assert "invisible or direction-changing" in response.get_data(as_text=True)
    with app.app_context():
        assert member.user().display_name == "Mia M."


def test_sign_up_refuses_a_name_that_reads_backwards(client, mailbox):
    response = post(client, "/register", {"email": "x@example.org", "password": "tea by the window",
                                          "display_name": "\u202eRotatilicaf", "timezone": "UTC", "consent": "y"})
    assert response.status_code == 200 and "invisible or direction-changing" in response.get_data(as_text=True)
    assert mailbox.messages == []


def test_emoji_joined_with_zero_width_joiners_stay_allowed():
    assert not has_invisible("Sam \U0001F469\u200d\U0001F467")
    assert has_invisible("\u200dSam") and has_invisible("Sam \u200d")


def test_group_texts_refuse_invisible_characters(app):
    fac = make_persona(app, "Fay F.", SiteRole.FACILITATOR)
    with app.app_context(), pytest.raises(DomainError, match="invisible"):
        groups.create_group(fac.user(), name="Calm\u2067 Harbour", kind="meetup", timezone="UTC",
                            now=clock.now_utc())
    with app.app_context(), pytest.raises(DomainError, match="invisible"):
        groups.create_group(fac.user(), name="Calm Harbour", kind="meetup", timezone="UTC", now=clock.now_utc(),
                            description="Meet us\u202e at the door")


def test_meeting_titles_places_and_announcements_refuse_invisible_characters(app):
    fac = make_persona(app, "Fay F.", SiteRole.FACILITATOR)
    with app.app_context():
        group = groups.create_group(fac.user(), name="Open Circle", kind="meetup", timezone="Europe/London",
                                    now=clock.now_utc())
        for changes in ({"title": "Circle\u202e"}, {"venue": "Room\u200b 4"}):
            with pytest.raises(DomainError, match="invisible"):
                scheduling.create_series(group, weekly(**changes), clock.now_utc())
        with pytest.raises(DomainError, match="invisible"):
            notif_announcements.announce(group, fac.user(), "Hello\u2066", "See you", clock.now_utc())


@pytest.mark.parametrize("url", [
    "http://meet.example.org/room", "https://", "https:///path", "javascript:alert(1)",
    "https://meet.example.org/a b", 'https://meet.example.org/"onmouseover=x', "https://meet.example.org/<x>",
    "https://meet.example.org/\u202eroom", "HTTPS://meet.example.org/x\\y",
])
def test_online_links_must_be_plain_https_urls(url):
    assert safe_meeting_url(url) is None


def test_a_good_link_passes():
    assert safe_meeting_url("https://meet.example.org/room?id=42#x") == "https://meet.example.org/room?id=42#x"


def test_a_bad_link_is_refused_on_save_and_a_stored_one_is_never_emitted(app, client):
    fac = make_persona(app, "Fay F.", SiteRole.FACILITATOR)
    with app.app_context():
        group = groups.create_group(fac.user(), name="Open Circle", kind="meetup", timezone="Europe/London",
                                    now=clock.now_utc())
        with pytest.raises(DomainError, match="https://"):
            scheduling.create_series(group, weekly(online_url="http://meet.example.org/room"), clock.now_utc())
        series = scheduling.create_series(
            group, weekly(online_url="https://meet.example.org/room", online_visibility=OnlineVisibility.EVERYONE),
            clock.now_utc(),
        )
        # A row written before the rule (or by other means) holds a link that breaks out of its attribute.
        db.session.execute(update(MeetingSeries).where(MeetingSeries.id == series.id)
                           .values(online_url='https://evil.example.org/" onclick="x'))
        db.session.commit()
        slug = group.slug
        occurrence_id = series.occurrences[0].id
    for path in ("/meeting-guide.json", f"/groups/{slug}/calendar.ics", f"/groups/{slug}"):
        body = client.get(path).get_data(as_text=True)
        assert "evil.example.org" not in body, path
    login(client, fac)
    page = client.get(f"/meetings/{occurrence_id}")
    assert page.status_code == 200 and "evil.example.org" not in page.get_data(as_text=True)


def test_invite_pages_and_private_group_pages_are_not_cached_even_signed_out(app, client):
    world = build_world(app)
    invite = client.get(f"/invite/{world.invite_token}")
    assert invite.status_code == 200 and invite.headers["Cache-Control"] == "no-store"
    assert client.get("/invite/not-a-real-token").headers["Cache-Control"] == "no-store"
    assert client.get(f"/groups/{world.other_slug}").headers.get("Cache-Control") != "no-store"


def test_the_development_mail_log_names_no_recipient(tmp_path, capsys):
    msg = EmailMessage()
    msg["To"], msg["Subject"] = "someone.private@example.org", "Reset your password"
    msg.set_content("hello")
    mail.DevMailbox(tmp_path, "http://127.0.0.1:5000").send(msg)
    err = capsys.readouterr().err
    assert "Reset your password" in err and "someone.private" not in err and "@" not in err.split("(read")[0]
