"""Attendance through the web: marking, self check-in, history, the chart."""


from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from supportnet import attendance, clock, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    Occurrence,
)
from tests.builders import weekly
from tests.conftest import PINNED_NOW, make_persona, post
from tests.pages import browser, html, text
from tests.worlds.group_pages import add_member, occurrences_of, start_group
from tests.worlds.rsvp_pages import (
    DURING,
    FIRST_END,
    FIRST_START,
    MINUTE,
    flashes,
    page_text,
    say,
)

# --- 6. attendance: marking, self check-in, history, the chart ---


@pytest.fixture
def meeting(app, facilitator, member) -> dict:
    """A public group's weekly meeting (first Tue 1 Dec 19:00): Gus said he's going, Walt is a member who didn't."""
    gus, walt, otto = make_persona(app, "Gus G."), make_persona(app, "Walt W."), make_persona(app, "Otto P.")
    with app.app_context():
        group = start_group(facilitator, "Thursday Integration Circle")
        for persona in (gus, walt, member):
            add_member(group, persona)
        series = scheduling.create_series(group, weekly(), clock.now_utc())
        db.session.commit()
        slug, occ = group.slug, occurrences_of(series.id)[0].id
    assert say(app, gus, occ).status_code == 302
    return {"slug": slug, "occ": occ, "gus": gus, "walt": walt, "otto": otto}


def roster_section(response, heading_id: str) -> str:
    return re.search(rf'<h2 id="{heading_id}">(.*?)</section>', html(response), re.S).group(1)


def test_a_facilitator_marks_a_going_member_and_a_walk_in_and_takes_one_back(app, meeting, facilitator):
    occ, gus, walt, otto = meeting["occ"], meeting["gus"], meeting["walt"], meeting["otto"]
    clock.set_frozen(FIRST_START - 16 * MINUTE)
    fay = browser(app, facilitator)
    too_early = post(fay, f"/meetings/{occ}/attendance/{gus.id}/mark", follow_redirects=True)
    assert "Attendance can be marked from 15 minutes before the meeting starts." in flashes(too_early)

    clock.set_frozen(DURING)
    fay = browser(app, facilitator)
    roster = fay.get(f"/meetings/{occ}/roster")
    assert gus.display_name in roster_section(roster, "going-h")
    assert walt.display_name in roster_section(roster, "walkin-h")
    assert "Mark attended" in roster_section(roster, "going-h")

    for person in (gus, walt):
        marked = post(fay, f"/meetings/{occ}/attendance/{person.id}/mark")
        assert marked.status_code == 302 and marked.headers["Location"] == f"/meetings/{occ}/roster"
    roster = fay.get(f"/meetings/{occ}/roster")
    assert "Attended ✓ (undo)" in roster_section(roster, "going-h")
    walk_ins = roster_section(roster, "walkin-h")
    assert re.search(r"Walt W\.\s*<form[^>]*/unmark\"", walk_ins)
    assert post(fay, f"/meetings/{occ}/attendance/{gus.id}/mark").status_code == 302  # twice: nothing new

    assert post(fay, f"/meetings/{occ}/attendance/{walt.id}/unmark").status_code == 302
    # Someone who is not a member and did not RSVP can't be marked.
    refused = post(fay, f"/meetings/{occ}/attendance/{otto.id}/mark", follow_redirects=True)
    assert "Only members of the group, or people who RSVP'd, can be marked as attending." in (
        flashes(refused).replace("&#39;", "'")
    )
    with app.app_context():
        assert set(db.session.scalars(select(Attendance.user_id).where(Attendance.occurrence_id == occ))) == {gus.id}


@pytest.mark.parametrize(
    ("at", "outcome"),
    [
        (FIRST_START - 16 * MINUTE, "Check-in opens 15 minutes before the meeting starts."),
        (FIRST_START - 15 * MINUTE, "recorded"),
        (FIRST_START + 45 * MINUTE, "recorded"),
        (FIRST_END - MINUTE, "recorded"),
        (FIRST_END, "This meeting is over, so check-in has closed. A facilitator can still mark you."),
        (FIRST_END + timedelta(hours=2), "This meeting is over, so check-in has closed."),
    ],
    ids=["16-min-before", "15-min-before", "during", "last-minute", "at-the-end", "after"],
)
def test_self_check_in_with_the_code_works_from_15_minutes_before_the_start_to_the_end(
    app, meeting, member, facilitator, at, outcome
):
    occ = meeting["occ"]
    clock.set_frozen(FIRST_START - 20 * MINUTE)
    fay = browser(app, facilitator)
    assert post(fay, f"/meetings/{occ}/code").status_code == 302
    code = re.search(r'<p class="checkin-code"[^>]*>([A-Z0-9]{6})</p>', html(fay.get(f"/meetings/{occ}/roster")))
    assert code, "the roster shows the code"

    clock.set_frozen(at)
    mia = browser(app, member)
    page = mia.get(f"/meetings/{occ}")
    form_shown = "Attending? Enter the meeting's code" in page_text(page)
    assert form_shown is (outcome == "recorded")
    # Typed the way people type: lower case, with a space.
    typed = f"{code.group(1)[:3].lower()} {code.group(1)[3:].lower()}"
    response = post(mia, f"/meetings/{occ}/check-in", {"code": typed}, follow_redirects=True)
    with app.app_context():
        recorded = attendance.has_attended(db.session.get(Occurrence, occ), member.user())
    if outcome == "recorded":
        assert "Your attendance is recorded. Welcome." in flashes(response)
        assert "Your attendance is recorded." in page_text(mia.get(f"/meetings/{occ}"))
        assert recorded
    else:
        assert outcome in flashes(response)
        assert not recorded


