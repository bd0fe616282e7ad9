"""Coaches: a site admin or a program's coordinator grants the role; coaches are staff (two-factor); a coach keeps
a profile and weekly availability; members see the coaches they may book and their free times in their own zone,
across a daylight-saving change on either side; program-only coaches stay hidden from everyone else."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import text

from supportnet import clock, visibility
from supportnet.coaching import coaches
from supportnet.errors import Forbidden
from supportnet.extensions import db
from supportnet.models import AuditAction, Coach, CoachVisibility, Program
from tests.conftest import post
from tests.pages import browser, field_error, html
from tests.pages import text as page_text
from tests.worlds.coaching_coaches import (
    CoachWorld,
    audit_rows,
    build_coach_world,
    coach_of_user,
    coach_row,
    make_coach,
)
from tests.worlds.data_controls import enable_two_factor, login_with_code


@pytest.fixture
def world(app) -> CoachWorld:
    return build_coach_world(app)


# --- granting and ending the role ---


def test_an_admin_makes_a_confirmed_account_a_public_coach_and_ends_it(app, world):
    admin = browser(app, world.programs.admin)
    assert admin.get("/admin/coaches").status_code == 200
    response = post(admin, "/admin/coaches", {"email": world.cole.email, "visibility": "public", "program_id": ""})
    assert response.status_code == 302
    coach = coach_of_user(app, world.cole)
    assert coach is not None and coach.visibility == CoachVisibility.PUBLIC and coach.ended_at is None
    assert coach.timezone == "America/New_York"
    # Ids only: who, whom, and no name or address in the details.
    assert audit_rows(app, AuditAction.COACH_GRANTED) == [(world.programs.admin.id, world.cole.id, {})]
    again = post(admin, "/admin/coaches", {"email": world.cole.email, "visibility": "public"})
    assert again.status_code == 400 and "a coach already" in field_error(again, "email")
    unknown = post(admin, "/admin/coaches", {"email": "nobody@example.org", "visibility": "public"})
    assert unknown.status_code == 400 and "No confirmed account" in field_error(unknown, "email")
    assert post(admin, f"/admin/coaches/{coach.id}/end").status_code == 302
    assert coach_row(app, coach.id).ended_at is not None
    assert audit_rows(app, AuditAction.COACH_ENDED) == [(world.programs.admin.id, world.cole.id, {})]


def test_an_admin_makes_a_program_only_coach(app, world):
    admin = browser(app, world.programs.admin)
    response = post(admin, "/admin/coaches", {"email": world.rosa.email, "visibility": "program",
                                              "program_id": str(world.programs.program_b)})
    assert response.status_code == 302
    coach = coach_of_user(app, world.rosa)
    assert coach.visibility == CoachVisibility.PROGRAM and coach.program_id == world.programs.program_b
    no_program = post(admin, "/admin/coaches", {"email": world.cole.email, "visibility": "program"})
    assert no_program.status_code == 400 and coach_of_user(app, world.cole) is None


def test_a_coordinator_names_coaches_of_their_own_program_only(app, world):
    program_a, program_b = world.programs.program_a, world.programs.program_b
    cora = browser(app, world.programs.coordinator_a)
    assert cora.get(f"/programs/{program_a}/coaches").status_code == 200
    # She tries to make Cole a public coach through the form: the page only makes program A's coaches.
    response = post(cora, f"/programs/{program_a}/coaches", {"email": world.cole.email, "visibility": "public"})
    assert response.status_code == 302
    coach = coach_of_user(app, world.cole)
    assert coach.visibility == CoachVisibility.PROGRAM and coach.program_id == program_a
    assert audit_rows(app, AuditAction.COACH_GRANTED) == [
        (world.programs.coordinator_a.id, world.cole.id, {"program_id": program_a})]
    # It is an invitation: Cole coaches once he accepts it (under his sessions).
    cole = browser(app, world.cole)
    assert cole.get("/coach/profile").status_code == 404
    assert "An invitation to coach" in page_text(cole.get("/me/sessions"))
    assert post(cole, f"/coach/invitations/{coach.id}/accept").status_code == 302
    assert cole.get("/coach/profile").status_code == 200
    assert audit_rows(app, AuditAction.COACH_ACCEPTED) == [(world.cole.id, world.cole.id, {"program_id": program_a})]
    # Another program's page, and the admin page, do not exist for her.
    assert cora.get(f"/programs/{program_b}/coaches").status_code == 404
    assert post(cora, f"/programs/{program_b}/coaches", {"email": world.rosa.email}).status_code == 404
    assert post(cora, "/admin/coaches", {"email": world.rosa.email, "visibility": "public"}).status_code == 404
    assert coach_of_user(app, world.rosa) is None
    # A public coach (named by the admin) cannot be ended from her program's page.
    public_id = make_coach(app, world, world.rosa)
    assert post(cora, f"/programs/{program_a}/coaches/{public_id}/end").status_code == 404
    # Program B's coordinator cannot end program A's coach either.
    ben = browser(app, world.programs.coordinator_b)
    assert post(ben, f"/programs/{program_b}/coaches/{coach.id}/end").status_code == 404
    assert coach_row(app, public_id).ended_at is None and coach_row(app, coach.id).ended_at is None
    # Her own program's coach she can end.
    assert post(cora, f"/programs/{program_a}/coaches/{coach.id}/end").status_code == 302
    assert coach_row(app, coach.id).ended_at is not None


def test_the_domain_refuses_a_coordinator_naming_a_public_coach(app, world):
    with app.app_context():
        cora = world.programs.coordinator_a.user()
        with pytest.raises(Forbidden):
            coaches.grant(world.cole.email, by=cora, now=clock.now_utc(), visibility_=CoachVisibility.PUBLIC)
        with pytest.raises(Forbidden):
            coaches.grant(world.cole.email, by=cora, now=clock.now_utc(), visibility_=CoachVisibility.PROGRAM,
                          program=db.session.get(Program, world.programs.program_b))
        with pytest.raises(Forbidden):
            coaches.grant(world.cole.email, by=world.mia.user(), now=clock.now_utc(),
                          visibility_=CoachVisibility.PROGRAM,
                          program=db.session.get(Program, world.programs.program_a))


def test_a_coach_without_two_factor_sets_it_up_first_when_staff_must(app, world):
    make_coach(app, world, world.cole)
    app.config["REQUIRE_2FA_FOR_STAFF"] = True
    cole = browser(app, world.cole)
    for url in ("/coach/profile", "/coach/availability", "/coaches"):
        response = cole.get(url)
        assert response.status_code == 303 and response.location == "/account/two-factor", url
    # A member who coaches nobody is not asked.
    assert browser(app, world.otto).get("/coaches").status_code == 200
    secret = enable_two_factor(app, world.cole)
    signed_in = app.test_client()
    assert login_with_code(signed_in, world.cole, secret).status_code == 302
    assert signed_in.get("/coach/profile").status_code == 200


def test_an_ended_coach_is_staff_no_more(app, world):
    coach_id = make_coach(app, world, world.cole)
    with app.app_context():
        assert visibility.is_staff(world.cole.user())
        coaches.end(db.session.get(Coach, coach_id), by=world.programs.admin.user(), now=clock.now_utc())
        assert not visibility.is_staff(world.cole.user())


# --- the coach's own pages ---


PROFILE = {
    "display_name": "Cole C.", "offers": "Peer recovery coaching, evenings.", "languages": "English, Spanish",
    "online": "y", "place": "", "timezone": "America/New_York", "session_minutes": "50", "buffer_minutes": "10",
    "notice_hours": "12", "horizon_days": "28", "late_change_hours": "12",
    "online_url": "https://meet.example.org/cole-room",
}


def test_only_a_coach_has_coach_pages(app, world):
    make_coach(app, world, world.cole)
    for persona in (world.mia, world.programs.admin, world.programs.coordinator_a):
        client = browser(app, persona)
        assert client.get("/coach/profile").status_code == 404
        assert post(client, "/coach/profile", PROFILE).status_code == 404
        assert post(client, "/coach/availability", {"action": "add_window", "weekday": "0", "starts": "09:00",
                                                    "ends": "10:00"}).status_code == 404


def test_a_coach_saves_the_profile_and_bad_input_changes_nothing(app, world):
    coach_id = make_coach(app, world, world.cole)
    cole = browser(app, world.cole)
    assert post(cole, "/coach/profile", PROFILE).status_code == 302
    saved = coach_row(app, coach_id)
    assert saved.offers == PROFILE["offers"] and saved.online_url == PROFILE["online_url"]
    with app.app_context():  # the link is encrypted at rest
        raw = db.session.execute(text("select online_url from coach where id = :id"), {"id": coach_id}).scalar()
        assert "meet.example.org" not in str(raw)
    bad_cases = [
        ({"online_url": "http://meet.example.org/x"}, "online_url", "https"),
        ({"session_minutes": "5"}, "session_minutes", "15 to 180"),
        ({"horizon_days": "400"}, "horizon_days", "1 to 90"),
        ({"display_name": "  "}, "display_name", "name"),
        ({"in_person": "y", "place": ""}, "place", "where"),
        ({"timezone": "Mars/Olympus"}, "timezone", "timezone"),
    ]
    for change, field, words in bad_cases:
        response = post(cole, "/coach/profile", {**PROFILE, "offers": "Changed", **change})
        assert response.status_code == 400, change
        assert words.lower() in (field_error(response, field) + page_text(response)).lower(), change
        # What was typed is still on the form.
        assert "Changed" in html(response), change
        assert coach_row(app, coach_id).offers == PROFILE["offers"], change
    no_way = {k: v for k, v in PROFILE.items() if k != "online"}
    assert post(cole, "/coach/profile", no_way).status_code == 400
    assert coach_row(app, coach_id).online


def _availability(client, **data):
    return post(client, "/coach/availability", data)


def test_a_coach_edits_weekly_windows_exceptions_and_time_off(app, world):
    coach_id = make_coach(app, world, world.cole)
    rosa_id = make_coach(app, world, world.rosa, weekly=((2, time(9), time(12)),))
    cole = browser(app, world.cole)
    assert _availability(cole, action="add_window", weekday="0", starts="09:00", ends="12:00").status_code == 302
    overlap = _availability(cole, action="add_window", weekday="0", starts="11:00", ends="13:00")
    assert overlap.status_code == 400
    assert "overlaps your Monday window 09:00 to 12:00" in page_text(overlap)
    assert 'value="11:00"' in html(overlap)  # what was typed stays
    assert _availability(cole, action="add_window", weekday="0", starts="12:00", ends="13:00").status_code == 302
    backwards = _availability(cole, action="add_window", weekday="1", starts="13:00", ends="12:00")
    assert backwards.status_code == 400 and "end after" in page_text(backwards)
    assert _availability(cole, action="add_window", weekday="1", starts="soon", ends="12:00").status_code == 400
    assert _availability(cole, action="add_change", day="2026-12-07", off="1").status_code == 302
    assert _availability(cole, action="add_change", day="2026-12-12", change_starts="10:00",
                         change_ends="11:00").status_code == 302
    assert _availability(cole, action="add_change", day="not a day", off="1").status_code == 400
    assert _availability(cole, action="add_time_off", off_starts="2026-12-21T00:00",
                         off_ends="2026-12-28T00:00").status_code == 302
    page = page_text(cole.get("/coach/availability"))
    assert "Monday 09:00 to 12:00" in page and "Monday 12:00 to 13:00" in page
    assert "2026-12-07: day off" in page and "2026-12-12: extra window 10:00 to 11:00" in page
    assert "2026-12-21 00:00 to 2026-12-28 00:00" in page
    with app.app_context():
        coach = db.session.get(Coach, coach_id)
        windows = coaches.windows_of(coach)
        # Time off is kept in UTC from the coach's New York wall time.
        assert coaches.time_off_of(coach)[0].starts_at == datetime(2026, 12, 21, 5, tzinfo=UTC)
        slots_on = {s.starts.date() for s in coaches.free_slots(coach, clock.now_utc())}
        rosa_window = coaches.windows_of(db.session.get(Coach, rosa_id))[0].id
    assert datetime(2026, 12, 7).date() not in slots_on and datetime(2026, 12, 12).date() in slots_on
    assert datetime(2026, 12, 21).date() not in slots_on and datetime(2026, 12, 14).date() in slots_on
    # Removing his own window works; Rosa's window is not his to remove.
    assert _availability(cole, action="remove", kind="window", row_id=str(windows[1].id)).status_code == 302
    assert _availability(cole, action="remove", kind="window", row_id=str(rosa_window)).status_code == 404
    with app.app_context():
        assert len(coaches.windows_of(db.session.get(Coach, coach_id))) == 1
        assert len(coaches.windows_of(db.session.get(Coach, rosa_id))) == 1


# --- what members see ---


def _slot_days(response) -> dict[str, list[str]]:
    days = {}
    for heading, body in re.findall(r"<legend>(.*?)</legend>\s*<div class=\"slots\">(.*?)</div>", html(response), re.S):
        days[heading] = re.findall(r'<span class="slot-time">(.*?)</span>', body)
    return days


def test_free_times_are_shown_in_the_members_zone_across_daylight_saving(app, world):
    # New York springs forward on 14 March 2027, London on 28 March: for two weeks they are 4 hours apart.
    clock.set_frozen(datetime(2027, 3, 4, 12, tzinfo=UTC))
    coach_id = make_coach(app, world, world.cole, weekly=((0, time(9), time(10)),))
    with app.app_context():
        coach = db.session.get(Coach, coach_id)
        coach.timezone = "America/New_York"
        db.session.commit()
    page = browser(app, world.mia).get(f"/coaches/{coach_id}")
    assert page.status_code == 200
    days = _slot_days(page)
    assert days["Monday 8 March"] == ["14:00"]  # 09:00 EST is 14:00 GMT
    assert days["Monday 15 March"] == ["13:00"]  # 09:00 EDT is 13:00 GMT
    assert days["Monday 22 March"] == ["13:00"]
    assert days["Monday 29 March"] == ["14:00"]  # 09:00 EDT is 14:00 BST
    assert "Europe/London" in page_text(page) and "America/New_York" in page_text(page)
    # The coach, signed in himself, sees his own zone.
    own = _slot_days(browser(app, world.cole).get(f"/coaches/{coach_id}"))
    assert set(map(tuple, own.values())) == {("09:00",)}


def test_program_only_coaches_are_seen_by_the_programs_members_only(app, world):
    public_id = make_coach(app, world, world.rosa, weekly=((0, time(9), time(12)),))
    program_id = make_coach(app, world, world.cole, program="a", weekly=((0, time(9), time(12)),))
    with app.app_context():
        coach = db.session.get(Coach, program_id)
        coaches.update_profile(coach, coaches.Profile(**{
            **{k: v for k, v in PROFILE.items() if k not in ("online",)}, "online": True, "in_person": False,
            **{k: int(PROFILE[k]) for k in ("session_minutes", "buffer_minutes", "notice_hours", "horizon_days",
                                            "late_change_hours")}}))
        db.session.commit()
    mia, otto = browser(app, world.mia), browser(app, world.otto)
    listed = page_text(mia.get("/coaches"))
    assert "Cole C." in listed and "Rosa R." in listed
    page = mia.get(f"/coaches/{program_id}")
    assert page.status_code == 200 and _slot_days(page)
    assert "meet.example.org" not in html(page)  # the room link is for members who booked
    assert "Cole C." not in page_text(otto.get("/coaches")) and "Rosa R." in page_text(otto.get("/coaches"))
    assert otto.get(f"/coaches/{program_id}").status_code == 404
    assert otto.get(f"/coaches/{public_id}").status_code == 200
    assert otto.get("/coaches/999999").status_code == 404
    assert app.test_client().get(f"/coaches/{public_id}").status_code == 302


def test_an_ended_coach_offers_no_slots_and_drops_out_of_sight(app, world):
    coach_id = make_coach(app, world, world.rosa, weekly=((0, time(9), time(12)),))
    mia = browser(app, world.mia)
    assert _slot_days(mia.get(f"/coaches/{coach_id}"))
    assert post(browser(app, world.programs.admin), f"/admin/coaches/{coach_id}/end").status_code == 302
    with app.app_context():
        assert coaches.free_slots(db.session.get(Coach, coach_id), clock.now_utc()) == []
    assert mia.get(f"/coaches/{coach_id}").status_code == 404
    assert "Rosa R." not in page_text(mia.get("/coaches"))
    assert browser(app, world.rosa).get("/coach/profile").status_code == 404
