"""A member's data: the export holds everything about them and nothing about anyone else; deletion erases it."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date, timedelta

import icalendar
import pytest
from sqlalchemy import func, select

from supportnet import audit, memberships, privacy, rsvps
from supportnet.checkins import records as checkins_records
from supportnet.checkins.records import CheckInSpec
from supportnet.clock import now_utc
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    AuditAction,
    AuditEntry,
    CheckIn,
    Group,
    MemberRole,
    Membership,
    Occurrence,
    OwnTag,
    Rsvp,
    RsvpStatus,
    SiteRole,
    User,
)
from tests.conftest import Mailbox, login, post
from tests.worlds.data_controls import (
    NOTE,
    PEER_NAME,
    PEER_NOTE,
    World,
    build_world,
    enable_two_factor,
    login_with_code,
)


@pytest.fixture
def world(app) -> World:
    return build_world(app)


def member_client(app, world: World, who: str = "member"):
    client = app.test_client()
    assert login(client, world.persona(who)).status_code == 302
    return client


def export(client) -> zipfile.ZipFile:
    response = post(client, "/account/data/export")
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="supportnet-data-2026-11-26.zip')
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


# --- export ---


def test_the_export_holds_everything_about_the_member(app, world):
    archive = export(member_client(app, world))
    assert set(archive.namelist()) == {
        "README.txt", "data.json", "memberships.csv", "consents.csv", "rsvps.csv", "attendance.csv", "checkins.csv",
        "measures.csv", "safety-plan.txt", "notifications.csv", "meetings.ics", "sessions.csv",
    }
    data = json.loads(archive.read("data.json"))
    member = world.persona("member")
    assert data["profile"]["email"] == member.email
    assert data["profile"]["display_name"] == member.display_name
    assert [m["group"] for m in data["memberships"]] == ["Quiet Harbour Circle"]
    assert data["memberships"][0]["checkin_sharing"] == "none"
    assert any(r["answer"] == "going" for r in data["rsvps"])
    assert len(data["attendance"]) == 1 and data["attendance"][0]["how"] == "facilitator"
    assert data["attendance_proofs"][0]["shown_name"] == "Mia Member"
    [checkin] = data["checkins"]
    assert checkin["note"] == NOTE  # decrypted
    assert set(checkin["tags"]) == {"Stress", "payday"}
    assert data["two_factor"] == {"enabled": False, "recovery_codes_left": 0}
    assert data["sessions"] and data["sessions"][0]["device"]
    assert NOTE in archive.read("checkins.csv").decode()
    assert "Quiet Harbour Circle" in archive.read("memberships.csv").decode()


def test_the_export_holds_nothing_about_anyone_else(app, world):
    with app.app_context():
        # The peer is in the same group, at the same meetings, with a check-in; the facilitator marked attendance.
        fac = world.persona("facilitator").user()
        membership = db.session.get(Membership, world.membership_id)
        audit.record(AuditAction.MEMBER_APPROVED, actor=fac, now=now_utc(), group=membership.group,
                     subject=membership.user)
        db.session.commit()
    archive = export(member_client(app, world))
    everything = b"".join(archive.read(name) for name in archive.namelist()).decode()
    others = [world.peer, world.persona("facilitator"), world.persona("admin"), world.persona("outsider")]
    for person in others:
        assert person.email not in everything, person.email
        assert person.display_name not in everything, person.display_name
    assert PEER_NAME not in everything and PEER_NOTE not in everything
    addresses = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", everything))
    # Calendar UIDs look like addresses ("occurrence-5@supportnet.test"); they name a meeting, not a person.
    assert {a for a in addresses if not a.startswith(("occurrence-", "series-"))} == {world.persona("member").email}


def test_the_export_calendar_lists_the_meetings_the_member_is_going_to(app, world):
    archive = export(member_client(app, world))
    calendar = icalendar.Calendar.from_ical(archive.read("meetings.ics"))
    events = [c for c in calendar.walk("VEVENT")]
    assert len(events) == 1
    with app.app_context():
        occ = db.session.get(Occurrence, world.occurrence_id)
        assert events[0].decoded("DTSTART") == occ.starts_at


def test_the_export_needs_a_signed_in_member(client):
    response = client.post("/account/data/export")
    assert response.status_code == 400  # no CSRF token; and signed out it goes to sign-in
    assert post(client, "/account/data/export").status_code == 302


# --- deletion ---


def delete(client, confirm: str = "DELETE"):
    return post(client, "/account/delete", {"confirm": confirm})


def rows_pointing_at(user_id: int) -> dict[str, int]:
    """How many rows of each table still name the user in a column that refers to user.id."""
    found = {}
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "user" for fk in column.foreign_keys):
                count = db.session.scalar(select(func.count()).select_from(table).where(column == user_id))
                if count:
                    found[f"{table.name}.{column.name}"] = count
    return found


def test_deleting_an_account_removes_every_row_about_the_member(app, world, mailbox: Mailbox):
    member = world.persona("member")
    secret = enable_two_factor(app, member)
    client = app.test_client()
    login_with_code(client, member, secret)
    response = delete(client)
    assert response.status_code == 302 and response.location == "/"
    with app.app_context():
        assert db.session.get(User, member.id) is None
        assert rows_pointing_at(member.id) == {}
        assert db.session.scalar(select(func.count()).select_from(OwnTag)) == 0
        # The peer's data is untouched.
        assert db.session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.user_id == world.peer.id)) == 1
        # The attendance the facilitator marked for the peer still names the facilitator.
        peer_mark = db.session.scalar(select(Attendance).where(Attendance.user_id == world.peer.id))
        assert peer_mark.marked_by_id == world.persona("facilitator").id
    [message] = mailbox.to(member.email)
    assert message["Subject"] == "Your account was deleted"
    assert login(app.test_client(), member).status_code == 200  # no such account any more


def test_deleting_frees_the_seat_for_the_waitlist(app, world):
    outsider = world.persona("outsider")
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        token = memberships.regenerate_invite(group, now_utc())
        memberships.join(group, outsider.user(), now_utc(), invite_token=token)
        occ = db.session.get(Occurrence, world.occurrence_id)
        waiting = rsvps.rsvp(occ, outsider.user(), now_utc())  # capacity 2: member and peer have the seats
        assert waiting.status == RsvpStatus.WAITLISTED
        db.session.commit()
    delete(member_client(app, world))
    with app.app_context():
        occ = db.session.get(Occurrence, world.occurrence_id)
        answer = db.session.scalar(select(Rsvp).where(Rsvp.user_id == outsider.id, Rsvp.occurrence_id == occ.id))
        assert answer.status == RsvpStatus.GOING
        assert (occ.going_count, occ.waitlist_count) == (2, 0)


def test_the_past_meetings_counters_follow_the_deleted_answers(app, world):
    with app.app_context():
        past = db.session.get(Occurrence, world.past_occurrence_id)
        db.session.add(Rsvp(occurrence=past, user_id=world.persona("member").id, status=RsvpStatus.GOING,
                            created_at=now_utc(), updated_at=now_utc()))
        past.going_count = 1
        db.session.commit()
    delete(member_client(app, world))
    with app.app_context():
        assert db.session.get(Occurrence, world.past_occurrence_id).going_count == 0


def test_the_audit_log_keeps_the_entry_but_says_deleted_user(app, world):
    fac = world.persona("facilitator")
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        membership = db.session.get(Membership, world.membership_id)
        memberships.set_role(membership, MemberRole.FACILITATOR, by=fac.user(), now=now_utc())  # writes its audit entry
        audit.record(AuditAction.MEETING_CANCELLED, actor=membership.user, now=now_utc(), group=group)
        db.session.commit()
    delete(member_client(app, world))
    with app.app_context():
        lines = audit.group_log(db.session.get(Group, world.group_id))
        assert [(line.actor, line.subject) for line in lines] == [("deleted user", None), ("Fay F.", "deleted user")]
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 2


def test_the_last_facilitator_must_hand_over_or_archive_first(app, world):
    client = member_client(app, world, "facilitator")
    page = client.get("/account/delete")
    body = page.get_data(as_text=True)
    assert "Quiet Harbour Circle" in body
    assert f"/groups/{world.slug}/members" in body and f"/groups/{world.slug}/archive" in body
    response = delete(client)
    assert response.status_code == 303
    assert "only facilitator of Quiet Harbour Circle" in client.get("/account/delete").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, world.persona("facilitator").id) is not None
    assert post(client, f"/groups/{world.slug}/archive").status_code == 302
    assert delete(client).status_code == 302
    with app.app_context():
        assert db.session.get(User, world.persona("facilitator").id) is None
        assert db.session.get(Group, world.group_id).archived_at is not None


def test_a_facilitator_with_a_co_facilitator_can_leave(app, world):
    with app.app_context():
        memberships.set_role(db.session.get(Membership, world.peer_membership_id), MemberRole.FACILITATOR)
        db.session.commit()
    assert delete(member_client(app, world, "facilitator")).status_code == 302
    with app.app_context():
        assert [m.user_id for m in memberships.facilitators(db.session.get(Group, world.group_id))] == [world.peer.id]


def test_the_last_admin_cannot_delete_their_account(app, world):
    client = member_client(app, world, "admin")
    assert delete(client).status_code == 303
    with app.app_context():
        assert db.session.get(User, world.persona("admin").id) is not None
        world.persona("outsider").user().role = SiteRole.ADMIN
        db.session.commit()
    assert delete(client).status_code == 302


def test_deletion_needs_the_word_delete(app, world):
    client = member_client(app, world)
    assert delete(client, confirm="yes").status_code == 303
    with app.app_context():
        assert db.session.get(User, world.persona("member").id) is not None


def test_a_join_request_notice_loses_the_deleted_members_name(app, world):
    from supportnet.models import Notification, NotificationKind
    from supportnet.notifications import hooks as notif_hooks

    outsider = world.persona("outsider")
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        membership = Membership(group=group, user=outsider.user(), status="pending", created_at=now_utc())
        db.session.add(membership)
        db.session.flush()
        notif_hooks.join_requested(membership, now_utc())
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.kind == NotificationKind.JOIN_REQUEST)) > 0
    delete(member_client(app, world, "outsider"))
    with app.app_context():
        leftovers = db.session.scalars(select(Notification)).all()
        assert all("Otto" not in json.dumps(n.payload) for n in leftovers)


# --- retention ---


def test_a_member_chooses_to_have_old_checkins_deleted(app, world):
    client = member_client(app, world)
    response = post(client, "/account/data/retention", {"months": "3"})
    assert response.status_code == 302
    with app.app_context():
        member = world.persona("member").user()
        assert member.checkin_retention_months == 3
        old = checkins_records.record(
            member, CheckInSpec(mood=3, craving=2, note="old", day=date(2026, 7, 1)), now_utc()
        )
        recent = checkins_records.record(member, CheckInSpec(mood=3, craving=2, day=date(2026, 9, 1)), now_utc())
        peer_old = checkins_records.record(
            world.peer.user(), CheckInSpec(mood=3, craving=2, day=date(2026, 1, 1)), now_utc()
        )
        ids = (old.id, recent.id, peer_old.id)
        db.session.commit()
        report = privacy.purge(now_utc(), app.config)
        db.session.commit()
        assert report.checkins == 1
        assert db.session.get(CheckIn, ids[0]) is None
        assert db.session.get(CheckIn, ids[1]) is not None
        assert db.session.get(CheckIn, ids[2]) is not None  # the peer did not opt in


def test_retention_accepts_only_the_listed_periods(app, world):
    client = member_client(app, world)
    assert post(client, "/account/data/retention", {"months": "1"}).status_code == 303
    assert post(client, "/account/data/retention", {"months": ""}).status_code == 302
    with app.app_context():
        assert world.persona("member").user().checkin_retention_months is None


def test_old_audit_entries_are_purged(app, world):
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        old = audit.record(AuditAction.GROUP_ARCHIVED, actor=None, now=now_utc() - timedelta(days=800), group=group)
        new = audit.record(AuditAction.GROUP_ARCHIVED, actor=None, now=now_utc() - timedelta(days=30), group=group)
        ids = (old.id, new.id)
        db.session.commit()
        assert privacy.purge(now_utc(), app.config).audit_entries == 1
        db.session.commit()
        assert db.session.get(AuditEntry, ids[0]) is None and db.session.get(AuditEntry, ids[1]) is not None
        assert audit.purge(now_utc(), 0) == 0  # 0 keeps everything


def test_the_data_page_links_everything(app, world):
    body = member_client(app, world).get("/account/data").get_data(as_text=True)
    assert "/account/data/export" in body and "/account/data/retention" in body and "/account/delete" in body


def test_the_schedulers_daily_retention_pass_purges(app, world):
    from supportnet.scheduler import retention_pass

    with app.app_context():
        group = db.session.get(Group, world.group_id)
        old = audit.record(AuditAction.GROUP_ARCHIVED, actor=None, now=now_utc() - timedelta(days=900), group=group)
        old_id = old.id
        db.session.commit()
    retention_pass(app, now_utc())
    with app.app_context():
        assert db.session.get(AuditEntry, old_id) is None


def test_announcements_lose_their_deleted_authors_name(app, world):
    from supportnet.models import Notification, NotificationKind
    from supportnet.notifications import announcements as notif_announcements

    with app.app_context():
        memberships.set_role(db.session.get(Membership, world.peer_membership_id), MemberRole.FACILITATOR)
        notif_announcements.announce(db.session.get(Group, world.group_id), world.persona("facilitator").user(),
                               "Tuesday", "See you on Tuesday.", now_utc())
        db.session.commit()
    assert delete(member_client(app, world, "facilitator")).status_code == 302
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(Notification.kind == NotificationKind.ANNOUNCEMENT)).all()
        assert rows and all(row.payload["author"] == "deleted user" for row in rows)
        assert all(row.payload["body"] == "See you on Tuesday." for row in rows)
