"""Everything a member shares is one list of consents: given, ended and given again without losing the record,
ended at once from the sharing page, for her eyes only, and carried over from the columns that held it before.
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from html import unescape
from io import BytesIO

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from supportnet import clock, consent, visibility
from supportnet.checkins import sharing as checkins_sharing
from supportnet.checkins.sharing import GroupSharing
from supportnet.consent import Recipient
from supportnet.extensions import db
from supportnet.models import (
    CheckinSharing,
    Consent,
    EndReason,
    Group,
    Membership,
    Program,
    ProgramCoordinator,
    Referral,
    Scope,
)
from tests.conftest import PINNED_NOW, Persona, make_app, make_persona, post
from tests.pages import browser, flashes, html
from tests.pages import text as page_text_escaped
from tests.worlds.checkins import add_member, record, share, start_group


@pytest.fixture
def circle(app, facilitator) -> str:
    return start_group(app, facilitator, name="Thursday Circle")


@pytest.fixture
def mia(app, circle) -> Persona:
    persona = make_persona(app, "Mia M.")
    add_member(app, circle, persona)
    return persona


def page_text(response) -> str:
    return unescape(page_text_escaped(response))


def _group(slug: str) -> Group:
    return db.session.scalar(select(Group).where(Group.slug == slug))


def _membership(slug: str, persona: Persona) -> Membership:
    return visibility.membership_for(_group(slug), persona.user())


def _rows(persona: Persona) -> list[tuple[Scope, bool, EndReason | None]]:
    """The member's whole record, oldest first: scope, whether it stands, why it ended."""
    return [(c.scope, c.revoked_at is None, c.end_reason) for c in consent.history_for(persona.id)]


def _revoke_url(page_html: str, what: str) -> str:
    """The action of the revoke button labelled for `what` on the sharing page."""
    for action, label in re.findall(r'<form method="post" action="([^"]+/revoke)">.*?aria-label="([^"]+)"',
                                    page_html, re.S):
        if what in label:
            return action
    raise AssertionError(f"no revoke button for {what!r}")


# --- the ledger keeps the record --------------------------------------------------------------------------------


def test_choosing_again_keeps_the_history_and_reads_back_the_same_level(app, circle, mia):
    with app.app_context():
        membership, now = _membership(circle, mia), clock.now_utc()
        checkins_sharing.set_sharing(membership, CheckinSharing.NOTES, True, now)
        db.session.commit()
        assert checkins_sharing.sharing_of(membership, now) == GroupSharing(CheckinSharing.NOTES, True)
        # Saving the same choice again writes nothing new.
        checkins_sharing.set_sharing(membership, "notes", True, now + timedelta(hours=1))
        assert len(consent.history_for(mia.id)) == 3
        # Down to summaries: notes and the day count end, summaries keep their consent.
        checkins_sharing.set_sharing(membership, CheckinSharing.SUMMARIES, False, now + timedelta(hours=2))
        assert checkins_sharing.sharing_of(membership, now + timedelta(hours=2)) == GroupSharing(
            CheckinSharing.SUMMARIES, False)
        # Off, then on again: a new row, the old one stays ended by the member.
        checkins_sharing.set_sharing(membership, CheckinSharing.NONE, False, now + timedelta(hours=3))
        checkins_sharing.set_sharing(membership, CheckinSharing.SUMMARIES, False, now + timedelta(hours=4))
        db.session.commit()
        assert sorted(_rows(mia), key=str) == sorted([
            (Scope.CHECKIN_SUMMARIES, False, EndReason.MEMBER), (Scope.CHECKIN_NOTES, False, EndReason.MEMBER),
            (Scope.RECOVERY_DATE, False, EndReason.MEMBER), (Scope.CHECKIN_SUMMARIES, True, None),
        ], key=str)
        standing = consent.standing_for(mia.id, now + timedelta(hours=4))
        assert [(c.scope, c.purpose) for c in standing] == [
            (Scope.CHECKIN_SUMMARIES, checkins_sharing.PURPOSES[Scope.CHECKIN_SUMMARIES])]


