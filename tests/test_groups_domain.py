"""Groups: starting and editing them, tags, invites, joining and leaving, who sees and manages what."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from supportnet import clock, groups, memberships, scheduling, series_spec
from supportnet import visibility as visibility_rules
from supportnet.errors import DomainError, Forbidden
from supportnet.extensions import db
from supportnet.models import (
    Group,
    GroupKind,
    GroupTag,
    JoinPolicy,
    MemberRole,
    Membership,
    MemberStatus,
    OccurrenceStatus,
    User,
    Visibility,
)
from supportnet.recurrence import Frequency, Recurrence


def start_group(user: User, **fields) -> Group:
    values = {"name": "Thursday Integration Circle", "kind": GroupKind.AFTERCARE, "timezone": "Europe/London"}
    values.update(fields)
    return groups.create_group(user, now=clock.now_utc(), **values)


@pytest.fixture
def group_id(app, facilitator) -> int:
    with app.app_context():
        group = start_group(facilitator.user())
        db.session.commit()
        return group.id


def get_group(group_id: int) -> Group:
    return db.session.get(Group, group_id)


def set_policy(group: Group, visibility: Visibility, join_policy: JoinPolicy) -> None:
    groups.update_group(group, visibility=visibility, join_policy=join_policy, now=clock.now_utc())


# --- starting and editing a group ---


def test_a_facilitator_starts_a_group_and_becomes_its_facilitator(app, facilitator):
    with app.app_context():
        user = facilitator.user()
        group = start_group(user, description="For graduates of the spring programme.")

        assert group.slug == "thursday-integration-circle"
        membership = visibility_rules.membership_for(group, user)
        assert (membership.role, membership.status) == (MemberRole.FACILITATOR, MemberStatus.ACTIVE)
        assert membership.joined_at == clock.now_utc()
        assert memberships.member_count(group) == 1
        assert visibility_rules.can_manage(group, user)


def test_a_member_cannot_start_a_group(app, member):
    with app.app_context():
        with pytest.raises(Forbidden):
            start_group(member.user())
        assert db.session.scalar(select(func.count()).select_from(Group)) == 0


def test_groups_with_the_same_name_get_different_addresses(app, facilitator):
    with app.app_context():
        user = facilitator.user()
        first = start_group(user, name="Sober Hikes: Peak District!")
        second = start_group(user, name="Sober hikes - Peak District")

        assert first.slug == "sober-hikes-peak-district"
        assert second.slug == "sober-hikes-peak-district-2"
        assert groups.slugify("Café Crème") == "cafe-creme"
        assert groups.slugify("?") == "group"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"slug": "thursday-integration-circle"}, "slug"),
        ({"slug": "Has Spaces"}, "slug"),
        ({"slug": "new"}, "slug"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"kind": "book_club"}, "kind"),
        ({"visibility": Visibility.PRIVATE, "join_policy": JoinPolicy.OPEN}, "join_policy"),
        ({"tags": ["LGTBQ"]}, "tags"),
        ({"tags": ["no_underscores"]}, "tags"),
        ({"tags": ["x" * 41]}, "tags"),
    ],
)
def test_a_group_with_bad_details_is_refused_and_nothing_is_stored(app, group_id, facilitator, fields, field):
    with app.app_context():
        with pytest.raises(DomainError) as err:
            start_group(facilitator.user(), **fields)

        assert err.value.field == field
        assert db.session.scalar(select(func.count()).select_from(Group)) == 1


def test_meeting_guide_codes_are_kept_as_the_spec_spells_them_and_free_tags_lower_cased(app, facilitator):
    with app.app_context():
        group = start_group(
            facilitator.user(), tags=["O", "women", "LGBTQ", "Sober  Hikes", "sober hikes", " ", "12x12"]
        )

        assert group.tag_codes == ["O", "W", "LGBTQ", "sober hikes", "12x12"]
        assert [groups.is_spec_code(code) for code in group.tag_codes] == [True, True, True, False, True]
        assert groups.tag_label("W") == "Women"
        assert groups.tag_label("sober hikes") == "sober hikes"


def test_editing_tags_keeps_the_ones_that_stay(app, group_id):
    with app.app_context():
        group = get_group(group_id)
        groups.update_group(group, tags=["O", "BE"], now=clock.now_utc())
        open_tag_id = group.tags[0].id

        groups.update_group(
            group, tags=["X", "O"], name="Integration Circle", slug="integration-circle", now=clock.now_utc()
        )

        assert group.tag_codes == ["O", "X"]
        assert group.tags[0].id == open_tag_id
        assert (group.name, group.slug) == ("Integration Circle", "integration-circle")
        assert db.session.scalar(select(func.count()).select_from(GroupTag)) == 2


def test_a_refused_edit_changes_nothing(app, group_id, facilitator):
    with app.app_context():
        other = start_group(facilitator.user(), name="Friday coffee")
        group = get_group(group_id)

        with pytest.raises(DomainError) as err:
            groups.update_group(group, name="Renamed", slug=other.slug, now=clock.now_utc())

        assert err.value.field == "slug"
        assert group.name == "Thursday Integration Circle"


def test_an_archived_group_cannot_be_edited_and_its_meetings_end(app, group_id):
    with app.app_context():
        group = get_group(group_id)
        spec = series_spec.SeriesSpec(
            title="Circle",
            first_date=date(2026, 12, 3),
            start_time=time(19),
            duration_minutes=60,
            timezone="Europe/London",
            recurrence=Recurrence(Frequency.WEEKLY, weekdays=(3,)),
            venue="Community room",
        )
        series = scheduling.create_series(group, spec, clock.now_utc())
        memberships.regenerate_invite(group, clock.now_utc())

        groups.archive_group(group, clock.now_utc())

        assert group.archived_at == clock.now_utc()
        assert group.invite_token_hash is None
        assert series.ended_at is not None
        assert {occ.status for occ in series.occurrences} == {OccurrenceStatus.CANCELLED}
        with pytest.raises(DomainError, match="archived"):
            groups.update_group(group, name="Renamed", now=clock.now_utc())


# --- joining ---


def test_joining_an_open_group_makes_you_a_member_at_once(app, group_id, member):
    with app.app_context():
        group, user = get_group(group_id), member.user()

        membership = memberships.join(group, user, clock.now_utc())

        assert (membership.role, membership.status) == (MemberRole.MEMBER, MemberStatus.ACTIVE)
        assert memberships.join(group, user, clock.now_utc()) is membership
        assert memberships.member_count(group) == 2


def test_joining_an_approval_group_asks_the_facilitators(app, group_id, member, outsider):
    with app.app_context():
        group = get_group(group_id)
        set_policy(group, Visibility.PUBLIC, JoinPolicy.APPROVAL)

        asked = memberships.join(group, member.user(), clock.now_utc())
        refused = memberships.join(group, outsider.user(), clock.now_utc())

        assert asked.status == MemberStatus.PENDING and asked.joined_at is None
        assert memberships.member_count(group) == 1
        memberships.approve(asked, clock.now_utc())
        memberships.decline(refused, clock.now_utc())
        assert (asked.status, refused.status) == (MemberStatus.ACTIVE, MemberStatus.DECLINED)
        assert asked.joined_at == clock.now_utc()
        assert memberships.member_count(group) == 2


def test_an_invite_only_group_needs_a_current_invite_link(app, group_id, member, outsider):
    with app.app_context():
        group = get_group(group_id)
        set_policy(group, Visibility.PRIVATE, JoinPolicy.INVITE)
        token = memberships.regenerate_invite(group, clock.now_utc(), days=14)
        db.session.commit()

        assert group.invite_token_hash == hashlib.sha256(token.encode()).hexdigest()
        with pytest.raises(DomainError) as err:
            memberships.join(group, member.user(), clock.now_utc())
        assert err.value.field == "invite_token"
        with pytest.raises(DomainError):
            memberships.join(group, member.user(), clock.now_utc(), invite_token="guessed")
        assert memberships.join(group, member.user(), clock.now_utc(), invite_token=token).status == MemberStatus.ACTIVE
        db.session.commit()

    clock.set_frozen(datetime(2026, 12, 11, 12, tzinfo=UTC))  # 15 days later: the link has expired
    with app.app_context():
        group = get_group(group_id)
        with pytest.raises(DomainError, match="expired"):
            memberships.join(group, outsider.user(), clock.now_utc(), invite_token=token)

        fresh = memberships.regenerate_invite(group, clock.now_utc())

        with pytest.raises(DomainError):
            memberships.join(group, outsider.user(), clock.now_utc(), invite_token=token)
        assert memberships.join(group, outsider.user(), clock.now_utc(),
                                invite_token=fresh).status == MemberStatus.ACTIVE


def test_a_private_approval_group_link_lets_people_ask_not_walk_in(app, group_id, member):
    with app.app_context():
        group = get_group(group_id)
        set_policy(group, Visibility.PRIVATE, JoinPolicy.APPROVAL)
        token = memberships.regenerate_invite(group, clock.now_utc())

        with pytest.raises(DomainError):
            memberships.join(group, member.user(), clock.now_utc())
        assert memberships.join(group, member.user(), clock.now_utc(),
                                invite_token=token).status == MemberStatus.PENDING


def test_leaving_and_rejoining_works_but_a_removed_member_cannot_rejoin_alone(app, group_id, member, outsider):
    with app.app_context():
        group = get_group(group_id)
        stays = memberships.join(group, member.user(), clock.now_utc())
        memberships.leave(stays, clock.now_utc())
        assert memberships.member_count(group) == 1

        assert memberships.join(group, member.user(), clock.now_utc()) is stays
        assert stays.status == MemberStatus.ACTIVE

        removed = memberships.join(group, outsider.user(), clock.now_utc())
        memberships.remove(removed, clock.now_utc())
        with pytest.raises(Forbidden):
            memberships.join(group, outsider.user(), clock.now_utc())
        memberships.approve(removed, clock.now_utc())  # a facilitator lets them back in
        assert removed.status == MemberStatus.ACTIVE


def test_an_archived_group_takes_no_new_members(app, group_id, member):
    with app.app_context():
        group = get_group(group_id)
        groups.archive_group(group, clock.now_utc())

        with pytest.raises(DomainError, match="archived"):
            memberships.join(group, member.user(), clock.now_utc())
        assert visibility_rules.membership_for(group, member.user()) is None


# --- facilitators ---


def test_the_last_facilitator_cannot_leave_be_demoted_or_be_removed(app, group_id, facilitator, member):
    with app.app_context():
        group = get_group(group_id)
        fay = visibility_rules.membership_for(group, facilitator.user())

        for attempt in (
            lambda: memberships.leave(fay, clock.now_utc()),
            lambda: memberships.set_role(fay, MemberRole.MEMBER),
            lambda: memberships.remove(fay, clock.now_utc()),
        ):
            with pytest.raises(DomainError, match="facilitator"):
                attempt()
        assert fay.is_facilitator

        mia = memberships.join(group, member.user(), clock.now_utc())
        memberships.set_role(mia, MemberRole.FACILITATOR)
        memberships.leave(fay, clock.now_utc())

        assert fay.status == MemberStatus.LEFT
        assert [m.user_id for m in memberships.facilitators(group)] == [member.id]
        assert visibility_rules.can_manage(group, member.user())
        assert not visibility_rules.can_manage(group, facilitator.user())


def test_only_active_members_can_be_given_a_role(app, group_id, member):
    with app.app_context():
        group = get_group(group_id)
        set_policy(group, Visibility.PUBLIC, JoinPolicy.APPROVAL)
        pending = memberships.join(group, member.user(), clock.now_utc())

        with pytest.raises(DomainError):
            memberships.set_role(pending, MemberRole.FACILITATOR)


# --- who sees and manages a group ---


def test_public_and_unlisted_groups_are_visible_to_everyone(app, group_id, outsider):
    with app.app_context():
        group = get_group(group_id)
        assert visibility_rules.visible_to(group, None)
        assert visibility_rules.visible_to(group, outsider.user())
        set_policy(group, Visibility.UNLISTED, JoinPolicy.OPEN)
        assert visibility_rules.visible_to(group, None)


def test_a_private_group_is_seen_by_members_askers_and_invite_holders_only(app, group_id, member, outsider, admin):
    with app.app_context():
        group = get_group(group_id)
        set_policy(group, Visibility.PRIVATE, JoinPolicy.APPROVAL)
        token = memberships.regenerate_invite(group, clock.now_utc())

        assert not visibility_rules.visible_to(group, None)
        assert not visibility_rules.visible_to(group, outsider.user())
        assert visibility_rules.visible_to(group, outsider.user(), invite_token=token)
        assert not visibility_rules.visible_to(group, outsider.user(), invite_token="wrong")
        assert visibility_rules.visible_to(group, admin.user())

        memberships.join(group, member.user(), clock.now_utc(), invite_token=token)
        assert visibility_rules.visible_to(group, member.user())  # pending: can see their request


def test_an_archived_group_is_seen_by_its_members_only(app, group_id, member, outsider, admin):
    with app.app_context():
        group = get_group(group_id)
        memberships.join(group, member.user(), clock.now_utc())
        groups.archive_group(group, clock.now_utc())

        assert visibility_rules.visible_to(group, member.user())
        assert visibility_rules.visible_to(group, admin.user())
        assert not visibility_rules.visible_to(group, outsider.user())
        assert not visibility_rules.visible_to(group, None)


def test_only_facilitators_and_admins_manage_a_group(app, group_id, facilitator, member, outsider, admin):
    with app.app_context():
        group = get_group(group_id)
        memberships.join(group, member.user(), clock.now_utc())

        assert visibility_rules.can_manage(group, facilitator.user())
        assert visibility_rules.can_manage(group, admin.user())
        assert not visibility_rules.can_manage(group, member.user())
        assert not visibility_rules.can_manage(group, outsider.user())
        assert not visibility_rules.can_manage(group, None)


def test_membership_is_unique_per_person_and_group(app, group_id, facilitator):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        group = get_group(group_id)
        db.session.add(
            Membership(
                group=group,
                user=facilitator.user(),
                status=MemberStatus.ACTIVE,
                joined_at=clock.now_utc() - timedelta(days=1),
            )
        )
        with pytest.raises(IntegrityError):
            db.session.flush()


def test_an_invite_link_leads_to_its_group_until_it_expires_or_is_replaced(app, group_id):
    with app.app_context():
        group = get_group(group_id)
        token = memberships.regenerate_invite(group, clock.now_utc(), days=1)

        assert memberships.group_for_invite(token, clock.now_utc()) is group
        assert memberships.group_for_invite("not-a-token", clock.now_utc()) is None
        assert memberships.group_for_invite(token, clock.now_utc() + timedelta(days=1)) is None

        fresh = memberships.regenerate_invite(group, clock.now_utc())
        assert memberships.group_for_invite(token, clock.now_utc()) is None
        groups.archive_group(group, clock.now_utc())
        assert memberships.group_for_invite(fresh, clock.now_utc()) is None


def test_facilitators_see_members_first_facilitators_and_requests_oldest_first(app, group_id, member, outsider, admin):
    with app.app_context():
        group = get_group(group_id)
        memberships.join(group, member.user(), clock.now_utc())
        set_policy(group, Visibility.PUBLIC, JoinPolicy.APPROVAL)
        memberships.join(group, outsider.user(), clock.now_utc())
        memberships.join(group, admin.user(), clock.now_utc() + timedelta(minutes=1))

        assert [m.user.display_name for m in memberships.active_memberships(group)] == ["Fay F.", "Mia M."]
        assert [m.user.display_name for m in memberships.pending_requests(group)] == ["Otto O.", "Ada A."]


def test_long_names_still_get_unique_addresses(app, facilitator):
    with app.app_context():
        name = "A very long name for a peer support circle that meets on Thursday evenings in town"
        slugs = [start_group(facilitator.user(), name=name).slug for _ in range(3)]

        assert len(set(slugs)) == 3
        assert all(len(slug) <= 80 for slug in slugs)
        assert slugs[1].endswith("-2") and slugs[2].endswith("-3")
