"""Programs through the web: a site admin creates a program, names its coordinators and gives it groups; a
coordinator makes a referral, sees it listed and withdraws it. Only a program's own coordinators see its
referrals: not another program's coordinators, not the group's facilitators, not site admins. Coordinators are
staff: when the deployment requires two-factor of staff, they set it up before any coordinator page."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from supportnet import clock, groups, scheduling
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    AuditEntry,
    Group,
    GroupKind,
    JoinPolicy,
    MeetingSeries,
    Program,
    ProgramCoordinator,
)
from tests.conftest import make_persona, post
from tests.pages import browser, field_error, flashes, form_as_shown, html, redirects_to_login
from tests.pages import text as page_text
from tests.worlds.data_controls import enable_two_factor, login_with_code
from tests.worlds.programs import (
    ARCHIVED,
    GROUP_A,
    GROUP_B,
    PROGRAM_A,
    PROGRAM_B,
    PUBLIC,
    ProgramWorld,
    build_program_world,
    link_on,
    make_referral,
    referral_ids,
    referral_row,
    url_of,
)


@pytest.fixture
def world(app) -> ProgramWorld:
    return build_program_world(app)


def audit_actions(app, action: AuditAction) -> list[AuditEntry]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


# --- site admins ---


def test_an_admin_creates_a_program_names_a_coordinator_and_gives_it_a_group(app, world):
    admin = browser(app, world.admin)
    assert "Programs and their coordinators" in html(admin.get("/admin/users"))
    created = post(admin, "/admin/programs", {"name": "  Sunrise   House  "})
    assert created.status_code == 302
    with app.app_context():
        program = db.session.scalar(select(Program).where(Program.name == "Sunrise House"))
        program_id = program.id
        group_a = db.session.get(Group, world.group_a)
    assert created.location == f"/admin/programs/{program_id}"
    page = admin.get(created.location)
    assert page.status_code == 200 and "No coordinators yet." in html(page)

    added = post(admin, f"/admin/programs/{program_id}/coordinators", {"email": world.facilitator.email.upper()})
    assert added.status_code == 302
    named = flashes(admin.get(added.location))
    assert f"{world.facilitator.display_name} is now a coordinator of Sunrise House." in named
    given = post(admin, f"/admin/programs/{program_id}/groups", {"group_id": str(world.group_a)})
    assert given.status_code == 302
    with app.app_context():
        assert db.session.get(Group, world.group_a).program_id == program_id
        assert db.session.scalar(select(ProgramCoordinator.user_id).where(
            ProgramCoordinator.program_id == program_id)) == world.facilitator.id
    assert group_a.name in html(admin.get(f"/admin/programs/{program_id}"))

    entries = {e.action: e for e in audit_actions(app, AuditAction.PROGRAM_CREATED)
               + audit_actions(app, AuditAction.COORDINATOR_ADDED)
               + audit_actions(app, AuditAction.PROGRAM_GROUP_CHANGED) if e.details.get("program_id") == program_id}
    assert set(entries) == {AuditAction.PROGRAM_CREATED, AuditAction.COORDINATOR_ADDED,
                            AuditAction.PROGRAM_GROUP_CHANGED}
    assert all(e.actor_id == world.admin.id for e in entries.values())
    assert entries[AuditAction.COORDINATOR_ADDED].subject_id == world.facilitator.id
    assert entries[AuditAction.PROGRAM_GROUP_CHANGED].group_id == world.group_a
    assert "made a program coordinator" in page_text(admin.get("/admin/audit"))

    # The new coordinator now finds the program under "Referrals"; taking them off ends that at once.
    coordinator = browser(app, world.facilitator)
    assert 'href="/programs">Referrals</a>' in html(coordinator.get("/"))
    assert coordinator.get(f"/programs/{program_id}").status_code == 200
    removed = post(admin, f"/admin/programs/{program_id}/coordinators/{world.facilitator.id}/remove")
    assert removed.status_code == 302
    assert coordinator.get(f"/programs/{program_id}").status_code == 404
    assert 'href="/programs">Referrals</a>' not in html(coordinator.get("/"))
    assert audit_actions(app, AuditAction.COORDINATOR_REMOVED)[-1].subject_id == world.facilitator.id


@pytest.mark.parametrize(("name", "message"), [
    ("", "Enter a name for the program."),
    (PROGRAM_A.upper(), "A program with this name exists already."),
    ("x" * 121, "Keep the name to 120 characters."),
    ("Harbour\u202eClinic", "Remove the invisible"),
])
def test_a_program_name_that_will_not_do_is_refused_with_its_reason(app, world, name, message):
    admin = browser(app, world.admin)
    response = post(admin, "/admin/programs", {"name": name})
    assert response.status_code == 400
    assert message in field_error(response, "name")
    assert form_as_shown(response)["name"] == name
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Program)) == 2


def test_an_admin_names_only_confirmed_accounts_and_each_coordinator_once(app, world):
    admin = browser(app, world.admin)
    unknown = post(admin, f"/admin/programs/{world.program_a}/coordinators", {"email": "nobody@example.org"})
    assert unknown.status_code == 400 and "No confirmed account uses this address" in field_error(unknown, "email")
    assert 'value="nobody@example.org"' in html(unknown), "what was typed stays"
    again = post(admin, f"/admin/programs/{world.program_a}/coordinators", {"email": world.coordinator_a.email})
    assert again.status_code == 400 and "a coordinator of this program already" in field_error(again, "email")
    archived = post(admin, f"/admin/programs/{world.program_a}/groups", {"group_id": str(world.archived)})
    assert archived.status_code == 400 and "archived" in field_error(archived, "group_id")
    nothing = post(admin, f"/admin/programs/{world.program_a}/groups", {"group_id": "abc"})
    assert nothing.status_code == 400 and "Choose a group from the list." in field_error(nothing, "group_id")


# --- a coordinator's referrals ---


def test_a_coordinator_makes_a_referral_through_the_form(app, world):
    coordinator = browser(app, world.coordinator_a)
    home = html(coordinator.get("/"))
    assert 'href="/programs">Referrals</a>' in home
    mine = page_text(coordinator.get("/programs"))
    assert PROGRAM_A in mine and PROGRAM_B not in mine
    assert "No referrals yet." in page_text(coordinator.get(url_of(world, "a")))

    form = coordinator.get(url_of(world, "a", tail="/referrals/new"))
    shown = page_text(form)
    assert form.status_code == 200
    assert GROUP_A in shown and PUBLIC in shown and "Tuesday circle" in shown and "Sunday meetup" in shown
    assert GROUP_B not in shown and ARCHIVED not in shown, "another program's private group, an archived group"

    response = post(coordinator, url_of(world, "a", tail="/referrals/new"), {
        "suggestions": [f"g{world.group_a}", f"g{world.public}s{world.series_public}"],
        "first_name": "  Sam  ", "note": "Glad you came by.\r\nSee you there.", "valid_days": "14", "email": "",
    })
    assert response.status_code == 302
    (referral_id,) = referral_ids(app)
    assert response.location == url_of(world, "a", referral_id)
    page = coordinator.get(response.location)
    assert page.headers["Cache-Control"] == "no-store"
    link = link_on(html(page))
    assert link.startswith("http://supportnet.test/r/")
    token = link.rsplit("/", 1)[1]
    row = referral_row(app, referral_id)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and row.token == token
    assert row.first_name == "Sam" and row.note == "Glad you came by.\nSee you there."
    assert row.expires_at == clock.now_utc() + timedelta(days=14)
    assert row.created_by_id == world.coordinator_a.id
    with app.app_context():
        raw = " ".join(str(v) for v in db.session.execute(text("SELECT token, first_name, note FROM referral")).one())
        suggested = db.session.execute(text(
            "SELECT group_id, series_id FROM referral_suggestion ORDER BY id")).all()
    assert token not in raw and "Sam" not in raw and "Glad" not in raw, "kept encrypted"
    assert [tuple(r) for r in suggested] == [(world.group_a, None), (world.public, world.series_public)]

    listing = page_text(coordinator.get(url_of(world, "a")))
    assert "Sam" in listing and "Open" in listing
    (entry,) = audit_actions(app, AuditAction.REFERRAL_CREATED)
    assert entry.actor_id == world.coordinator_a.id
    assert entry.details == {"program_id": world.program_a, "referral_id": referral_id}


def test_a_coordinator_withdraws_a_referral_and_its_link_and_card_are_gone(app, world):
    referral_id, token = make_referral(app, world, first_name="Jo")
    coordinator = browser(app, world.coordinator_a)
    assert token in html(coordinator.get(url_of(world, "a", referral_id)))
    withdrawn = post(coordinator, url_of(world, "a", referral_id, "/withdraw"))
    assert withdrawn.status_code == 302
    page = coordinator.get(withdrawn.location)
    assert "The referral is withdrawn" in flashes(page)
    assert token not in html(page) and "Withdrawn" in page_text(page)
    card = coordinator.get(url_of(world, "a", referral_id, "/card"))
    assert card.status_code == 303 and "no card to print" in flashes(coordinator.get(card.location))
    assert coordinator.get(url_of(world, "a", referral_id, "/card.pdf")).status_code == 303
    row = referral_row(app, referral_id)
    assert row.withdrawn_at == clock.now_utc() and row.token is None
    assert audit_actions(app, AuditAction.REFERRAL_WITHDRAWN)[0].actor_id == world.coordinator_a.id
    again = post(coordinator, url_of(world, "a", referral_id, "/withdraw"))
    assert again.status_code == 303
    assert "withdrawn already" in flashes(coordinator.get(again.location))


# --- who sees what ---


def every_coordinator_request(world: ProgramWorld, program: str, referral_id: int, in_program: str | None = None):
    """(method, url) of every coordinator page of a program and one referral (under `in_program`'s id)."""
    base = in_program or program
    return [
        ("GET", url_of(world, base)),
        ("GET", url_of(world, base, tail="/referrals/new")),
        ("POST", url_of(world, base, tail="/referrals/new")),
        ("GET", url_of(world, base, referral_id)),
        ("GET", url_of(world, base, referral_id, "/card")),
        ("GET", url_of(world, base, referral_id, "/card.pdf")),
        ("POST", url_of(world, base, referral_id, "/withdraw")),
    ]


def attempt(client, method: str, url: str, world: ProgramWorld):
    if method == "GET":
        return client.get(url)
    return post(client, url, {"suggestions": [f"g{world.public}"], "valid_days": "30", "first_name": "X"})


def test_a_coordinator_of_program_a_gets_404_on_every_page_of_program_b(app, world):
    b_referral, b_token = make_referral(app, world, program="b", first_name="Bea")
    a_referral, _ = make_referral(app, world, program="a")
    intruder = browser(app, world.coordinator_a)
    requests = every_coordinator_request(world, "b", b_referral)
    # Program A's own id with program B's referral: the referral must belong to the program in the address.
    requests += every_coordinator_request(world, "b", b_referral, in_program="a")[3:]
    for method, url in requests:
        response = attempt(intruder, method, url, world)
        assert response.status_code == 404, (method, url, response.status_code)
        assert b_token not in html(response) and "Bea" not in html(response)
    assert PROGRAM_B not in page_text(intruder.get("/programs"))
    row = referral_row(app, b_referral)
    assert row.withdrawn_at is None and referral_ids(app) == [b_referral, a_referral], "nothing was changed"
    # The honest path: program B's coordinator sees all of it.
    owner = browser(app, world.coordinator_b)
    for _method, url in every_coordinator_request(world, "b", b_referral)[:-2]:
        assert owner.get(url).status_code == 200, url
    assert owner.get(url_of(world, "b", b_referral, "/card.pdf")).status_code == 200


@pytest.mark.parametrize("who", ["facilitator", "admin"])
def test_people_who_coordinate_nothing_get_404_on_every_referral_page(app, world, who):
    """The facilitator runs program A's group; the admin runs the site: neither is one of its coordinators."""
    referral_id, token = make_referral(app, world, first_name="Sam")
    client = browser(app, getattr(world, who))
    assert client.get("/programs").status_code == 404
    for method, url in every_coordinator_request(world, "a", referral_id):
        response = attempt(client, method, url, world)
        assert response.status_code == 404, (who, method, url)
        assert token not in html(response)
    assert 'href="/programs">Referrals</a>' not in html(client.get("/"))
    assert referral_row(app, referral_id).withdrawn_at is None and referral_ids(app) == [referral_id]
    if who == "admin":
        assert client.get(f"/admin/programs/{world.program_a}").status_code == 200, "the admin page is theirs"
    else:
        assert client.get(f"/admin/programs/{world.program_a}").status_code == 404


def test_visitors_are_sent_to_sign_in(app, world):
    referral_id, _ = make_referral(app, world)
    client = app.test_client()
    for method, url in every_coordinator_request(world, "a", referral_id):
        response = client.get(url) if method == "GET" else client.post(url)
        assert redirects_to_login(response) or response.status_code == 400, (method, url)


# --- bad input ---


def public_approval_group(app, world) -> int:
    with app.app_context():
        group = groups.create_group(world.facilitator.user(), name="Door Knock Circle", kind=GroupKind.MEETUP,
                                    timezone="UTC", now=clock.now_utc(), join_policy=JoinPolicy.APPROVAL)
        db.session.commit()
        return group.id


def extra_public_groups(app, world, count: int) -> list[int]:
    with app.app_context():
        fac = world.facilitator.user()
        made = [groups.create_group(fac, name=f"Extra meetup {n}", kind=GroupKind.MEETUP, timezone="UTC",
                                    now=clock.now_utc()) for n in range(count)]
        db.session.commit()
        return [g.id for g in made]


BAD = {
    "no suggestion": ({"suggestions": []}, "suggestions", "Choose at least one group or meeting"),
    "six suggestions": ({"suggestions": "six"}, "suggestions", "Choose at most 5"),
    "another program's private group": ({"suggestions": "group_b"}, "suggestions", "Suggest only groups from the list"),
    "an archived group": ({"suggestions": "archived"}, "suggestions", "Suggest only groups from the list"),
    # The card admits at once, so it may not stand in for the approval of a group the program does not run.
    "a public group that approves its members": ({"suggestions": "approval"}, "suggestions",
                                                 "Suggest only groups from the list"),
    "a series of another group": ({"suggestions": "wrong_series"}, "suggestions",
                                  "Suggest only meetings from the list"),
    "garbage": ({"suggestions": ["g1x"]}, "suggestions", "Suggest only groups and meetings from the list"),
    "0 days": ({"valid_days": "0"}, "valid_days", "from 1 to 90"),
    "91 days": ({"valid_days": "91"}, "valid_days", "from 1 to 90"),
    "abc days": ({"valid_days": "abc"}, "valid_days", "Enter a number of days from 1 to 90."),
    "an address as a name": ({"first_name": "sam@example.org"}, "first_name", "not an email address"),
    "a long name": ({"first_name": "S" * 41}, "first_name", "Keep the first name to 40 characters."),
    "a reversed name": ({"first_name": "Sam\u202e"}, "first_name", "Remove the invisible"),
    "a bad address": ({"email": "not an address"}, "email", "Enter a valid email address."),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_referral_input_is_refused_with_a_clear_message_and_the_form_keeps_what_was_typed(app, world, case):
    change, field, message = BAD[case]
    extra = extra_public_groups(app, world, 2)
    six = [f"g{world.group_a}", f"g{world.group_a}s{world.series_a}", f"g{world.public}",
           f"g{world.public}s{world.series_public}", *(f"g{i}" for i in extra)]
    named = {"six": six, "group_b": [f"g{world.group_b}"], "archived": [f"g{world.archived}"],
             "wrong_series": [f"g{world.group_a}s{world.series_public}"],
             "approval": [f"g{public_approval_group(app, world)}"]}
    data = {"suggestions": [f"g{world.group_a}"], "first_name": "Sam", "note": "See you Tuesday.",
            "valid_days": "20", "email": ""}
    data.update(change)
    if isinstance(data["suggestions"], str):
        data["suggestions"] = named[data["suggestions"]]
    coordinator = browser(app, world.coordinator_a)
    response = post(coordinator, url_of(world, "a", tail="/referrals/new"), data)
    assert response.status_code == 400
    assert message in field_error(response, field), field_error(response, field)
    shown = form_as_shown(response)
    for name in ("first_name", "valid_days", "email"):
        assert shown.get(name, "") == data[name], name
    assert shown["note"] == data["note"]
    checked = set(shown.getlist("suggestions"))
    assert checked == set(data["suggestions"]) & {f"g{world.group_a}", f"g{world.group_a}s{world.series_a}",
                                                  f"g{world.public}", f"g{world.public}s{world.series_public}",
                                                  *(f"g{i}" for i in extra)}
    assert referral_ids(app) == []


def test_a_meeting_series_that_ended_can_no_longer_be_suggested(app, world):
    with app.app_context():
        scheduling.end_series(db.session.get(MeetingSeries, world.series_a), clock.now_utc())
        db.session.commit()
    coordinator = browser(app, world.coordinator_a)
    assert "Tuesday circle" not in page_text(coordinator.get(url_of(world, "a", tail="/referrals/new")))
    response = post(coordinator, url_of(world, "a", tail="/referrals/new"),
                    {"suggestions": [f"g{world.group_a}s{world.series_a}"], "valid_days": "30"})
    assert response.status_code == 400 and "no longer runs" in field_error(response, "suggestions")


# --- coordinators are staff ---


def test_a_coordinator_without_two_factor_sets_it_up_before_any_coordinator_page(app, world):
    referral_id, token = make_referral(app, world)
    app.config["REQUIRE_2FA_FOR_STAFF"] = True
    coordinator = browser(app, world.coordinator_a)
    for method, url in [*every_coordinator_request(world, "a", referral_id), ("GET", "/programs")]:
        response = attempt(coordinator, method, url, world)
        assert response.status_code == 303 and response.location == "/account/two-factor", (method, url)
        assert token not in html(response)
    assert "coordinates a program" in flashes(coordinator.get("/account/two-factor"))
    assert referral_row(app, referral_id).withdrawn_at is None and referral_ids(app) == [referral_id]
    # A member who coordinates nothing is not asked.
    plain = make_persona(app, "Pat P.")
    assert browser(app, plain).get("/").status_code == 200
    # With two-factor on, the same coordinator gets in.
    secret = enable_two_factor(app, world.coordinator_a)
    signed_in = app.test_client()
    assert login_with_code(signed_in, world.coordinator_a, secret).status_code == 302
    assert signed_in.get(url_of(world, "a", referral_id)).status_code == 200

