"""The scheduler process: APScheduler wakes it up; the database says what is due.

The web app never starts a scheduler (gunicorn workers and the reloader would each run a copy).
Jobs are thin: each opens an app context, calls domain functions, and commits.
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from supportnet import accounts, scheduling
from supportnet.clock import now_utc
from supportnet.extensions import db

log = logging.getLogger("supportnet.scheduler")

TICK_SECONDS = 30


def run_pass(app: Flask, now: datetime | None = None) -> None:
    """One pass of every periodic duty; safe to run as often as you like, from several processes."""
    now = now or now_utc()
    with app.app_context():
        cfg = app.config
        scheduling.extend_horizons(now)
        accounts.purge_expired(
            now,
            failure_window=timedelta(minutes=cfg["LOGIN_FAILURE_WINDOW_MINUTES"]),
            lifetime=timedelta(days=cfg["SESSION_LIFETIME_DAYS"]),
        )
        db.session.commit()


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """An APScheduler in UTC with an in-memory job store: the jobs are fixed, their state is in the database."""
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(
        _safely(run_pass, app),
        IntervalTrigger(seconds=TICK_SECONDS, timezone=UTC),
        id="tick",
        next_run_time=datetime.now(UTC),
    )
    return scheduler


def _safely(job, app: Flask):
    def run() -> None:
        try:
            job(app)
        except Exception:  # a failed pass must not stop the next one
            log.exception("scheduler pass failed")

    run.__name__ = job.__name__
    return run


def run_forever(app: Flask) -> None:
    """Run the scheduler until SIGTERM or Ctrl-C, then stop cleanly after the pass in progress."""
    scheduler = build_scheduler(app)
    stop_requested = False

    def _stop(signum, _frame) -> None:
        # Only set a flag: a signal handler that calls into the scheduler can deadlock on the locks
        # the interrupted main thread holds (seen with ThreadPoolExecutor.submit).
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    scheduler.start()
    log.info("scheduler started; a pass every %s seconds", TICK_SECONDS)
    while not stop_requested:
        time.sleep(0.2)
    log.info("scheduler stopping")
    scheduler.shutdown(wait=True)
    log.info("scheduler stopped")
