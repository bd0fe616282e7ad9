"""A program's outcomes: per month of referral, referrals made, accepted, and first attendance within 7 and 30
days of acceptance, counts only, with no figure about fewer than 5 people (and none that 1 to 4 people would
give away by subtraction); the CSV is exactly the table shown; only the program's coordinators see either; and
the retention pass folds old referrals into monthly counts without changing a figure.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from supportnet import consent, followup, privacy, scheduler
from supportnet.extensions import db
from supportnet.models import (
    Consent,
    Notification,
    NotificationKind,
    Program,
    ProgramMonth,
    Referral,
    ReferralSuggestion,
    Scope,
)
from tests.builders import weekly
from tests.conftest import Persona, make_persona
from tests.pages import browser, html
from tests.worlds.followup import accept, attended, make_program, make_referral, meeting_on
from tests.worlds.notifications import make_world

DECEMBER = date(2026, 12, 1)
MADE = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ACCEPTED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
# The group meets every day at 19:00 London time (= UTC in winter).
DAY_2, DAY_8, DAY_40 = (datetime(2026, 12, 3, 19, 0, tzinfo=UTC), datetime(2026, 12, 9, 19, 0, tzinfo=UTC),
                        datetime(2027, 1, 10, 19, 0, tzinfo=UTC))


@dataclass
class OutcomesWorld:
    program_id: int
    coordinator: Persona
    people: dict[str, list[Persona]]
    referrals: dict[str, list[int]]


def _outcomes_world(app, facilitator) -> OutcomesWorld:
    """December: 13 referrals made, 12 accepted; first meetings at day 2 (5 people), day 8 (5), day 40 (1), and
    one person who never came. Five share their progress (among them the one who never came, so nudges were
    planned for them) and seven do not: enough either way that the counts single nobody out."""
    coordinator = make_persona(app, "Cora C.")
    world = make_world(app, facilitator, recurrence=weekly(*range(7)).recurrence)
    program = make_program(app, "Harbour Aftercare Team", coordinator)
    plan = {"day 2": (5, DAY_2), "day 8": (5, DAY_8), "day 40": (1, DAY_40), "never": (1, None)}
    people: dict[str, list[Persona]] = {}
    referrals: dict[str, list[int]] = {}
    for label, (count, _meeting_day) in plan.items():
        for n in range(count):
            person = make_persona(app, f"{label} {n}")
            rid = make_referral(app, program.program_id, world.group_id, created_at=MADE, by=coordinator)
            # Consent makes no difference to the counts.
            accept(app, rid, person, ACCEPTED, shares=label == "never" or n % 2 == 1)
            people.setdefault(label, []).append(person)
            referrals.setdefault(label, []).append(rid)
    make_referral(app, program.program_id, world.group_id, created_at=MADE)  # never accepted
    scheduler.plan_pass(app, ACCEPTED + timedelta(hours=1))  # nudges planned for the one who never comes
    for label, (_count, meeting_day) in plan.items():
        if meeting_day is not None:
            occurrence_id = meeting_on(app, world.series_id, meeting_day)
            for person in people[label]:
                attended(app, person, occurrence_id, facilitator)
    return OutcomesWorld(program.program_id, coordinator, people, referrals)


def _table(app, program_id, at) -> followup.OutcomeTable:
    with app.app_context():
        return followup.outcomes(db.session.get(Program, program_id), at)


def _counts(app, program_id, at=datetime(2027, 2, 1, tzinfo=UTC)):
    with app.app_context():
        return followup.month_counts(db.session.get(Program, program_id), at)


def test_first_attendance_within_7_and_30_days_of_acceptance(app, facilitator):
    w = _outcomes_world(app, facilitator)
    assert _counts(app, w.program_id) == {DECEMBER: followup.MonthCounts(made=13, accepted=12, attended_7=5,
                                                                          attended_30=10, private=7)}
    table = _table(app, w.program_id, datetime(2027, 2, 1, tzinfo=UTC))
    # 5 of 12 within 7 days: shown. 10 of 12 within 30 days: the 2 who did not would be given away by
    # subtraction, so neither the count nor the share is shown.
    assert table.rows == [("December 2026", "13", "12", "5", "42%", "not shown", "not shown")]
    assert table.still_open == []


def test_attendance_is_not_shown_when_1_to_4_accepted_people_keep_their_progress_to_themselves(app, facilitator):
    w = _outcomes_world(app, facilitator)
    later = datetime(2027, 2, 1, tzinfo=UTC)
    # The three at day 2 who kept their progress private start sharing, and four private ones remain. The
    # coordinator sees each sharer's first meeting on their referral page: the month's count minus those would
    # be the attendance of those four.
    with app.app_context():
        for n in (0, 2, 4):
            person, rid = w.people["day 2"][n], w.referrals["day 2"][n]
            consent.grant(person.id, consent.Recipient.program_coordinators(w.program_id, rid),
                          Scope.REFERRAL_PROGRESS, "Your program can see your progress.", ACCEPTED)
        db.session.commit()
    assert _counts(app, w.program_id, later)[DECEMBER].private == 4
    assert _table(app, w.program_id, later).rows == [
        ("December 2026", "13", "12", "not shown", "not shown", "not shown", "not shown")]


def test_a_month_whose_30_days_are_still_running_says_so(app, facilitator):
    w = _outcomes_world(app, facilitator)
    assert _table(app, w.program_id, ACCEPTED + timedelta(days=20)).still_open == ["December 2026"]


@pytest.mark.parametrize(("counts", "row"), [
    # Every count of 1 to 4 reads "fewer than 5", and so does a share of it.
    ((4, 3, 2, 3), ("fewer than 5", "fewer than 5", "fewer than 5", "fewer than 5", "fewer than 5", "fewer than 5")),
    ((9, 6, 0, 4), ("9", "6", "fewer than 5", "fewer than 5", "fewer than 5", "fewer than 5")),
    # Complementary suppression: 12 accepted, 10 attended would say that 2 did not.
    ((20, 12, 5, 10), ("20", "12", "5", "42%", "not shown", "not shown")),
    ((20, 10, 5, 5), ("20", "10", "5", "50%", "5", "50%")),
    ((30, 10, 10, 10), ("30", "10", "10", "100%", "10", "100%")),
])
def test_small_cells_are_suppressed(app, counts, row):
    with app.app_context():
        program = Program(name="Harbour Aftercare Team")
        db.session.add(program)
        db.session.flush()
        made, accepted, a7, a30 = counts
        db.session.add(ProgramMonth(program_id=program.id, month=date(2026, 5, 1), made=made, accepted=accepted,
                                    attended_7=a7, attended_30=a30))
        db.session.commit()
        table = followup.outcomes(program, datetime(2026, 12, 1, tzinfo=UTC))
    assert table.rows == [("May 2026", *row)]


class _Table:
    """The outcomes table as a browser shows it: header and body cells, in order."""

    def __init__(self, page: str) -> None:
        body = re.search(r'<table[^>]*id="outcomes".*?</table>', page, re.S).group(0)
        self.caption = re.sub(r"<[^>]+>", "", re.search(r"<caption>(.*?)</caption>", body, re.S).group(1)).strip()
        self.rows = [
            tuple(" ".join(re.sub(r"<[^>]+>", "", cell).split()) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>",
                                                                                         tr, re.S))
            for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)
        ]


def test_the_coordinator_reads_the_table_and_the_csv_is_exactly_that_table(app, facilitator):
    w = _outcomes_world(app, facilitator)
    client = browser(app, w.coordinator)
    page = client.get(f"/programs/{w.program_id}/outcomes")
    assert page.status_code == 200
    shown = _Table(html(page))
    assert shown.caption
    assert shown.rows[0] == followup.HEADER
    assert shown.rows[1] == ("December 2026", "13", "12", "5", "42%", "not shown", "not shown")
    download = client.get(f"/programs/{w.program_id}/outcomes.csv")
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    assert [tuple(r) for r in csv.reader(io.StringIO(download.get_data(as_text=True)))] == shown.rows
    # No person-level content: nobody's name is in either.
    for label_people in w.people.values():
        for person in label_people:
            assert person.display_name not in html(page) + download.get_data(as_text=True)


def test_a_coordinator_of_another_program_and_a_facilitator_get_404(app, facilitator, other_facilitator):
    w = _outcomes_world(app, facilitator)
    other_coordinator = make_persona(app, "Bea B.")
    make_program(app, "Other Team", other_coordinator)
    for persona in (other_coordinator, facilitator):
        client = browser(app, persona)
        for path in (f"/programs/{w.program_id}/outcomes", f"/programs/{w.program_id}/outcomes.csv"):
            assert client.get(path).status_code == 404
    assert browser(app).get(f"/programs/{w.program_id}/outcomes").headers["Location"].startswith("/login")


def _referral_rows(app, program_id):
    with app.app_context():
        ids = db.session.scalars(select(Referral.id).where(Referral.program_id == program_id)).all()
        suggestions = db.session.scalar(select(func.count()).select_from(ReferralSuggestion))
        consents = db.session.scalar(select(func.count()).select_from(Consent).where(Consent.referral_id.is_not(None)))
        nudges = db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == NotificationKind.REFERRAL_NUDGE))
        return len(ids), suggestions, consents, nudges


def test_retention_folds_old_referrals_into_monthly_counts_then_deletes_them(app, facilitator):
    w = _outcomes_world(app, facilitator)
    later = datetime(2027, 2, 1, tzinfo=UTC)
    before = _table(app, w.program_id, later)
    assert _referral_rows(app, w.program_id) == (13, 13, 5, 10)  # 5 share; planned before anyone came
    # 89 days after acceptance: nothing is due yet.
    scheduler.retention_pass(app, ACCEPTED + timedelta(days=89))
    assert _referral_rows(app, w.program_id)[0] == 13
    # 90 days after acceptance: the 12 accepted go (the unaccepted one expired on 31 December: 90 days later).
    scheduler.retention_pass(app, ACCEPTED + timedelta(days=90))
    assert _referral_rows(app, w.program_id) == (1, 1, 0, 0)  # suggestions, consents and nudges went with them
    with app.app_context():
        month = db.session.get(ProgramMonth, (w.program_id, DECEMBER))
        assert (month.made, month.accepted, month.attended_7, month.attended_30) == (12, 12, 5, 10)
    assert _table(app, w.program_id, later).rows == before.rows
    scheduler.retention_pass(app, ACCEPTED + timedelta(days=90, hours=1))  # again the same day: nothing changes
    scheduler.retention_pass(app, datetime(2027, 3, 31, 8, 0, tzinfo=UTC))  # the unaccepted one goes
    assert _referral_rows(app, w.program_id) == (0, 0, 0, 0)
    assert _table(app, w.program_id, later).rows == before.rows
    assert _counts(app, w.program_id) == {DECEMBER: followup.MonthCounts(13, 12, 5, 10)}


def test_a_deleted_account_still_counts_as_accepted_but_its_attendance_is_gone(app, facilitator):
    w = _outcomes_world(app, facilitator)
    leaving = w.people["day 2"][0]
    with app.app_context():
        privacy.delete_account(leaving.user(), ACCEPTED + timedelta(days=20))
        db.session.commit()
        referral = db.session.get(Referral, w.referrals["day 2"][0])
        assert referral.accepted_by_id is None and referral.accepted_at == ACCEPTED
    # The account's attendance rows went with it (deletion removes rows), so it no longer counts as attended.
    assert _counts(app, w.program_id) == {DECEMBER: followup.MonthCounts(13, 12, 4, 9, private=7)}
    scheduler.retention_pass(app, ACCEPTED + timedelta(days=90))
    with app.app_context():
        month = db.session.get(ProgramMonth, (w.program_id, DECEMBER))
        assert (month.made, month.accepted, month.attended_7, month.attended_30) == (12, 12, 4, 9)
