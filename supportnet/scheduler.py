"""The scheduler process: APScheduler wakes it up; the database says what is due.

The web app never starts a scheduler (gunicorn workers and the reloader would each run a copy).
Jobs are thin: each opens an app context, calls domain functions, and commits.
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from supportnet import accounts
from supportnet.clock import now_utc
from supportnet.extensions import db

log = logging.getLogger("supportnet.scheduler")

TICK_SECONDS = 30


def run_pass(app: Flask, now: datetime | None = None) -> None:
    """One pass of every periodic duty; safe to run as often as you like, from several processes."""
    now = now or now_utc()
    with app.app_context():
        cfg = app.config
        accounts.purge_expired(
            now,
            failure_window=timedelta(minutes=cfg["LOGIN_FAILURE_WINDOW_MINUTES"]),
            lifetime=timedelta(days=cfg["SESSION_LIFETIME_DAYS"]),
        )
        db.session.commit()


def build_scheduler(app: Flask) -> BlockingScheduler:
    """An APScheduler in UTC with an in-memory job store: the jobs are fixed, their state is in the database."""
    scheduler = BlockingScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
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
    """Run the scheduler until SIGTERM or Ctrl-C, then stop cleanly."""
    scheduler = build_scheduler(app)

    def _stop(signum, _frame) -> None:
        log.info("scheduler stopping (signal %s)", signum)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        else:  # the signal came before start(): leave through the except below
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    scheduler.add_listener(lambda _event: log.info("scheduler started; a pass every %s seconds", TICK_SECONDS),
                           EVENT_SCHEDULER_STARTED)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        if scheduler.running:
            scheduler.shutdown(wait=False)
    log.info("scheduler stopped")
