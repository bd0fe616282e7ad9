"""Benchmark: building a group's calendar feed, and answering a calendar app's conditional GET.

Run from the project root:  .venv/bin/python bench/feeds.py  [--series N] [--changes N] [--requests N]

A throwaway SQLite file (migrated with `flask_migrate.upgrade()`) holds one public group with 20 weekly
series in three time zones and 200 one-off changes made through the domain (cancelled, moved, and moved
then cancelled weeks; a quarter of the group's meetings), with the clock pinned. Each figure has a baseline
taken in the same run, interleaved with it, so the ratios mean something on any machine:

* building the feed after one change (one meeting cancelled or moved through the domain and committed, then the
  feed loaded and built, with the parts kept from the build before) vs. only serializing the same components,
  built whole from scratch (`Calendar.to_ical()`); every build's bytes are checked equal to a build from scratch;
* GET /groups/<slug>/calendar.ics answered 304 (If-None-Match with the current ETag) vs. a full build of that
  feed with nothing kept (and vs. the 200 answers and GET /healthz), through the Flask test client (server time:
  no network, no WSGI server); each round makes one change first, so the first poll after it is measured too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from supportnet import accounts, calendars, clock, create_app, feeds, groups, scheduling  # noqa: E402
from supportnet.extensions import db  # noqa: E402
from supportnet.models import Group, GroupKind, MeetingSeries, Occurrence, OccurrenceStatus, SiteRole  # noqa: E402
from supportnet.recurrence import Frequency, Recurrence  # noqa: E402
from supportnet.series_spec import SeriesSpec  # noqa: E402
from supportnet.web.feeds import WebLinks, uid_host  # noqa: E402

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # a Monday morning
ZONES = ("Europe/London", "America/New_York", "Australia/Sydney")


def make_app(workdir: Path) -> Flask:
    return create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench-secret-key-" + "x" * 32,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.db'}",
            "BASE_URL": "http://supportnet.bench",
            "DEV_MAILBOX_DIR": str(workdir / "mailbox"),
            "LOG_LEVEL": "WARNING",
        }
    )


def populate(n_series: int, n_changes: int) -> str:
    """One group, its series and one-off changes, all through the domain functions; return the group's slug."""
    facilitator = accounts.create_user(
        "bench-facilitator@example.org", "a long and quiet river", "Fran F.", NOW, role=SiteRole.FACILITATOR
    )
    group = groups.create_group(facilitator, name="Benchmark Circle", kind=GroupKind.PEER_SUPPORT,
                                timezone=ZONES[0], now=NOW, description="A group with a busy calendar.")
    series = []
    for i in range(n_series):
        days = (i % 7,) if i % 3 else (i % 7, (i + 3) % 7)
        spec = SeriesSpec(
            title=f"Meeting {i + 1}: check-in, reading; and sharing",
            description="Tea from a quarter to. The room is on the first floor, step-free by the side door.",
            first_date=date(2027, 1, 5) + timedelta(days=i % 7),
            start_time=wall_time(9 + i % 12, 30 if i % 2 else 0),
            duration_minutes=90,
            timezone=ZONES[i % len(ZONES)],
            recurrence=Recurrence(Frequency.WEEKLY, weekdays=tuple(sorted(set(days)))),
            venue="Community room",
            address=f"{i + 1} Canal Street, Manchester M1 3HE",
        )
        series.append(scheduling.create_series(group, spec, NOW))
    rows = list(
        db.session.scalars(
            select(Occurrence)
            .where(Occurrence.series_id.in_([s.id for s in series]), Occurrence.starts_at > NOW)
            .order_by(Occurrence.starts_at, Occurrence.id)
        )
    )
    step = max(1, len(rows) // n_changes)
    for k, occ in enumerate(rows[::step][:n_changes]):
        kind = k % 3
        if kind == 0:
            scheduling.cancel_occurrence(occ, "No meeting this week.", NOW)
        else:
            local = occ.starts_at.astimezone(occ.series.tz).replace(tzinfo=None)
            scheduling.move_occurrence(occ, new_start_local=local + timedelta(days=1, hours=1), now=NOW,
                                       note="Moved a day later.")
            if kind == 2:
                scheduling.cancel_occurrence(occ, "Cancelled after all.", NOW)
    db.session.commit()
    return group.slug


def next_changes(group: Group, count: int) -> list[int]:
    """Meetings still as their rule says, round-robin over the series: the subjects of the measured changes."""
    rows = db.session.execute(
        select(Occurrence.id, Occurrence.series_id)
        .join(Occurrence.series)
        .where(MeetingSeries.group_id == group.id, Occurrence.starts_at > NOW + timedelta(days=7),
               Occurrence.status == OccurrenceStatus.SCHEDULED, Occurrence.sequence == 0)
        .order_by(Occurrence.starts_at)
    ).all()
    by_series: dict[int, list[int]] = {}
    for occurrence_id, series_id in rows:
        by_series.setdefault(series_id, []).append(occurrence_id)
    queues = list(by_series.values())
    picked = [queue[k] for k in range(max(map(len, queues))) for queue in queues if k < len(queue)]
    return picked[:count]


def change(occurrence_id: int, run: int) -> None:
    """One change through the domain, committed: a cancelled week, or a week moved by an hour."""
    occ = db.session.get(Occurrence, occurrence_id)
    if run % 2:
        scheduling.cancel_occurrence(occ, "No meeting this week.", NOW)
    else:
        local = occ.starts_at.astimezone(occ.series.tz).replace(tzinfo=None)
        scheduling.move_occurrence(occ, new_start_local=local + timedelta(hours=1), now=NOW, note="An hour later.")
    db.session.commit()


def measure(fn: Callable[[], bytes], into: tuple[list[float], list[float]], keep: bool) -> bytes:
    """Call fn once; when `keep`, add its wall-clock and CPU seconds to `into` (the first calls are warm-ups)."""
    started, started_cpu = time.perf_counter(), time.process_time()
    result = fn()
    if keep:
        into[0].append(time.perf_counter() - started)
        into[1].append(time.process_time() - started_cpu)
    return result


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    clock.set_frozen(NOW)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="supportnet-bench-feeds-") as tmp:
        app = make_app(Path(tmp))
        with app.app_context():
            upgrade()
            slug = populate(args.series, args.changes)
            changed = db.session.query(Occurrence).filter(Occurrence.status != OccurrenceStatus.SCHEDULED).count()
        print(f"SupportNet feed benchmark: SQLite file, 1 group, {args.series} series, {changed} changed meetings, "
              f"now = {NOW:%Y-%m-%d %H:%M} UTC, python {sys.version.split()[0]}")
        print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

        with app.test_request_context():
            group = db.session.scalar(select(Group).where(Group.slug == slug))
            span = feeds.window(NOW)
            links, host = WebLinks(), uid_host()
            blocks = feeds.BlockCache()
            # One future meeting per change, a different series each time (as a facilitator works through them).
            pending = next_changes(group, args.requests + 2)

            def build_after_change() -> bytes:
                db.session.expire_all()  # every request loads afresh
                entries = calendars.group_entries(group, span)
                return feeds.group_calendar(group, entries, links=links, host=host, span=span, blocks=blocks)

            def build_from_scratch() -> bytes:
                db.session.expire_all()
                entries = calendars.group_entries(group, span)
                return feeds.group_calendar(group, entries, links=links, host=host, span=span,
                                            blocks=feeds.BlockCache())

            build_after_change()  # the blocks of the feed as it is before the first change
            after, scratch, baseline = ([], []), ([], []), ([], [])
            for run in range(args.requests + 2):
                change(pending[run], run)
                body = measure(build_after_change, after, run >= 2)
                assert measure(build_from_scratch, scratch, run >= 2) == body
                # The baseline: icalendar serializing the very same components, built whole from scratch.
                component = feeds.group_calendar_component(
                    group, calendars.group_entries(group, span), links=links, host=host, span=span)
                assert measure(component.to_ical, baseline, run >= 2) == body  # byte for byte the same feed
            events = len(component.walk("VEVENT"))

        print(f"\n1. Building the feed after one change ({len(body):,} bytes at the end, {events} VEVENTs, "
              f"{body.count(b'EXDATE')} EXDATEs), {args.requests} changes, each followed by the three builds")
        print(f"   {'what':52} {'median':>10} {'p95':>10} {'CPU':>10} {'wall ratio':>10} {'CPU ratio':>10}")
        base, base_cpu = statistics.median(baseline[0]), statistics.median(baseline[1])
        for label, (wall, cpu) in (
            ("load + build + serialize, parts kept since last build", after),
            ("load + build + serialize, from scratch", scratch),
            ("baseline: serialize the same components (icalendar)", baseline),
        ):
            median, median_cpu = statistics.median(wall), statistics.median(cpu)
            print(f"   {label:52} {ms(median)} {ms(p95(wall))} {ms(median_cpu)} {median / base:9.1f}x "
                  f"{median_cpu / base_cpu:9.1f}x")
        print("   every build's bytes were checked equal to the from-scratch build and to the baseline's")

        client = app.test_client()
        url = f"/groups/{slug}/calendar.ics"
        first = client.get(url)
        assert first.status_code == 200 and first.data == body
        etag = first.headers["ETag"]
        with app.app_context():
            pending = next_changes(db.session.scalar(select(Group).where(Group.slug == slug)), args.requests + 2)

        def poll(expect: int, tag: str | None = None) -> str:
            response = client.get(url, headers={"If-None-Match": tag} if tag else {})
            assert response.status_code == expect, response.status_code
            return response.headers.get("ETag", "")

        def from_scratch() -> str:
            for name in ("supportnet_feed_cache", "supportnet_feed_blocks"):
                app.extensions.pop(name, None)  # nothing kept: another process, or the first poll after a restart
            return poll(200)

        answers: dict[str, tuple[list[float], list[float]]] = {
            "GET /healthz": ([], []),
            f"GET {url} If-None-Match (304)": ([], []),
            f"GET {url} (200, already built)": ([], []),
            "  first poll after one change (200, rebuilt)": ([], []),
            "  full build, nothing kept (200, from scratch)": ([], []),
        }
        labels = list(answers)
        for run in range(args.requests + 2):  # each round: one change, then every request once (interleaved)
            keep = run >= 2
            with app.app_context():
                change(pending[run], run + 1)
            changed = measure(lambda: poll(200), answers[labels[3]], keep)
            assert changed != etag
            etag = changed
            measure(lambda tag=etag: poll(304, tag), answers[labels[1]], keep)
            measure(lambda: poll(200), answers[labels[2]], keep)
            measure(lambda: client.get("/healthz"), answers[labels[0]], keep)
            assert measure(from_scratch, answers[labels[4]], keep) == etag  # the same bytes, built whole

        print(f"\n2. Polling the feed through the Flask test client, {args.requests} rounds of one change and each "
              "request once (server time)")
        print(f"   {'request':62} {'median':>10} {'p95':>10} {'CPU':>10} {'vs healthz':>10} {'vs full':>8}")
        reference = statistics.median(answers["GET /healthz"][1])
        full = statistics.median(answers[labels[4]][1])
        for label, (wall, cpu) in answers.items():
            median_cpu = statistics.median(cpu)
            print(f"   {label:62} {ms(statistics.median(wall))} {ms(p95(wall))} {ms(median_cpu)} "
                  f"{median_cpu / reference:9.1f}x {100 * median_cpu / full:7.1f}%")
        print("   vs healthz: median CPU / median CPU of GET /healthz; vs full: / median CPU of the full build")
        with app.app_context():
            db.engine.dispose()
    print(f"\ntotal run time: {time.perf_counter() - started:.1f} s; load average: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
