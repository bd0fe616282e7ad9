"""The audit log: every facilitator and admin action leaves an entry (who, what, when), visible to the group's
facilitators and to admins only, and never holding check-in content or anything a person wrote."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from supportnet import audit, memberships, visibility
from supportnet.clock import now_utc
from supportnet.extensions import db
from supportnet.models import AuditAction, AuditEntry, Group, Membership, MemberStatus
from tests.conftest import login, post
from tests.worlds.data_controls import NOTE, World, build_world


@pytest.fixture
def world(app) -> World:
    return build_world(app)


def as_(app, world: World, who: str):
    client = app.test_client()
    assert login(client, world.persona(who)).status_code == 302
    return client


def entries(app) -> list[AuditEntry]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        db.session.expunge_all()
        return rows


def only_entry(app) -> AuditEntry:
    rows = entries(app)
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("who", ["facilitator", "admin"])
def test_cancelling_a_meeting_is_recorded_without_the_reason(app, world, who):
    reason = "sentinel-reason: the facilitator is in hospital"
    response = post(as_(app, world, who), f"/meetings/{world.occurrence_id}/cancel", {"note": reason})
    assert response.status_code == 302
    entry = only_entry(app)
    assert entry.action == AuditAction.MEETING_CANCELLED
    assert entry.actor_id == world.persona(who).id
    assert (entry.group_id, entry.occurrence_id) == (world.group_id, world.occurrence_id)
    assert reason not in json.dumps(entry.details)


def test_moving_a_meeting_records_both_times(app, world):
    client = as_(app, world, "facilitator")
    response = post(client, f"/meetings/{world.occurrence_id}/move",
                    {"date": "2026-12-02", "start_time": "18:30", "duration_minutes": "90"})
    assert response.status_code == 302, response.get_data(as_text=True)
    entry = only_entry(app)
    assert entry.action == AuditAction.MEETING_MOVED
    assert entry.details == {"from_starts_at": "2026-12-01T19:00:00+00:00", "to_starts_at": "2026-12-02T18:30:00+00:00"}


def test_restoring_a_meeting_and_ending_a_series_are_recorded(app, world):
    client = as_(app, world, "facilitator")
    post(client, f"/meetings/{world.occurrence_id}/cancel", {"note": ""})
    assert post(client, f"/meetings/{world.occurrence_id}/restore").status_code == 302
    assert post(client, f"/groups/{world.slug}/meetings/{world.series_id}/end").status_code == 302
    assert [e.action for e in entries(app)] == [
        AuditAction.MEETING_CANCELLED, AuditAction.MEETING_RESTORED, AuditAction.SERIES_ENDED,
    ]


@pytest.mark.parametrize(
    ("action", "expected"),
    [("approve", AuditAction.MEMBER_APPROVED), ("decline", AuditAction.MEMBER_DECLINED),
     ("remove", AuditAction.MEMBER_REMOVED)],
)
def test_membership_decisions_are_recorded_with_whom_they_concern(app, world, action, expected):
    outsider = world.persona("outsider")
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        membership = Membership(group=group, user=outsider.user(), status=MemberStatus.PENDING, created_at=now_utc())
        db.session.add(membership)
        db.session.commit()
        membership_id = membership.id
    response = post(as_(app, world, "facilitator"), f"/groups/{world.slug}/members/{membership_id}/{action}")
    assert response.status_code == 302
    entry = only_entry(app)
    assert (entry.action, entry.subject_id, entry.actor_id) == (expected, outsider.id, world.persona("facilitator").id)


def test_a_refused_action_leaves_no_entry(app, world):
    # Declining someone who is already a member is refused: no entry.
    response = post(as_(app, world, "facilitator"), f"/groups/{world.slug}/members/{world.membership_id}/decline")
    assert response.status_code == 303
    assert entries(app) == []


def test_a_role_change_is_recorded_with_both_roles(app, world):
    client = as_(app, world, "facilitator")
    url = f"/groups/{world.slug}/members/{world.membership_id}/role"
    assert post(client, url, {"role": "facilitator"}).status_code == 302
    assert post(client, url, {"role": "facilitator"}).status_code == 302  # no change, no entry
    entry = only_entry(app)
    assert entry.action == AuditAction.ROLE_CHANGED
    assert entry.details == {"from_role": "member", "to_role": "facilitator"}
    assert entry.subject_id == world.persona("member").id


def test_archiving_is_recorded(app, world):
    assert post(as_(app, world, "facilitator"), f"/groups/{world.slug}/archive").status_code == 302
    assert only_entry(app).action == AuditAction.GROUP_ARCHIVED


def test_an_announcement_is_recorded_without_its_text(app, world):
    body = "sentinel-announcement: see you all on Tuesday"
    client = as_(app, world, "facilitator")
    page = client.get(f"/groups/{world.slug}/announce")
    assert page.status_code == 200
    response = post(client, f"/groups/{world.slug}/announce", {"subject": "Tuesday", "body": body, "nonce": "n" * 16})
    assert response.status_code == 302, response.get_data(as_text=True)
    entry = only_entry(app)
    assert entry.action == AuditAction.ANNOUNCEMENT_SENT
    assert entry.details == {"recipients": 2}
    assert body not in json.dumps(entry.details)


def test_an_admin_changing_a_site_role_is_recorded(app, world):
    member = world.persona("member")
    response = post(as_(app, world, "admin"), f"/admin/users/{member.id}/role", {"role": "facilitator"})
    assert response.status_code == 302
    entry = only_entry(app)
    assert entry.action == AuditAction.SITE_ROLE_CHANGED
    assert (entry.actor_id, entry.subject_id, entry.group_id) == (world.persona("admin").id, member.id, None)
    assert entry.details == {"from_role": "member", "to_role": "facilitator"}


def test_details_take_only_plain_values_under_known_keys(app):
    with app.app_context():
        with pytest.raises(ValueError, match="allowed keys"):
            audit.record(AuditAction.MEETING_CANCELLED, actor=None, now=now_utc(), note=NOTE)
        with pytest.raises(ValueError, match="short plain value"):
            audit.record(AuditAction.MEETING_CANCELLED, actor=None, now=now_utc(), starts_at="x" * 500)
        with pytest.raises(ValueError, match="short plain value"):
            audit.record(AuditAction.MEETING_CANCELLED, actor=None, now=now_utc(), recipients={"a": 1})
        db.session.rollback()


# --- who sees it ---


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("outsider", 404), ("member", 403), ("other_facilitator", 404), ("facilitator", 200),
     ("admin", 200)],
)
def test_a_groups_log_is_for_its_facilitators_and_admins(app, world, who, status):
    post(as_(app, world, "facilitator"), f"/meetings/{world.occurrence_id}/cancel", {"note": ""})
    client = app.test_client() if who == "anonymous" else as_(app, world, who)
    response = client.get(f"/groups/{world.slug}/audit")
    assert response.status_code == status
    if status == 200:
        text = response.get_data(as_text=True)
        assert "Fay F." in text and "cancelled a meeting" in text


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("outsider", 404), ("member", 404), ("facilitator", 404), ("admin", 200)],
)
def test_the_site_log_is_for_admins(app, world, who, status):
    client = app.test_client() if who == "anonymous" else as_(app, world, who)
    assert client.get("/admin/audit").status_code == status


def test_the_site_log_shows_every_group_and_filters_by_action(app, world):
    post(as_(app, world, "facilitator"), f"/meetings/{world.occurrence_id}/cancel", {"note": ""})
    post(as_(app, world, "admin"), f"/admin/users/{world.persona('member').id}/role", {"role": "facilitator"})
    client = as_(app, world, "admin")
    text = client.get("/admin/audit").get_data(as_text=True)
    assert "cancelled a meeting" in text and "changed the site role of Mia M." in text
    filtered = client.get("/admin/audit?action=site_role_changed").get_data(as_text=True)
    assert "changed the site role of" in filtered and "cancelled a meeting</" not in filtered


def test_a_former_facilitator_no_longer_sees_the_log(app, world):
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        memberships.set_role(db.session.get(Membership, world.membership_id), "facilitator")
        db.session.commit()
        assert visibility.can_manage(group, world.persona("member").user())
    client = as_(app, world, "member")
    assert client.get(f"/groups/{world.slug}/audit").status_code == 200
    with app.app_context():
        memberships.set_role(db.session.get(Membership, world.membership_id), "member")
        db.session.commit()
    assert client.get(f"/groups/{world.slug}/audit").status_code == 403

