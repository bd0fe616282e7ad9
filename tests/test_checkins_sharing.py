"""What a group's facilitators see of check-ins: exactly what each member chose, for as long as they choose it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from supportnet import clock, consent, memberships, visibility
from supportnet.checkins import records as checkins_records
from supportnet.checkins import recovery as checkins_recovery
from supportnet.checkins import sharing as checkins_sharing
from supportnet.checkins import support as checkins_support
from supportnet.checkins.sharing import GroupSharing
from supportnet.extensions import db
from supportnet.models import CheckinSharing, Group, MemberRole, Membership, Occurrence, SiteRole
from tests.conftest import PINNED_NOW, Persona, make_persona, post
from tests.pages import browser, html, text
from tests.worlds.checkins import TODAY, add_member, record, schedule_meeting, share, start_group


@pytest.fixture
def circle(app, facilitator) -> str:
    """A group started by the facilitator persona."""
    return start_group(app, facilitator, name="Thursday Circle", contact_note="Call Fay on 0123 456 789.")


@pytest.fixture
def mia(app, circle) -> Persona:
    persona = make_persona(app, "Mia M.")
    add_member(app, circle, persona)
    return persona


def support_page(app, slug: str, persona: Persona):
    return browser(app, persona).get(f"/groups/{slug}/support")


def this_week(app, slug: str, persona: Persona) -> str:
    """The "group this week" part of the support page, as text."""
    body = text(support_page(app, slug, persona))
    return body.split("The group this week", 1)[1].split("Shared trends", 1)[0]


def mias_checkins(app, mia) -> None:
    record(app, mia, mood=2, craving=8, energy=1, sleep=2, tags=["stress"], new_tags=["payday"],
           note="SHARED-NOTE-7731 I called my sponsor", share_note=True, wants_support=True)
    record(app, mia, mood=4, craving=3, note="PRIVATE-NOTE-1204 kept to myself", share_note=False,
           day=TODAY - timedelta(days=1))


def test_a_facilitator_sees_nothing_without_sharing(app, facilitator, circle, mia):
    mias_checkins(app, mia)
    response = support_page(app, circle, facilitator)
    assert response.status_code == 200
    body = text(response)
    assert "Mia M." not in body
    assert "SHARED-NOTE" not in body and "PRIVATE-NOTE" not in body
    assert "Nobody who shares with this group asked for support" in body
    assert "No member shares check-ins with this group right now" in body


def test_summaries_show_mood_craving_and_the_support_flag_only(app, facilitator, circle, mia):
    mias_checkins(app, mia)
    share(app, circle, mia, CheckinSharing.SUMMARIES)
    body = text(support_page(app, circle, facilitator))
    assert "Mia M." in body
    assert "Low · craving 8" in body and "Good · craving 3" in body
    assert "asked for support" in body
    for private in ("SHARED-NOTE", "PRIVATE-NOTE", "payday", "Stress", "energy", "sleep"):
        assert private not in body, private


def test_notes_are_shown_only_where_the_member_shared_that_check_ins_note(app, facilitator, circle, mia):
    mias_checkins(app, mia)
    share(app, circle, mia, CheckinSharing.NOTES)
    body = text(support_page(app, circle, facilitator))
    assert "SHARED-NOTE-7731 I called my sponsor" in body
    assert "PRIVATE-NOTE" not in body
    assert "payday" not in body and "Stress" not in body


def test_turning_sharing_off_removes_the_facilitators_access_at_once(app, facilitator, circle, mia):
    mias_checkins(app, mia)
    share(app, circle, mia, CheckinSharing.NOTES)
    fay = browser(app, facilitator)
    assert "SHARED-NOTE" in text(fay.get(f"/groups/{circle}/support"))
    membership_id = _membership_id(app, circle, mia)
    response = post(browser(app, mia), "/me/sharing", {"membership": str(membership_id),
                                                        f"m{membership_id}-level": "none"})
    assert response.status_code == 302
    body = text(fay.get(f"/groups/{circle}/support"))
    assert "Mia M." not in body and "SHARED-NOTE" not in body and "craving 8" not in body


def test_leaving_ends_sharing_and_coming_back_starts_from_nothing(app, facilitator, circle, mia):
    mias_checkins(app, mia)
    share(app, circle, mia, CheckinSharing.NOTES, recovery=True)
    with app.app_context():
        membership = db.session.get(Membership, _membership_id(app, circle, mia))
        memberships.leave(membership, clock.now_utc())
        db.session.commit()
        assert checkins_sharing.sharing_of(membership, clock.now_utc()) == GroupSharing(CheckinSharing.NONE, False)
        assert consent.standing_for(membership.user_id, clock.now_utc()) == []
    assert "Mia M." not in text(support_page(app, circle, facilitator))
    add_member(app, circle, mia)
    assert "Mia M." not in text(support_page(app, circle, facilitator))


def test_only_the_groups_own_facilitators_open_the_support_page(app, facilitator, circle, mia, admin):
    share(app, circle, mia, CheckinSharing.NOTES)
    mias_checkins(app, mia)
    assert support_page(app, circle, mia).status_code == 403
    assert support_page(app, circle, make_persona(app, "Otto O.")).status_code == 403
    # A site admin is not the facilitator the member chose to share with.
    response = support_page(app, circle, admin)
    assert response.status_code == 403
    assert "SHARED-NOTE" not in html(response)
    other_fac = make_persona(app, "Gus G.", SiteRole.FACILITATOR)
    start_group(app, other_fac, name="Other Circle")
    assert support_page(app, circle, other_fac).status_code == 403
    # A co-facilitator of the group does see it.
    add_member(app, circle, other_fac, MemberRole.FACILITATOR)
    assert "SHARED-NOTE" in text(support_page(app, circle, other_fac))
    assert browser(app).get(f"/groups/{circle}/support").status_code == 302


def test_a_private_groups_support_page_is_not_found_for_outsiders(app, facilitator):
    slug = start_group(app, facilitator, name="Hidden", visibility="private", join_policy="invite")
    assert support_page(app, slug, make_persona(app, "Otto O.")).status_code == 404


def test_support_requests_are_those_of_the_last_seven_days(app, facilitator, circle, mia):
    share(app, circle, mia, CheckinSharing.SUMMARIES)
    record(app, mia, at=PINNED_NOW - timedelta(days=8), day=TODAY - timedelta(days=8), wants_support=True, mood=1)
    body = text(support_page(app, circle, facilitator))
    assert "Nobody who shares with this group asked for support in the last 7 days" in body
    record(app, mia, at=PINNED_NOW - timedelta(days=6), day=TODAY - timedelta(days=6), wants_support=True, mood=2)
    body = text(support_page(app, circle, facilitator))
    section = body.split("Asked for support in the last 7 days", 1)[1].split("The group this week", 1)[0]
    assert "Mia M." in section and "Low · craving 2" in section


def test_group_figures_appear_only_from_five_sharing_members(app, facilitator, circle):
    people = []
    for n in range(6):
        persona = make_persona(app, f"Member {n}")
        add_member(app, circle, persona)
        people.append(persona)
    # Five check in this week, but only four share: no figures, and no count that would tell.
    for persona in people[:5]:
        record(app, persona, mood=2, craving=6)
    for persona in people[:4]:
        share(app, circle, persona, CheckinSharing.SUMMARIES)
    week = this_week(app, circle, facilitator)
    assert "Group figures appear once at least 5 members" in week
    assert "Average" not in week and "4" not in week
    # The sixth shares but has not checked in this week (only earlier): still four contributors.
    share(app, circle, people[5], CheckinSharing.SUMMARIES)
    record(app, people[5], day=TODAY - timedelta(days=10), at=PINNED_NOW - timedelta(days=10))
    assert "Average" not in this_week(app, circle, facilitator)
    # The fifth contributor turns sharing on.
    share(app, circle, people[4], CheckinSharing.SUMMARIES)
    week = this_week(app, circle, facilitator)
    assert "Average mood 2.0 of 5" in week and "Average craving 6.0 of 10" in week
    assert "Members these figures come from 5" in week
    # And one turning it off hides them again at once.
    share(app, circle, people[0], CheckinSharing.NONE)
    assert "Average" not in this_week(app, circle, facilitator)


def test_the_aggregate_rule_in_the_domain():
    member = checkins_support.SharedMember(1, "A", CheckinSharing.SUMMARIES, [
        checkins_support.SharedCheckIn(TODAY, PINNED_NOW, 3, 4, True, None, None)
    ])
    many = [checkins_support.SharedMember(i, f"M{i}", member.level, member.checkins) for i in range(5)]
    assert checkins_support._aggregate(many[:4], PINNED_NOW) is None
    assert checkins_support._aggregate(many, PINNED_NOW) == checkins_support.Aggregate(5, 3.0, 4.0, 5)


def test_a_check_in_about_another_groups_meeting_does_not_name_it(app, facilitator, circle, mia):
    elsewhere = start_group(app, make_persona(app, "Gus G.", SiteRole.FACILITATOR), name="Elsewhere Group")
    add_member(app, elsewhere, mia)
    theirs = schedule_meeting(app, elsewhere, title="Secret Elsewhere Meeting")
    ours = schedule_meeting(app, circle)
    share(app, circle, mia, CheckinSharing.SUMMARIES)
    with app.app_context():
        for occurrence_id, mood in ((theirs, 3), (ours, 5)):
            occ = db.session.get(Occurrence, occurrence_id)
            checkins_records.record(
                mia.user(), checkins_records.CheckInSpec(mood, 0, occurrence=occ, timing="after"), PINNED_NOW
            )
        db.session.commit()
    body = text(support_page(app, circle, facilitator))
    assert "Okay · craving 0" in body and "Very good · craving 0" in body
    assert "Secret Elsewhere Meeting" not in body and "Elsewhere" not in body
    assert "after Integration circle on Thu 26 Nov" in body


def test_the_recovery_day_count_is_shown_only_to_groups_it_is_shared_with(app, facilitator, circle, mia):
    with app.app_context():
        checkins_recovery.set_recovery_date(mia.user(), TODAY - timedelta(days=45), PINNED_NOW)
        db.session.commit()
    assert "45 days" not in text(support_page(app, circle, facilitator))
    assert "45 days" not in text(browser(app, facilitator).get(f"/groups/{circle}"))
    share(app, circle, mia, CheckinSharing.NONE, recovery=True)
    body = text(support_page(app, circle, facilitator))
    assert "Mia M.: 45 days" in body
    # Sharing the day count does not share check-ins.
    record(app, mia, note="PRIVATE-NOTE-1")
    assert "No member shares check-ins with this group right now" in text(support_page(app, circle, facilitator))


# --- the member's side: choosing, and reaching out ---


def _membership_id(app, slug: str, persona: Persona) -> int:
    with app.app_context():
        group = db.session.scalar(select(Group).where(Group.slug == slug))
        return visibility.membership_for(group, persona.user()).id


def test_sharing_is_off_by_default_and_the_member_chooses_per_group(app, facilitator, circle, mia):
    other = start_group(app, facilitator, name="Friday Coffee")
    add_member(app, other, mia)
    client = browser(app, mia)
    page = client.get("/me/sharing")
    assert page.status_code == 200
    assert "Thursday Circle" in text(page) and "Friday Coffee" in text(page)
    assert len(re.findall(r'<input checked[^>]*name="m\d+-level"[^>]*value="none"', html(page))) == 2
    circle_id = _membership_id(app, circle, mia)
    response = post(client, "/me/sharing", {"membership": str(circle_id), f"m{circle_id}-level": "notes",
                                            f"m{circle_id}-recovery": "y"})
    assert response.status_code == 302
    with app.app_context():
        rows = {m.group.name: checkins_sharing.sharing_of(m, clock.now_utc())
                for m in checkins_sharing.sharing_memberships(mia.user())}
    assert rows == {"Thursday Circle": GroupSharing(CheckinSharing.NOTES, True),
                    "Friday Coffee": GroupSharing(CheckinSharing.NONE, False)}
    assert "Thursday Circle: summaries and shared notes" in text(client.get("/me/checkins"))


def test_a_member_cannot_set_sharing_for_someone_elses_membership(app, facilitator, circle, mia):
    bea = make_persona(app, "Bea B.")
    add_member(app, circle, bea)
    beas = _membership_id(app, circle, bea)
    response = post(browser(app, mia), "/me/sharing", {"membership": str(beas), f"m{beas}-level": "notes"})
    assert response.status_code == 303
    with app.app_context():
        bea_row = db.session.get(Membership, beas)
        assert checkins_sharing.sharing_of(bea_row, clock.now_utc()) == GroupSharing(CheckinSharing.NONE, False)
        assert consent.history_for(bea_row.user_id) == []


def test_an_unknown_sharing_level_is_refused(app, circle, mia):
    mine = _membership_id(app, circle, mia)
    response = post(browser(app, mia), "/me/sharing", {"membership": str(mine), f"m{mine}-level": "everything"})
    assert response.status_code == 400
    with app.app_context():
        my_row = db.session.get(Membership, mine)
        assert checkins_sharing.sharing_of(my_row, clock.now_utc()) == GroupSharing(CheckinSharing.NONE, False)
        assert consent.history_for(my_row.user_id) == []


def test_asking_for_support_offers_the_facilitators_of_groups_the_member_shares_with(app, facilitator, circle, mia):
    share(app, circle, mia, CheckinSharing.SUMMARIES)
    quiet = start_group(app, facilitator, name="Quiet Group")
    add_member(app, quiet, mia)
    client = browser(app, mia)
    response = post(client, "/me/checkins/new", {"mood": "3", "craving": "5", "day": TODAY.isoformat(),
                                                 "wants_support": "y"})
    page = client.get(response.location)
    body = text(page)
    assert "Thursday Circle" in body and "Fay F." in body and "including that you'd like support" in body
    assert "Call Fay on 0123 456 789." in body
    assert "Quiet Group" not in body  # not shared with: not offered, and nobody there sees it
    assert "SupportNet is not an emergency service." in body
    assert "Emergency services" in body and "findahelpline.com" in body


def test_the_lowest_mood_offers_crisis_resources_even_without_sharing(app, mia):
    client = browser(app, mia)
    response = post(client, "/me/checkins/new", {"mood": "1", "craving": "2", "day": TODAY.isoformat()})
    body = text(client.get(response.location))
    assert "A hard day" in body
    assert "You don't share check-ins with any group, so no facilitator sees this one." in body
    assert "SupportNet is not an emergency service." in body