def test_a_wrong_code_or_no_code_is_refused(app, meeting, member, facilitator):
    occ = meeting["occ"]
    clock.set_frozen(FIRST_START - 5 * MINUTE)
    mia = browser(app, member)
    early = post(mia, f"/meetings/{occ}/check-in", {"code": "ABC234"}, follow_redirects=True)
    assert "Check-in isn't open yet: ask the facilitator to show the code." in flashes(early).replace("&#39;", "'")
    assert post(browser(app, facilitator), f"/meetings/{occ}/code").status_code == 302
    with app.app_context():
        real = attendance.code_for(db.session.get(Occurrence, occ))
    wrong = "ABC234" if real != "ABC234" else "ABC235"
    for typed, message in (
        (wrong, "That code doesn't match. Check the code shown in the meeting and try again."),
        ("", "Enter the code the facilitator shows."),
        ("X" * 40, "Enter the code the facilitator shows."),
    ):
        response = post(mia, f"/meetings/{occ}/check-in", {"code": typed})
        assert response.status_code == 303
        assert message in flashes(mia.get(response.headers["Location"])).replace("&#39;", "'"), typed
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == 0


def test_my_meetings_shows_the_members_attendance_history(app, meeting, member, facilitator):
    occ = meeting["occ"]
    mia = browser(app, member)
    assert "No attendance recorded yet." in page_text(mia.get("/me/meetings"))
    clock.set_frozen(DURING)
    assert post(browser(app, facilitator), f"/meetings/{occ}/attendance/{member.id}/mark").status_code == 302

    clock.set_frozen(FIRST_END + timedelta(days=1))
    mine = page_text(browser(app, member).get("/me/meetings"))
    past = mine.split("Meetings you attended", 1)[1]
    assert "Tue 1 Dec 2026 · Integration circle (Thursday Integration Circle)" in past
    assert "Make a proof of attendance" in past


@pytest.fixture
def three_months(app, facilitator, member) -> dict:
    """A weekly Tuesday meeting since 25 August 2026 (14 have taken place by now, one of them cancelled),
    with attendance marked: Mia, Gus and Walt came in turns."""
    gus, walt = make_persona(app, "Gus G."), make_persona(app, "Walt W.")
    with app.app_context():
        clock.set_frozen(PINNED_NOW - timedelta(weeks=14))
        group = start_group(facilitator, "Thursday Integration Circle")
        people = [member, gus, walt]
        for persona in people:
            add_member(group, persona)
        series = scheduling.create_series(group, weekly(first_date=date(2026, 8, 25)), clock.now_utc())
        weeks = occurrences_of(series.id)
        scheduling.cancel_occurrence(weeks[9], "Holiday.", clock.now_utc())
        db.session.commit()
        clock.set_frozen(PINNED_NOW)
        came = {}
        for n, occ in enumerate(weeks[:14]):
            if n == 9:
                continue
            who = people[: n % 4]  # 0, 1, 2, 3, 0, 1, ... people
            for persona in who:
                attendance.mark_attended(occ, persona.user(), facilitator.user(), clock.now_utc())
            came[occ.id] = len(who)
        db.session.commit()
        return {"slug": group.slug, "weeks": [o.id for o in weeks], "came": came, "next": weeks[14].id}


def test_the_roster_charts_attendance_over_the_last_12_meetings(app, three_months, facilitator, member):
    roster = browser(app, facilitator).get(f"/meetings/{three_months['next']}/roster")
    assert roster.status_code == 200
    page = html(roster)
    assert "Attendance, last 12 meetings" in text(roster)
    svg = re.search(r'<svg class="chart"[^>]*role="img"[^>]*>(.*?)</svg>', page, re.S)
    assert svg, "an SVG chart"
    assert "<title" in svg.group(1)
    # The last 12 meetings that took place (the cancelled week is left out), oldest first.
    weeks, came = three_months["weeks"], three_months["came"]
    shown = [w for n, w in enumerate(weeks[:14]) if n != 9][-12:]
    expected = [came[w] for w in shown]
    assert len(re.findall(r"<rect ", svg.group(1))) == 12
    values = [int(v) for v in re.findall(r'<text[^>]*class="bar-value">(\d+)</text>', svg.group(1))]
    assert values == expected
    # The same numbers in a table for screen readers.
    table = re.search(r"<table[^>]*>\s*<caption>Attendance per meeting</caption>(.*?)</table>", page, re.S)
    assert table, "an accessible table"
    rows = re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td></tr>", table.group(1))
    assert [int(n) for _, n in rows] == expected
    assert rows[0][0] == "Tue 1 Sep 2026, 19:00" and rows[-1][0] == "Tue 24 Nov 2026, 19:00"
    assert "Tue 27 Oct 2026" not in table.group(1)  # the cancelled week
    # Members see neither the chart nor the roster.
    assert browser(app, member).get(f"/meetings/{three_months['next']}/roster").status_code == 403


def test_a_roster_without_past_meetings_says_so(app, meeting, facilitator):
    roster = browser(app, facilitator).get(f"/meetings/{meeting['occ']}/roster")
    assert "No meetings have taken place yet." in text(roster)
    assert "<svg" not in html(roster)


def test_a_new_code_for_a_meeting_that_is_over_or_cancelled_is_refused_with_a_message(app, meeting, facilitator):
    occ = meeting["occ"]
    clock.set_frozen(FIRST_END + MINUTE)
    fay = browser(app, facilitator)
    over = post(fay, f"/meetings/{occ}/code")
    assert over.status_code == 303
    assert "This meeting is over, so check-in has closed." in flashes(fay.get(over.headers["Location"]))
    with app.app_context():
        assert attendance.code_for(db.session.get(Occurrence, occ)) is None
