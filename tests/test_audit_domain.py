"""The audit log is written by the domain operations themselves, not by the pages: a command, a scheduler job or
a script that archives a group, decides on a membership, changes a role or a meeting, sends an announcement,
changes a site role or resets someone's two-factor writes the same entry as the web page does. These tests call
the domain (and the command line), never the web."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from supportnet import accounts, audit, clock, groups, memberships, scheduling, twofactor
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    AuditEntry,
    Group,
    MeetingSeries,
    Membership,
    MemberStatus,
    Occurrence,
    SiteRole,
)
from supportnet.notifications import announcements as notif_announcements
from tests.worlds.data_controls import World, build_world, enable_two_factor


@pytest.fixture
def world(app) -> World:
    return build_world(app)


def entries() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_membership_decisions_write_their_entries(app, world):
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        facilitator = world.persona("facilitator").user()
        outsider = world.persona("outsider").user()
        other = world.persona("other_facilitator").user()
        now = clock.now_utc()
        asked = Membership(group=group, user=outsider, status=MemberStatus.PENDING, created_at=now)
        declined = Membership(group=group, user=other, status=MemberStatus.PENDING, created_at=now)
        db.session.add_all([asked, declined])
        db.session.flush()
        memberships.approve(asked, now, by=facilitator)
        memberships.remove(asked, now, by=facilitator)
        memberships.decline(declined, now, by=facilitator)
        db.session.commit()
        assert [(e.action, e.actor_id, e.subject_id, e.group_id) for e in entries()] == [
            (AuditAction.MEMBER_APPROVED, facilitator.id, outsider.id, group.id),
            (AuditAction.MEMBER_REMOVED, facilitator.id, outsider.id, group.id),
            (AuditAction.MEMBER_DECLINED, facilitator.id, other.id, group.id),
        ]


def test_a_refused_decision_and_a_decision_that_changes_nothing_write_no_entry(app, world):
    with app.app_context():
        member = db.session.get(Membership, world.membership_id)
        facilitator = world.persona("facilitator").user()
        with pytest.raises(DomainError, match="Only a request to join can be declined"):
            memberships.decline(member, clock.now_utc(), by=facilitator)
        memberships.approve(member, clock.now_utc(), by=facilitator)  # already a member
        memberships.set_role(member, "member", by=facilitator, now=clock.now_utc())  # already a member
        assert entries() == []


def test_a_role_change_writes_both_roles(app, world):
    with app.app_context():
        member = db.session.get(Membership, world.membership_id)
        facilitator = world.persona("facilitator").user()
        memberships.set_role(member, "facilitator", by=facilitator, now=clock.now_utc())
        db.session.commit()
        (entry,) = entries()
        assert (entry.action, entry.actor_id, entry.subject_id) == (
            AuditAction.ROLE_CHANGED, facilitator.id, world.persona("member").id)
        assert entry.details == {"from_role": "member", "to_role": "facilitator"}


def test_meeting_changes_write_their_entries(app, world):
    with app.app_context():
        occ = db.session.get(Occurrence, world.occurrence_id)
        facilitator = world.persona("facilitator").user()
        usual = occ.starts_at
        now = clock.now_utc()
        scheduling.cancel_occurrence(occ, "sentinel-reason: the room is flooded", now, by=facilitator)
        scheduling.restore_occurrence(occ, now, by=facilitator)
        scheduling.move_occurrence(occ, new_start_local=datetime(2026, 12, 2, 18, 30), now=now, by=facilitator)
        scheduling.end_series(db.session.get(MeetingSeries, world.series_id), now, by=facilitator)
        db.session.commit()
        rows = entries()
        assert [e.action for e in rows] == [
            AuditAction.MEETING_CANCELLED, AuditAction.MEETING_RESTORED, AuditAction.MEETING_MOVED,
            AuditAction.SERIES_ENDED,
        ]
        assert {e.actor_id for e in rows} == {facilitator.id}
        assert {e.group_id for e in rows} == {world.group_id}
        assert rows[2].details == {"from_starts_at": usual.isoformat(), "to_starts_at": "2026-12-02T18:30:00+00:00"}
        assert "sentinel-reason" not in str([e.details for e in rows])


def test_archiving_from_a_script_writes_one_entry_without_an_actor(app, world):
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        groups.archive_group(group, clock.now_utc())
        groups.archive_group(group, clock.now_utc())  # already archived: nothing happens
        db.session.commit()
        # One entry for the group; the series it ended are part of it.
        assert [(e.action, e.actor_id, e.group_id) for e in entries()] == [
            (AuditAction.GROUP_ARCHIVED, None, world.group_id)]
        assert audit.group_log(group)[0].actor == audit.DELETED_USER  # no person: shown like a gone account


def test_an_announcement_writes_its_entry_without_its_text(app, world):
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        count = notif_announcements.announce(group, world.persona("facilitator").user(), "Tuesday",
                                       "sentinel-announcement: bring a friend", clock.now_utc())
        db.session.commit()
        (entry,) = entries()
        assert (entry.action, entry.actor_id, entry.group_id) == (
            AuditAction.ANNOUNCEMENT_SENT, world.persona("facilitator").id, world.group_id)
        assert entry.details == {"recipients": count} and count == 2


def test_a_site_role_change_writes_its_entry_and_the_command_line_does_too(app, world):
    member = world.persona("member")
    with app.app_context():
        admin = world.persona("admin").user()
        accounts.set_site_role(member.user(), SiteRole.FACILITATOR, by=admin, now=clock.now_utc())
        accounts.set_site_role(member.user(), SiteRole.FACILITATOR, by=admin, now=clock.now_utc())  # no change
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["users", "set-role", member.email, "member"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert [(e.action, e.actor_id, e.subject_id, e.details) for e in entries()] == [
            (AuditAction.SITE_ROLE_CHANGED, world.persona("admin").id, member.id,
             {"from_role": "member", "to_role": "facilitator"}),
            (AuditAction.SITE_ROLE_CHANGED, None, member.id, {"from_role": "facilitator", "to_role": "member"}),
        ]


def test_a_two_factor_reset_writes_its_entry_whoever_runs_it(app, world):
    facilitator = world.persona("facilitator")
    enable_two_factor(app, facilitator)
    with app.app_context():
        admin = world.persona("admin").user()
        twofactor.reset(facilitator.user(), clock.now_utc(), by=admin)
        db.session.commit()
        assert not twofactor.is_enabled(facilitator.user())
        assert [(e.action, e.actor_id, e.subject_id) for e in entries()] == [
            (AuditAction.TWO_FACTOR_RESET, world.persona("admin").id, facilitator.id),
        ]
