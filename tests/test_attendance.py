"""Attendance: facilitators mark who came, members check in with the code, proofs members can share and revoke."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from supportnet import attendance, clock, memberships, rsvps, scheduling, visibility
from supportnet.errors import DomainError, Forbidden
from supportnet.extensions import db
from supportnet.models import Attendance, AttendanceHow, AttendanceProof, Occurrence
from tests.worlds.rsvps import World, counting_selects, make_world

MINUTE = timedelta(minutes=1)


@pytest.fixture
def world(app, facilitator) -> Iterator[World]:
    """A public, open group meeting on Tuesdays at 19:00 London (first on 1 December 2026), in an app context."""
    with app.app_context():
        yield make_world(facilitator.user())


# --- a facilitator marks attendance ---


def test_a_facilitator_marks_who_came_and_can_take_it_back(world):
    mia = world.member("Mia M.")
    occ = world.occ()
    now = occ.starts_at + 10 * MINUTE

    row = attendance.mark_attended(occ, mia, world.facilitator, now)

    assert (row.how, row.marked_at, row.marked_by_id) == (AttendanceHow.FACILITATOR, now, world.facilitator.id)
    assert attendance.mark_attended(occ, mia, world.facilitator, now + MINUTE).id == row.id  # twice: same row
    assert rsvps.roster(occ).attended_user_ids == {mia.id}

    assert attendance.unmark_attended(occ, mia) is True
    assert attendance.unmark_attended(occ, mia) is False
    assert rsvps.roster(occ).attended_user_ids == set()


def test_marking_opens_15_minutes_before_the_start_and_stays_open_afterwards(world):
    mia, ben = world.member(), world.member()
    occ = world.occ()

    with pytest.raises(DomainError, match="15 minutes before"):
        attendance.mark_attended(occ, mia, world.facilitator, occ.starts_at - 16 * MINUTE)
    attendance.mark_attended(occ, mia, world.facilitator, occ.starts_at - 15 * MINUTE)
    attendance.mark_attended(occ, ben, world.facilitator, occ.ends_at + timedelta(days=2))

    assert {row.user_id for row in db.session.scalars(select(Attendance))} == {mia.id, ben.id}


def test_nobody_is_marked_at_a_cancelled_meeting(world):
    mia = world.member()
    occ = world.occ(1)
    scheduling.cancel_occurrence(occ, "Snow.", clock.now_utc())

    with pytest.raises(DomainError, match="cancelled"):
        attendance.mark_attended(occ, mia, world.facilitator, occ.starts_at)


def test_only_the_groups_facilitators_mark_attendance(world):
    mia, ben = world.member(), world.member()
    occ = world.occ()

    with pytest.raises(Forbidden, match="facilitators"):
        attendance.mark_attended(occ, ben, mia, occ.starts_at)


def test_only_members_or_people_who_rsvpd_can_be_marked(world):
    outsider = world.person()
    leaver = world.member()
    occ = world.occ()
    rsvps.rsvp(occ, leaver, clock.now_utc())
    # Leaving once the meeting has begun keeps the answer (past answers are history); leaving earlier gives the
    # seat up, and with it the tie to the meeting.
    memberships.leave(visibility.membership_for(world.group, leaver), occ.starts_at + timedelta(minutes=5))

    with pytest.raises(DomainError, match="Only members"):
        attendance.mark_attended(occ, outsider, world.facilitator, occ.starts_at)
    # Someone who said they'd come and then left the group during the meeting still came.
    assert attendance.mark_attended(occ, leaver, world.facilitator, occ.starts_at).user_id == leaver.id


# --- self check-in with the code shown in the meeting ---


def test_codes_are_six_characters_without_look_alikes_and_a_new_one_replaces_the_old(world):
    occ = world.occ()
    assert attendance.code_for(occ) is None

    first = attendance.new_code(occ, clock.now_utc())
    second = attendance.new_code(occ, clock.now_utc())

    for code in (first, second):
        assert re.fullmatch(r"[A-HJKMNP-Z2-9]{6}", code), code
    assert attendance.code_for(occ) == second
    codes = {attendance.new_code(occ, clock.now_utc()) for _ in range(20)}
    assert len(codes) > 15  # random, not a counter


def test_self_check_in_opens_15_minutes_before_the_start_and_closes_at_the_end(world):
    early, too_early, during, late = (world.member() for _ in range(4))
    occ = world.occ()
    code = attendance.new_code(occ, clock.now_utc())

    row = attendance.self_check_in(occ, early, code, occ.starts_at - 15 * MINUTE)
    assert (row.how, row.marked_by_id) == (AttendanceHow.SELF_CODE, None)
    with pytest.raises(DomainError, match="opens 15 minutes before"):
        attendance.self_check_in(occ, too_early, code, occ.starts_at - 16 * MINUTE)
    attendance.self_check_in(occ, during, code, occ.ends_at - MINUTE)
    with pytest.raises(DomainError, match="over"):
        attendance.self_check_in(occ, late, code, occ.ends_at)

    assert rsvps.roster(occ).attended_user_ids == {early.id, during.id}
    # Checking in again changes nothing.
    assert attendance.self_check_in(occ, early, code, occ.starts_at).id == row.id


def test_a_wrong_or_replaced_code_is_refused_and_typing_is_forgiving(world):
    mia, ben = world.member(), world.member()
    occ = world.occ()
    now = occ.starts_at + 5 * MINUTE
    with pytest.raises(DomainError, match="ask the facilitator") as err:
        attendance.self_check_in(occ, mia, "ABC234", now)
    assert err.value.field == "code"
    old = attendance.new_code(occ, now)
    code = attendance.new_code(occ, now)

    for wrong in ("", "ZZZZZZ", old, code + "2", "\u00c4" * 6):
        if wrong != code:
            with pytest.raises(DomainError, match="doesn't match"):
                attendance.self_check_in(occ, mia, wrong, now)
    typed = f" {code[:3].lower()}-{code[3:].lower()} "

    assert attendance.self_check_in(occ, mia, typed, now).user_id == mia.id
    assert db.session.scalar(select(Attendance.id).where(Attendance.user_id == ben.id)) is None


def test_outsiders_and_cancelled_meetings_have_no_check_in(world):
    outsider = world.person()
    occ, cancelled = world.occ(0), world.occ(1)
    code = attendance.new_code(occ, clock.now_utc())
    attendance.new_code(cancelled, clock.now_utc())
    scheduling.cancel_occurrence(cancelled, "Snow.", clock.now_utc())

    with pytest.raises(DomainError, match="Only members"):
        attendance.self_check_in(occ, outsider, code, occ.starts_at)
    with pytest.raises(DomainError, match="cancelled"):
        attendance.self_check_in(cancelled, world.member(), code, cancelled.starts_at)
    with pytest.raises(DomainError, match="cancelled"):
        attendance.new_code(cancelled, clock.now_utc())


# --- history and counts ---


def test_a_members_history_lists_the_meetings_they_attended_newest_first_in_one_query(world):
    mia = world.member()
    other = make_world(world.facilitator, name="Friday coffee")
    memberships.join(other.group, mia, clock.now_utc())
    for occ in (world.occ(0), world.occ(2), other.occ(1)):
        attendance.mark_attended(occ, mia, world.facilitator, occ.starts_at)
    db.session.commit()
    db.session.expire_all()
    db.session.refresh(mia)

    with counting_selects() as selects:
        history = attendance.attendance_history(mia)
        shown = [(occ.starts_at, occ.series.group.name, row.how) for row, occ in history]
    assert len(selects) == 1

    attended = (world.occ(0), world.occ(2), other.occ(1))
    assert [s[0] for s in shown] == sorted((o.starts_at for o in attended), reverse=True)
    assert {s[1] for s in shown} == {"Tuesday Integration Circle", "Friday coffee"}


def test_counts_cover_the_last_12_meetings_that_took_place_oldest_first(world):
    people = [world.member() for _ in range(3)]
    scheduling.cancel_occurrence(world.occ(5), "Holiday.", clock.now_utc())
    now = world.occ(14).starts_at + 10 * MINUTE  # the 15th meeting is under way
    clock.set_frozen(now)
    took_place = [world.occ(n) for n in range(15) if n != 5]
    for i, occ in enumerate(took_place):
        for person in people[: i % 4]:
            attendance.mark_attended(occ, person, world.facilitator, occ.starts_at)
    db.session.commit()
    world.group.name  # noqa: B018

    with counting_selects() as selects:
        counts = attendance.attendance_counts(world.group, now)
    assert len(selects) == 2

    assert [occ.id for occ, _n in counts] == [occ.id for occ in took_place[-12:]]
    assert [n for _occ, n in counts] == [i % 4 for i in range(len(took_place))][-12:]
    assert len(attendance.attendance_counts(world.group, now, last=3)) == 3
    assert attendance.attendance_counts(world.group, world.occ(0).starts_at - MINUTE) == []


# --- proofs of attendance ---


def test_a_proof_lists_the_local_dates_attended_and_is_frozen_when_made(app, facilitator):
    with app.app_context():
        # 19:00 in New York is midnight UTC: the proof must say the day people were in the room.
        ny = make_world(facilitator.user(), name="Brooklyn circle", timezone="America/New_York")
        london = make_world(facilitator.user(), name="Canal Street circle")
        mia = ny.member()
        memberships.join(london.group, mia, clock.now_utc())
        for occ in (ny.occ(1), ny.occ(0), london.occ(0)):
            attendance.mark_attended(occ, mia, ny.facilitator, occ.starts_at)
        now = clock.now_utc() + timedelta(weeks=2)

        one = attendance.create_proof(mia, shown_name=" Mia  Jones ", label="Aftercare group", group=ny.group, now=now)
        every = attendance.create_proof(mia, shown_name="Mia Jones", label="Support meetings", group=None, now=now)

        assert ny.occ(0).starts_at.date() == date(2026, 12, 2)  # UTC
        assert one.dates == ["2026-12-01", "2026-12-08"]
        assert (one.shown_name, one.label, one.group_id) == ("Mia Jones", "Aftercare group", ny.group.id)
        assert one.created_at == now and one.revoked_at is None
        assert every.dates == ["2026-12-01", "2026-12-01", "2026-12-08"] and every.group_id is None
        attendance.mark_attended(ny.occ(2), mia, ny.facilitator, ny.occ(2).starts_at)
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(AttendanceProof, one.id).dates == ["2026-12-01", "2026-12-08"]


def test_a_proof_needs_attendance_a_name_and_a_label(world):
    mia = world.member()
    now = clock.now_utc()
    with pytest.raises(DomainError, match="no attendance") as err:
        attendance.create_proof(mia, shown_name="Mia", label="Aftercare group", group=None, now=now)
    assert err.value.field == "group"
    attendance.mark_attended(world.occ(), mia, world.facilitator, world.occ().starts_at)

    refused = [("  ", "Group", "shown_name"), ("Mia", "", "label")]
    refused += [("x" * 61, "G", "shown_name"), ("M", "x" * 121, "label")]
    for shown_name, label, field in refused:
        with pytest.raises(DomainError) as err:
            attendance.create_proof(mia, shown_name=shown_name, label=label, group=None, now=now)
        assert err.value.field == field


def test_a_proof_link_works_until_revoked_and_forged_links_never_do(world):
    mia = world.member()
    occ = world.occ()
    attendance.mark_attended(occ, mia, world.facilitator, occ.starts_at)
    proof = attendance.create_proof(mia, shown_name="Mia", label="Aftercare group", group=None, now=clock.now_utc())
    other = attendance.create_proof(mia, shown_name="M.", label="Meetings", group=None, now=clock.now_utc())
    token = attendance.proof_token(proof)

    assert attendance.load_proof(token) is proof
    assert attendance.load_proof(attendance.proof_token(other)) is other
    # Change the signature's first character: its last one partly holds base64 padding bits, where a change
    # can decode to the very same signature.
    body, signature = token.rsplit(".", 1)
    tampered = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    for bad in (tampered, "", "not-a-token", token.replace(".", "", 1), str(proof.id)):
        assert attendance.load_proof(bad) is None, bad

    attendance.revoke_proof(proof, clock.now_utc())
    assert proof.revoked_at == clock.now_utc()
    assert attendance.load_proof(token) is None
    db.session.delete(other)
    db.session.flush()
    assert attendance.load_proof(attendance.proof_token(other)) is None


def test_attendance_goes_with_the_meeting(world):
    mia = world.member()
    occ = world.occ()
    attendance.mark_attended(occ, mia, world.facilitator, occ.starts_at)
    db.session.commit()

    db.session.delete(world.series)
    db.session.commit()

    assert db.session.scalar(select(Attendance.id)) is None
    assert db.session.scalar(select(Occurrence.id)) is None
