"""Rhythms of standard measures as members live them: due days (monthly clamping, every 2 weeks), one prompt
per due day at the member's local time across a DST change, never again once taken, cancelled when the rhythm
stops; a neutral email through the real SMTP server; suggestions from a group's facilitators that members
accept or decline, and that nobody outside the group sees or can answer; overdue measures once on the home.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from supportnet import clock, groups, memberships, privacy, programs
from supportnet.checkins import rhythms
from supportnet.extensions import db
from supportnet.models import (
    AuditAction,
    AuditEntry,
    Group,
    GroupKind,
    Membership,
    NotificationKind,
    NotificationStatus,
    Rhythm,
    RhythmSuggestion,
)
from tests.conftest import login, make_persona, post
from tests.worlds.measures_rhythms import (
    email_prompts_only,
    open_suggestion_ids,
    rhythm_row,
    set_rhythm,
    stop_rhythm,
    suggest,
    took,
)
from tests.worlds.notifications import REVEALING_WORDS, join, make_world, rows, run, run_every, set_prefs

Kind = NotificationKind
SENT, PENDING, CANCELLED = NotificationStatus.SENT, NotificationStatus.PENDING, NotificationStatus.CANCELLED
LONDON = ZoneInfo("Europe/London")
M, F, W = Rhythm.MONTHLY, Rhythm.FORTNIGHTLY, Rhythm.WEEKLY


def at_london(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


# --- due days ---


def test_monthly_keeps_the_day_of_the_month_and_falls_on_the_last_day_of_shorter_months():
    start = date(2027, 1, 31)
    assert [rhythms.due_day(M, start, n) for n in range(5)] == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31)]
    assert rhythms.due_day(M, date(2028, 1, 30), 1) == date(2028, 2, 29)  # a leap year
    assert rhythms.latest_due(M, start, date(2027, 3, 30)) == date(2027, 2, 28)
    assert rhythms.latest_due(M, start, date(2027, 3, 31)) == date(2027, 3, 31)
    assert rhythms.is_due_day(M, start, date(2027, 2, 28)) and not rhythms.is_due_day(M, start, date(2027, 3, 28))
    assert rhythms.next_due(M, start, date(2027, 4, 1)) == date(2027, 4, 30)
    assert rhythms.latest_due(M, start, date(2027, 1, 30)) is None
    assert rhythms.next_due(M, date(2027, 1, 15), date(2027, 3, 16)) == date(2027, 4, 15)


def test_every_two_weeks_and_weekly_count_from_the_first_day():
    start = date(2027, 3, 1)  # a Monday
    assert [rhythms.due_day(F, start, n) for n in range(3)] == [date(2027, 3, 1), date(2027, 3, 15), date(2027, 3, 29)]
    assert rhythms.latest_due(F, start, date(2027, 3, 14)) == date(2027, 3, 1)
    assert not rhythms.is_due_day(F, start, date(2027, 3, 8))
    assert rhythms.is_due_day(W, start, date(2027, 3, 8))
    assert rhythms.next_due(F, start, date(2027, 3, 2)) == date(2027, 3, 15)
    assert rhythms.next_due(W, start, date(2027, 3, 8)) == date(2027, 3, 8)
    assert rhythms.next_due(W, start, date(2027, 2, 1)) == start


# --- prompts through the outbox ---


def test_a_weekly_prompt_arrives_once_at_eight_local_on_both_sides_of_the_spring_change(app, member, mailbox):
    # Clocks go forward in London on Sunday 28 March 2027: 08:00 is 08:00 UTC before, 07:00 UTC after.
    email_prompts_only(app, member)
    set_rhythm(app, member, "PHQ-9", W, date(2027, 3, 21), time(8, 0))
    for sunday in (date(2027, 3, 21), date(2027, 3, 28)):
        run_every(app, at_london(sunday - timedelta(days=1), 0), at_london(sunday + timedelta(days=1), 0),
                  timedelta(minutes=30))
    prompts = rows(app, kind=Kind.MEASURE_PROMPT)
    assert [r.payload["date"] for r in prompts] == ["2027-03-21", "2027-03-28"]
    for r in prompts:
        assert r.status == SENT
        local = r.sent_at.astimezone(LONDON)
        assert (local.date().isoformat(), local.time()) == (r.payload["date"], time(8, 0))
    assert [m["Subject"] for m in mailbox.to(member.email)] == ["A check-in is due"] * 2


def test_the_email_is_neutral_and_links_to_the_measure_unless_the_member_asked_for_descriptive_subjects(
        app, member, mailbox):
    email_prompts_only(app, member)
    set_rhythm(app, member, "BAM", W, date(2027, 3, 1), time(8, 0))
    run(app, at_london(date(2027, 3, 1), 0))
    run(app, at_london(date(2027, 3, 1), 8))
    (message,) = mailbox.to(member.email)
    assert message["Subject"] == "A check-in is due"
    text = mailbox.text(message)
    assert "/me/measures/BAM/take" in text
    assert "BAM" not in message["Subject"] and "Brief Addiction" not in text
    for word in REVEALING_WORDS:
        assert word not in message["Subject"].lower()
    mailbox.clear()
    set_prefs(app, member, descriptive_subjects=True)
    run(app, at_london(date(2027, 3, 8), 0))
    run(app, at_london(date(2027, 3, 8), 8))
    (message,) = mailbox.to(member.email)
    assert message["Subject"] == "A check-in is due: Brief Addiction Monitor (BAM)"


def test_no_prompt_once_the_measure_is_taken_since_its_due_day_and_the_next_due_day_still_comes(
        app, member, mailbox):
    email_prompts_only(app, member)
    set_rhythm(app, member, "GAD-7", W, date(2027, 3, 1), time(18, 0))
    run(app, at_london(date(2027, 3, 1), 0))  # planned for 18:00
    (planned,) = rows(app, kind=Kind.MEASURE_PROMPT)
    assert planned.status == PENDING
    took(app, member, "GAD-7", date(2027, 3, 1), at_london(date(2027, 3, 1), 12))
    run_every(app, at_london(date(2027, 3, 1), 17, 30), at_london(date(2027, 3, 2), 0), timedelta(minutes=30))
    assert rows(app, kind=Kind.MEASURE_PROMPT)[0].status == CANCELLED
    assert mailbox.to(member.email) == []
    run_every(app, at_london(date(2027, 3, 8), 0), at_london(date(2027, 3, 8), 19), timedelta(hours=1))
    assert [m["Subject"] for m in mailbox.to(member.email)] == ["A check-in is due"]


def test_stopping_the_rhythm_cancels_the_planned_prompt_and_nothing_is_sent(app, member, mailbox):
    email_prompts_only(app, member)
    set_rhythm(app, member, "PHQ-9", W, date(2027, 3, 1), time(9, 0))
    run(app, at_london(date(2027, 3, 1), 0))
    stop_rhythm(app, member, "PHQ-9", at_london(date(2027, 3, 1), 1))
    assert [r.status for r in rows(app, kind=Kind.MEASURE_PROMPT)] == [CANCELLED]
    run_every(app, at_london(date(2027, 3, 1), 2), at_london(date(2027, 3, 9), 0), timedelta(hours=3))
    assert [r.status for r in rows(app, kind=Kind.MEASURE_PROMPT)] == [CANCELLED]
    assert mailbox.to(member.email) == []


def test_changing_the_time_moves_the_days_prompt_once_and_the_member_can_turn_prompts_off(app, member, mailbox):
    email_prompts_only(app, member)
    set_rhythm(app, member, "PHQ-9", W, date(2027, 3, 1), time(9, 0))
    run(app, at_london(date(2027, 3, 1), 0))
    set_rhythm(app, member, "PHQ-9", W, date(2027, 3, 1), time(20, 0), at_london(date(2027, 3, 1), 1))
    run_every(app, at_london(date(2027, 3, 1), 2), at_london(date(2027, 3, 2), 0), timedelta(hours=1))
    (row,) = rows(app, kind=Kind.MEASURE_PROMPT)
    assert row.status == SENT and row.sent_at == at_london(date(2027, 3, 1), 20)
    assert len(mailbox.to(member.email)) == 1
    set_prefs(app, member, channels={Kind.MEASURE_PROMPT: frozenset()})
    run_every(app, at_london(date(2027, 3, 8), 0), at_london(date(2027, 3, 9), 0), timedelta(hours=2))
    assert len(rows(app, kind=Kind.MEASURE_PROMPT)) == 1 and len(mailbox.to(member.email)) == 1


def test_a_deleted_account_takes_its_rhythm_and_prompts_with_it(app, member):
    set_rhythm(app, member, "PHQ-9", W, date(2027, 3, 1), time(9, 0))
    run(app, at_london(date(2027, 3, 1), 0))
    assert rows(app, kind=Kind.MEASURE_PROMPT)
    with app.app_context():
        privacy.delete_account(member.user(), clock.now_utc())
        db.session.commit()
    assert rows(app, kind=Kind.MEASURE_PROMPT) == []
    assert rhythm_row(app, member, "PHQ-9") is None


# --- suggestions ---


@pytest.fixture
def world(app, facilitator, member):
    world = make_world(app, facilitator)
    join(world, member)
    return world


def test_a_facilitator_suggests_a_member_accepts_and_the_rhythm_is_theirs(app, client, world, facilitator, member):
    login(client, facilitator)
    page = client.get(f"/groups/{world.slug}/measures/suggestions")
    assert page.status_code == 200
    response = post(client, f"/groups/{world.slug}/measures/suggestions",
                    {"code": "BAM", "rhythm": "monthly", "note": "We look at these together."})
    assert response.status_code == 302
    with app.app_context():
        suggestion = db.session.scalar(select(RhythmSuggestion))
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == AuditAction.RHYTHM_SUGGESTED))
        assert entry.details == {"suggestion_id": suggestion.id} and entry.group_id == world.group_id
    client.post("/logout", data={"csrf_token": ""})
    member_client = app.test_client()
    login(member_client, member)
    shown = member_client.get("/me/measures/rhythms").get_data(as_text=True)
    assert "Brief Addiction Monitor" in shown and "We look at these together." in shown
    assert post(member_client, f"/me/measures/suggestions/{suggestion.id}/accept").status_code == 302
    rhythm, _starts_on, _at, from_suggestion = rhythm_row(app, member, "BAM")
    assert rhythm == M and from_suggestion == suggestion.id
    assert open_suggestion_ids(app, member) == []
    # The facilitator's page lists the suggestion, never who answered.
    facilitator_page = client.get(f"/groups/{world.slug}/measures/suggestions").get_data(as_text=True)
    assert member.display_name not in facilitator_page


def test_the_same_measure_cannot_be_suggested_twice_while_the_first_is_open(app, client, world, facilitator, member):
    login(client, facilitator)
    url = f"/groups/{world.slug}/measures/suggestions"
    assert post(client, url, {"code": "BAM", "rhythm": "monthly"}).status_code == 302
    again = post(client, url, {"code": "BAM", "rhythm": "weekly"})
    assert again.status_code == 400 and "already suggested" in again.get_data(as_text=True)
    assert len(open_suggestion_ids(app, member)) == 1
    with app.app_context():
        first = db.session.scalar(select(RhythmSuggestion.id))
    assert post(client, f"{url}/{first}/withdraw").status_code == 302
    assert post(client, url, {"code": "BAM", "rhythm": "weekly"}).status_code == 302  # after withdrawing, again
    assert len(open_suggestion_ids(app, member)) == 1


def test_a_declined_suggestion_is_never_shown_again(app, client, world, facilitator, member):
    suggestion_id = suggest(app, facilitator, "PHQ-9", W, group_id=world.group_id)
    login(client, member)
    # The home says once that a suggestion waits for an answer, and where to answer it.
    home = client.get("/").get_data(as_text=True)
    assert "One of your groups suggests a rhythm for a measure" in home and 'href="/me/measures#rhythms-h"' in home
    assert post(client, f"/me/measures/suggestions/{suggestion_id}/decline").status_code == 302
    assert open_suggestion_ids(app, member) == []
    assert "Suggested to you" not in client.get("/me/measures/rhythms").get_data(as_text=True)
    assert "suggests a rhythm" not in client.get("/").get_data(as_text=True)
    assert post(client, f"/me/measures/suggestions/{suggestion_id}/accept").status_code == 404
    assert rhythm_row(app, member, "PHQ-9") is None


def test_another_groups_member_never_sees_or_answers_a_suggestion(app, client, world, facilitator, outsider):
    suggestion_id = suggest(app, facilitator, "PHQ-9", W, group_id=world.group_id)
    assert open_suggestion_ids(app, outsider) == []
    login(client, outsider)
    assert "Suggested to you" not in client.get("/me/measures/rhythms").get_data(as_text=True)
    # The attacker guesses the suggestion's id and posts an answer.
    assert post(client, f"/me/measures/suggestions/{suggestion_id}/accept").status_code == 404
    assert post(client, f"/me/measures/suggestions/{suggestion_id}/decline").status_code == 404
    assert rhythm_row(app, outsider, "PHQ-9") is None


def test_a_member_cannot_suggest_and_an_outsider_cannot_either(app, client, world, member, outsider):
    login(client, member)
    data = {"code": "PHQ-9", "rhythm": "weekly"}
    assert post(client, f"/groups/{world.slug}/measures/suggestions", data).status_code == 403
    assert client.get(f"/groups/{world.slug}/measures/suggestions").status_code == 403
    other = app.test_client()
    login(other, outsider)
    # The group is public: an outsider sees it but does not facilitate it.
    assert post(other, f"/groups/{world.slug}/measures/suggestions", data).status_code == 403
    assert post(other, "/groups/no-such-group/measures/suggestions", data).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(RhythmSuggestion)) is None


def test_a_facilitator_of_another_group_cannot_withdraw_a_suggestion(app, client, world, facilitator,
                                                                     other_facilitator):
    suggestion_id = suggest(app, facilitator, "PHQ-9", W, group_id=world.group_id)
    with app.app_context():
        theirs = groups.create_group(other_facilitator.user(), name="Harbour Friends", now=clock.now_utc(),
                                     timezone="Europe/London", kind=GroupKind.AFTERCARE)
        db.session.commit()
        their_slug = theirs.slug
    login(client, other_facilitator)
    # Through their own group's address, with the other group's suggestion id: it does not exist there.
    assert post(client, f"/groups/{their_slug}/measures/suggestions/{suggestion_id}/withdraw").status_code == 404
    # Through the other group's address: they may see the group but do not facilitate it.
    assert post(client, f"/groups/{world.slug}/measures/suggestions/{suggestion_id}/withdraw").status_code == 403
    with app.app_context():
        assert db.session.get(RhythmSuggestion, suggestion_id).withdrawn_at is None
    # The group's own facilitator can.
    own = app.test_client()
    login(own, facilitator)
    assert post(own, f"/groups/{world.slug}/measures/suggestions/{suggestion_id}/withdraw").status_code == 302
    with app.app_context():
        assert db.session.get(RhythmSuggestion, suggestion_id).withdrawn_at is not None


def test_a_pending_suggestion_ends_with_the_membership_and_with_the_group_but_an_accepted_rhythm_stays(
        app, world, facilitator, member):
    second = make_persona(app, "Sam S.")
    join(world, second)
    first_id = suggest(app, facilitator, "PHQ-9", W, group_id=world.group_id)
    with app.app_context():
        rhythms.accept(member.user(), db.session.get(RhythmSuggestion, first_id), clock.now_utc())
        db.session.commit()
    assert open_suggestion_ids(app, second) == [first_id]
    with app.app_context():
        membership = db.session.scalar(select(Membership).where(Membership.user_id == member.id,
                                                                Membership.group_id == world.group_id))
        memberships.leave(membership, clock.now_utc())
        db.session.commit()
    assert rhythm_row(app, member, "PHQ-9")[0] == W, "the member's own rhythm stays"
    later_id = suggest(app, facilitator, "GAD-7", W, group_id=world.group_id)
    assert open_suggestion_ids(app, member) == []
    assert open_suggestion_ids(app, second) == [first_id, later_id]
    with app.app_context():
        groups.archive_group(db.session.get(Group, world.group_id), clock.now_utc(), by=facilitator.user())
        db.session.commit()
    assert open_suggestion_ids(app, second) == []


def test_a_programs_suggestion_reaches_the_members_of_the_groups_it_runs(app, world, admin, member, outsider):
    with app.app_context():
        now = clock.now_utc()
        program = programs.create_program("Harbour Clinic aftercare", by=admin.user(), now=now)
        programs.set_group_program(db.session.get(Group, world.group_id), program, by=admin.user(), now=now)
        suggestion = rhythms.suggest(program=program, code="BAM", rhythm=F, note=None, by_user=admin.user(),
                                     now=now)
        db.session.commit()
        suggestion_id = suggestion.id
    assert open_suggestion_ids(app, member) == [suggestion_id]
    assert open_suggestion_ids(app, outsider) == []


# --- the home ---


def test_the_home_shows_an_overdue_measure_once_however_many_due_days_passed(app, client, member):
    # Weekly from five weeks ago, never taken: one line, not five.
    set_rhythm(app, member, "PHQ-9", W, date(2026, 10, 22), time(9, 0))
    set_rhythm(app, member, "GAD-7", W, date(2026, 12, 3), time(9, 0))  # not due yet
    login(client, member)
    home = client.get("/").get_data(as_text=True)
    assert home.count('id="measures-due-h"') == 1
    assert home.count("/me/measures/PHQ-9/take") == 1
    assert "/me/measures/GAD-7/take" not in home
    took(app, member, "PHQ-9", date(2026, 11, 26))
    assert 'id="measures-due-h"' not in client.get("/").get_data(as_text=True)


def test_a_rhythm_is_set_and_stopped_from_the_form_and_bad_input_is_refused(app, client, member):
    login(client, member)
    response = post(client, "/me/measures/PHQ-9/rhythm",
                    {"rhythm": "fortnightly", "starts_on": "2026-12-01", "at": "19:30"})
    assert response.status_code == 302
    assert rhythm_row(app, member, "PHQ-9")[:3] == (F, date(2026, 12, 1), time(19, 30))
    assert post(client, "/me/measures/PHQ-9/rhythm", {"rhythm": "hourly"}).status_code == 400
    assert post(client, "/me/measures/PHQ-9/rhythm", {"rhythm": "weekly", "at": "25:99"}).status_code == 400
    assert post(client, "/me/measures/NOPE/rhythm", {"rhythm": "weekly"}).status_code == 404
    assert post(client, "/me/measures/PHQ-9/rhythm", {"rhythm": "stop"}).status_code == 302
    assert rhythm_row(app, member, "PHQ-9") is None


def test_the_group_and_program_pages_link_to_their_suggestions_and_a_coordinator_suggests(
        app, client, world, facilitator, admin, member):
    login(client, facilitator)
    assert f"/groups/{world.slug}/measures/suggestions" in client.get(f"/groups/{world.slug}").get_data(as_text=True)
    coordinator = make_persona(app, "Cora C.")
    with app.app_context():
        now = clock.now_utc()
        program = programs.create_program("Harbour Clinic aftercare", by=admin.user(), now=now)
        programs.add_coordinator(program, coordinator.email, by=admin.user(), now=now)
        programs.set_group_program(db.session.get(Group, world.group_id), program, by=admin.user(), now=now)
        db.session.commit()
        program_id = program.id
    staff = app.test_client()
    login(staff, coordinator)
    url = f"/programs/{program_id}/measures/suggestions"
    assert url in staff.get(f"/programs/{program_id}").get_data(as_text=True)
    assert post(staff, url, {"code": "GAD-7", "rhythm": "fortnightly"}).status_code == 302
    assert post(staff, url, {"code": "GAD-7", "rhythm": "fortnightly", "note": "x" * 301}).status_code == 400
    (suggestion_id,) = open_suggestion_ids(app, member)
    # The group's facilitator is not a coordinator: the program's suggestions do not exist for them.
    assert post(client, f"{url}/{suggestion_id}/withdraw").status_code == 404
    assert post(staff, f"{url}/{suggestion_id}/withdraw").status_code == 302
    assert open_suggestion_ids(app, member) == []
