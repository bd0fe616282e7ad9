"""Nudges to a program's coordinators: no RSVP 3 days after a referral was accepted, no meeting attended after
10 days. Only while the person shares their progress, once per referral and reason, in the app and by email
(neutral wording), and re-checked when sent: an RSVP since, a revoked consent or a coordinator who left cancels.
The scheduler is driven pass by pass with a frozen clock, as in production (plan, dispatch, retention).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from supportnet.extensions import db
from supportnet.models import Channel, NotificationKind, NotificationStatus, ProgramCoordinator
from supportnet.notifications import preferences as notif_preferences
from tests.conftest import PINNED_NOW, login, make_persona, post
from tests.pages import browser, form_as_shown, text
from tests.worlds.followup import accept, make_program, make_referral, meeting_on, revoke, rsvp
from tests.worlds.notifications import REVEALING_WORDS, all_text, make_world, rows, run, set_prefs

Kind = NotificationKind
SENT, PENDING, CANCELLED = NotificationStatus.SENT, NotificationStatus.PENDING, NotificationStatus.CANCELLED
ACCEPTED = PINNED_NOW  # Thursday 26 November 2026, 12:00 UTC
SUBJECT = "A referral needs a look"


def _world(app, facilitator, *, shares: bool = True, first_name: str | None = "Sam"):
    cora, colm = make_persona(app, "Cora C."), make_persona(app, "Colm C.")
    person = make_persona(app, "Sam S.")
    world = make_world(app, facilitator)
    program = make_program(app, "Harbour Aftercare Team", cora, colm)
    referral_id = make_referral(app, program.program_id, world.group_id, created_at=ACCEPTED - timedelta(days=1),
                                first_name=first_name, by=cora)
    accept(app, referral_id, person, ACCEPTED, shares=shares)
    return world, program, referral_id, person, (cora, colm)


def _nudges(app, **where):
    return rows(app, kind=Kind.REFERRAL_NUDGE, **where)


def test_a_nudge_after_3_days_without_rsvp_and_after_10_without_a_meeting_each_once(app, facilitator, mailbox):
    _w, program, referral_id, _person, (cora, colm) = _world(app, facilitator)
    set_prefs(app, colm, channels={Kind.REFERRAL_NUDGE: frozenset({Channel.IN_APP})})  # Colm: in the app only
    run(app, ACCEPTED + timedelta(hours=1))
    # Written ahead as planned rows, due 3 days after acceptance; nothing sent yet.
    assert {(r.status, r.due_at) for r in _nudges(app)} == {(PENDING, ACCEPTED + timedelta(days=3))}
    assert len(_nudges(app)) == 3  # Cora: email + in-app; Colm: in-app
    run(app, ACCEPTED + timedelta(days=3) - timedelta(minutes=1))
    assert not mailbox.messages
    for at in (timedelta(days=3, minutes=1), timedelta(days=3, minutes=2), timedelta(days=5)):
        run(app, ACCEPTED + at)
    assert [m["Subject"] for m in mailbox.to(cora.email)] == [SUBJECT]
    assert not mailbox.to(colm.email)
    for at in (timedelta(days=10, minutes=1), timedelta(days=11), timedelta(days=20)):
        run(app, ACCEPTED + at)
    assert [m["Subject"] for m in mailbox.to(cora.email)] == [SUBJECT, SUBJECT]
    keys = sorted(r.dedupe_key for r in _nudges(app))
    assert keys == sorted(
        f"referral:{referral_id}:{reason}:{user_id}:{channel}"
        for reason in ("no-rsvp", "no-attendance")
        for user_id, channels in ((cora.id, ("email", "in_app")), (colm.id, ("in_app",)))
        for channel in channels
    )
    assert {r.status for r in _nudges(app)} == {SENT}
    first, second = (mailbox.text(m) for m in mailbox.to(cora.email))
    assert "Sam accepted their referral 3 days ago and hasn't said they're going to a meeting yet." in first
    assert "Sam accepted their referral 10 days ago and hasn't been to a meeting yet." in second
    assert mailbox.link(mailbox.to(cora.email)[0], "/referrals/") == (
        f"/programs/{program.program_id}/referrals/{referral_id}")
    for message in mailbox.to(cora.email):
        assert not any(word in all_text(message) for word in REVEALING_WORDS)  # no group, meeting or place


def test_the_in_app_nudge_links_to_the_referral(app, facilitator):
    _w, program, referral_id, _person, (cora, _colm) = _world(app, facilitator, first_name=None)
    run(app, ACCEPTED + timedelta(hours=1))
    run(app, ACCEPTED + timedelta(days=3, minutes=1))
    client = browser(app)
    login(client, cora)
    page = client.get("/notifications")
    assert SUBJECT in text(page)
    assert "Someone you referred accepted 3 days ago" in text(page)
    assert f"/programs/{program.program_id}/referrals/{referral_id}" in page.get_data(as_text=True)
    assert not any(word in text(page).lower() for word in ("riverside", "sober tuesday"))


def test_a_delivered_nudge_leaves_the_inbox_when_the_person_stops_sharing(app, facilitator):
    _w, _program, referral_id, person, (cora, _colm) = _world(app, facilitator)
    run(app, ACCEPTED + timedelta(hours=1))
    run(app, ACCEPTED + timedelta(days=3, minutes=1))
    client = browser(app)
    login(client, cora)
    before = client.get("/notifications")
    assert before.status_code == 200 and SUBJECT in text(before)
    revoke(app, referral_id, person, ACCEPTED + timedelta(days=4))
    after = client.get("/notifications")
    assert after.status_code == 200 and SUBJECT not in text(after)


def test_no_nudge_without_consent(app, facilitator, mailbox):
    _world(app, facilitator, shares=False)
    for at in (timedelta(hours=1), timedelta(days=3, minutes=1), timedelta(days=10, minutes=1)):
        run(app, ACCEPTED + at)
    assert not _nudges(app)
    assert not mailbox.messages


def test_an_rsvp_made_since_cancels_the_nudge_when_it_falls_due(app, facilitator, mailbox):
    world, _program, _rid, person, (cora, _colm) = _world(app, facilitator)
    run(app, ACCEPTED + timedelta(hours=1))
    assert {r.status for r in _nudges(app)} == {PENDING}
    rsvp(app, person, meeting_on(app, world.series_id, ACCEPTED + timedelta(days=5)), ACCEPTED + timedelta(days=1))
    run(app, ACCEPTED + timedelta(days=3, minutes=1))
    no_rsvp = [r for r in _nudges(app) if ":no-rsvp:" in r.dedupe_key]
    assert {(r.status, r.last_error) for r in no_rsvp} == {(CANCELLED, "answered or attended since")}
    assert not mailbox.to(cora.email)
    # The one about attendance is still planned: answering is not attending.
    assert {r.status for r in _nudges(app) if ":no-attendance:" in r.dedupe_key} == {PENDING}


def test_an_rsvp_before_the_planner_looks_means_no_nudge_is_written(app, facilitator):
    world, _program, _rid, person, _coordinators = _world(app, facilitator)
    rsvp(app, person, meeting_on(app, world.series_id, ACCEPTED + timedelta(days=5)), ACCEPTED + timedelta(minutes=1))
    run(app, ACCEPTED + timedelta(days=3, minutes=1))
    assert not [r for r in _nudges(app) if ":no-rsvp:" in r.dedupe_key]


def test_a_revoked_consent_cancels_the_nudge_when_it_falls_due(app, facilitator, mailbox):
    _w, _program, referral_id, person, _coordinators = _world(app, facilitator)
    run(app, ACCEPTED + timedelta(hours=1))
    revoke(app, referral_id, person, ACCEPTED + timedelta(days=2))
    for at in (timedelta(days=3, minutes=1), timedelta(days=10, minutes=1)):
        run(app, ACCEPTED + at)
    assert {(r.status, r.last_error) for r in _nudges(app)} == {
        (CANCELLED, "the person no longer shares their progress")}
    assert not mailbox.messages


def test_a_coordinator_who_left_the_program_gets_no_nudge(app, facilitator, mailbox):
    _w, _program, _rid, _person, (cora, colm) = _world(app, facilitator)
    run(app, ACCEPTED + timedelta(hours=1))
    with app.app_context():
        db.session.execute(delete(ProgramCoordinator).where(ProgramCoordinator.user_id == colm.id))
        db.session.commit()
    run(app, ACCEPTED + timedelta(days=3, minutes=1))
    assert {r.status for r in _nudges(app, user_id=colm.id) if ":no-rsvp:" in r.dedupe_key} == {CANCELLED}
    assert {r.status for r in _nudges(app, user_id=cora.id) if ":no-rsvp:" in r.dedupe_key} == {SENT}
    # Nothing more is planned for someone who no longer coordinates the program.
    assert not [r for r in _nudges(app, user_id=colm.id) if ":no-attendance:" in r.dedupe_key]
    assert not mailbox.to(colm.email) and len(mailbox.to(cora.email)) == 1


def test_coordinators_choose_nudge_channels_and_saving_the_page_keeps_what_it_does_not_show(app, member):
    cora = make_persona(app, "Cora C.")
    make_program(app, "Harbour Aftercare Team", cora)
    coordinator = browser(app, cora)
    page = coordinator.get("/notifications/preferences")
    assert "a referral needs a look" in text(page)
    form = form_as_shown(page)
    form.pop("referral_nudge__email")  # untick email; in-app stays ticked
    assert post(coordinator, "/notifications/preferences", form).status_code == 302
    with app.app_context():
        assert notif_preferences.preferences(cora.user()).channels_for(Kind.REFERRAL_NUDGE) == [Channel.IN_APP]
    # A member who coordinates nothing does not see the choice, and saving their page does not switch it off.
    client = browser(app, member)
    page = client.get("/notifications/preferences")
    assert "a referral needs a look" not in text(page)
    assert post(client, "/notifications/preferences", form_as_shown(page)).status_code == 302
    with app.app_context():
        assert notif_preferences.preferences(member.user()).channels_for(Kind.REFERRAL_NUDGE) == [
            Channel.EMAIL, Channel.IN_APP]