def test_an_expired_consent_stops_counting_and_a_new_grant_replaces_it(app, circle, mia):
    with app.app_context():
        now, group_id = clock.now_utc(), _group(circle).id
        greeters = Recipient.group_greeters(group_id)
        consent.grant(mia.id, greeters, Scope.NEWCOMER_NAME, "Greeters know your first name.", now,
                      expires_at=now + timedelta(days=7))
        db.session.commit()
        assert consent.allows(mia.id, greeters, Scope.NEWCOMER_NAME, now + timedelta(days=6))
        later = now + timedelta(days=8)
        assert not consent.allows(mia.id, greeters, Scope.NEWCOMER_NAME, later)
        assert checkins_sharing.everything_shared(mia.user(), later) == []
        consent.grant(mia.id, greeters, Scope.NEWCOMER_NAME, "Greeters know your first name.", later)
        db.session.commit()
        assert _rows(mia) == [(Scope.NEWCOMER_NAME, False, EndReason.REPLACED), (Scope.NEWCOMER_NAME, True, None)]
        assert consent.allows(mia.id, greeters, Scope.NEWCOMER_NAME, later)


# --- the sharing page -------------------------------------------------------------------------------------------


def test_the_per_group_form_shows_what_the_ledger_holds(app, facilitator, circle, mia):
    client = browser(app, mia)
    with app.app_context():
        mid = _membership(circle, mia).id
    response = post(client, "/me/sharing", {"membership": str(mid), f"m{mid}-level": "notes", f"m{mid}-recovery": "y"})
    assert response.status_code == 302
    page = client.get("/me/sharing")
    body = html(page)
    # The form members know: the three levels with their labels, the day count, and who reads it.
    for label in checkins_sharing.SHARING_LABELS.values():
        assert label in page_text(page)
    assert re.search(rf'<input checked[^>]*name="m{mid}-level"[^>]*value="notes"', body)
    assert re.search(rf'<input checked[^>]*name="m{mid}-recovery"', body)
    assert "Fay F. (its facilitators)" in page_text(page)
    assert "Thursday Circle: summaries and shared notes" in page_text(client.get("/me/checkins"))


def test_everything_shared_is_listed_with_who_sees_it_and_each_can_be_ended_at_once(app, facilitator, circle, mia):
    cora, greta = make_persona(app, "Cora C."), make_persona(app, "Greta G.")
    add_member(app, circle, greta)
    share(app, circle, mia, CheckinSharing.NOTES)
    record(app, mia, mood=2, craving=7, note="SHARED-NOTE-5150", share_note=True, wants_support=True)
    with app.app_context():
        now, group = clock.now_utc(), _group(circle)
        _membership(circle, greta).greets_newcomers = True
        program = Program(name="Harbour Clinic")
        db.session.add(program)
        db.session.flush()
        db.session.add(ProgramCoordinator(program_id=program.id, user_id=cora.id))
        referral = Referral(program_id=program.id, token_hash="f" * 64, created_at=now,
                            expires_at=now + timedelta(days=30), accepted_at=now, accepted_by_id=mia.id)
        db.session.add(referral)
        db.session.flush()
        consent.grant(mia.id, Recipient.program_coordinators(program.id, referral.id), Scope.REFERRAL_PROGRESS,
                      "So that the clinic can follow up with you.", now)
        consent.grant(mia.id, Recipient.group_greeters(group.id), Scope.NEWCOMER_NAME,
                      "So that someone greets you by name.", now, expires_at=now + timedelta(days=14))
        db.session.commit()
        program_id, referral_id = program.id, referral.id
    client, fay = browser(app, mia), browser(app, facilitator)
    page = page_text(client.get("/me/sharing"))
    everything = page.split("Everything you share", 1)[1]
    assert "Thursday Circle's facilitators can see your check-in summaries" in everything
    assert "Thursday Circle's facilitators can see the notes of the check-ins" in everything
    assert ("Harbour Clinic can see whether you joined, answered and attended a first meeting of the groups it "
            "suggested") in everything
    assert "Thursday Circle's greeters may know your first name" in everything
    assert "Fay F. (Thursday Circle's facilitators)" in everything
    assert "Cora C. (Harbour Clinic's coordinators)" in everything
    assert "Greta G. (Thursday Circle's greeters)" in everything
    assert "So that the clinic can follow up with you." in everything
    assert f"Since {PINNED_NOW:%-d %b %Y}" in everything and "until 10 Dec 2026" in everything
    assert "until you end it" in everything

    # Ending the check-in summaries hides her from the facilitators on their very next request, notes too.
    assert "SHARED-NOTE-5150" in page_text(fay.get(f"/groups/{circle}/support"))
    body = html(client.get("/me/sharing"))
    response = post(client, _revoke_url(body, "check-in summaries"))
    assert response.status_code == 302 and response.location.endswith("/me/sharing")
    support = page_text(fay.get(f"/groups/{circle}/support"))
    assert "Mia M." not in support and "SHARED-NOTE" not in support
    with app.app_context():
        assert checkins_sharing.sharing_of(_membership(circle, mia), clock.now_utc()) == GroupSharing()

    # The program's consent ends the same way; the greeters' one is left as she chose.
    response = post(client, _revoke_url(html(client.get("/me/sharing")), "Harbour Clinic"))
    assert response.status_code == 302
    page = client.get("/me/sharing")
    everything = page_text(page).split("Everything you share", 1)[1]
    assert "Harbour Clinic" not in everything and "greeters may know your first name" in everything
    with app.app_context():
        assert not consent.allows(mia.id, Recipient.program_coordinators(program_id, referral_id),
                                  Scope.REFERRAL_PROGRESS, clock.now_utc())
        ended = {c.scope: c.end_reason for c in consent.history_for(mia.id) if c.revoked_at is not None}
        assert ended == {Scope.CHECKIN_SUMMARIES: EndReason.MEMBER, Scope.CHECKIN_NOTES: EndReason.MEMBER,
                         Scope.REFERRAL_PROGRESS: EndReason.MEMBER}


