"""What a program's coordinators see of a referral: its state always, and the person's progress (opened, joined,
first RSVP, first meeting attended) only while the person consents; derived from the rows at each read, in a
fixed number of queries, and every read of consented progress on a referral's page leaves an audit entry.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from supportnet import followup, rsvps
from supportnet.extensions import db
from supportnet.models import AuditAction, AuditEntry, Occurrence, Referral
from tests.builders import counting_queries
from tests.conftest import PINNED_NOW, make_persona
from tests.pages import browser, text
from tests.worlds.followup import (
    accept,
    attended,
    make_program,
    make_referral,
    meeting_on,
    revoke,
    rsvp,
)
from tests.worlds.notifications import FIRST, make_world

NOW = PINNED_NOW  # Thursday 26 November 2026, 12:00 UTC; the group meets on Tuesdays from 1 December


def _status(app, referral_id, at):
    with app.app_context():
        return followup.statuses([db.session.get(Referral, referral_id)], at)[referral_id]


def _setup(app, facilitator, shares: bool):
    coordinator = make_persona(app, "Cora C.")
    person = make_persona(app, "Sam S.")
    world = make_world(app, facilitator)
    program = make_program(app, "Harbour Aftercare Team", coordinator)
    referral_id = make_referral(app, program.program_id, world.group_id, created_at=NOW - timedelta(days=1),
                                first_name="Sam", by=coordinator)
    accept(app, referral_id, person, NOW, shares=shares)
    first = meeting_on(app, world.series_id, FIRST)
    rsvp(app, person, first, NOW + timedelta(hours=2))
    attended(app, person, first, facilitator)
    return coordinator, person, referral_id


def test_with_consent_the_coordinator_sees_each_step_and_when(app, facilitator):
    _coordinator, _person, referral_id = _setup(app, facilitator, shares=True)
    status = _status(app, referral_id, FIRST + timedelta(days=1))
    assert status.state == "accepted" and status.follows_progress
    assert status.opened_at == NOW - timedelta(minutes=5)
    assert status.accepted_at == NOW
    assert status.joined_at == NOW
    assert status.first_rsvp_at == NOW + timedelta(hours=2)
    assert status.first_attended_at == FIRST  # the start of the meeting they came to


def test_without_consent_the_coordinator_sees_accepted_and_nothing_else(app, facilitator):
    _coordinator, _person, referral_id = _setup(app, facilitator, shares=False)
    status = _status(app, referral_id, FIRST + timedelta(days=1))
    assert status == followup.ReferralStatus(referral_id, "accepted", False)  # not even when it was opened


def test_revoking_takes_effect_on_the_next_read(app, facilitator):
    _coordinator, person, referral_id = _setup(app, facilitator, shares=True)
    later = FIRST + timedelta(days=1)
    assert _status(app, referral_id, later).first_attended_at == FIRST
    revoke(app, referral_id, person, later)
    assert _status(app, referral_id, later + timedelta(seconds=1)) == followup.ReferralStatus(
        referral_id, "accepted", False)


def test_progress_is_derived_at_read_time_so_a_cancelled_rsvp_no_longer_counts(app, facilitator):
    person = make_persona(app, "Sam S.")
    world = make_world(app, facilitator)
    program = make_program(app, "Harbour Aftercare Team")
    referral_id = make_referral(app, program.program_id, world.group_id, created_at=NOW - timedelta(days=1))
    accept(app, referral_id, person, NOW, shares=True)
    first = meeting_on(app, world.series_id, FIRST)
    rsvp(app, person, first, NOW + timedelta(hours=1))
    assert _status(app, referral_id, NOW + timedelta(hours=2)).first_rsvp_at == NOW + timedelta(hours=1)
    with app.app_context():  # the person says "can't go" through the app's own verb
        rsvps.cancel(db.session.get(Occurrence, first), person.user(), NOW + timedelta(hours=3))
        db.session.commit()
    assert _status(app, referral_id, NOW + timedelta(hours=4)).first_rsvp_at is None


def test_an_rsvp_or_a_meeting_in_another_group_is_not_progress(app, facilitator, other_facilitator):
    person = make_persona(app, "Sam S.")
    suggested = make_world(app, facilitator)
    elsewhere = make_world(app, other_facilitator, title="Other meeting")
    program = make_program(app, "Harbour Aftercare Team")
    referral_id = make_referral(app, program.program_id, suggested.group_id, created_at=NOW - timedelta(days=1))
    accept(app, referral_id, person, NOW, shares=True)
    other_first = meeting_on(app, elsewhere.series_id, FIRST)
    rsvp(app, person, other_first, NOW + timedelta(hours=1))
    attended(app, person, other_first, other_facilitator)
    status = _status(app, referral_id, FIRST + timedelta(days=1))
    assert status.follows_progress and status.joined_at == NOW
    assert status.first_rsvp_at is None and status.first_attended_at is None


def test_states_of_referrals_not_accepted(app, facilitator):
    world = make_world(app, facilitator)
    program = make_program(app, "Harbour Aftercare Team")
    open_id = make_referral(app, program.program_id, world.group_id, created_at=NOW - timedelta(days=1))
    expired_id = make_referral(app, program.program_id, world.group_id, created_at=NOW - timedelta(days=40))
    withdrawn_id = make_referral(app, program.program_id, world.group_id, created_at=NOW - timedelta(days=2))
    with app.app_context():
        db.session.get(Referral, withdrawn_id).withdrawn_at = NOW - timedelta(days=1)
        db.session.commit()
        found = followup.statuses(db.session.scalars(select(Referral)).all(), NOW)
    assert {rid: s.state for rid, s in found.items()} == {
        open_id: "open", expired_id: "expired", withdrawn_id: "withdrawn"}
    assert not any(s.follows_progress or s.opened_at for s in found.values())


def test_statuses_take_the_same_number_of_queries_for_2_or_6_referrals(app, facilitator):
    world = make_world(app, facilitator)
    program = make_program(app, "Harbour Aftercare Team")
    people = [make_persona(app, f"Person {n}") for n in range(6)]
    first = meeting_on(app, world.series_id, FIRST)
    ids = []
    for n, person in enumerate(people):
        rid = make_referral(app, program.program_id, world.group_id, created_at=NOW - timedelta(days=1))
        accept(app, rid, person, NOW, shares=n % 3 != 2)
        rsvp(app, person, first, NOW + timedelta(hours=1))
        ids.append(rid)

    def queries(referral_ids) -> int:
        with app.app_context():
            referrals = db.session.scalars(select(Referral).where(Referral.id.in_(referral_ids))).all()
            with counting_queries(app) as statements:
                found = followup.statuses(referrals, FIRST)
            assert len(found) == len(referral_ids)
            assert sum(s.first_rsvp_at is not None for s in found.values()) == sum(
                s.follows_progress for s in found.values())
            return len(statements)

    assert queries(ids[:2]) == queries(ids) == 2


def test_reading_consented_progress_writes_an_audit_entry_and_reading_none_does_not(app, facilitator):
    coordinator, person, referral_id = _setup(app, facilitator, shares=True)
    with app.app_context():
        assert followup.record_view(db.session.get(Referral, referral_id), coordinator.user(), NOW)
        db.session.commit()
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.REFERRAL_VIEWED)).all()
        assert [(e.actor_id, e.subject_id, e.details) for e in entries] == [
            (coordinator.id, person.id, {"referral_id": referral_id})]
    revoke(app, referral_id, person, NOW + timedelta(minutes=1))
    with app.app_context():
        assert not followup.record_view(db.session.get(Referral, referral_id), coordinator.user(),
                                        NOW + timedelta(minutes=2))
        db.session.commit()
        assert db.session.scalar(select(AuditEntry.id).where(
            AuditEntry.action == AuditAction.REFERRAL_VIEWED, AuditEntry.at > NOW)) is None


def test_every_page_that_shows_a_persons_progress_records_the_read(app, facilitator):
    # The program's list shows each referral's state only; the facts are on the referral's page, which records
    # each read for the person to see in their export.
    coordinator, _person, referral_id = _setup(app, facilitator, shares=True)
    with app.app_context():
        program_id = db.session.get(Referral, referral_id).program_id

    def reads() -> int:
        with app.app_context():
            return len(db.session.scalars(select(AuditEntry).where(
                AuditEntry.action == AuditAction.REFERRAL_VIEWED)).all())

    client = browser(app, coordinator)
    listing = text(client.get(f"/programs/{program_id}"))
    assert "Accepted (shares progress)" in listing
    assert "First meeting attended" not in listing and "Opened" not in listing
    assert reads() == 0
    page = text(client.get(f"/programs/{program_id}/referrals/{referral_id}"))
    assert "First meeting attended" in page
    assert reads() == 1
