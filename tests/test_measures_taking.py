"""A member takes a standard measure in the app: scored with the version they answered, crisis resources before
any score when an answer calls for them, the BAM's meetings answer offered from recorded attendance, answers
encrypted at rest, and nobody else's results within reach."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from supportnet import clock, groups, scheduling
from supportnet.checkins import scores
from supportnet.extensions import db
from supportnet.measures import instruments
from supportnet.models import Attendance, AttendanceHow, MeasureResponse, Occurrence, SiteRole
from supportnet.models.group import GroupKind
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import PINNED_NOW, login, make_persona, post

CRISIS_NAME = "Program on-call line"


@pytest.fixture
def app_config() -> dict:
    return {"CRISIS_RESOURCES": [{"name": CRISIS_NAME, "phone": "+44 20 7946 0000"}]}


def _form(**answers: int) -> dict[str, str]:
    return {f"item-{label}": str(value) for label, value in answers.items()}


PHQ9_ITEMS = [str(n) for n in range(1, 10)]


def phq9(*values: int) -> dict[str, str]:
    return _form(**dict(zip(PHQ9_ITEMS, values, strict=True)))


def bam(**changes: int) -> dict[str, str]:
    """A BAM with no alcohol and no drug days (items 5 and 7A-7G skipped), with any answers changed."""
    answers = {"1": 2, "2": 1, "3": 1, "4": 0, "6": 0, "8": 1, "9": 3, "10": 2, "11": 1, "12": 2, "13": 3,
               "14": 4, "15": 1, "16": 4, "17": 3}
    answers.update(changes)
    return _form(**answers)


def _take(client, code: str, data: dict[str, str]):
    return post(client, f"/me/measures/{code}/take", data)


def _result(client, response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return client.get(response.headers["Location"]).get_data(as_text=True)


def _stored(app) -> list[MeasureResponse]:
    with app.app_context():
        rows = list(db.session.scalars(select(MeasureResponse).order_by(MeasureResponse.id)))
        db.session.expunge_all()
        return rows


# --- scoring through the web ---------------------------------------------------------------------------------------


def test_phq9_total_and_band_are_those_of_the_published_scoring(client, member, app):
    login(client, member)
    page = _result(client, _take(client, "PHQ-9", phq9(1, 2, 1, 2, 1, 2, 1, 2, 0)))
    assert "Total" in page and "12 (moderate)" in page
    row = _stored(app)[0]
    assert (row.code, row.version, row.scores) == ("PHQ-9", 1, {"total": 12})
    assert row.local_date == PINNED_NOW.date()


def test_gad7_total_and_band(client, member, app):
    login(client, member)
    page = _result(client, _take(client, "GAD-7", _form(**{str(n): 3 for n in range(1, 8)})))
    assert "21 (severe)" in page
    assert _stored(app)[0].scores == {"total": 21}


def test_bam_use_risk_protective_with_the_forms_skips(client, member, app):
    login(client, member)
    page = _result(client, _take(client, "BAM", bam()))
    row = _stored(app)[0]
    assert row.scores == {"use": 0, "risk": 2 + 1 + 1 + 1 + 1 + 1, "protective": 3 + 2 + 2 + 3 + 4 + 4}
    assert "There is no total" in page
    # The publisher asks for item answers first: they come before the scores.
    assert page.index("Your answers") < page.index("Protective")


def test_bam_answer_to_a_skipped_item_is_ignored_not_scored(client, member, app):
    login(client, member)
    # A phone without script shows item 5 after "0 (Skip to #6)": whatever is ticked there does not count.
    _result(client, _take(client, "BAM", bam(**{"5": 4, "7C": 3})))
    assert _stored(app)[0].scores["use"] == 0


def test_bam_with_alcohol_and_drug_days_scores_use(client, member, app):
    login(client, member)
    drugs = {f"7{letter}": 0 for letter in "ABDEFG"}
    _result(client, _take(client, "BAM", bam(**{"4": 2, "5": 1, "6": 3, "7C": 3}, **drugs)))
    assert _stored(app)[0].scores["use"] == 6


def test_the_version_stored_is_the_one_answered(client, member, app):
    login(client, member)
    page = client.get("/me/measures/PHQ-9/take").get_data(as_text=True)
    assert "Little interest or pleasure in doing things" in page
    _result(client, _take(client, "PHQ-9", phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)))
    assert _stored(app)[0].version == 1


# --- safety first --------------------------------------------------------------------------------------------------


def test_phq9_item_9_positive_shows_crisis_resources_before_any_score(client, member):
    login(client, member)
    page = _result(client, _take(client, "PHQ-9", phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)))
    assert CRISIS_NAME in page and "SupportNet is not an emergency service" in page
    assert "Nobody is notified automatically about your answers" in page
    assert page.index(CRISIS_NAME) < page.index("Total") < page.index("1 (minimal)")


def test_the_list_and_the_trend_put_the_crisis_resources_before_a_flagged_results_score(client, member):
    login(client, member)
    _take(client, "PHQ-9", phq9(3, 3, 3, 3, 3, 3, 3, 3, 3))  # total 27, item 9 positive
    for url in ("/me/measures", "/me/measures/PHQ-9/trend"):
        page = client.get(url).get_data(as_text=True)
        assert CRISIS_NAME in page and "27" in page, url
        assert page.index(CRISIS_NAME) < page.index("27"), url
    # A newer result without the flag: the pages show scores without the panel again.
    _take(client, "PHQ-9", phq9(1, 0, 0, 0, 0, 0, 0, 0, 0))
    for url in ("/me/measures", "/me/measures/PHQ-9/trend"):
        assert CRISIS_NAME not in client.get(url).get_data(as_text=True), url


def test_phq9_item_9_negative_shows_no_crisis_panel(client, member):
    login(client, member)
    page = _result(client, _take(client, "PHQ-9", phq9(3, 3, 3, 3, 3, 3, 3, 3, 0)))
    assert CRISIS_NAME not in page and "24 (severe)" in page


def test_bam_danger_answer_shows_crisis_resources_first(client, member):
    login(client, member)
    page = _result(client, _take(client, "BAM", bam(**{"3": 4})))
    assert page.index(CRISIS_NAME) < page.index("Your answers") < page.index("Risk")
    calm = _result(client, _take(client, "BAM", bam(**{"3": 3})))
    assert CRISIS_NAME not in calm


# --- the meetings answer offered from attendance ------------------------------------------------------------------


def _attend(app, persona, meetings: int, host_name: str = "Hal H") -> None:
    """Record `persona` at `meetings` daily meetings in the past 30 days (and one 40 days ago, which is too old)."""
    host = make_persona(app, f"{host_name}{meetings}.", SiteRole.FACILITATOR)
    with app.app_context():
        clock.set_frozen(PINNED_NOW - timedelta(days=45))
        try:
            group = groups.create_group(host.user(), name=f"Daily circle {meetings}", kind=GroupKind.AFTERCARE,
                                        timezone="Europe/London", now=clock.now_utc())
            series = scheduling.create_series(group, weekly(
                *range(7), first_date=(PINNED_NOW - timedelta(days=44)).date(),
                recurrence=Recurrence(Frequency.WEEKLY, weekdays=tuple(range(7)))), clock.now_utc())
        finally:
            clock.set_frozen(PINNED_NOW)
        past = list(db.session.scalars(
            select(Occurrence).where(Occurrence.series_id == series.id, Occurrence.starts_at < PINNED_NOW)
            .order_by(Occurrence.starts_at.desc())
        ))
        chosen = past[:meetings] + [o for o in past if o.starts_at < PINNED_NOW - timedelta(days=40)][:1]
        for occ in chosen:
            db.session.add(Attendance(occurrence=occ, user=persona.user(), how=AttendanceHow.FACILITATOR,
                                      marked_at=occ.starts_at))
        db.session.commit()


def _checked_value(page: str, label: str) -> str | None:
    match = re.search(rf'name="item-{label}"\s+value="(\d)" checked', page)
    return match.group(1) if match else None


@pytest.mark.parametrize(("meetings", "option"), [(0, "0"), (2, "1"), (5, "2"), (20, "4")])
def test_bam_meetings_answer_is_offered_from_recorded_attendance(client, member, app, meetings, option):
    _attend(app, member, meetings)
    login(client, member)
    page = client.get("/me/measures/BAM/take").get_data(as_text=True)
    assert f"SupportNet recorded you at meetings on {meetings} day{'' if meetings == 1 else 's'} in the past 30 days" \
        in page
    assert _checked_value(page, "10") == option


def test_the_bam_counts_days_so_two_meetings_on_one_day_count_once(client, member, app):
    _attend(app, member, 2)
    _attend(app, member, 2, host_name="Ivy I")  # another group's meetings on the same two days
    login(client, member)
    page = client.get("/me/measures/BAM/take").get_data(as_text=True)
    assert "SupportNet recorded you at meetings on 2 days in the past 30 days" in page
    assert _checked_value(page, "10") == "1"


def test_the_member_can_change_the_offered_meetings_answer_and_theirs_is_stored(client, member, app):
    _attend(app, member, 5)
    login(client, member)
    _result(client, _take(client, "BAM", bam(**{"10": 1})))
    row = _stored(app)[0]
    assert row.attendance_offered == 5
    assert row.scores["protective"] == 3 + 1 + 2 + 3 + 4 + 4


# --- bad input, other people's results, the stored answers ---------------------------------------------------------


def test_incomplete_answers_are_refused_with_the_items_named_and_kept(client, member, app):
    login(client, member)
    data = phq9(1, 2, 1, 2, 1, 2, 1, 2, 0)
    del data["item-4"], data["item-7"]
    response = _take(client, "PHQ-9", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "items 4, 7 are still empty" in page
    assert _checked_value(page, "2") == "2" and _checked_value(page, "4") is None
    assert _stored(app) == []


def test_an_answer_that_is_not_an_option_is_a_400_not_a_500(client, member, app):
    login(client, member)
    response = _take(client, "PHQ-9", {**phq9(0, 0, 0, 0, 0, 0, 0, 0, 0), "item-3": "7", "item-5": "x"})
    assert response.status_code == 400
    assert "items 3, 5" in response.get_data(as_text=True)
    assert _stored(app) == []


def test_unknown_measure_is_404(client, member):
    login(client, member)
    assert client.get("/me/measures/BARC10/take").status_code == 404
    assert client.get("/me/measures/NOPE/trend").status_code == 404


def test_another_members_result_is_404_and_cannot_be_deleted(client, member, outsider, app):
    login(client, member)
    location = _take(client, "PHQ-9", phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)).headers["Location"]
    post(client, "/logout")
    login(client, outsider)
    assert client.get(location).status_code == 404
    assert post(client, f"{location}/delete").status_code == 404
    assert len(_stored(app)) == 1


def test_member_deletes_their_own_result(client, member, app):
    login(client, member)
    location = _take(client, "PHQ-9", phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)).headers["Location"]
    assert post(client, f"{location}/delete").status_code == 302
    assert _stored(app) == []
    assert client.get(location).status_code == 404


def test_stored_answers_are_not_plaintext_in_the_database(client, member, app, database_kind, db_path):
    login(client, member)
    _result(client, _take(client, "PHQ-9", phq9(3, 2, 1, 0, 3, 2, 1, 0, 0)))
    with app.app_context():
        raw = db.session.execute(text("select answers from measure_response")).scalar_one()
    # Read past the ORM's decrypting column type: what the database holds is ciphertext, not the JSON.
    assert '"1"' not in raw and not raw.lstrip().startswith("{")
    if database_kind == "sqlite":
        with sqlite3.connect(db_path) as raw_db:
            stored = raw_db.execute("select answers from measure_response").fetchone()[0]
        assert not str(stored).lstrip().startswith("{")


def test_trend_page_has_an_accessible_chart_and_a_table(client, member, app):
    _attend(app, member, 2)
    login(client, member)
    _result(client, _take(client, "BAM", bam()))
    page = client.get("/me/measures/BAM/trend").get_data(as_text=True)
    assert 'role="img"' in page and "<title" in page and "<desc" in page
    assert "<caption>" in page and "Meetings recorded in the last 30 days: 2" in page
    listing = client.get("/me/measures").get_data(as_text=True)
    assert "last taken" in listing and "Brief Addiction Monitor" in listing


@pytest.mark.parametrize(("count", "option"), [(0, 0), (1, 1), (3, 1), (4, 2), (8, 2), (9, 3), (15, 3), (16, 4),
                                               (30, 4), (45, 4)])
def test_meeting_counts_fall_in_the_bams_published_options(count, option):
    assert scores.bam_meetings_option(count) == option
    label = instruments.current("BAM").item("10").options[option].label
    assert label == ("0", "1-3", "4-8", "9-15", "16-30")[option]


def test_delete_all_removes_every_response_of_the_member_only(client, member, outsider, app):
    for persona in (member, outsider):
        login(client, persona)
        _take(client, "PHQ-9", phq9(0, 0, 0, 0, 0, 0, 0, 0, 0))
        _take(client, "GAD-7", _form(**{str(n): 1 for n in range(1, 8)}))
        post(client, "/logout")
    with app.app_context():
        assert scores.delete_all(member.user()) == 2
        db.session.commit()
    assert {row.user_id for row in _stored(app)} == {outsider.id}
