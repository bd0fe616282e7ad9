"""Alerts the member controls: each rule fires once per episode and at most once a day per supporter, waits for
the end of quiet hours unless the member chose otherwise, stops at once when paused, deleted, when the supporter
goes or the account does; the member previews the exact words, and sees every alert sent in their inbox."""

from __future__ import annotations

import html
import re
from datetime import date, time, timedelta

from sqlalchemy import func, select

from supportnet import clock, consent, privacy
from supportnet.consent import Recipient
from supportnet.extensions import db
from supportnet.models import (
    AlertKind,
    AlertRule,
    Attendance,
    AttendanceHow,
    Channel,
    Notification,
    NotificationKind,
    NotificationStatus,
    Occurrence,
    Relation,
    Scope,
    Supporter,
    SupporterEnd,
)
from supportnet.notifications import inbox as notif_inbox
from supportnet.supporters import alerts, people
from tests.conftest import login, post
from tests.worlds.notifications import FIRST, join, make_world, rows, run, run_every
from tests.worlds.supporter_alerts import (
    LONDON,
    accepted_supporter,
    at_london,
    bam,
    checked_in,
    quiet_hours,
    rule_row,
    set_rule,
)

Kind = NotificationKind
SENT, PENDING, CANCELLED = NotificationStatus.SENT, NotificationStatus.PENDING, NotificationStatus.CANCELLED
SAM = "sam@example.net"
DEC1 = date(2026, 12, 1)


def alert_rows(app, channel=Channel.EMAIL):
    return rows(app, kind=Kind.SUPPORTER_ALERT, channel=channel)


def no_checkin_rule(app, member, threshold=2, **kwargs):
    """Sam is told after `threshold` whole days without a check-in; the member checked in on 1 December."""
    sam = accepted_supporter(app, member)
    rule_id = set_rule(app, member, sam, "no_checkin", threshold, at_london(DEC1, 10), **kwargs)
    checked_in(app, member, at_london(DEC1, 11))
    return sam, rule_id


# --- firing once, and the rate limit ---


def test_no_checkin_fires_once_across_the_spring_clock_change_and_not_again_that_day(app, member, mailbox):
    # Clocks go forward in London at 01:00 UTC on Sunday 28 March 2027. Checked in on Wednesday 24 March; four
    # whole days without one (25 to 28) end at midnight BST on Monday 29 March = 23:00 UTC on the 28th.
    sam = accepted_supporter(app, member)
    set_rule(app, member, sam, "no_checkin", 4, at_london(date(2027, 3, 24), 9))
    checked_in(app, member, at_london(date(2027, 3, 24), 12))
    run_every(app, at_london(date(2027, 3, 27), 12), at_london(date(2027, 3, 30), 12), timedelta(hours=1))
    (row,) = alert_rows(app)
    assert row.status == SENT and row.sent_at.astimezone(LONDON).replace(tzinfo=None) == \
        at_london(date(2027, 3, 29), 0).astimezone(LONDON).replace(tzinfo=None)
    assert row.dedupe_key == f"alert:{sam}:2027-03-29:email"
    (message,) = mailbox.to(SAM)
    assert message["Subject"] == "Mia M. might like to hear from you"
    assert "Mia M. hasn't checked in for 4 days." in mailbox.text(message)
    for word in ("recovery", "sober", "group", "meeting", "addiction"):
        assert word not in message["Subject"].lower()


def test_two_rules_for_one_supporter_on_one_day_send_one_email_and_the_older_rule_wins(app, member, mailbox):
    sam, no_checkin = no_checkin_rule(app, member)
    bam_rule = set_rule(app, member, sam, "bam_risk", 10, at_london(DEC1, 12))
    bam(app, member, 14, at_london(date(2026, 12, 3), 20))
    # Nothing ran overnight: at midnight both rules hold. One email that day, from the older rule.
    run_every(app, at_london(date(2026, 12, 4), 0), at_london(date(2026, 12, 4), 23), timedelta(hours=1))
    assert [r.payload["rule_id"] for r in alert_rows(app)] == [no_checkin]
    assert len(mailbox.to(SAM)) == 1
    # The next day the other rule's news goes (still the newest questionnaire): never both on one day.
    run_every(app, at_london(date(2026, 12, 5), 0), at_london(date(2026, 12, 6), 23), timedelta(hours=2))
    assert [r.payload["rule_id"] for r in alert_rows(app)] == [no_checkin, bam_rule]
    assert len(mailbox.to(SAM)) == 2


