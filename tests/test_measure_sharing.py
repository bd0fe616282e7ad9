"""A member shares their measures with a group's facilitators or a program's coordinators by consent: scores
only unless they add their answers, revocable at once, ended with their place, every read of one member recorded
for them, and monthly summaries only from sharing members and only when at least 5 of them answered that month.
Each attack is the attacker's own HTTP steps."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from html import unescape

import pytest
from sqlalchemy import select

from supportnet import clock, consent, programs
from supportnet.checkins import shared_measures
from supportnet.checkins.shared_measures import Place
from supportnet.extensions import db
from supportnet.measures import instruments
from supportnet.models import (
    AuditAction,
    AuditEntry,
    EndReason,
    Group,
    Program,
    Scope,
)
from tests.conftest import Persona, post
from tests.pages import browser, html
from tests.pages import text as escaped_text
from tests.worlds.checkins import add_member, start_group
from tests.worlds.measures_sharing import MeasuresWorld, build, share, take

NOVEMBER = date(2026, 11, 3)  # the pinned clock's month (26 November 2026)
OCTOBER = date(2026, 10, 14)
ITEM_ONE = "Little interest or pleasure in doing things"  # PHQ-9 item 1, shown only with answers


@pytest.fixture
def world(app, facilitator) -> MeasuresWorld:
    return build(app, facilitator)


@pytest.fixture
def mia(app, world) -> Persona:
    persona = world.member("Mia M.")
    take(app, persona, "PHQ-9", 1, NOVEMBER)  # total 9: mild
    return persona


def text(response) -> str:
    return unescape(escaped_text(response))


def choose(client, key: str, level: str):
    """The member's own step on /me/sharing: pick a level for one recipient and save."""
    prefix = f"ms-{key.replace(':', '-')}"
    return post(client, "/me/sharing/measures", {"recipient": key, f"{prefix}-recipient": key,
                                                 f"{prefix}-level": level})


def _standing(app, persona: Persona) -> set[tuple[str, Scope]]:
    with app.app_context():
        return {(c.recipient_key, c.scope) for c in consent.standing_for(persona.id, clock.now_utc())}


# --- choosing on the sharing page ---------------------------------------------------------------------------------


def test_the_sharing_page_offers_the_group_and_its_program_and_names_who_reads(app, world, mia):
    client = browser(app, mia)
    page = text(client.get("/me/sharing"))
    assert "Thursday Circle's facilitators" in page and "Harbour Aftercare's coordinators" in page
    assert "Fay F." in page and "Cora T." in page  # who would see it today
    assert choose(client, world.program_key, "scores").status_code == 302
    everything = text(client.get("/me/sharing")).split("Everything you share", 1)[1]
    assert "Harbour Aftercare's coordinators can see your scores on the standard measures" in everything
    assert "Not your answers." in everything  # the purpose she agreed to, kept with the consent
    assert "Cora T. (Harbour Aftercare's coordinators)" in everything
    assert _standing(app, mia) == {(world.program_key, Scope.MEASURE_SCORES)}


def test_a_member_cannot_share_with_a_group_or_program_she_is_not_in(app, world, mia, other_facilitator):
    elsewhere = build(app, other_facilitator, name="Monday Group", program="Other Program")
    client = browser(app, mia)
    for key in (elsewhere.group_key, elsewhere.program_key, "program_coordinators:999999", "nonsense"):
        response = choose(client, key, "answers")
        assert response.status_code == 400, key
    assert "You can only share with your groups" in text(choose(client, elsewhere.group_key, "scores"))
    assert _standing(app, mia) == set()


# --- what the facilitator sees --------------------------------------------------------------------------------------


