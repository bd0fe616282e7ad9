"""Editing, exporting and deleting check-ins."""


from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from supportnet.checkins import records as checkins_records
from supportnet.checkins import recovery as checkins_recovery
from supportnet.extensions import db
from supportnet.models import (
    CheckIn,
    CheckInTag,
    OwnTag,
)
from tests.conftest import PINNED_NOW, Persona, make_persona, post
from tests.pages import browser, html, text
from tests.worlds.checkins import (
    TODAY,
    checkin_form,
    record,
    row_counts,
)


@pytest.fixture
def mia(app) -> Persona:
    return make_persona(app, "Mia M.")


# --- editing, export and deletion ---


def test_a_member_edits_a_check_in(app, mia):
    checkin_id = record(app, mia, mood=2, craving=6, note="before", new_tags=["old tag"])
    client = browser(app, mia)
    page = client.get(f"/me/checkins/{checkin_id}")
    assert page.status_code == 200 and "before" in html(page)
    response = post(client, f"/me/checkins/{checkin_id}", checkin_form(mood="3", craving="4", note="after"))
    assert response.status_code == 302
    with app.app_context():
        row = db.session.get(CheckIn, checkin_id)
        assert (row.mood, row.craving, row.note, row.recorded_at) == (3, 4, "after", PINNED_NOW)
        # The own tag it no longer has was used nowhere else: it is gone, not kept.
        assert db.session.scalar(select(func.count()).select_from(OwnTag)) == 0
    response = post(client, f"/me/checkins/{checkin_id}", checkin_form(day="2026-12-25"))
    assert response.status_code == 400
    # An optional answer can be taken back.
    post(client, f"/me/checkins/{checkin_id}", checkin_form(energy="2"))
    post(client, f"/me/checkins/{checkin_id}", checkin_form(energy=""))
    with app.app_context():
        assert db.session.get(CheckIn, checkin_id).energy is None


def test_an_old_check_in_can_still_be_edited_without_moving_it(app, mia):
    old = TODAY - timedelta(days=checkins_records.BACKDATE_DAYS + 30)
    with app.app_context():
        row = CheckIn(user=mia.user(), recorded_at=PINNED_NOW, local_date=old, mood=3, craving=3,
                      created_at=PINNED_NOW, updated_at=PINNED_NOW)
        db.session.add(row)
        db.session.commit()
        checkin_id = row.id
    response = post(browser(app, mia), f"/me/checkins/{checkin_id}", checkin_form(day=old.isoformat(), mood="5"))
    assert response.status_code == 302


def test_export_gives_every_check_in_as_csv_and_json(app, mia):
    record(app, mia, mood=1, craving=9, note="=HYPERLINK(\"http://evil\")", tags=["stress"], new_tags=["payday"],
           wants_support=True, day=TODAY - timedelta(days=1))
    record(app, mia, mood=5, craving=0)
    with app.app_context():
        checkins_recovery.set_recovery_date(mia.user(), date(2026, 1, 1), PINNED_NOW)
        db.session.commit()
    client = browser(app, mia)
    response = client.get("/me/checkins/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="checkins-2026-11-26.csv"'
    assert "no-store" in response.headers["Cache-Control"]
    rows = list(csv.DictReader(io.StringIO(html(response))))
    assert [r["date"] for r in rows] == ["2026-11-25", "2026-11-26"]
    assert rows[0]["mood_label"] == "Very low" and rows[0]["tags"] == "Stress; payday"
    assert rows[0]["wants_support"] == "yes"
    # A note that looks like a formula stays text in a spreadsheet.
    assert rows[0]["note"] == "'=HYPERLINK(\"http://evil\")"

    response = client.get("/me/checkins/export.json")
    assert response.mimetype == "application/json"
    data = json.loads(html(response))
    assert data["recovery_date"] == "2026-01-01" and data["timezone"] == "Europe/London"
    assert [c["mood"] for c in data["checkins"]] == [1, 5]
    assert data["checkins"][0]["note"] == "=HYPERLINK(\"http://evil\")"
    assert data["checkins"][0]["tags"] == ["Stress", "payday"]


def test_deleting_one_check_in_removes_it_for_good(app, mia):
    keep = record(app, mia, new_tags=["shared tag"])
    gone = record(app, mia, note="delete me", new_tags=["shared tag", "only here"])
    client = browser(app, mia)
    response = post(client, f"/me/checkins/{gone}/delete")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(CheckIn, gone) is None
        assert db.session.get(CheckIn, keep) is not None
        assert [t.label for t in checkins_records.own_tags(mia.user())] == ["shared tag"]
        assert db.session.scalar(select(func.count()).select_from(CheckInTag)) == 1


def test_deleting_everything_needs_the_word_and_then_removes_every_row(app, mia):
    other = make_persona(app, "Bea B.")
    record(app, other, note="not mine", new_tags=["hers"])
    for _ in range(3):
        record(app, mia, note="mine", new_tags=["mine"])
    client = browser(app, mia)
    before = row_counts(app)
    for word in ("", "yes", "delete all"):
        response = post(client, "/me/checkins/delete-all", {"confirm": word})
        assert response.status_code == 303
        assert row_counts(app) == before
    response = post(client, "/me/checkins/delete-all", {"confirm": "DELETE"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(CheckIn.user_id)).all() == [other.id]
        assert db.session.scalars(select(OwnTag.user_id)).all() == [other.id]
    assert "All your check-ins are deleted (3)" in text(client.get("/me/checkins"))


def test_check_in_pages_need_a_signed_in_member(client):
    for path in ("/me/checkins", "/me/checkins/new", "/me/checkins/1", "/me/checkins/1/saved", "/me/recovery",
                 "/me/sharing", "/me/checkins/export.csv", "/me/checkins/export.json"):
        response = client.get(path)
        assert response.status_code == 302 and response.location.startswith("/login"), path


def test_the_history_page_takes_a_fixed_number_of_queries(app, mia):
    from sqlalchemy import event

    def count_queries(n: int) -> int:
        with app.app_context():
            db.session.execute(CheckIn.__table__.delete())
            db.session.commit()
        for i in range(n):
            record(app, mia, tags=["stress"], new_tags=[f"tag {i % 3}"], note="n")
        client = browser(app, mia)
        seen: list[str] = []
        with app.app_context():
            engine = db.engine

        def listener(*args):
            seen.append(args[2])

        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get("/me/checkins").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    assert count_queries(2) == count_queries(20)


def test_the_nav_offers_check_in_to_signed_in_members(app, mia, client):
    assert "/me/checkins/new" not in html(client.get("/"))
    assert '<a href="/me/checkins/new">Check in</a>' in html(browser(app, mia).get("/"))