def test_bam_risk_fires_for_a_response_above_the_line_and_not_for_one_at_it(app, member, mailbox):
    sam = accepted_supporter(app, member)
    set_rule(app, member, sam, "bam_risk", 10, at_london(DEC1, 9))
    bam(app, member, 10, at_london(DEC1, 10))
    run_every(app, at_london(DEC1, 11), at_london(date(2026, 12, 2), 11), timedelta(hours=2))
    assert alert_rows(app) == [] and mailbox.to(SAM) == []
    bam(app, member, 11, at_london(date(2026, 12, 2), 12))
    run_every(app, at_london(date(2026, 12, 2), 13), at_london(date(2026, 12, 4), 13), timedelta(hours=2))
    (row,) = alert_rows(app)  # once for that response, not again on the next days
    assert row.status == SENT
    text = mailbox.text(mailbox.to(SAM)[0])
    assert "questionnaire suggests a harder time" in text and "11" not in text.split("--")[0]


def test_missed_meetings_of_a_series_the_member_usually_goes_to(app, facilitator, member, mailbox):
    world = make_world(app, facilitator)
    join(world, member)
    sam = accepted_supporter(app, member)
    set_rule(app, member, sam, "missed_meetings", 2, FIRST - timedelta(days=1))
    with app.app_context():
        # Attendance taken at five Tuesdays: the member came to the first three, then missed two.
        for n in range(5):
            occ = db.session.scalars(select(Occurrence).where(Occurrence.series_id == world.series_id)
                                     .order_by(Occurrence.original_start).offset(n).limit(1)).one()
            for uid in ((facilitator.id, member.id) if n < 3 else (facilitator.id,)):
                db.session.add(Attendance(occurrence_id=occ.id, user_id=uid, how=AttendanceHow.FACILITATOR,
                                          marked_at=occ.starts_at))
        db.session.commit()
    run(app, FIRST + timedelta(weeks=3, hours=3))  # one miss only
    assert alert_rows(app) == []
    run(app, FIRST + timedelta(weeks=4, hours=3))
    run(app, FIRST + timedelta(weeks=4, hours=5))
    (message,) = mailbox.to(SAM)
    text = mailbox.text(message)
    assert "Mia M. has missed 2 meetings in a row that they usually go to." in text
    for word in ("riverside", "circle", "sober tuesday", "recovery house"):
        assert word not in text.lower()


# --- quiet hours ---


def test_quiet_hours_defer_the_alert_to_their_end(app, member, mailbox):
    no_checkin_rule(app, member)
    quiet_hours(app, member, time(22, 0), time(7, 0))
    run_every(app, at_london(date(2026, 12, 4), 0), at_london(date(2026, 12, 4), 6), timedelta(hours=1))
    assert [r.status for r in alert_rows(app)] == [PENDING] and mailbox.to(SAM) == []
    run(app, at_london(date(2026, 12, 4), 7))
    (row,) = alert_rows(app)
    assert row.status == SENT and row.sent_at == at_london(date(2026, 12, 4), 7)
    assert len(mailbox.to(SAM)) == 1


def test_an_alert_the_member_allowed_in_quiet_hours_goes_at_once(app, member, mailbox):
    no_checkin_rule(app, member, during_quiet_hours=True)
    quiet_hours(app, member, time(22, 0), time(7, 0))
    run(app, at_london(date(2026, 12, 4), 0))
    (row,) = alert_rows(app)
    assert row.status == SENT and row.sent_at == at_london(date(2026, 12, 4), 0)