def test_scores_are_shown_without_answers_until_the_member_adds_them(app, world, mia, facilitator):
    member = browser(app, mia)
    fay = browser(app, facilitator)
    assert "Mia M." not in text(fay.get(f"/groups/{world.slug}/measures"))  # nothing shared yet
    assert fay.get(f"/groups/{world.slug}/measures/{mia.id}").status_code == 404

    assert choose(member, world.group_key, "scores").status_code == 302
    overview = text(fay.get(f"/groups/{world.slug}/measures"))
    assert "Mia M." in overview and "PHQ-9 on 3 Nov 2026: total 9 (mild)" in overview
    detail = fay.get(f"/groups/{world.slug}/measures/{mia.id}")
    assert detail.status_code == 200
    assert "total: 9" in text(detail) and ITEM_ONE not in html(detail)

    assert choose(member, world.group_key, "answers").status_code == 302
    detail = text(fay.get(f"/groups/{world.slug}/measures/{mia.id}"))
    assert ITEM_ONE in detail and "Several days" in detail  # each answer in the words of the version taken


def test_revoking_scores_ends_answers_too_and_the_next_read_is_404(app, world, mia, facilitator):
    member = browser(app, mia)
    choose(member, world.group_key, "answers")
    fay = browser(app, facilitator)
    url = f"/groups/{world.slug}/measures/{mia.id}"
    assert fay.get(url).status_code == 200
    with app.app_context():
        scores = next(c for c in consent.standing_for(mia.id, clock.now_utc()) if c.scope == Scope.MEASURE_SCORES)
    assert post(member, f"/me/sharing/consents/{scores.id}/revoke").status_code == 302
    assert _standing(app, mia) == set()  # answers are never read without scores
    # The facilitator replays the page she had open.
    assert fay.get(url).status_code == 404
    assert "Mia M." not in text(fay.get(f"/groups/{world.slug}/measures"))


def test_leaving_the_group_ends_what_its_facilitators_and_program_see(app, world, mia, facilitator):
    member = browser(app, mia)
    choose(member, world.group_key, "answers")
    choose(member, world.program_key, "scores")
    assert post(member, f"/groups/{world.slug}/leave").status_code == 302
    assert _standing(app, mia) == set()
    with app.app_context():
        reasons = {c.end_reason for c in consent.history_for(mia.id)}
    assert reasons == {EndReason.MEMBERSHIP_ENDED}
    assert browser(app, facilitator).get(f"/groups/{world.slug}/measures/{mia.id}").status_code == 404
    cora = browser(app, world.coordinator)
    assert cora.get(f"/programs/{world.program_id}/measures/{mia.id}").status_code == 404


# --- what the program's coordinators see -----------------------------------------------------------------------------


def test_a_program_share_lasts_while_the_member_is_in_one_of_its_groups(app, world, mia, other_facilitator):
    second = start_second_group(app, world, other_facilitator)
    add_member(app, second, mia)
    member = browser(app, mia)
    choose(member, world.program_key, "scores")
    cora = browser(app, world.coordinator)
    url = f"/programs/{world.program_id}/measures/{mia.id}"
    assert "total: 9" in text(cora.get(url))
    assert "Mia M." in text(cora.get(f"/programs/{world.program_id}/measures"))

    assert post(member, f"/groups/{world.slug}/leave").status_code == 302
    assert cora.get(url).status_code == 200  # still in the program's other group
    assert post(member, f"/groups/{second}/leave").status_code == 302
    assert _standing(app, mia) == set()
    assert cora.get(url).status_code == 404


def start_second_group(app, world: MeasuresWorld, facilitator: Persona) -> str:
    slug = start_group(app, facilitator, name="Second Circle")
    with app.app_context():
        db.session.scalar(select(Group).where(Group.slug == slug)).program_id = world.program_id
        db.session.commit()
    return slug


def test_a_program_share_ends_when_the_group_moves_to_another_program(app, world, mia, admin):
    choose(browser(app, mia), world.program_key, "scores")
    cora = browser(app, world.coordinator)
    url = f"/programs/{world.program_id}/measures/{mia.id}"
    assert cora.get(url).status_code == 200
    with app.app_context():
        other = Program(name="Other Program", created_at=clock.now_utc())
        db.session.add(other)
        db.session.flush()
        programs.set_group_program(db.session.get(Group, world.group_id), other, by=admin.user(),
                                   now=clock.now_utc())
        db.session.commit()
    assert _standing(app, mia) == set()
    assert cora.get(url).status_code == 404