def test_the_data_page_points_to_everything_shared(app, mia):
    page = browser(app, mia).get("/account/data")
    assert 'href="/me/sharing#everything"' in html(page)
    assert "Everything you let others see" in page_text(page)


def test_the_export_holds_every_consent_ever_given(app, circle, mia):
    share(app, circle, mia, CheckinSharing.SUMMARIES, recovery=True)
    share(app, circle, mia, CheckinSharing.NONE, recovery=True)
    response = post(browser(app, mia), "/account/data/export")
    assert response.status_code == 200, response.status_code
    archive = zipfile.ZipFile(BytesIO(response.get_data()))
    consents = json.loads(archive.read("data.json"))["consents"]
    assert [(c["recipient"], c["scope"], c["revoked_at"] is not None, c["end_reason"]) for c in consents] == [
        ("Thursday Circle's facilitators", "checkin_summaries", True, "member"),
        ("Thursday Circle's facilitators", "recovery_date", False, None),
    ]
    assert all(c["purpose"] and c["granted_at"] for c in consents)
    assert "Thursday Circle's facilitators" in archive.read("consents.csv").decode()
    data = json.loads(archive.read("data.json"))
    assert [(m["checkin_sharing"], m["shares_recovery_date"]) for m in data["memberships"]] == [("none", True)]


# --- the revoke route, attacked ---------------------------------------------------------------------------------


def test_nobody_else_can_end_a_members_consent_and_a_second_click_is_harmless(app, facilitator, circle, mia):
    share(app, circle, mia, CheckinSharing.SUMMARIES)
    with app.app_context():
        (mine,) = consent.standing_for(mia.id, clock.now_utc())
        consent_id = mine.id
    url = f"/me/sharing/consents/{consent_id}/revoke"
    # Another member, and the very facilitator it is given to, guess the id: it does not exist for them.
    bea = make_persona(app, "Bea B.")
    add_member(app, circle, bea)
    assert post(browser(app, bea), url).status_code == 404
    assert post(browser(app, facilitator), url).status_code == 404
    assert post(browser(app, bea), "/me/sharing/consents/999999/revoke").status_code == 404
    # Without the page's CSRF token, not even her own browser ends it.
    assert browser(app, mia).post(url).status_code == 400
    with app.app_context():
        assert consent.allows(mia.id, Recipient.group_facilitators(_group(circle).id), Scope.CHECKIN_SUMMARIES,
                              clock.now_utc())
    # Hers: it ends; the second click (a stale page, a double tap) says so and changes nothing.
    client = browser(app, mia)
    assert post(client, url).status_code == 302
    with app.app_context():
        first = db.session.get(Consent, consent_id).revoked_at
        assert first is not None
    again = post(client, url)
    assert again.status_code == 303
    assert "already ended" in flashes(client.get(again.location))
    with app.app_context():
        assert db.session.get(Consent, consent_id).revoked_at == first
        assert len(consent.history_for(mia.id)) == 1


# --- the migration carries today's sharing over -----------------------------------------------------------------

T0 = "2026-11-01 12:00:00"