# --- what the member sees: the preview, the inbox ---


def test_the_preview_is_the_sent_emails_words_and_the_member_sees_it_in_their_inbox(app, client, member, mailbox):
    no_checkin_rule(app, member)
    login(client, member)
    page = client.get("/me/people/alerts").get_data(as_text=True)
    assert "Tell Sam if I haven&#39;t checked in for 2 days." in page
    previews = [html.unescape(p) for p in re.findall(r'class="preview-paragraph">(.*?)</p>', page, re.S)]
    run(app, at_london(date(2026, 12, 4), 0))
    (message,) = mailbox.to(SAM)
    main_paragraph = mailbox.text(message).replace("\r\n", "\n").split("\n\n")[1]
    assert previews[0] == main_paragraph == "Mia M. hasn't checked in for 2 days."
    assert html.unescape(re.search(r"<strong>Subject:</strong> (.*?)</p>", page).group(1)) == message["Subject"]
    with app.app_context():
        assert len([n for n in notif_inbox.inbox(member.user()) if n.kind == Kind.SUPPORTER_ALERT]) == 1
    inbox_page = client.get("/notifications").get_data(as_text=True)
    assert "We told Sam" in inbox_page and "checked in for 2 days" in html.unescape(inbox_page)


def test_the_member_record_waits_with_the_email_in_quiet_hours(app, member):
    no_checkin_rule(app, member)
    quiet_hours(app, member, time(22, 0), time(7, 0))
    run(app, at_london(date(2026, 12, 4), 0))
    assert [r.status for r in alert_rows(app, Channel.IN_APP)] == [PENDING]
    run(app, at_london(date(2026, 12, 4), 7))
    assert [r.status for r in alert_rows(app, Channel.IN_APP)] == [SENT]


# --- stopping: pause, delete, the supporter goes, the account goes ---


def test_pausing_cancels_the_pending_alert_and_plans_nothing_until_resumed(app, client, member, mailbox):
    _sam, rule_id = no_checkin_rule(app, member)
    quiet_hours(app, member, time(22, 0), time(7, 0))
    run(app, at_london(date(2026, 12, 4), 0))  # planned, waiting for 07:00
    with clock.frozen(at_london(date(2026, 12, 4), 1)):
        login(client, member)
        assert post(client, f"/me/people/alerts/{rule_id}/pause").headers["Location"] == "/me/people/alerts"
    assert {r.status for r in rows(app, kind=Kind.SUPPORTER_ALERT)} == {CANCELLED}
    run_every(app, at_london(date(2026, 12, 4), 2), at_london(date(2026, 12, 5), 8), timedelta(hours=2))
    assert mailbox.to(SAM) == [] and len(alert_rows(app)) == 1
    with clock.frozen(at_london(date(2026, 12, 5), 9)):
        login(client, member)
        assert "Paused" in client.get("/me/people/alerts").get_data(as_text=True)
        assert post(client, f"/me/people/alerts/{rule_id}/resume").headers["Location"] == "/me/people/alerts"
    run(app, at_london(date(2026, 12, 5), 10))
    assert len(mailbox.to(SAM)) == 1  # still no check-in: the rule holds again once resumed


def test_deleting_the_rule_revokes_its_consent_and_cancels_the_pending_alert(app, client, member, mailbox):
    sam, rule_id = no_checkin_rule(app, member)
    quiet_hours(app, member, time(22, 0), time(7, 0))
    run(app, at_london(date(2026, 12, 4), 0))
    with clock.frozen(at_london(date(2026, 12, 4), 1)):
        login(client, member)
        assert post(client, f"/me/people/alerts/{rule_id}/delete").headers["Location"] == "/me/people/alerts"
    with app.app_context():
        assert db.session.get(AlertRule, rule_id) is None
        assert not consent.allows(member.id, Recipient.supporter(sam), Scope.ALERT_NO_CHECKIN, clock.now_utc())
    assert {r.status for r in rows(app, kind=Kind.SUPPORTER_ALERT)} == {CANCELLED}
    run_every(app, at_london(date(2026, 12, 4), 7), at_london(date(2026, 12, 6), 7), timedelta(hours=6))
    assert mailbox.to(SAM) == []