def test_the_coordinator_sees_only_members_active_in_the_programs_groups_now(app, world, mia):
    # An older row left standing (a consent the ledger did not end) is not enough: the place is checked too.
    choose(browser(app, mia), world.program_key, "scores")
    with app.app_context():
        db.session.get(Group, world.group_id).archived_at = clock.now_utc()  # archived without the transition
        db.session.commit()
    cora = browser(app, world.coordinator)
    assert cora.get(f"/programs/{world.program_id}/measures/{mia.id}").status_code == 404
    assert "Mia M." not in text(cora.get(f"/programs/{world.program_id}/measures"))


# --- attacks ------------------------------------------------------------------------------------------------------


def test_another_groups_facilitator_a_site_admin_and_members_get_404(app, world, mia, other_facilitator, admin):
    choose(browser(app, mia), world.group_key, "answers")
    peer = world.member("Pat P.")
    for persona in (other_facilitator, admin, peer, mia):
        client = browser(app, persona)
        assert client.get(f"/groups/{world.slug}/measures").status_code == 404, persona.display_name
        for user_id in (mia.id, peer.id, mia.id + 1000):  # guessing ids
            assert client.get(f"/groups/{world.slug}/measures/{user_id}").status_code == 404


def test_a_coordinator_of_another_program_gets_404(app, world, mia, other_facilitator):
    choose(browser(app, mia), world.program_key, "answers")
    elsewhere = build(app, other_facilitator, name="Monday Group", program="Other Program")
    intruder = browser(app, elsewhere.coordinator)
    assert intruder.get(f"/programs/{world.program_id}/measures").status_code == 404
    assert intruder.get(f"/programs/{world.program_id}/measures/{mia.id}").status_code == 404
    # Her own program's page does not list members of another program either.
    assert intruder.get(f"/programs/{elsewhere.program_id}/measures/{mia.id}").status_code == 404


def test_the_facilitator_guessing_a_non_sharing_members_id_gets_404(app, world, mia, facilitator):
    choose(browser(app, mia), world.group_key, "scores")
    peer = world.member("Pat P.")
    take(app, peer, "PHQ-9", 3, NOVEMBER)
    fay = browser(app, facilitator)
    assert fay.get(f"/groups/{world.slug}/measures/{peer.id}").status_code == 404
    assert fay.get(f"/groups/{world.slug}/measures/{facilitator.id}").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(AuditEntry.id).where(
            AuditEntry.action == AuditAction.MEASURES_VIEWED, AuditEntry.subject_id == peer.id)) is None


# --- the read is recorded for the member ------------------------------------------------------------------------------


def test_each_read_of_a_members_measures_appears_in_her_export(app, world, mia, facilitator):
    member = browser(app, mia)
    choose(member, world.group_key, "scores")
    quiet = world.member("Quinn Q.")  # shares nothing: the overview shows nothing of her, and records nothing
    take(app, quiet, "PHQ-9", 2, NOVEMBER)
    fay = browser(app, facilitator)
    overview = text(fay.get(f"/groups/{world.slug}/measures"))  # shows her latest scores: a read of her too
    assert "total 9" in overview
    assert fay.get(f"/groups/{world.slug}/measures/{mia.id}").status_code == 200
    response = post(member, "/account/data/export")
    assert response.status_code == 200
    data = json.loads(zipfile.ZipFile(io.BytesIO(response.get_data())).read("data.json"))
    viewed = [e for e in data["audit_log"] if e["action"] == "measures_viewed"]
    assert len(viewed) == 2
    assert {e["you_were"] for e in viewed} == {"the member concerned"}
    assert {e["group"] for e in viewed} == {"Thursday Circle"}
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.MEASURES_VIEWED))
        assert {(e.actor_id, e.subject_id, e.group_id) for e in entries} == {(facilitator.id, mia.id, world.group_id)}
        for entry in db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.MEASURES_VIEWED)):
            assert entry.details == {}  # ids only, never a score


