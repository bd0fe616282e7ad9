"""The member's safety plan: six parts in the established order, encrypted at rest, printable, one tap from home
and from the crisis panel, always the viewer's own, exported with their data and erased with their account."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy import text as sql

from supportnet import clock, crypto, privacy
from supportnet.extensions import db
from supportnet.models import (
    Channel,
    Notification,
    NotificationKind,
    NotificationStatus,
    Relation,
    SafetyPlan,
    Supporter,
)
from supportnet.supporters import people, plan
from tests.conftest import make_app, make_persona, post
from tests.pages import flashes, html, text
from tests.worlds.checkins import checkin_form
from tests.worlds.safety_plan import (
    CRISIS_NAME,
    CRISIS_PHONE,
    CRISIS_RESOURCES,
    PLAN,
    PLAN_COLUMNS,
    World,
    build_world,
    raw_plan,
    signed_in,
    sqlite_bytes,
)


@pytest.fixture
def app_config() -> dict:
    return {"CRISIS_RESOURCES": CRISIS_RESOURCES}


@pytest.fixture
def world(app) -> World:
    return build_world(app)


def write_plan(app, persona, parts: dict = PLAN, reach_out: str | None = None) -> None:
    with app.app_context():
        user = persona.user()
        plan.save(user, parts, clock.now_utc())
        if reach_out is not None:
            plan.plan_of(user).reach_out_message = reach_out
        db.session.commit()


def export(client) -> zipfile.ZipFile:
    response = post(client, "/account/data/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


# --- writing, reading, clearing ----------------------------------------------------------------------------------


def test_a_member_writes_their_plan_and_reads_it_back_in_the_six_part_order(app, world):
    client = signed_in(app, world.member)
    page = client.get("/me/safety-plan")
    assert page.status_code == 200
    titles = [part.title for part in plan.PARTS]
    body = text(page)
    assert [body.index(t) for t in titles] == sorted(body.index(t) for t in titles)
    response = post(client, "/me/safety-plan", PLAN, follow_redirects=True)
    assert "Your safety plan is saved." in flashes(response)
    with app.app_context():
        assert plan.parts_of(world.member.user()) == PLAN
    page = html(client.get("/me/safety-plan"))
    assert all(value.split("\n")[0] in page for value in PLAN.values())


def test_step_five_suggests_the_deployments_crisis_lines_until_the_member_writes_their_own(app, world):
    client = signed_in(app, world.member)
    page = html(client.get("/me/safety-plan"))
    assert f"{CRISIS_NAME}: {CRISIS_PHONE}" in page and "keep, change or remove them" in page
    with app.app_context():
        assert plan.plan_of(world.member.user()) is None  # a suggestion, not saved until the member saves
    post(client, "/me/safety-plan", {**PLAN, "professionals": "Dr Okafor only"})
    page = html(client.get("/me/safety-plan"))
    assert "Dr Okafor only" in page and CRISIS_PHONE not in page.split("professionals")[-1].split("</textarea>")[0]


def test_an_empty_part_is_allowed_and_an_emptied_part_is_cleared(app, world):
    write_plan(app, world.member)
    client = signed_in(app, world.member)
    assert post(client, "/me/safety-plan", {**PLAN, "distractions": "   "}).status_code == 302
    with app.app_context():
        assert plan.parts_of(world.member.user())["distractions"] == ""
    assert raw_plan(app, world.member.id)["distractions"] is None


@pytest.mark.parametrize("bad, message", [
    ("x" * 2001, "Keep this part to 2000 characters."),
    ("Call \u202eSam\u202c now", "invisible or control characters"),
    ("zero\u200bwidth", "invisible or control characters"),
])
def test_bad_input_is_refused_with_400_and_everything_typed_comes_back(app, world, bad, message):
    write_plan(app, world.member, {"warning_signs": "saved before"})
    client = signed_in(app, world.member)
    typed = {**PLAN, "warning_signs": "typed, not yet saved", "safer_environment": bad}
    response = post(client, "/me/safety-plan", typed)
    assert response.status_code == 400
    page = html(response)
    assert message in page
    assert "typed, not yet saved" in page and PLAN["people_to_ask"] in page
    with app.app_context():
        assert plan.parts_of(world.member.user())["warning_signs"] == "saved before"  # nothing half-saved


def test_newlines_are_kept_as_the_way_to_write_a_list(app, world):
    client = signed_in(app, world.member)
    assert post(client, "/me/safety-plan", {"coping_strategies": "one\r\ntwo\r\nthree"}).status_code == 302
    with app.app_context():
        assert plan.parts_of(world.member.user())["coping_strategies"] == "one\ntwo\nthree"


def test_clearing_empties_the_six_parts_and_keeps_the_reach_out_message(app, world):
    write_plan(app, world.member, reach_out="I'd appreciate a call today")
    write_plan(app, world.second)
    client = signed_in(app, world.member)
    response = post(client, "/me/safety-plan/clear", follow_redirects=True)
    assert "Your safety plan is cleared." in flashes(response)
    row = raw_plan(app, world.member.id)
    assert [row[c] for c in PLAN_COLUMNS] == [None] * 6 and row["reach_out_message"] is not None
    with app.app_context():
        assert str(plan.plan_of(world.member.user()).reach_out_message) == "I'd appreciate a call today"
        assert plan.parts_of(world.second.user()) == PLAN  # the other member's plan is theirs


def test_clearing_a_plan_without_a_reach_out_message_removes_the_row(app, world):
    write_plan(app, world.member)
    assert post(signed_in(app, world.member), "/me/safety-plan/clear").status_code == 302
    assert raw_plan(app, world.member.id) is None


def test_saving_never_touches_the_reach_out_message(app, world):
    write_plan(app, world.member, reach_out="Could you text me?")
    post(signed_in(app, world.member), "/me/safety-plan", {**PLAN, "warning_signs": "changed"})
    with app.app_context():
        assert str(plan.plan_of(world.member.user()).reach_out_message) == "Could you text me?"


def test_a_post_without_any_part_changes_nothing(app, world):
    write_plan(app, world.member)
    response = post(signed_in(app, world.member), "/me/safety-plan", {})
    assert response.status_code == 400 and "Nothing was sent to save" in html(response)
    with app.app_context():
        assert plan.parts_of(world.member.user()) == PLAN


def test_clear_without_a_csrf_token_changes_nothing(app, world):
    write_plan(app, world.member)
    client = signed_in(app, world.member)
    assert client.post("/me/safety-plan/clear").status_code == 400
    assert client.post("/me/safety-plan", data={"warning_signs": "forged"}).status_code == 400
    with app.app_context():
        assert plan.parts_of(world.member.user()) == PLAN


# --- only ever the viewer's own ------------------------------------------------------------------------------------


def test_another_member_sees_their_own_empty_plan_never_the_first_members(app, world):
    write_plan(app, world.member)
    other = signed_in(app, world.second)
    for url in ("/me/safety-plan", "/me/safety-plan/print"):
        page = html(other.get(url))
        assert not any(value.split("\n")[0] in page for value in PLAN.values())
    # Clearing and saving act on the second member's own plan only.
    post(other, "/me/safety-plan/clear")
    post(other, "/me/safety-plan", {"warning_signs": "Noor's own"})
    with app.app_context():
        assert plan.parts_of(world.member.user()) == PLAN
        assert plan.parts_of(world.second.user())["warning_signs"] == "Noor's own"


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for url in ("/me/safety-plan", "/me/safety-plan/print"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location


# --- printable -------------------------------------------------------------------------------------------------------


def test_the_print_page_has_the_six_parts_in_order_no_navigation_and_is_never_cached(app, world):
    write_plan(app, world.member)
    response = signed_in(app, world.member).get("/me/safety-plan/print")
    page = html(response)
    positions = [page.index(value.split("\n")[0]) for value in PLAN.values()]
    assert positions == sorted(positions)
    assert 'nav aria-label="Main"' not in page and "Quick exit" not in page
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert "css/safety-plan.css" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers.get("Vary", "")
    css = signed_in(app, world.member).get("/static/css/safety-plan.css").get_data(as_text=True)
    assert "@media print" in css


def test_the_edit_page_is_never_cached_either(app, world):
    response = signed_in(app, world.member).get("/me/safety-plan")
    assert response.headers["Cache-Control"] == "no-store"
    assert '<meta name="robots" content="noindex">' in html(response)


# --- one tap away ----------------------------------------------------------------------------------------------------


def test_the_home_links_to_the_plan(app, world):
    page = html(signed_in(app, world.member).get("/"))
    assert 'href="/me/safety-plan"' in page


def test_the_crisis_panel_after_a_low_check_in_links_to_the_plan(app, world):
    client = signed_in(app, world.member)
    response = post(client, "/me/checkins/new", checkin_form(mood="1"))
    page = html(client.get(response.location))
    assert CRISIS_NAME in page and 'href="/me/safety-plan"' in page
    assert page.index(CRISIS_NAME) < page.index('href="/me/safety-plan"')


def test_the_crisis_panel_before_a_worrying_measure_result_links_to_the_plan(app, world):
    client = signed_in(app, world.member)
    answers = {f"item-{n}": "0" for n in range(1, 9)} | {"item-9": "1"}
    response = post(client, "/me/measures/PHQ-9/take", answers)
    assert response.status_code == 302
    page = html(client.get(response.location))
    assert CRISIS_NAME in page and 'href="/me/safety-plan"' in page


def test_deleting_all_check_ins_says_the_plan_stays_and_leaves_it(app, world):
    write_plan(app, world.member)
    client = signed_in(app, world.member)
    page = text(client.get("/me/checkins"))
    assert "Your safety plan stays too: clear it on its own page." in page
    assert post(client, "/me/checkins/delete-all", {"confirm": "DELETE"}).status_code == 302
    with app.app_context():
        assert plan.parts_of(world.member.user()) == PLAN


# --- encrypted at rest and key rotation --------------------------------------------------------------------------


def test_each_part_is_a_fernet_token_in_the_database(app, world):
    write_plan(app, world.member, reach_out="I'd appreciate a call today")
    row = raw_plan(app, world.member.id)
    key = crypto.split_keys(app.config["DATA_KEY"])[0]
    for column, value in PLAN.items():
        assert "sentinel" not in row[column]
        assert Fernet(key.encode()).decrypt(row[column].encode()).decode() == value
    assert "call" not in row["reach_out_message"]


@pytest.mark.sqlite_only("greps SQLite's file and WAL")
def test_the_sqlite_file_never_holds_a_part_in_plain_text(app, db_path, world):
    write_plan(app, world.member)
    data = sqlite_bytes(db_path)
    assert all(value.encode() not in data for value in PLAN.values())


@pytest.mark.usefixtures("without_supportnet_environment")
def test_rotating_the_key_re_encrypts_the_plan_and_supporter_addresses(db_path, smtp_server, frozen_clock):
    old, new = crypto.generate_key(), crypto.generate_key()
    first = make_app(db_path, smtp_server[0].port, DATA_KEY=old)
    mia = make_persona(first, "Mia M.")
    write_plan(first, mia, reach_out="I'd appreciate a call today")
    with first.app_context():
        db.session.add(Supporter(user_id=mia.id, name="Sam", email="sam@example.net", relation=Relation.SPONSOR,
                                 address_digest=people.address_digest("sam@example.net"),
                                 invited_at=clock.now_utc()))
        db.session.commit()
        db.engine.dispose()

    both = make_app(db_path, smtp_server[0].port, DATA_KEY=f"{new}, {old}")
    result = both.test_cli_runner().invoke(args=["checkins", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 8 values" in result.output  # six parts, the reach-out message, one address
    row = raw_plan(both, mia.id)
    with both.app_context():
        assert {c: Fernet(new.encode()).decrypt(row[c].encode()).decode() for c in PLAN_COLUMNS} == PLAN
        raw_email = db.session.execute(sql("SELECT email FROM supporter")).scalar_one()
        assert Fernet(new.encode()).decrypt(raw_email.encode()) == b"sam@example.net"
        db.engine.dispose()

    only_new = make_app(db_path, smtp_server[0].port, DATA_KEY=new)
    with only_new.app_context():
        assert plan.parts_of(mia.user()) == PLAN
        assert str(plan.plan_of(mia.user()).reach_out_message) == "I'd appreciate a call today"
        assert str(crypto.decrypt(db.session.execute(sql("SELECT email FROM supporter")).scalar_one())) \
            == "sam@example.net"
        db.engine.dispose()


# --- export ------------------------------------------------------------------------------------------------------


def test_the_export_holds_the_plan_decrypted_in_json_and_as_a_readable_text_file(app, world):
    write_plan(app, world.member, reach_out="I'd appreciate a call today")
    write_plan(app, world.second, {"warning_signs": "sentinel-second-members-own"})
    archive = export(signed_in(app, world.member))
    data = json.loads(archive.read("data.json"))
    assert {k: data["safety_plan"][k] for k in PLAN_COLUMNS} == PLAN
    assert data["safety_plan"]["reach_out_message"] == "I'd appreciate a call today"
    assert data["supporters"] == [] and data["alert_rules"] == []  # filled by the supporters' and alerts' parts
    txt = archive.read("safety-plan.txt").decode()
    positions = [txt.index(part.title) for part in plan.PARTS]
    assert positions == sorted(positions)
    for part in plan.PARTS:
        first_line = PLAN[part.key].split("\n")[0]
        assert txt.index(part.title) < txt.index(first_line)
    assert "I'd appreciate a call today" in txt
    assert "safety-plan.txt" in archive.read("README.txt").decode()
    every_file = b"".join(archive.read(name) for name in archive.namelist())
    assert b"sentinel-second-members-own" not in every_file


def test_a_member_without_a_plan_exports_none_and_an_empty_outline(app, world):
    archive = export(signed_in(app, world.member))
    assert json.loads(archive.read("data.json"))["safety_plan"] is None
    assert archive.read("safety-plan.txt").decode().count("(not written)") == 6


# --- account deletion --------------------------------------------------------------------------------------------


def _add_supporter_with_a_pending_email(app, persona) -> int:
    with app.app_context():
        supporter = Supporter(user_id=persona.id, name="Sam", email="sam-sentinel@example.net",
                              address_digest=people.address_digest("sam-sentinel@example.net"),
                              relation=Relation.FRIEND, invited_at=clock.now_utc())
        db.session.add(supporter)
        db.session.flush()
        db.session.add(Notification(user_id=persona.id, supporter_id=supporter.id,
                                    kind=NotificationKind.SUPPORTER_INVITE, channel=Channel.EMAIL,
                                    dedupe_key=f"invite:{supporter.id}",
                                    status=NotificationStatus.PENDING, due_at=clock.now_utc(), payload={}))
        db.session.commit()
        return supporter.id


def _rows(app, user_id: int) -> dict[str, int]:
    with app.app_context():
        return {
            table: db.session.execute(
                sql(f"SELECT count(*) FROM {table} WHERE user_id = :id"), {"id": user_id}  # noqa: S608
            ).scalar_one()
            for table in ("safety_plan", "supporter", "alert_rule", "notification")
        }


def test_deleting_the_account_removes_the_plan_supporters_and_pending_emails_to_them(app, world, mailbox):
    write_plan(app, world.member, reach_out="I'd appreciate a call today")
    write_plan(app, world.second)
    _add_supporter_with_a_pending_email(app, world.member)
    assert _rows(app, world.member.id)["supporter"] == 1 and _rows(app, world.member.id)["notification"] >= 1
    assert post(signed_in(app, world.member), "/account/delete", {"confirm": "DELETE"}).status_code == 302
    assert _rows(app, world.member.id) == {"safety_plan": 0, "supporter": 0, "alert_rule": 0, "notification": 0}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.supporter_id.is_not(None))) == 0
        assert db.session.get(SafetyPlan, world.second.id) is not None  # the other member's plan stays
    # Nothing is left for the outbox to send to the supporter.
    result = app.test_cli_runner().invoke(args=["scheduler", "tick"])
    assert result.exit_code == 0, result.output
    assert mailbox.to("sam-sentinel@example.net") == []


def test_deletion_in_the_domain_takes_the_plan_with_the_account(app, world):
    write_plan(app, world.member)
    with app.app_context():
        privacy.delete_account(world.member.user(), clock.now_utc())
        db.session.commit()
        assert db.session.get(SafetyPlan, world.member.id) is None


@pytest.mark.sqlite_only("greps SQLite's file and WAL")
def test_a_deleted_account_leaves_no_plan_ciphertext_in_the_sqlite_file_or_its_wal(app, db_path, world):
    write_plan(app, world.member, reach_out="I'd appreciate a call today")
    row = raw_plan(app, world.member.id)
    ciphertexts = [row[c].encode() for c in (*PLAN_COLUMNS, "reach_out_message")]
    assert all(c in sqlite_bytes(db_path) for c in ciphertexts)  # the test can see them at all
    assert post(signed_in(app, world.member), "/account/delete", {"confirm": "DELETE"}).status_code == 302
    data = sqlite_bytes(db_path)
    assert [c for c in ciphertexts if c in data] == []
    assert all(value.encode() not in data for value in PLAN.values())