def test_a_check_in_after_planning_cancels_the_alert(app, member, mailbox):
    no_checkin_rule(app, member)
    quiet_hours(app, member, time(22, 0), time(7, 0))
    run(app, at_london(date(2026, 12, 4), 0))
    checked_in(app, member, at_london(date(2026, 12, 4), 6))
    run(app, at_london(date(2026, 12, 4), 7))
    assert [r.status for r in alert_rows(app)] == [CANCELLED] and mailbox.to(SAM) == []


def test_removing_the_supporter_cancels_pending_alerts_and_ends_the_consent(app, member, mailbox):
    sam, rule_id = no_checkin_rule(app, member)
    quiet_hours(app, member, time(22, 0), time(7, 0))
    run(app, at_london(date(2026, 12, 4), 0))
    with app.app_context():
        people.end(db.session.get(Supporter, sam), SupporterEnd.REMOVED, at_london(date(2026, 12, 4), 1))
        db.session.commit()
    run_every(app, at_london(date(2026, 12, 4), 7), at_london(date(2026, 12, 6), 7), timedelta(hours=6))
    assert {r.status for r in rows(app, kind=Kind.SUPPORTER_ALERT)} == {CANCELLED} and mailbox.to(SAM) == []
    assert rule_row(app, rule_id) is None, "the rule that named the supporter ends with them"


def test_deleting_the_account_removes_rules_consents_and_alerts(app, member, mailbox):
    no_checkin_rule(app, member)
    quiet_hours(app, member, time(22, 0), time(7, 0))
    run(app, at_london(date(2026, 12, 4), 0))
    with app.app_context():
        privacy.delete_account(member.user(), clock.now_utc())
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(AlertRule)) == 0
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.kind == Kind.SUPPORTER_ALERT)) == 0
    run(app, at_london(date(2026, 12, 4), 7))
    assert mailbox.to(SAM) == []


# --- the web: creating, bad input, another member's rule ---


def test_a_member_sets_a_rule_on_the_page_and_bad_input_is_refused(app, client, member):
    sam = accepted_supporter(app, member)
    login(client, member)
    assert "Add the rule" in client.get("/me/people/alerts").get_data(as_text=True)
    refused = post(client, "/me/people/alerts", {"supporter_id": sam, "kind": "no_checkin", "threshold": 1})
    assert refused.status_code == 400 and "from 2 to 30" in refused.get_data(as_text=True)
    refused = post(client, "/me/people/alerts", {"supporter_id": sam, "kind": "telepathy", "threshold": 3})
    assert refused.status_code == 400
    done = post(client, "/me/people/alerts", {"supporter_id": sam, "kind": "missed_meetings", "threshold": 3},
                follow_redirects=True)
    assert "Tell Sam if I miss 3 meetings in a row that I usually go to." in done.get_data(as_text=True)
    with app.app_context():
        assert consent.allows(member.id, Recipient.supporter(sam), Scope.ALERT_MISSED_MEETINGS, clock.now_utc())
        (exported,) = privacy.export_data(member.user(), clock.now_utc())["alert_rules"]
        assert (exported["kind"], exported["threshold"], exported["supporter"], exported["paused"]) == \
            ("missed_meetings", 3, "Sam", None)


def test_another_member_cannot_pause_delete_or_use_someone_elses_rule_or_supporter(app, client, member, outsider):
    sam, rule_id = no_checkin_rule(app, member)
    login(client, outsider)
    for action in ("pause", "resume", "delete"):
        assert post(client, f"/me/people/alerts/{rule_id}/{action}").status_code == 404
    refused = post(client, "/me/people/alerts", {"supporter_id": sam, "kind": "bam_risk", "threshold": 5})
    assert refused.status_code == 400
    rule = rule_row(app, rule_id)
    assert rule is not None and rule.paused_at is None
    assert "Sam" not in client.get("/me/people/alerts").get_data(as_text=True)


