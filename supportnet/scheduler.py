"""The scheduler process: APScheduler wakes it up; the database says what is due.

The web app never starts a scheduler (gunicorn workers and the reloader would each run a copy).
Jobs are thin: each opens an app context, calls domain functions, and commits.

Three jobs, in UTC, in an in-memory job store (their state lives in the database, not in APScheduler):

* dispatch, every SCHEDULER_DISPATCH_SECONDS (30 s): `notifications.dispatch.tick` sends what is due;
* plan, every SCHEDULER_PLAN_SECONDS (5 min): meetings for the next 26 weeks, expired sessions, and the
  notifications that are due soon but missing (reminders, digests, check-in prompts, "we missed you");
* retention, daily: deletes finished notifications older than NOTIFY_RETENTION_DAYS, old audit entries and
  check-ins, and folds referrals 90 days after their end into their program's monthly counts.

Interval triggers only: a cron trigger in local time fires twice on the night clocks go back. Every job is
safe to run in several processes at once (claims and dedupe keys settle who does what).
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from supportnet import accounts, followup, mail, privacy, scheduling
from supportnet.clock import now_utc
from supportnet.db import database_unavailable, flush_erasure, unavailable_reason
from supportnet.extensions import db
from supportnet.notifications import dispatch, outbox, planner

log = logging.getLogger("supportnet.scheduler")


def plan_pass(app: Flask, now: datetime | None = None) -> planner.PlanReport:
    """Extend meeting horizons, purge expired sessions and write the notifications due soon; one commit."""
    now = now or now_utc()
    with app.app_context():
        cfg = app.config
        scheduling.extend_horizons(now)
        accounts.purge_expired(
            now,
            failure_window=timedelta(minutes=cfg["LOGIN_FAILURE_WINDOW_MINUTES"]),
            lifetime=timedelta(days=cfg["SESSION_LIFETIME_DAYS"]),
        )
        report = planner.plan(now)
        db.session.commit()
        return report


def dispatch_pass(app: Flask, now: datetime | None = None) -> dispatch.TickReport:
    """Send every notification that is due (see notifications.dispatch.tick)."""
    with app.app_context():
        report = dispatch.tick(now)
        if report.claimed:
            log.info("dispatch: %s", report)
        return report


def retention_pass(app: Flask, now: datetime | None = None) -> int:
    """Delete finished notifications older than NOTIFY_RETENTION_DAYS (returns how many), old audit entries and
    check-ins, and referrals 90 days after their end (counted first)."""
    now = now or now_utc()
    with app.app_context():
        removed = outbox.purge(now, timedelta(days=app.config["NOTIFY_RETENTION_DAYS"]))
        # Old audit entries; check-ins and measure responses older than the period their member chose.
        privacy.purge(now, app.config)
        followup.fold_old_referrals(now)  # referrals 90 days after their end: counted by month, then deleted
        db.session.commit()
        # What was purged must not stay readable in the WAL either (as after a member's own deletion).
        flush_erasure(db.engine)
        return removed


def run_pass(app: Flask, now: datetime | None = None) -> dispatch.TickReport:
    """One pass of every periodic duty; safe to run as often as you like, from several processes."""
    plan_pass(app, now)
    report = dispatch_pass(app, now)
    retention_pass(app, now)
    return report


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """An APScheduler in UTC with an in-memory job store: the jobs are fixed, their state is in the database."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(3)},
        # A job that is still running is not started again; runs missed while busy collapse into one.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    started = datetime.now(UTC)
    cfg = app.config
    scheduler.add_job(_safely(plan_pass, app), IntervalTrigger(seconds=cfg["SCHEDULER_PLAN_SECONDS"], timezone=UTC),
                      id="plan", next_run_time=started)
    scheduler.add_job(_safely(dispatch_pass, app),
                      IntervalTrigger(seconds=cfg["SCHEDULER_DISPATCH_SECONDS"], timezone=UTC),
                      id="dispatch", next_run_time=started + timedelta(seconds=2))
    scheduler.add_job(_safely(retention_pass, app), IntervalTrigger(days=1, timezone=UTC),
                      id="retention", next_run_time=started + timedelta(minutes=1))
    return scheduler


def _safely(job, app: Flask):
    def run() -> None:
        try:
            job(app)
        except Exception as error:  # a failed pass must not stop the next one
            if database_unavailable(error):
                # An outage is not a bug: one line per pass, not a traceback every few seconds.
                log.error("scheduler job %s: database unavailable: %s", job.__name__, unavailable_reason(error))
            else:
                log.exception("scheduler job %s failed", job.__name__)

    run.__name__ = job.__name__
    return run


def _check_lease(app: Flask) -> None:
    """Warn when one message could outlast half a lease: the lease is renewed at half time, between messages."""
    lease = app.config["NOTIFY_LEASE_SECONDS"]
    try:
        timeout = mail.parse_mail_url(app.config["MAIL_URL"]).timeout if app.config["MAIL_URL"] else 0
    except ValueError:
        return  # the mail URL's own error shows when the first message is sent
    # An SMTP exchange is a few reads and writes, each allowed `timeout` seconds.
    if lease < 4 * timeout:
        log.warning("SUPPORTNET_NOTIFY_LEASE_SECONDS=%s is short for an SMTP timeout of %s s: a message to a slow "
                    "server may outlast its lease and be sent twice; use at least %s", lease, timeout, 4 * timeout)


def run_forever(app: Flask) -> None:
    """Run the scheduler until SIGTERM or Ctrl-C, then stop cleanly after the message in progress."""
    dispatch.allow_running()
    scheduler = build_scheduler(app)
    stop_requested = False

    def _stop(signum, _frame) -> None:
        # Only set a flag: a signal handler that calls into the scheduler can deadlock on the locks
        # the interrupted main thread holds (seen with ThreadPoolExecutor.submit).
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _check_lease(app)
    scheduler.start()
    log.info("scheduler started; dispatch every %s s, planning every %s s",
             app.config["SCHEDULER_DISPATCH_SECONDS"], app.config["SCHEDULER_PLAN_SECONDS"])
    while not stop_requested:
        time.sleep(0.2)
    log.info("scheduler stopping")
    # A dispatch in progress finishes the message it is sending and puts the rest of its batch back.
    dispatch.request_stop()
    scheduler.shutdown(wait=True)
    log.info("scheduler stopped")