# --- monthly summaries, k >= 5 --------------------------------------------------------------------------------------


def _members(app, world: MeasuresWorld, count: int, *, shares: int, values=None) -> list[Persona]:
    people = []
    for n in range(count):
        persona = world.member(f"Member {n}")
        take(app, persona, "PHQ-9", (values or [1] * count)[n], NOVEMBER)
        if n < shares:
            share(app, persona, world.group_key, "scores")
        people.append(persona)
    return people


def _summaries(app, world: MeasuresWorld):
    with app.app_context():
        place = Place.of_group(db.session.get(Group, world.group_id))
        return shared_measures.summaries(place, date(2026, 11, 26), clock.now_utc())


def test_four_sharing_members_give_no_summary_at_all(app, world, facilitator):
    _members(app, world, 4, shares=4)
    assert _summaries(app, world) == []
    page = text(browser(app, facilitator).get(f"/groups/{world.slug}/measures"))
    assert "No month has enough sharing members" in page and "Median" not in page
    assert "at least 5 sharing members" in page  # the rule is stated


def test_five_sharing_members_give_the_median_and_distribution(app, world, facilitator):
    _members(app, world, 5, shares=5, values=[0, 1, 1, 2, 3])  # totals 0, 9, 9, 18, 27
    (summary,) = _summaries(app, world)
    assert (summary.month, summary.code, summary.subscale, summary.members) == (date(2026, 11, 1), "PHQ-9", "total", 5)
    assert summary.median == 9
    assert {b.label: b.count for b in summary.buckets} == {
        "minimal": 1, "mild": 2, "moderate": 0, "moderately severe": 1, "severe": 1}
    page = text(browser(app, facilitator).get(f"/groups/{world.slug}/measures"))
    assert "November 2026 PHQ-9 total 5 9" in page and "mild: 2" in page


def test_members_who_do_not_share_are_never_counted(app, world):
    _members(app, world, 5, shares=4)  # five answered, four share
    assert _summaries(app, world) == []


def test_a_member_is_counted_once_a_month_with_her_latest_answer(app, world):
    people = _members(app, world, 4, shares=4, values=[1, 1, 1, 1])
    take(app, people[0], "PHQ-9", 3, date(2026, 11, 20))  # her latest in November: 27
    assert _summaries(app, world) == []  # still four members, not five responses
    fifth = world.member("Member 5")
    take(app, fifth, "PHQ-9", 3, NOVEMBER)
    share(app, fifth, world.group_key, "scores")
    (summary,) = _summaries(app, world)
    assert summary.members == 5
    assert {b.label: b.count for b in summary.buckets}["severe"] == 2  # her latest and the fifth's


def test_months_are_counted_apart(app, world):
    people = _members(app, world, 5, shares=5)
    for persona in people[:4]:
        take(app, persona, "GAD-7", 1, OCTOBER)
    # October has only four GAD-7 answers: no October row; November's PHQ-9 stands.
    assert [(s.month, s.code) for s in _summaries(app, world)] == [(date(2026, 11, 1), "PHQ-9")]


def test_unbanded_bam_subscales_are_counted_in_three_equal_ranges():
    bam = instruments.current("BAM")
    assert [label for *_, label in shared_measures.ranges_of(bam, "use")] == ["0\u20134", "5\u20139", "10\u201312"]
    assert [label for *_, label in shared_measures.ranges_of(bam, "risk")] == ["0\u20138", "9\u201317", "18\u201324"]
    phq = instruments.current("PHQ-9")
    assert shared_measures.ranges_of(phq, "total")[0] == (0, 4, "minimal")


def test_the_support_page_links_to_shared_measures(app, world, facilitator):
    page = html(browser(app, facilitator).get(f"/groups/{world.slug}/support"))
    assert f"/groups/{world.slug}/measures" in page