def test_a_supporter_who_has_not_accepted_cannot_be_named(app, client, member):
    with app.app_context():
        now = clock.now_utc()
        invited = Supporter(user_id=member.id, name="Ivy", email="ivy@example.net",
                            address_digest=people.address_digest("ivy@example.net"),
                            relation=Relation.FRIEND, invited_at=now)
        db.session.add(invited)
        db.session.commit()
        invited_id = invited.id
    login(client, member)
    refused = post(client, "/me/people/alerts", {"supporter_id": invited_id, "kind": "no_checkin", "threshold": 3})
    assert refused.status_code == 400 and "accepted" in refused.get_data(as_text=True)


# --- the measure's result says who is told ---


def test_a_measure_result_says_which_supporter_a_bam_rule_tells(app, client, member):
    answers = {"1": 4, "2": 0, "3": 0, "4": 0, "6": 0, "8": 0, "9": 0, "10": 0, "11": 0, "12": 0, "13": 0,
               "14": 0, "15": 0, "16": 0, "17": 0}
    login(client, member)

    def take() -> str:
        response = post(client, "/me/measures/BAM/take", {f"item-{k}": v for k, v in answers.items()})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return html.unescape(client.get(response.headers["Location"]).get_data(as_text=True))

    page = take()  # physical health "Poor": the crisis panel, and nobody is told
    assert "Nobody is notified automatically about your answers." in page and "is told if" not in page
    sam = accepted_supporter(app, member)
    set_rule(app, member, sam, "bam_risk", 12, clock.now_utc())
    page = take()
    assert "except as you chose" in page and "Sam is told if your BAM risk score goes above 12." in page


# --- the rule's consent on the sharing page ---


def test_the_sharing_page_lists_the_rule_by_the_supporters_name_and_ending_it_there_ends_the_rule(
        app, client, member):
    _sam, rule_id = no_checkin_rule(app, member, threshold=3)
    login(client, member)
    rule_sentence = alerts.sentence(AlertKind.NO_CHECKIN, 3, "Sam")
    assert rule_sentence in html.unescape(client.get("/me/people/alerts").get_data(as_text=True))
    page = html.unescape(client.get("/me/sharing").get_data(as_text=True))
    assert "Sam may be told that you haven't checked in for a while, by your alert rule." in page
    assert "A group" not in page
    with app.app_context():
        (row,) = consent.standing_for(member.id, clock.now_utc())
    assert post(client, f"/me/sharing/consents/{row.id}/revoke").status_code == 302
    assert rule_row(app, rule_id) is None
    assert rule_sentence not in html.unescape(client.get("/me/people/alerts").get_data(as_text=True))


def test_an_alert_held_by_quiet_hours_until_past_its_day_expires_instead_of_going_inside_them(app, member, mailbox):
    # Planned at 22:30 inside 22:00-07:00 quiet hours; the outbox then stood still all day (an outage) and runs
    # again at 22:15 the next evening, inside quiet hours again, whose end comes after the alert's day: it expires.
    no_checkin_rule(app, member)
    quiet_hours(app, member, time(22, 0), time(7, 0))
    run(app, at_london(date(2026, 12, 4), 22, 30))
    assert [r.status for r in alert_rows(app)] == [PENDING] and mailbox.to(SAM) == []
    run(app, at_london(date(2026, 12, 5), 22, 15))
    assert mailbox.to(SAM) == []
    assert [r.status for r in alert_rows(app)] == [NotificationStatus.EXPIRED]


def test_a_supporter_id_no_row_can_have_is_refused_not_a_server_error(app, client, member):
    sam = accepted_supporter(app, member)
    login(client, member)
    for data in ({"supporter_id": "9" * 30, "kind": "no_checkin", "threshold": "3"},
                 {"supporter_id": str(sam), "kind": "no_checkin", "threshold": "9" * 30}):
        assert post(client, "/me/people/alerts", data).status_code == 400
