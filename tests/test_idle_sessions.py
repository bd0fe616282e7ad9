"""A member reads a page for a while, then sends a form: the answer comes at once, as it did for the first form.

The session's "last seen" is written again once it is SESSION_TOUCH_SECONDS old. That write must never wait for
the request it belongs to: on SQLite a form's transaction holds the database's write lock from its first query,
and a second connection asking for the same lock waits until the busy timeout (30 s), then fails, and every other
writer waits behind it. The tests here send forms after the touch interval, in process and through gunicorn,
several at once and beside other writers.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from supportnet import accounts, clock, groups, memberships, scheduling
from supportnet.extensions import db
from supportnet.models import GroupKind, Occurrence, Rsvp, SiteRole, UserSession
from supportnet.recurrence import Frequency, Recurrence
from tests.builders import weekly
from tests.conftest import _CSRF, PASSWORD, database_uri, login, make_app
from tests.http_harness import Browser, free_port, production_env, start_gunicorn, stop_gunicorn, wait_until_up
from tests.worlds.data_controls import move_clock

# Far below the 30 s busy timeout a stalled request waits for; a healthy answer takes milliseconds.
PROMPT = 5.0


def _scene(app, members: int, seats: int = 50) -> tuple[list[str], list[int]]:
    """A public open group meeting weekly from the day after tomorrow, and `members` members of it."""
    with app.app_context():
        now = clock.now_utc()
        host = accounts.create_user("host@example.org", PASSWORD, "Host H.", now, role=SiteRole.FACILITATOR)
        group = groups.create_group(host, name="Reading circle", kind=GroupKind.MEETUP, timezone="UTC", now=now)
        first = (now + timedelta(days=2)).date()
        series = scheduling.create_series(
            group,
            weekly(first_date=first, timezone="UTC", capacity=seats,
                   recurrence=Recurrence(Frequency.WEEKLY, weekdays=(first.weekday(),))),
            now,
        )
        emails = []
        for n in range(members):
            user = accounts.create_user(f"reader{n}@example.org", PASSWORD, f"Reader {n}", now)
            memberships.join(group, user, now)
            emails.append(user.email)
        meetings = list(db.session.scalars(
            select(Occurrence.id).where(Occurrence.series_id == series.id).order_by(Occurrence.starts_at).limit(4)
        ))
        db.session.commit()
        db.engine.dispose()
    return emails, meetings


def _answers(app, occurrence_id: int) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(Rsvp.status, func.count()).where(Rsvp.occurrence_id == occurrence_id).group_by(Rsvp.status)
        ).all()
        db.engine.dispose()
    return {status.value: n for status, n in rows}


# --- in process, on the pinned clock ---


def test_a_form_sent_after_reading_a_page_for_minutes_is_answered_at_once_and_kept(app, member):
    _emails, meetings = _scene(app, 0)
    client = app.test_client()
    assert login(client, member).status_code == 302
    page = client.get(f"/meetings/{meetings[0]}")
    token = _CSRF.search(page.get_data(as_text=True)).group(1)

    move_clock(timedelta(minutes=3))  # reading, thinking, then the click
    began = time.monotonic()
    answer = client.post(f"/meetings/{meetings[0]}/rsvp", data={"csrf_token": token})
    took = time.monotonic() - began

    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    assert took < PROMPT, f"the form waited {took:.1f}s"
    assert _answers(app, meetings[0]) == {"going": 1}
    with app.app_context():
        seen = db.session.scalar(select(UserSession.last_seen_at).where(UserSession.user_id == member.id))
    assert seen == clock.now_utc()  # the touch was committed with the answer


def test_a_page_read_after_a_pause_notes_the_session_as_seen(app, member):
    client = app.test_client()
    assert login(client, member).status_code == 302
    move_clock(timedelta(minutes=5))
    assert client.get("/me/meetings").status_code == 200
    with app.app_context():
        seen = db.session.scalar(select(UserSession.last_seen_at).where(UserSession.user_id == member.id))
    assert seen == clock.now_utc()


def test_a_form_that_changes_nothing_after_a_pause_still_answers_at_once(app, member):
    client = app.test_client()
    assert login(client, member).status_code == 302
    token = _CSRF.search(client.get("/privacy").get_data(as_text=True)).group(1)
    move_clock(timedelta(minutes=2))
    began = time.monotonic()
    # A meeting that does not exist: the form is refused with 404 and nothing is written.
    answer = client.post("/meetings/999999/rsvp", data={"csrf_token": token})
    assert answer.status_code == 404
    assert time.monotonic() - began < PROMPT


def test_the_touch_interval_is_configurable(app, member):
    app.config["SESSION_TOUCH_SECONDS"] = 3600
    client = app.test_client()
    assert login(client, member).status_code == 302
    with app.app_context():
        signed_in_at = db.session.scalar(select(UserSession.last_seen_at).where(UserSession.user_id == member.id))
    move_clock(timedelta(minutes=30))
    assert client.get("/me/meetings").status_code == 200
    with app.app_context():
        seen = db.session.scalar(select(UserSession.last_seen_at).where(UserSession.user_id == member.id))
    assert seen == signed_in_at  # half an hour is within the interval: no write


# --- through gunicorn, on the real clock ---


@pytest.mark.slow
def test_through_gunicorn_idle_members_send_forms_at_once_beside_busy_writers(db_path, smtp_server, tmp_path):
    clock.set_frozen(None)
    url = database_uri(db_path)
    app = make_app(db_path, smtp_server[0].port, SQLALCHEMY_DATABASE_URI=url)
    idle_count, busy_count = 8, 4
    emails, meetings = _scene(app, idle_count + busy_count)
    port = free_port()
    env = production_env(url, port, SESSION_TOUCH_SECONDS="1", WEB_CONCURRENCY="2", WEB_THREADS="4")
    log_path = tmp_path / "gunicorn.log"
    process = start_gunicorn(env, log_path)
    try:
        wait_until_up(port, process)
        browsers = [Browser(port, timeout=60) for _ in emails]
        for browser, email in zip(browsers, emails, strict=True):
            browser.sign_in(email, PASSWORD)
            browser.read(f"/meetings/{meetings[0]}")
        idle, busy = browsers[:idle_count], browsers[idle_count:]
        time.sleep(1.5)  # every session is now older than the touch interval

        answers: list[tuple[str, int, float]] = []
        stop = threading.Event()
        start = threading.Barrier(idle_count + busy_count)

        def idle_member(browser: Browser) -> None:
            start.wait(timeout=30)
            began = time.monotonic()
            status, _, _ = browser.send(f"/meetings/{meetings[0]}/rsvp")
            answers.append(("idle", status, time.monotonic() - began))

        def busy_member(browser: Browser) -> None:
            start.wait(timeout=30)
            rounds = 0
            while not stop.is_set() and rounds < 40:
                for path in (f"/meetings/{meetings[1]}/rsvp", f"/meetings/{meetings[1]}/rsvp/cancel"):
                    began = time.monotonic()
                    status, _, _ = browser.send(path)
                    answers.append(("busy", status, time.monotonic() - began))
                rounds += 1

        threads = [threading.Thread(target=idle_member, args=(b,)) for b in idle]
        threads += [threading.Thread(target=busy_member, args=(b,)) for b in busy]
        for thread in threads:
            thread.start()
        for thread in threads[:idle_count]:
            thread.join(timeout=90)
        stop.set()
        for thread in threads:
            thread.join(timeout=90)

        # Later: every idle member reads again after a pause and sends a second form, one after another.
        time.sleep(1.2)
        for browser in idle:
            browser.read(f"/meetings/{meetings[2]}")
        time.sleep(1.2)
        for browser in idle:
            began = time.monotonic()
            status, _, _ = browser.send(f"/meetings/{meetings[2]}/rsvp")
            answers.append(("idle again", status, time.monotonic() - began))
        for browser in browsers:
            browser.close()
    finally:
        stop_gunicorn(process)

    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log and "database is locked" not in log, log[-3000:]
    assert len([a for a in answers if a[0] == "idle"]) == idle_count
    assert all(status == 302 for _, status, _ in answers), answers
    slowest = max(took for _, _, took in answers)
    assert slowest < PROMPT, f"the slowest form waited {slowest:.1f}s: {sorted(answers, key=lambda a: -a[2])[:5]}"
    assert _answers(app, meetings[0]) == {"going": idle_count}
    assert _answers(app, meetings[2]) == {"going": idle_count}
    busy_rows = _answers(app, meetings[1])
    assert sum(busy_rows.values()) == busy_count and set(busy_rows) <= {"going", "cancelled"}
    with app.app_context():
        occ = db.session.get(Occurrence, meetings[1])
        assert occ.going_count == busy_rows.get("going", 0)
        db.engine.dispose()
