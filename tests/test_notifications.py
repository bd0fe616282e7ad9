"""Notifications as members live them: reminders once and on time, change notices, seats, join answers,
announcements, digests, check-in prompts across DST, quiet hours, and emails that say nothing revealing.

Every test delivers through the real aiosmtpd server and runs scheduler passes at pinned instants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import select

from supportnet import clock, rsvps, scheduling
from supportnet import memberships as membership_ops
from supportnet.checkins import records as checkins_records
from supportnet.checkins import sharing as checkins_sharing
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    AttendanceHow,
    Channel,
    CheckinSharing,
    Group,
    JoinPolicy,
    Membership,
    NotificationKind,
    NotificationStatus,
    Occurrence,
)
from supportnet.notifications import announcements as notif_announcements
from supportnet.notifications import dispatch as notif_dispatch
from supportnet.notifications import inbox as notif_inbox
from supportnet.notifications import preferences as notif_preferences
from supportnet.notifications.preferences import Preferences
from tests.builders import weekly
from tests.conftest import BASE_URL, PINNED_NOW, make_persona
from tests.worlds.notifications import (
    FIRST,
    REVEALING_WORDS,
    add_series,
    all_text,
    cant_go,
    going,
    join,
    make_world,
    rows,
    run,
    run_every,
    set_prefs,
    user_id,
)

Kind = NotificationKind
SENT, PENDING, CANCELLED = NotificationStatus.SENT, NotificationStatus.PENDING, NotificationStatus.CANCELLED
FRIDAY = 4
DAY_BEFORE, HOUR_BEFORE = FIRST - timedelta(hours=24), FIRST - timedelta(hours=1)


def subjects(messages: list[EmailMessage]) -> list[str]:
    return [m["Subject"] for m in messages]


@pytest.fixture
def world(app, facilitator):
    return make_world(app, facilitator)


# --- reminders ---


def test_saying_going_writes_the_reminders_in_the_same_transaction(app, world, member):
    join(world, member)
    occ_id = world.occurrence_id(0)
    with app.app_context():
        rsvps.rsvp(db.session.get(Occurrence, occ_id), member.user(), clock.now_utc())
        db.session.rollback()
    assert rows(app) == []
    going(world, member, occ_id)
    reminders = rows(app, kind=Kind.REMINDER)
    assert {(r.channel, r.due_at) for r in reminders} == {
        (channel, due) for channel in Channel for due in (DAY_BEFORE, HOUR_BEFORE)
    }
    assert all(r.status == PENDING for r in reminders)


def test_member_gets_each_reminder_once_at_its_time(app, world, member, mailbox):
    going(world, member, world.occurrence_id(0))
    for at in (PINNED_NOW, DAY_BEFORE - timedelta(seconds=1)):
        run(app, at)
    assert mailbox.messages == []
    for at in (DAY_BEFORE, DAY_BEFORE + timedelta(seconds=30), DAY_BEFORE + timedelta(minutes=5)):
        run(app, at)
    assert subjects(mailbox.to(member.email)) == ["Reminder: Tuesday 19:00"]
    for at in (HOUR_BEFORE - timedelta(seconds=1), HOUR_BEFORE, HOUR_BEFORE + timedelta(seconds=30), FIRST):
        run(app, at)
    assert subjects(mailbox.to(member.email)) == ["Reminder: Tuesday 19:00", "Reminder: Tuesday 19:00"]
    assert len({m["Message-ID"] for m in mailbox.messages}) == 2
    assert {r.status for r in rows(app, kind=Kind.REMINDER)} == {SENT}


def test_reminders_for_meetings_weeks_away_are_written_by_the_planner(app, world, member, mailbox):
    far = world.occurrence_id(3)  # Tuesday 22 December
    going(world, member, far)
    assert rows(app) == []  # more than 8 days before they are due
    run(app, datetime(2026, 12, 13, 20, 0, tzinfo=UTC))
    # Eight days ahead: the one due on 21 December at 19:00, not yet the one of the 22nd at 18:00.
    assert len(rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL)) == 1
    run(app, datetime(2026, 12, 21, 19, 0, tzinfo=UTC))
    assert subjects(mailbox.to(member.email)) == ["Reminder: Tuesday 19:00"]


def test_member_chooses_reminder_times_or_none(app, world, member, mailbox):
    set_prefs(app, member, reminder_offsets=(10080, 15))
    going(world, member, world.occurrence_id(1))  # Tuesday 8 December
    start = FIRST + timedelta(weeks=1)
    run_every(app, start - timedelta(weeks=1, minutes=1), start - timedelta(weeks=1, minutes=-1), timedelta(minutes=1))
    run_every(app, start - timedelta(minutes=16), start, timedelta(minutes=1))
    # A week ahead the date is part of the subject; within six days the weekday is enough.
    assert subjects(mailbox.to(member.email)) == ["Reminder: Tuesday 8 December 19:00", "Reminder: Tuesday 19:00"]
    set_prefs(app, member, reminder_offsets=())
    going(world, member, world.occurrence_id(2))
    run_every(app, start, start + timedelta(weeks=1), timedelta(hours=1))
    assert len(mailbox.to(member.email)) == 2


def test_changing_reminder_times_replaces_what_is_pending(app, world, member, mailbox):
    going(world, member, world.occurrence_id(0))
    set_prefs(app, member, reminder_offsets=(180,))
    run_every(app, DAY_BEFORE, FIRST, timedelta(minutes=30))
    assert subjects(mailbox.to(member.email)) == ["Reminder: Tuesday 19:00"]
    (sent,) = [r for r in rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL) if r.status == SENT]
    assert sent.payload["offset"] == 180


def test_cant_go_stops_the_reminders(app, world, member, mailbox):
    occ = world.occurrence_id(0)
    going(world, member, occ)
    cant_go(world, member, occ)
    run_every(app, DAY_BEFORE - timedelta(minutes=1), FIRST, timedelta(hours=1))
    assert mailbox.messages == []
    assert {r.status for r in rows(app, kind=Kind.REMINDER)} == {CANCELLED}


def test_going_again_brings_back_the_reminders_still_ahead(app, world, member, mailbox):
    occ = world.occurrence_id(0)
    going(world, member, occ)
    cant_go(world, member, occ)
    with clock.frozen(DAY_BEFORE + timedelta(hours=2)):
        going(world, member, occ)  # changed their mind again, after the 24-hour reminder's time
    run_every(app, DAY_BEFORE + timedelta(hours=2), FIRST, timedelta(minutes=30))
    assert subjects(mailbox.to(member.email)) == ["Reminder: Tuesday 19:00"]
    (sent,) = rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL, status=SENT)
    assert sent.payload["offset"] == 60


def test_a_cancelled_meeting_sends_no_reminder_and_one_change_notice(app, world, facilitator, member, mailbox):
    other = make_persona(app, "Wes W.")
    occ = world.occurrence_id(0)
    going(world, member, occ)
    with app.app_context():
        waiting = db.session.get(Occurrence, occ)
        waiting.capacity = 1
        db.session.commit()
    going(world, other, occ)  # waitlisted
    with app.app_context():
        scheduling.cancel_occurrence(db.session.get(Occurrence, occ), "Holiday", clock.now_utc())
        db.session.commit()
        # Saving the reason again is not a second notice.
        scheduling.cancel_occurrence(db.session.get(Occurrence, occ), "Holiday week", clock.now_utc())
        db.session.commit()
    for at in (PINNED_NOW, PINNED_NOW + timedelta(seconds=30), DAY_BEFORE, HOUR_BEFORE, FIRST):
        run(app, at)
    assert subjects(mailbox.to(member.email)) == ["Cancelled: Tuesday 19:00"]
    assert subjects(mailbox.to(other.email)) == ["Cancelled: Tuesday 19:00"]
    assert "is cancelled" in mailbox.text(mailbox.to(member.email)[0])
    assert mailbox.to(facilitator.email) == []
    in_app = rows(app, kind=Kind.CHANGE, channel=Channel.IN_APP, user_id=user_id(app, member))
    assert [r.status for r in in_app] == [SENT]


def test_a_moved_meeting_is_announced_and_its_reminders_follow(app, world, member, mailbox):
    occ = world.occurrence_id(0)
    going(world, member, occ)
    run(app, DAY_BEFORE)  # the 24-hour reminder for 19:00 went out
    with app.app_context():
        scheduling.move_occurrence(db.session.get(Occurrence, occ), new_start_local=datetime(2026, 12, 1, 20, 0),
                                   now=DAY_BEFORE + timedelta(minutes=1))
        db.session.commit()
    for at in (DAY_BEFORE + timedelta(minutes=2), DAY_BEFORE + timedelta(hours=1), HOUR_BEFORE, FIRST,
               FIRST + timedelta(hours=1)):
        run(app, at)
    # The new time gets its own reminders (24 hours and 1 hour before 20:00); nothing comes for 19:00.
    assert subjects(mailbox.to(member.email)) == [
        "Reminder: Tuesday 19:00", "Moved: Tuesday 20:00", "Reminder: Tuesday 20:00", "Reminder: Tuesday 20:00",
    ]
    assert [r.sent_at for r in rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL, status=SENT)][1:] == [
        DAY_BEFORE + timedelta(hours=1), FIRST,
    ]
    assert "has moved to Tuesday 1 December 2026, 20:00" in mailbox.text(mailbox.to(member.email)[1])


def test_a_restored_meeting_brings_its_reminders_back(app, world, member, mailbox):
    occ = world.occurrence_id(0)
    going(world, member, occ)
    with app.app_context():
        scheduling.cancel_occurrence(db.session.get(Occurrence, occ), "", clock.now_utc())
        db.session.commit()
        scheduling.restore_occurrence(db.session.get(Occurrence, occ), clock.now_utc())
        db.session.commit()
    run_every(app, PINNED_NOW, FIRST, timedelta(hours=1))
    assert subjects(mailbox.to(member.email)) == [
        "Cancelled: Tuesday 19:00", "Back on: Tuesday 19:00", "Reminder: Tuesday 19:00", "Reminder: Tuesday 19:00",
    ]


def test_a_series_change_is_one_notice_per_member_whatever_the_number_of_meetings(app, world, member, mailbox):
    join(world, member)
    with app.app_context():
        from supportnet.models import MeetingSeries

        series = db.session.get(MeetingSeries, world.series_id)
        rsvps.start_standing(series, member.user(), clock.now_utc())
        db.session.commit()
        scheduling.update_series(series, weekly(title="Sober Tuesday", venue="Another room",
                                                address="1 Addiction Services Road"), clock.now_utc())
        db.session.commit()
        # Saving it again unchanged is not a change.
        scheduling.update_series(db.session.get(MeetingSeries, world.series_id),
                                 weekly(title="Sober Tuesday", venue="Another room",
                                        address="1 Addiction Services Road"), clock.now_utc())
        db.session.commit()
    run(app, PINNED_NOW)
    assert subjects(mailbox.to(member.email)) == ["Schedule update"]
    with app.app_context():
        scheduling.end_series(db.session.get(MeetingSeries, world.series_id), clock.now_utc())
        db.session.commit()
    run_every(app, PINNED_NOW, FIRST + timedelta(days=1), timedelta(hours=2))
    assert subjects(mailbox.to(member.email)) == ["Schedule update", "Schedule update"]
    assert "has ended" in mailbox.text(mailbox.to(member.email)[1])


# --- seats, joining, announcements ---


def test_waitlisted_member_hears_they_have_a_seat_and_then_gets_reminders(app, world, member, mailbox):
    first = make_persona(app, "Fin F.")
    occ = world.occurrence_id(0)
    with app.app_context():
        db.session.get(Occurrence, occ).capacity = 1
        db.session.commit()
    going(world, first, occ)
    going(world, member, occ)  # waitlisted: no reminders
    assert rows(app, user_id=user_id(app, member)) == []
    cant_go(world, first, occ)
    run(app, PINNED_NOW)
    assert subjects(mailbox.to(member.email)) == ["You have a seat: Tuesday 19:00"]
    run_every(app, DAY_BEFORE, FIRST, timedelta(hours=23))
    assert subjects(mailbox.to(member.email))[1:] == ["Reminder: Tuesday 19:00", "Reminder: Tuesday 19:00"]
    assert mailbox.to(first.email) == []


def test_join_requests_reach_facilitators_and_answers_reach_the_member(app, facilitator, member, outsider, mailbox):
    world = make_world(app, facilitator, join_policy=JoinPolicy.APPROVAL)
    join(world, member)
    join(world, outsider)
    run(app, PINNED_NOW)
    assert subjects(mailbox.to(facilitator.email)) == ["New request to join", "New request to join"]
    assert f"{member.display_name} asked to join your group." in mailbox.text(mailbox.to(facilitator.email)[0])
    with app.app_context():
        memberships = {m.user_id: m for m in db.session.scalars(select(Membership))}
        membership_ops.approve(memberships[member.id], clock.now_utc())
        membership_ops.decline(memberships[outsider.id], clock.now_utc())
        db.session.commit()
    run(app, PINNED_NOW + timedelta(minutes=1))
    assert subjects(mailbox.to(member.email)) == ["Your request was accepted"]
    assert subjects(mailbox.to(outsider.email)) == ["About your request"]
    assert "wasn't accepted this time" in mailbox.text(mailbox.to(outsider.email)[0])


def test_a_request_answered_before_the_tick_is_not_announced_to_facilitators(app, facilitator, member, mailbox):
    world = make_world(app, facilitator, join_policy=JoinPolicy.APPROVAL)
    join(world, member)
    with app.app_context():
        membership_ops.approve(db.session.scalars(select(Membership).where(Membership.user_id == member.id)).one(),
                       clock.now_utc())
        db.session.commit()
    run(app, PINNED_NOW)
    assert mailbox.to(facilitator.email) == []
    assert subjects(mailbox.to(member.email)) == ["Your request was accepted"]


def test_announcement_reaches_every_member_once(app, world, facilitator, member, mailbox):
    other = make_persona(app, "Ola O.")
    join(world, member)
    join(world, other)
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        nonce = notif_announcements.new_nonce()
        for _ in range(2):  # the same form sent twice
            notif_announcements.announce(group, facilitator.user(), "Snacks", "Bring a friend.\n\nSee you Tuesday.",
                                   clock.now_utc(), nonce)
            db.session.commit()
    run(app, PINNED_NOW)
    assert subjects(mailbox.to(member.email)) == ["A message from your facilitator"]
    assert subjects(mailbox.to(other.email)) == ["A message from your facilitator"]
    assert mailbox.to(facilitator.email) == []
    text = mailbox.text(mailbox.to(member.email)[0])
    assert "Snacks" in text and "See you Tuesday." in text and facilitator.display_name in text


# --- what emails say ---


def test_default_emails_contain_nothing_that_reveals_the_group(app, world, facilitator, member, mailbox):
    """Reminder, change, seat, join answer, digest, prompt, "we missed you": no revealing word anywhere."""
    member_id = user_id(app, member)
    set_prefs(app, member, prompt_days=frozenset(range(7)),
              channels={Kind.STARTING_NOW: frozenset(Channel), Kind.MISSED_YOU: frozenset(Channel)})
    online = add_series(world, FRIDAY, title="Sober online", online_url="https://meet.example.org/abc",
                        first_date=date(2026, 11, 27), venue="", address="")
    going(world, member, world.occurrence_id(0))
    going(world, member, world.occurrence_id(1))
    going(world, member, world.occurrence_id(0, online))
    run_every(app, PINNED_NOW, FIRST + timedelta(hours=2), timedelta(hours=1))
    with app.app_context():
        occ = db.session.get(Occurrence, world.occurrence_id(1))
        scheduling.cancel_occurrence(occ, "Recovery day off", clock.now_utc())
        db.session.commit()
    run(app, FIRST + timedelta(hours=3))
    kinds = {r.kind for r in rows(app, user_id=member_id, channel=Channel.EMAIL, status=SENT)}
    assert kinds >= {Kind.REMINDER, Kind.STARTING_NOW, Kind.CHANGE, Kind.CHECKIN_PROMPT}
    facilitator_mail = mailbox.to(facilitator.email)
    assert any(m["Subject"].startswith("Who's coming") for m in facilitator_mail)
    everything = mailbox.messages
    assert len(everything) >= 6
    for message in everything:
        text = all_text(message)
        for word in REVEALING_WORDS:
            assert word not in text, (message["Subject"], word)
        assert "peer support" not in text and "meetup" not in text


def test_members_may_opt_in_to_descriptive_subjects(app, world, member, mailbox):
    set_prefs(app, member, descriptive_subjects=True)
    going(world, member, world.occurrence_id(0))
    run(app, DAY_BEFORE)
    (message,) = mailbox.to(member.email)
    assert message["Subject"] == "Reminder: Sober Tuesday, Tuesday 19:00"
    assert "Riverside Recovery Circle" in mailbox.text(message)
    assert "Recovery House" in mailbox.text(message)


def test_reminder_email_has_text_html_ics_unsubscribe_and_a_stable_message_id(app, world, member, mailbox):
    going(world, member, world.occurrence_id(0))
    run(app, DAY_BEFORE)
    (message,) = mailbox.to(member.email)
    assert message["From"] == "Notifications <no-reply@supportnet.test>"
    assert message.get_body(preferencelist=("plain",)) is not None
    assert message.get_body(preferencelist=("html",)) is not None
    assert message["List-Unsubscribe"].startswith("<http://supportnet.test/notifications/stop/")
    assert message["Auto-Submitted"] == "auto-generated"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == FIRST
    assert event.decoded("dtend") == FIRST + timedelta(minutes=90)
    assert str(event["summary"]) == "Meeting"
    (row,) = rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL, status=SENT)
    with app.app_context():
        assert message["Message-ID"] == notif_dispatch.message_id(row.dedupe_key, app.config["MAIL_FROM"])


# --- quiet hours ---


def test_quiet_hours_hold_emails_until_they_end(app, world, member, mailbox):
    set_prefs(app, member, quiet_start=time(22, 0), quiet_end=time(7, 0))
    join(world, member)
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        notif_announcements.announce(group, world.facilitator.user(), "", "Hello all.", clock.now_utc())
        db.session.commit()
    night = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # 23:00 in London
    with app.app_context():
        group = db.session.get(Group, world.group_id)
        notif_announcements.announce(group, world.facilitator.user(), "", "Late news.", night)
        db.session.commit()
    run(app, PINNED_NOW)
    assert len(mailbox.to(member.email)) == 1  # the noon one
    run_every(app, night, datetime(2026, 11, 27, 6, 59, tzinfo=UTC), timedelta(minutes=30))
    assert len(mailbox.to(member.email)) == 1
    in_app = rows(app, kind=Kind.ANNOUNCEMENT, channel=Channel.IN_APP)
    assert [r.status for r in in_app] == [SENT, SENT]  # the inbox never waits
    run(app, datetime(2026, 11, 27, 7, 0, tzinfo=UTC))
    assert len(mailbox.to(member.email)) == 2
    (held,) = [r for r in rows(app, kind=Kind.ANNOUNCEMENT, channel=Channel.EMAIL) if "Late" in r.payload["body"]]
    assert held.sent_at == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert held.attempts == 1  # waiting for quiet hours to end is not a failed attempt


def test_a_reminder_that_would_be_too_late_after_quiet_hours_comes_on_time(app, facilitator, member, mailbox):
    world = make_world(app, facilitator, start_time=time(7, 30))  # Tuesdays 07:30 London
    set_prefs(app, member, quiet_start=time(22, 0), quiet_end=time(8, 0), reminder_offsets=(60, 1440))
    going(world, member, world.occurrence_id(0))
    start = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    run(app, start - timedelta(hours=24))  # 07:30 Monday, quiet: the 24-hour reminder waits until 08:00
    assert mailbox.to(member.email) == []
    run(app, start - timedelta(hours=23, minutes=30))  # 08:00 Monday
    run(app, start - timedelta(hours=1))  # 06:30 Tuesday: quiet until 08:00, but the meeting begins at 07:30
    assert [m["Subject"] for m in mailbox.to(member.email)] == ["Reminder: Tuesday 07:30", "Reminder: Tuesday 07:30"]
    sent = sorted(r.sent_at for r in rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL, status=SENT))
    assert sent == [start - timedelta(hours=23, minutes=30), start - timedelta(hours=1)]


def test_quiet_hours_function_handles_spans_across_midnight_and_dst():
    prefs = Preferences(quiet_start=time(22, 0), quiet_end=time(7, 0))
    london = ZoneInfo("Europe/London")
    assert notif_preferences.quiet_until(prefs, london, datetime(2026, 11, 26, 21, 59, tzinfo=UTC)) is None
    assert notif_preferences.quiet_until(prefs, london, datetime(2026, 11, 26, 22, 0, tzinfo=UTC)) == datetime(
        2026, 11, 27, 7, 0, tzinfo=UTC)
    assert notif_preferences.quiet_until(prefs, london, datetime(2026, 11, 27, 3, 0, tzinfo=UTC)) == datetime(
        2026, 11, 27, 7, 0, tzinfo=UTC)
    # The night the clocks go back in London: quiet hours end at 07:00 GMT.
    assert notif_preferences.quiet_until(prefs, london, datetime(2027, 10, 30, 23, 0, tzinfo=UTC)) == datetime(
        2027, 10, 31, 7, 0, tzinfo=UTC)
    daytime = Preferences(quiet_start=time(9, 0), quiet_end=time(17, 0))
    assert notif_preferences.quiet_until(daytime, london, datetime(2026, 7, 1, 8, 30, tzinfo=UTC)) == datetime(
        2026, 7, 1, 16, 0, tzinfo=UTC)


# --- check-in prompts across DST ---


@pytest.mark.parametrize(
    ("zone", "changes"),
    [
        ("America/New_York", (date(2027, 3, 14), date(2027, 11, 7))),
        ("Europe/London", (date(2027, 3, 28), date(2027, 10, 31))),
    ],
)
def test_eight_oclock_prompts_fire_once_on_both_dst_change_days(app, mailbox, zone, changes):
    tz = ZoneInfo(zone)
    person = make_persona(app, "Dee D.", tz=zone)
    set_prefs(app, person, prompt_days=frozenset(range(7)), prompt_time=time(8, 0),
              channels={Kind.CHECKIN_PROMPT: frozenset({Channel.EMAIL})})
    for change_day in changes:
        start = datetime.combine(change_day - timedelta(days=1), time(0, 0), tzinfo=tz).astimezone(UTC)
        end = datetime.combine(change_day + timedelta(days=2), time(0, 0), tzinfo=tz).astimezone(UTC)
        run_every(app, start, end, timedelta(minutes=15))
        prompts = [r for r in rows(app, kind=Kind.CHECKIN_PROMPT)
                   if change_day - timedelta(days=1) <= date.fromisoformat(r.payload["date"]) <=
                   change_day + timedelta(days=1)]
        assert [r.payload["date"] for r in prompts] == [
            (change_day + timedelta(days=d)).isoformat() for d in (-1, 0, 1)
        ]
        for r in prompts:
            assert r.status == SENT
            local = r.sent_at.astimezone(tz)
            assert (local.date().isoformat(), local.time()) == (r.payload["date"], time(8, 0))
    assert len(mailbox.to(person.email)) == 6
    assert set(subjects(mailbox.to(person.email))) == {"How are you today?"}


def test_a_prompt_in_the_repeated_hour_fires_once_when_clocks_go_back(app, mailbox):
    person = make_persona(app, "Nia N.", tz="America/New_York")
    set_prefs(app, person, prompt_days=frozenset({6}), prompt_time=time(1, 30),
              channels={Kind.CHECKIN_PROMPT: frozenset({Channel.EMAIL})})
    # 7 November 2027: 01:30 happens twice in New York (EDT, then EST).
    run_every(app, datetime(2027, 11, 7, 4, 0, tzinfo=UTC), datetime(2027, 11, 7, 8, 0, tzinfo=UTC),
              timedelta(minutes=5))
    (prompt,) = rows(app, kind=Kind.CHECKIN_PROMPT)
    assert prompt.sent_at == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # the first 01:30 (EDT)
    assert len(mailbox.to(person.email)) == 1


# --- starting now, digests, "we missed you" ---


def test_starting_now_brings_the_online_link_to_those_who_want_it(app, world, member, outsider, mailbox):
    online = add_series(world, FRIDAY, title="Online", online_url="https://meet.example.org/room-7",
                        first_date=date(2026, 11, 27), venue="", address="")
    set_prefs(app, member, channels={Kind.STARTING_NOW: frozenset({Channel.EMAIL})}, reminder_offsets=())
    occ = world.occurrence_id(0, online)
    going(world, member, occ)
    going(world, outsider, occ)  # did not ask for it
    start = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)
    run_every(app, start - timedelta(minutes=2), start + timedelta(minutes=2), timedelta(minutes=1))
    (message,) = mailbox.to(member.email)
    assert message["Subject"] == "Starting now: Friday 19:00"
    assert "https://meet.example.org/room-7" in mailbox.text(message)
    assert not any(m["Subject"].startswith("Starting now") for m in mailbox.to(outsider.email))


def test_facilitator_digest_the_evening_before_lists_who_comes_and_who_asked_for_support(
    app, world, facilitator, member, mailbox
):
    sharer, private = make_persona(app, "Sam S."), make_persona(app, "Pat P.")
    occ = world.occurrence_id(0)
    for person in (member, sharer, private):
        going(world, person, occ)
    with app.app_context():
        for person, level in ((sharer, CheckinSharing.SUMMARIES), (private, CheckinSharing.NONE)):
            membership = db.session.scalars(select(Membership).where(Membership.user_id == person.id)).one()
            checkins_sharing.set_sharing(membership, level, False, clock.now_utc())
            checkins_records.record(person.user(), checkins_records.CheckInSpec(
                mood=2, craving=6, wants_support=True, note=f"secret note of {person.display_name}",
            ), clock.now_utc())
        db.session.commit()
    evening = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    run_every(app, evening - timedelta(hours=2), evening - timedelta(minutes=1), timedelta(hours=1))
    assert not [m for m in mailbox.to(facilitator.email) if m["Subject"].startswith("Who's coming")]
    run(app, evening)
    run(app, evening + timedelta(minutes=1))
    (digest,) = [m for m in mailbox.to(facilitator.email) if m["Subject"].startswith("Who's coming")]
    assert digest["Subject"] == "Who's coming: Tuesday 19:00"
    text = mailbox.text(digest)
    assert "3 going, 0 on the waitlist" in text
    for person in (member, sharer, private):
        assert person.display_name in text
    # How many asked (only those who share), and where to see who: names stay behind the sign-in.
    assert "1 member who shares with your group asked for support in the last 7 days." in text
    assert f"{sharer.display_name} (" not in text and f"{private.display_name} (" not in text
    assert f"{BASE_URL}/groups/{world.slug}/support" in text
    assert "secret note" not in all_text(digest)
    assert "mood" not in text.lower() and "craving" not in text.lower()


def test_we_missed_you_is_opt_in_and_comes_once_per_streak(app, world, member, mailbox):
    join(world, member)
    others = [make_persona(app, f"Other {n}.") for n in range(2)]
    for other in others:
        join(world, other)
    # Six past Tuesdays with attendance taken: the member came to the first three, then missed three.
    with app.app_context():
        from supportnet.models import MeetingSeries

        series = db.session.get(MeetingSeries, world.series_id)
        past = []
        for week in range(6):
            start = FIRST + timedelta(weeks=week)
            past.append(db.session.scalars(select(Occurrence).where(Occurrence.series_id == series.id,
                                                                    Occurrence.original_start == start)).one())
        for index, occ in enumerate(past):
            present = [others[0].id] + ([member.id] if index < 3 else [])
            for uid in present:
                db.session.add(Attendance(occurrence_id=occ.id, user_id=uid, how=AttendanceHow.FACILITATOR,
                                          marked_at=occ.starts_at))
        db.session.commit()
    after = FIRST + timedelta(weeks=5, hours=3)
    run(app, after)
    assert mailbox.to(member.email) == []  # off by default
    set_prefs(app, member, missed_after=3, channels={Kind.MISSED_YOU: frozenset({Channel.EMAIL})}, reminder_offsets=())
    run(app, after + timedelta(minutes=1))
    run(app, after + timedelta(days=1))
    assert subjects(mailbox.to(member.email)) == ["Thinking of you"]
    assert mailbox.to(others[0].email) == [] and mailbox.to(others[1].email) == []


# --- the inbox ---


def test_in_app_notifications_wait_for_their_time_and_count_as_unread(app, world, member):
    going(world, member, world.occurrence_id(0))
    with app.app_context():
        assert notif_inbox.unread_count(member.user()) == 0
    run(app, DAY_BEFORE)
    with app.app_context():
        user = member.user()
        assert notif_inbox.unread_count(user) == 1
        assert [n.kind for n in notif_inbox.inbox(user)] == [Kind.REMINDER]
        notif_inbox.mark_read(user, DAY_BEFORE)
        db.session.commit()
        assert notif_inbox.unread_count(user) == 0


def test_after_an_outage_only_the_nearest_reminder_is_sent(app, world, member, mailbox):
    going(world, member, world.occurrence_id(0))
    run(app, HOUR_BEFORE + timedelta(minutes=20))  # nothing ran since Thursday
    assert subjects(mailbox.to(member.email)) == ["Reminder: Tuesday 19:00"]
    statuses = {r.payload["offset"]: r.status for r in rows(app, kind=Kind.REMINDER, channel=Channel.EMAIL)}
    assert statuses == {1440: NotificationStatus.EXPIRED, 60: SENT}