def _insert_0010_rows(conn) -> None:
    # Four members of one group and one of another: notes and the day count, summaries, nothing, a day count
    # alone, and notes held on a membership that has ended (nobody could read it).
    for uid in range(1, 6):
        conn.execute(text(
            'INSERT INTO "user" (id, email, password_hash, display_name, timezone, role, created_at, '
            "password_changed_at, link_nonce) VALUES (:id, :email, 'x', :name, 'UTC', 'member', :t, :t, :nonce)"),
            {"id": uid, "email": f"u{uid}@example.org", "name": f"User {uid}", "t": T0, "nonce": f"{uid:032d}"})
    for gid, slug in ((1, "walkers"), (2, "readers")):
        conn.execute(text(
            'INSERT INTO "group" (id, slug, name, description, kind, visibility, join_policy, timezone, venue, '
            "address, contact_note, created_at, updated_at) VALUES (:id, :slug, :slug, '', 'meetup', 'public', "
            "'open', 'UTC', '', '', '', :t, :t)"), {"id": gid, "slug": slug, "t": T0})
    rows = [(1, 1, 1, "active", "notes", True), (2, 1, 2, "active", "summaries", False),
            (3, 1, 3, "active", "none", False), (4, 2, 4, "active", "none", True), (5, 2, 5, "left", "notes", True)]
    for mid, gid, uid, status, level, recovery in rows:
        conn.execute(text(
            "INSERT INTO membership (id, group_id, user_id, role, status, created_at, joined_at, checkin_sharing, "
            "shares_recovery_date) VALUES (:id, :gid, :uid, 'member', :status, :t, :t, :level, :recovery)"),
            {"id": mid, "gid": gid, "uid": uid, "status": status, "t": T0, "level": level, "recovery": recovery})


def test_the_migration_turns_todays_sharing_into_consents_and_back(tmp_path, smtp_server, empty_database_url):
    app = make_app(tmp_path / "old.db", smtp_server[0].port, SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade(revision="0010_programs_and_consent")
        with db.engine.begin() as conn:
            _insert_0010_rows(conn)
        before = datetime.now(UTC)
        upgrade(revision="0011_sharing_on_consent")
        after = datetime.now(UTC)
        # The columns of that revision only (later migrations add columns the model already names).
        rows = db.session.execute(
            select(Consent.subject_id, Consent.recipient_key, Consent.scope, Consent.purpose, Consent.granted_at,
                   Consent.group_id, Consent.revoked_at, Consent.expires_at).order_by(Consent.id)
        ).all()
        assert sorted((c.subject_id, c.recipient_key, c.scope) for c in rows) == sorted([
            (1, "group_facilitators:1", Scope.CHECKIN_SUMMARIES), (1, "group_facilitators:1", Scope.CHECKIN_NOTES),
            (1, "group_facilitators:1", Scope.RECOVERY_DATE), (2, "group_facilitators:1", Scope.CHECKIN_SUMMARIES),
            (4, "group_facilitators:2", Scope.RECOVERY_DATE),
        ])
        for c in rows:
            assert c.purpose == checkins_sharing.PURPOSES[c.scope]
            assert before - timedelta(seconds=1) <= c.granted_at <= after + timedelta(seconds=1)
            assert c.group_id in (1, 2) and c.revoked_at is None and c.expires_at is None
        # Read back through the app, the same levels as before.
        now = datetime.now(UTC)
        shared = {m.user_id: checkins_sharing.sharing_of(m, now)
                  for m in db.session.scalars(select(Membership).order_by(Membership.id))}
        assert shared == {1: GroupSharing(CheckinSharing.NOTES, True), 2: GroupSharing(CheckinSharing.SUMMARIES),
                          3: GroupSharing(), 4: GroupSharing(CheckinSharing.NONE, True), 5: GroupSharing()}
        db.session.remove()
        with db.engine.connect() as conn:
            columns = {c["name"] for c in db.inspect(conn).get_columns("membership")}
            assert "checkin_sharing" not in columns and "shares_recovery_date" not in columns
            if conn.dialect.name == "sqlite":
                schema = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'membership'")).scalar()
                assert "AUTOINCREMENT" in schema
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        # A member who turns summaries off after the upgrade: the downgrade writes what stands back.
        db.session.execute(text("UPDATE consent SET revoked_at = :t, end_reason = 'member' "
                                "WHERE subject_id = 2"), {"t": datetime(2026, 12, 1, tzinfo=UTC)
                                                          .replace(tzinfo=None)})
        db.session.commit()
        db.session.remove()
        downgrade(revision="0010_programs_and_consent")
        with db.engine.connect() as conn:
            back = conn.execute(text("SELECT user_id, checkin_sharing, shares_recovery_date FROM membership "
                                     "ORDER BY id")).all()
            assert [(u, level, bool(r)) for u, level, r in back] == [
                (1, "notes", True), (2, "none", False), (3, "none", False), (4, "none", True), (5, "none", False)]
            assert conn.execute(text("SELECT count(*) FROM consent")).scalar() == 0
        upgrade(revision="0011_sharing_on_consent")
        assert db.session.scalar(select(db.func.count(Consent.id))) == 4
        db.session.remove()
        db.engine.dispose()
