"""Demo data: `seed-demo` builds a directory worth looking at, through the domain, and only once."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supportnet import clock, demo
from supportnet.extensions import db
from supportnet.measures import instruments, scoring
from supportnet.models import (
    Group,
    GroupTag,
    JoinPolicy,
    MeasureResponse,
    MeetingSeries,
    Membership,
    MemberStatus,
    Occurrence,
    OccurrenceStatus,
    OnlineVisibility,
    Program,
    ProgramCoordinator,
    User,
    Visibility,
)
from tests.conftest import post

TABLES = (User, Group, GroupTag, Membership, MeetingSeries, Occurrence, Program, ProgramCoordinator, MeasureResponse)
EIGHT_WEEKS = timedelta(weeks=8)


def row_counts() -> dict[str, int]:
    counts = {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in TABLES}
    for status in OccurrenceStatus:
        counts[f"occurrence:{status.value}"] = db.session.scalar(
            select(func.count()).select_from(Occurrence).where(Occurrence.status == status)
        )
    return counts


def seed(runner) -> None:
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def seeded(app, runner):
    seed(runner)
    return app


def test_seeding_twice_creates_nothing_new(app, runner):
    seed(runner)
    with app.app_context():
        first = row_counts()
    seed(runner)
    with app.app_context():
        assert row_counts() == first
        assert first["Group"] >= 4 and first["Occurrence"] > 0


def test_seeding_again_a_week_later_creates_nothing_new(app, runner, frozen_clock):
    seed(runner)
    with app.app_context():
        first = row_counts()
    clock.set_frozen(frozen_clock + timedelta(days=7))
    seed(runner)
    with app.app_context():
        assert row_counts() == first


def test_seed_returns_the_same_logins(app):
    with app.app_context():
        logins = demo.seed(clock.now_utc())
        db.session.commit()
        assert logins == demo.seed(clock.now_utc())
    assert [email for _role, email, _pw in logins] == [user[1] for user in demo.DEMO_USERS]


def test_public_groups_in_london_and_new_york_with_meeting_guide_tags(seeded):
    with seeded.app_context():
        public = db.session.scalars(
            select(Group).where(Group.visibility == Visibility.PUBLIC, Group.archived_at.is_(None))
        ).all()
        assert len(public) >= 4
        assert {"Europe/London", "America/New_York"} <= {g.timezone for g in public}
        codes = {tag.code for g in public for tag in g.tags}
        assert {"O", "C", "D", "BE", "MED", "OUT"} <= codes
        assert all(g.description for g in public)
        assert any(g.join_policy == JoinPolicy.APPROVAL for g in public)
        # Every demo group has a facilitator and at least one meeting series.
        for group in public:
            assert any(m.is_facilitator for m in group.memberships), group.slug
            assert group.series, group.slug


def test_the_three_recurrence_kinds_are_there(seeded):
    with seeded.app_context():
        rules = [r for r in db.session.scalars(select(MeetingSeries.rrule)) if r]
    weekly = [r for r in rules if r.startswith("FREQ=WEEKLY") and "INTERVAL" not in r]
    fortnightly = [r for r in rules if r.startswith("FREQ=WEEKLY") and "INTERVAL=2;" in r]
    nth_weekday = re.compile(r"BYDAY=(-1|[1-4])(MO|TU|WE|TH|FR|SA|SU)")
    monthly_nth = [r for r in rules if r.startswith("FREQ=MONTHLY") and nth_weekday.search(r)]
    assert weekly and fortnightly and monthly_nth, rules


def test_an_online_only_series_and_a_small_one(seeded):
    with seeded.app_context():
        series = db.session.scalars(select(MeetingSeries)).all()
    online_only = [
        s for s in series if s.online_url.startswith("https://meet.example.org/") and not s.venue and not s.address
    ]
    assert online_only
    assert all(s.online_visibility == OnlineVisibility.MEMBERS for s in online_only)
    assert any(s.capacity is not None and s.capacity <= 8 for s in series)


def test_a_cancelled_and_a_moved_meeting_within_eight_weeks(seeded):
    now = clock.now_utc()
    with seeded.app_context():
        changed = db.session.scalars(
            select(Occurrence).where(Occurrence.status != OccurrenceStatus.SCHEDULED, Occurrence.superseded.is_(False))
        ).all()
        cancelled = [o for o in changed if o.status == OccurrenceStatus.CANCELLED]
        moved = [o for o in changed if o.status == OccurrenceStatus.MOVED]
        assert cancelled and moved
        for occ in cancelled + moved:
            assert now < occ.original_start < now + EIGHT_WEEKS
            assert now < occ.starts_at < now + EIGHT_WEEKS
            assert occ.note  # members are told why
        assert all(o.starts_at != o.original_start for o in moved)


def test_demo_members_belong_to_groups(seeded):
    with seeded.app_context():
        members = db.session.scalars(select(User).where(User.email.in_([demo.MEMBER, demo.MEMBER2]))).all()
        for user in members:
            active = db.session.scalars(
                select(Membership).where(Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE)
            ).all()
            assert active, user.display_name
        # The approval group has a request waiting, so a facilitator has something to approve.
        assert (
            db.session.scalar(
                select(func.count()).select_from(Membership).where(Membership.status == MemberStatus.PENDING)
            )
            >= 1
        )


def test_anonymous_directory_lists_the_demo_groups_without_private_details(seeded, client):
    response = client.get("/groups")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for group in demo.DEMO_GROUPS:
        assert group.name in page
        assert f"/groups/{group.slug}" in page
        assert group.contact_note == "" or group.contact_note not in page
    assert "meet.example.org" not in page
    # Every demo group shows its next meeting rather than "No upcoming meetings".
    assert "No upcoming meetings" not in page


def test_anonymous_group_pages_keep_links_and_contact_notes_for_members(seeded, client):
    for group in demo.DEMO_GROUPS:
        response = client.get(f"/groups/{group.slug}")
        assert response.status_code == 200, group.slug
        page = response.get_data(as_text=True)
        assert group.name in page
        assert "meet.example.org" not in page
        assert not group.contact_note or group.contact_note not in page


def test_the_demo_coordinator_can_refer_someone_to_the_group_the_demo_program_runs(seeded):
    with seeded.app_context():
        program = db.session.scalar(select(Program).where(Program.name == demo.DEMO_PROGRAM))
        group = db.session.scalar(select(Group).where(Group.slug == demo.CHANGED_GROUP))
        assert group.program_id == program.id
    client = seeded.test_client()
    signed_in = post(client, "/login", {"email": demo.COORDINATOR, "password": "demo-coordinator-pass"})
    assert signed_in.status_code == 302
    form = client.get(f"/programs/{program.id}/referrals/new")
    assert form.status_code == 200 and group.name in form.get_data(as_text=True)


def test_the_demo_member_has_weeks_of_measures_scored_like_any_other(seeded):
    with seeded.app_context():
        member = db.session.scalar(select(User).where(User.email == demo.MEMBER))
        responses = db.session.scalars(
            select(MeasureResponse).where(MeasureResponse.user_id == member.id).order_by(MeasureResponse.taken_at)
        ).all()
        assert {r.code for r in responses} == {"PHQ-9", "BAM"}
        assert len(responses) == len(demo.DEMO_MEASURES)
        for response in responses:
            assert response.taken_at < clock.now_utc()
            result = scoring.score(instruments.get(response.code, response.version), json.loads(response.answers))
            assert response.scores == dict(result.subscales) and not result.safety_flag
        phq9 = [r.scores["total"] for r in responses if r.code == "PHQ-9"]
        assert phq9 == sorted(phq9, reverse=True) and len(set(phq9)) > 1  # a trend, easing
        # Nobody else got any.
        assert {r.user_id for r in db.session.scalars(select(MeasureResponse))} == {member.id}
