"""The dispatch tick: claims what is due, re-checks it, sends it and marks it. The only notifications module
that commits: it owns its transactions, because it must send with none open.

* **A tick** claims due rows with one UPDATE (…WHERE id IN (SELECT … ORDER BY due_at LIMIT n [FOR UPDATE SKIP
  LOCKED]) RETURNING id): SQLite's BEGIN IMMEDIATE, or PostgreSQL's row locks, hand each row to one claimer.
  It commits the claim, re-checks every row (still going, meeting not cancelled or moved, not begun, kind
  still wanted, quiet hours), settles those that should not be sent, closes its transaction, and sends the
  batch over one SMTP connection. Each message is marked sent in its own short transaction right after the
  server accepted it.
* **Leases and claim tokens.** A claim lasts NOTIFY_LEASE_SECONDS; its lease end (`claimed_until`) is also
  the claim's token. A row can only be claimed again once its lease has ended, so every new claim of a row
  carries a later token than any before it. The holder renews the lease of the rest of its batch whenever
  less than half of it is left, checks just before each message that the row still carries its token, and
  marks (or gives back) rows only where the token still matches: a batch slower than its lease is not
  claimed and sent by a second scheduler, and a scheduler paused past its lease and taken over sends and
  marks nothing more. One message must go within half the lease (the SMTP timeout is far shorter).
* **At least once, not exactly once.** If the process dies between the server's acceptance of a message and
  the commit that marks the row sent, the row's lease runs out and the message is sent again. That window
  is one network round trip plus one small commit (under a millisecond locally; bench/README.md measures
  it); the server's own time between the end of the message and its "250 OK" counts too. Every other
  failure loses and duplicates nothing. The Message-ID is derived from the dedupe key, so a duplicate is at
  least recognisable as the same message.
* **Failures**: 4xx answers and network trouble are retried with exponential backoff and jitter, capped at
  NOTIFY_RETRY_MAX_SECONDS, up to NOTIFY_MAX_ATTEMPTS; 5xx answers fail at once with the reason; a row whose
  moment has passed (a reminder after the meeting began) expires. `last_error` never holds content or
  addresses.
* **Quiet hours** (local to the member) hold back email only; what falls inside waits until they end,
  unless it would be too late by then (a reminder is too late once the meeting begins, a change notice once
  the meeting is over): then it goes out at its time. The in-app inbox never wakes anybody.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time as time_module
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import Connection, select, text, update
from sqlalchemy.orm import joinedload

from supportnet import consent, followup, mail, visibility
from supportnet.checkins import rhythms
from supportnet.clock import now_utc
from supportnet.coaching import notices as coaching_notices
from supportnet.consent import Recipient
from supportnet.db import write_intent
from supportnet.extensions import db
from supportnet.models import (
    Channel,
    Group,
    MeetingSeries,
    Membership,
    MemberStatus,
    Notification,
    NotificationKind,
    NotificationStatus,
    Occurrence,
    Referral,
    Rsvp,
    RsvpStatus,
)
from supportnet.models.notification import LINK_KINDS
from supportnet.notifications import compose, marks, outbox
from supportnet.notifications.preferences import (
    ALWAYS_SENT,
    SUPPORTER_KINDS,
    Preferences,
    chunks,
    preferences_for,
    quiet_until,
)
from supportnet.supporters import alerts as supporter_alerts

# Named after the package, not this module: a log filter on supportnet.notifications sees the dispatcher's warnings.
log = logging.getLogger("supportnet.notifications")

Kind = NotificationKind
PENDING, SENDING, SENT = NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT
CANCELLED, EXPIRED, FAILED = NotificationStatus.CANCELLED, NotificationStatus.EXPIRED, NotificationStatus.FAILED
EMAIL, IN_APP = Channel.EMAIL, Channel.IN_APP
_MEETING_KINDS = (Kind.REMINDER, Kind.STARTING_NOW, Kind.SEAT, Kind.DIGEST)

_stop = threading.Event()


def request_stop() -> None:
    """Ask a running tick to stop after the message in progress (rows it did not send go back to pending)."""
    _stop.set()


def allow_running() -> None:
    """Clear a stop request (a scheduler that starts again)."""
    _stop.clear()


@dataclass
class TickReport:
    claimed: int = 0
    sent: int = 0
    delivered_in_app: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    deferred: int = 0
    released: int = 0
    lost: int = 0  # rows whose claim another scheduler took over (this one was too slow): not sent here

    def __str__(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in vars(self).items() if value) or "nothing due"


def tick(now: datetime | None = None, *, batch_size: int | None = None) -> TickReport:
    """Send everything that is due, batch by batch, until nothing is due; safe from several processes at once.

    Call it inside an app context with no transaction open. `now` pins the time (tests); by default each
    batch reads the clock.
    """
    size = batch_size or current_app.config["NOTIFY_BATCH_SIZE"]
    report = TickReport()
    db.session.rollback()  # begin from a clean slate: no transaction may stay open while we send
    while not _stop.is_set():
        at = now or now_utc()
        claimed, token = _claim(at, size)
        if not claimed:
            break
        report.claimed += len(claimed)
        lease = _Lease(token, current_app.config["NOTIFY_LEASE_SECONDS"], (lambda: now) if now else now_utc)
        _process(claimed, at, report, lease)
        if len(claimed) < size:
            break
    scrub_account_links(now or now_utc())
    return report


def send_now(ids: Sequence[int]) -> TickReport:
    """Send these pending rows at once if they are due (a request's own emails, right after its response);
    whatever fails stays in the outbox for the scheduler to retry. Call with no transaction open."""
    report = TickReport()
    at = now_utc()
    lease_end = at + timedelta(seconds=current_app.config["NOTIFY_LEASE_SECONDS"])
    db.session.rollback()
    with write_intent(True):
        claimed = db.session.execute(
            update(Notification)
            .where(Notification.id.in_(list(ids)), Notification.status == PENDING, Notification.due_at <= at)
            .values(status=SENDING, claimed_until=lease_end, due_at=lease_end, attempts=Notification.attempts + 1)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        ).scalars().all()
        db.session.commit()
    if claimed:
        report.claimed = len(claimed)
        # The claim's token is its lease end, as for the scheduler's own claims.
        _process(sorted(claimed), at, report, _Lease(lease_end, current_app.config["NOTIFY_LEASE_SECONDS"], now_utc))
    scrub_account_links(at)
    return report


SCRUB_WINDOW = timedelta(days=3)


def scrub_account_links(now: datetime) -> int:
    """Delete the one-time links of account emails, and the address and link of referral emails, once they are
    done (sent, failed, expired, cancelled); warn (without the address) about account emails that could not be
    sent. Commits; returns how many.

    A pending row past its time keeps its link only until a tick claims it, finds it expired and scrubs it.
    """
    table = Notification.__table__
    with write_intent(True):
        done = {SENT.value, FAILED.value, EXPIRED.value, CANCELLED.value}
        rows = [row for row in db.session.execute(scrub_query(now)) if row.status in done]
        # A referral's link that was not sent is expected (used, withdrawn or expired first): no warning.
        lost = [(row.id, row.status) for row in rows
                if row.payload.get("link") and row.status != SENT.value and row.kind == Kind.ACCOUNT.value]
        scrubbed = [row.id for row in rows if row.payload.get("link") or row.payload.get("to")]
        for chunk in chunks(scrubbed, 500):
            db.session.execute(update(table).where(table.c.id.in_(chunk)).values(payload={}))
        db.session.commit()
    for notification_id, status in lost:
        log.warning("a sign-up or password-reset email was not sent (notification %s, %s)", notification_id, status)
    return len(scrubbed)


def scrub_query(now: datetime):
    """The account and referral emails of the last few days (those not done yet are for the caller to skip)."""
    table = Notification.__table__
    # A finished row's due_at is when it finished, and the tick (or request) that finishes one scrubs it right
    # after: a few days' range of the partial index on these kinds finds every candidate without reading the
    # reminders finished in those days. The kinds are the index's own SQL text, so the planner can match them,
    # and the status is left to the caller: with it in the query, SQLite would read (status, due_at) instead.
    return select(table.c.id, table.c.kind, table.c.status, table.c.payload).where(
        text(LINK_KINDS), table.c.due_at >= now - SCRUB_WINDOW
    )


def due_query(now: datetime, limit: int):
    """The ids of up to `limit` pending rows due at `now`, most overdue first: one range on (status, due_at)."""
    return (
        select(Notification.id)
        .where(Notification.status == PENDING, Notification.due_at <= now)
        .order_by(Notification.due_at)
        .limit(limit)
    )


def claim(now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due rows for this process (status sending, a lease), commit, and return their ids."""
    return _claim(now, limit)[0]


def _claim(now: datetime, limit: int) -> tuple[list[int], datetime]:
    """Claim up to `limit` due rows; their ids and the claim's token (its lease end, in `claimed_until`)."""
    lease_end = now + timedelta(seconds=current_app.config["NOTIFY_LEASE_SECONDS"])
    with write_intent(True):
        # A claim whose lease ran out (its process died or hung) is pending again.
        db.session.execute(
            update(Notification)
            .where(Notification.status == SENDING, Notification.due_at <= now)
            .values(status=PENDING, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        due = due_query(now, limit)
        if db.session.get_bind().dialect.name == "postgresql":
            # Another scheduler's claim in progress is skipped, not waited for. (SQLite: BEGIN IMMEDIATE already
            # lets one claimer in at a time.)
            due = due.with_for_update(skip_locked=True)
        # due_at becomes the lease's end: "when this row next needs attention", so the same index finds it.
        ids = db.session.execute(
            update(Notification)
            .where(Notification.id.in_(due.scalar_subquery()))
            .values(status=SENDING, claimed_until=lease_end, due_at=lease_end, attempts=Notification.attempts + 1)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        ).scalars().all()
        db.session.commit()
    return sorted(ids), lease_end


class _Lease:
    """This process's claim on a batch: its token (the lease end written to `claimed_until`) and when it ends.

    Only rows whose `claimed_until` still equals the token are this process's: any later claim (after the
    lease ran out) wrote a later lease end. The end is tracked on the monotonic clock, so a pinned `now`
    (tests) or a clock step does not fool the renewal.
    """

    def __init__(self, token: datetime, seconds: int, clock) -> None:
        self.token = token
        self.seconds = seconds
        self.clock = clock
        self.renewed = time_module.monotonic()

    def running_low(self) -> bool:
        return time_module.monotonic() - self.renewed > self.seconds / 2

    def holds(self):
        """The condition "this row is still this claim's"."""
        table = Notification.__table__
        return (table.c.status == SENDING, table.c.claimed_until == self.token)

    def renew(self, books: Connection, ids: list[int]) -> set[int]:
        """Extend the lease of those of `ids` still held (committed at once); returns them."""
        started = time_module.monotonic()
        # Never an earlier token than the current one, even if the clock stepped back.
        token = max(self.clock() + timedelta(seconds=self.seconds), self.token)
        table = Notification.__table__
        held = marks.book(books, update(table).where(table.c.id.in_(ids), *self.holds())
                     .values(claimed_until=token, due_at=token).returning(table.c.id))
        self.token, self.renewed = token, started
        return set(held)


@dataclass
class _Outgoing:
    id: int
    attempts: int
    expires_at: datetime | None
    message: object  # mail.RawMessage, or an email.message.Message where a header is not plain ASCII


@dataclass
class _Context:
    prefs: dict[int, Preferences]
    answers: dict[tuple[int, int], RsvpStatus]
    memberships: dict[tuple[int, int], Membership]
    groups: dict[int, Group]


def _process(ids: list[int], at: datetime, report: TickReport, lease: _Lease) -> None:
    with write_intent(False):
        rows = db.session.scalars(
            select(Notification)
            .options(
                joinedload(Notification.user),
                joinedload(Notification.occurrence).joinedload(Occurrence.series).joinedload(MeetingSeries.group),
            )
            .where(Notification.id.in_(ids))
            .order_by(Notification.due_at, Notification.id)
        ).unique().all()
        ctx = _load_context(rows)
        outgoing: list[_Outgoing] = []
        settle: list[tuple[int, str, str | None, datetime | None]] = []  # (id, verdict, reason, until)
        for n in rows:
            if n.status != SENDING:
                continue
            verdict, reason, until = _verdict(n, ctx, at)
            if verdict == "send" and n.channel == EMAIL:
                try:
                    message = _compose(n, ctx, at)
                except Exception:  # a message we cannot build must not stop the batch
                    log.exception("could not build notification %s", n.id)
                    settle.append((n.id, "fail", "could not build the message", None))
                    continue
                outgoing.append(_Outgoing(n.id, n.attempts, n.expires_at, message))
            else:
                settle.append((n.id, "deliver" if verdict == "send" else verdict, reason, until))
        db.session.rollback()  # close the read transaction: nothing stays open while we talk to SMTP
    _settle(settle, at, report, lease)
    if outgoing:
        _send_all(outgoing, at, report, lease)


def _load_context(rows: list[Notification]) -> _Context:
    user_ids = {n.user_id for n in rows if n.user_id is not None}  # a referral's link goes to an address
    occ_ids = {n.occurrence_id for n in rows if n.occurrence_id}
    answers = {}
    if occ_ids:
        for occ_id, user_id, status in db.session.execute(
            select(Rsvp.occurrence_id, Rsvp.user_id, Rsvp.status)
            .where(Rsvp.occurrence_id.in_(occ_ids), Rsvp.user_id.in_(user_ids))
        ):
            answers[(occ_id, user_id)] = status
    group_ids = {n.group_id for n in rows if n.group_id} | {n.occurrence.series.group_id for n in rows if n.occurrence}
    memberships = {}
    groups = {}
    if group_ids:
        for m in db.session.scalars(
            select(Membership).where(Membership.group_id.in_(group_ids), Membership.user_id.in_(user_ids))
        ):
            memberships[(m.group_id, m.user_id)] = m
        groups = {g.id: g for g in db.session.scalars(select(Group).where(Group.id.in_(group_ids)))}
    return _Context(preferences_for(user_ids), answers, memberships, groups)


def _verdict(n: Notification, ctx: _Context, now: datetime) -> tuple[str, str | None, datetime | None]:
    """Whether a claimed row still makes sense: ("send"|"cancel"|"expire"|"defer", reason, until)."""
    if n.kind == Kind.REFERRAL_LINK:
        return _referral_link_verdict(n, now)
    if n.kind in SUPPORTER_KINDS:
        return supporter_alerts.verdict(n, ctx.prefs[n.user_id], now)
    prefs = ctx.prefs[n.user_id]
    if n.expires_at is not None and now >= n.expires_at:
        return "expire", "too late to be useful", None
    if n.kind == Kind.ACCOUNT:
        # The member waits for it right now: no quiet hours, and a sign-up's address is not confirmed yet.
        return ("send", None, None) if n.payload.get("template") else ("cancel", "nothing to send", None)
    if n.kind not in ALWAYS_SENT and not prefs.wants(n.kind, n.channel):
        return "cancel", "turned off by the member", None
    if n.channel == EMAIL and n.user.email_confirmed_at is None:
        return "cancel", "email address not confirmed", None
    group_id = visibility.notice_group_id(n)
    membership = ctx.memberships.get((group_id, n.user_id))
    reason = visibility.right_to_see(n, n.user, membership, ctx.groups.get(group_id))
    if reason is not None:
        return "cancel", reason, None
    problem = _still_applies(n, ctx, now)
    if problem is not None:
        return problem
    if n.channel == EMAIL:
        until = quiet_until(prefs, outbox.member_zone(n.user.timezone), now)
        if until is not None and (n.expires_at is None or until < n.expires_at):
            return "defer", None, until
    return "send", None, None


def _referral_link_verdict(n: Notification, now: datetime) -> tuple[str, str | None, None]:
    """A referral's link goes out only while the referral is open: not used, withdrawn or expired (nor deleted).
    No quiet hours: the address has no account and no preferences, and the person waits for it."""
    referral = db.session.get(Referral, n.payload.get("referral_id") or 0)
    if referral is None:
        return "cancel", "the referral no longer exists", None
    if referral.withdrawn_at is not None:
        return "cancel", "the referral was withdrawn", None
    if referral.accepted_at is not None:
        return "cancel", "the referral was used", None
    if now >= referral.expires_at or (n.expires_at is not None and now >= n.expires_at):
        return "expire", "the referral expired", None
    if not n.payload.get("to") or not n.payload.get("link"):
        return "cancel", "nothing to send", None
    return "send", None, None


def _still_applies(n: Notification, ctx: _Context, now: datetime) -> tuple[str, str | None, None] | None:
    kind = n.kind
    if kind == Kind.NEWCOMER:
        return _newcomer_still_coming(n, ctx, now)
    if kind in coaching_notices.SESSION_KINDS:  # a one-to-one session: still booked, same start, not begun
        problem = coaching_notices.session_problem(n, ctx.prefs[n.user_id].reminder_offsets, now)
        return ("cancel" if problem != "the session has begun" else "expire", problem, None) if problem else None
    if kind in _MEETING_KINDS:
        occ = n.occurrence
        if occ is None or not outbox.going_ahead(occ) or occ.series.group.archived_at is not None:
            return "cancel", "the meeting is cancelled", None
        if n.payload.get("starts_at") != occ.starts_at.isoformat():
            return "cancel", "the meeting moved", None
        if now >= (occ.ends_at if kind == Kind.STARTING_NOW else occ.starts_at):
            return "expire", "the meeting has begun", None
        member = ctx.memberships.get((occ.series.group_id, n.user_id))
        if kind == Kind.DIGEST:
            if member is None or not member.is_facilitator:
                return "cancel", "no longer a facilitator", None
            return None
        if ctx.answers.get((occ.id, n.user_id)) != RsvpStatus.GOING:
            return "cancel", "no longer going", None
        if kind == Kind.REMINDER:
            offset = n.payload.get("offset")
            offsets = ctx.prefs[n.user_id].reminder_offsets
            if offset not in offsets:
                return "cancel", "reminder time no longer chosen", None
            # Late (the scheduler or the mail server was down): when a nearer reminder is due too, this
            # one adds nothing ("in 24 hours" an hour before the meeting).
            if any(o < offset and occ.starts_at - timedelta(minutes=o) <= now for o in offsets):
                return "expire", "a nearer reminder replaces it", None
        if kind == Kind.STARTING_NOW and (not occ.series.online_url or member is None or not member.is_active):
            return "cancel", "no online link for this member", None
        return None
    if kind == Kind.MEASURE_PROMPT:
        # The rhythm may have been stopped or changed, or the measure taken since its due day.
        problem = rhythms.prompt_problem(n)
        return ("cancel", problem, None) if problem is not None else None
    if kind == Kind.REFERRAL_NUDGE:
        # The person may have revoked their consent, answered or attended, or the coordinator moved on.
        problem = followup.nudge_problem(n, now)
        return ("cancel", problem, None) if problem is not None else None
    member = ctx.memberships.get((n.group_id, n.user_id)) if n.group_id else None
    if kind == Kind.JOIN_REQUEST:
        request = db.session.get(Membership, n.payload.get("membership_id"))
        if request is None or request.status != MemberStatus.PENDING:
            return "cancel", "the request was already answered", None
        if member is None or not member.is_facilitator:
            return "cancel", "no longer a facilitator", None
    elif kind in (Kind.ANNOUNCEMENT, Kind.MISSED_YOU) and (member is None or not member.is_active):
        return "cancel", "no longer a member", None
    elif kind == Kind.SHARING_AUDIENCE and n.group_id is None:
        program_id = n.payload.get("program_id")
        if program_id is None or not consent.scopes_for(n.user_id, Recipient.program_coordinators(program_id), now):
            return "cancel", "no longer shares with the program", None
    elif kind == Kind.SHARING_AUDIENCE and (
        member is None or not member.is_active
        or not consent.scopes_for(n.user_id, Recipient.group_facilitators(n.group_id), now)
    ):
        return "cancel", "no longer shares with the group", None
    elif kind == Kind.CHECKIN_PROMPT:
        day = date.fromisoformat(n.payload["date"])
        if day.weekday() not in ctx.prefs[n.user_id].prompt_days:
            return "cancel", "day no longer chosen", None
    return None


# --- referrals: a newcomer is coming (to the group's volunteer greeters) ---


def _newcomer_still_coming(n: Notification, ctx: _Context, now: datetime) -> tuple[str, str | None, None] | None:
    """The meeting still happens and has not begun, the greeter still greets, and the newcomer is still going."""
    occ = n.occurrence
    if occ is None or not outbox.going_ahead(occ) or occ.series.group.archived_at is not None:
        return "cancel", "the meeting is cancelled", None
    if now >= occ.starts_at:
        return "expire", "the meeting has begun", None
    greeter = ctx.memberships.get((occ.series.group_id, n.user_id))
    if greeter is None or not greeter.is_active or not greeter.greets_newcomers:
        return "cancel", "no longer greets newcomers", None
    newcomer_id = db.session.scalar(select(Referral.accepted_by_id).where(Referral.id == n.payload.get("referral_id")))
    going = newcomer_id is not None and db.session.scalar(
        select(Rsvp.status).where(Rsvp.occurrence_id == occ.id, Rsvp.user_id == newcomer_id)) == RsvpStatus.GOING
    return None if going else ("cancel", "the newcomer is no longer coming", None)


def _compose(n: Notification, ctx: _Context, now: datetime):
    if n.kind == Kind.REFERRAL_LINK:
        composed = compose.referral_link_email(n)
    elif n.kind in SUPPORTER_KINDS:
        composed = compose.supporter_email(n, now)
    else:
        composed = compose.email_for(n, ctx.prefs[n.user_id], ctx.groups, now)
    sender = current_app.config["MAIL_FROM"]
    composed.headers["Message-ID"] = message_id(n.dedupe_key, sender)
    return mail.to_raw(composed, sender)


def message_id(dedupe_key: str, sender: str) -> str:
    """A stable Message-ID for a notice: the same row always gets the same one (no ids or keys show in it)."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]
    return f"<{digest}@{mail.sender_domain(sender)}>"


def _settle(items: list[tuple[int, str, str | None, datetime | None]], at: datetime, report: TickReport,
            lease: _Lease) -> None:
    if not items:
        return
    with write_intent(True):
        for notification_id, verdict, reason, until in items:
            claimed = (Notification.id == notification_id, Notification.status == SENDING,
                       Notification.claimed_until == lease.token)
            if verdict == "deliver":
                values = {"status": SENT, "sent_at": at, "due_at": at, "claimed_until": None}
                report.delivered_in_app += 1
            elif verdict == "defer":
                # Quiet hours: not an attempt.
                values = {"status": PENDING, "due_at": until, "claimed_until": None,
                          "attempts": Notification.attempts - 1}
                report.deferred += 1
            elif verdict == "fail":
                values = {"status": FAILED, "due_at": at, "claimed_until": None, "last_error": reason}
                report.failed += 1
            else:
                status = CANCELLED if verdict == "cancel" else EXPIRED
                values = {"status": status, "due_at": at, "claimed_until": None, "last_error": reason}
                if verdict == "cancel":
                    report.cancelled += 1
                else:
                    report.expired += 1
            db.session.execute(update(Notification).where(*claimed).values(**values)
                               .execution_options(synchronize_session=False))
        db.session.commit()


def _send_all(outgoing: list[_Outgoing], at: datetime, report: TickReport, lease: _Lease) -> None:
    """Send the batch over one connection; mark each row right after the server's answer."""
    with marks.bookkeeping() as books:
        _send_batch(books, outgoing, at, report, lease)


def _send_batch(books: Connection, outgoing: list[_Outgoing], at: datetime, report: TickReport,
                lease: _Lease) -> None:
    config = current_app.config
    transport = None
    down: mail.SendError | None = None
    lost: set[int] = set()
    marker = marks.Marker(books)
    try:
        for index, item in enumerate(outgoing):
            if _stop.is_set():
                rest = [o.id for o in outgoing[index:] if o.id not in lost]
                _release(rest, at, lease)
                report.released += len(rest)
                return
            if lease.running_low():
                # A slow server: keep the rest of the batch ours rather than let another scheduler claim it.
                rest = [o.id for o in outgoing[index:] if o.id not in lost]
                lost.update(set(rest) - lease.renew(books, rest))
            # Only the holder of the row's current claim sends it: a scheduler that stalled past its lease
            # may have been taken over.
            if item.id in lost or not marker.holds(item.id, lease.token):
                lost.add(item.id)
                report.lost += 1
                log.warning("notification %s: claim taken over by another scheduler; not sent here", item.id)
                continue
            if down is not None:
                # The connection failed: the rest of the batch waits for the next try rather than each
                # message waiting for its own timeout.
                _record_failure(books, item, down, at, report, lease)
                continue
            try:
                if transport is None:
                    transport = mail.open_transport(config)
                transport.send(item.message)
            except mail.SendError as error:
                if error.connection:
                    down = error
                    log.warning("mail server unavailable: %s", error.reason)
                _record_failure(books, item, error, at, report, lease)
                continue
            # Marked at once, one row per transaction: the smallest window in which a crash repeats a message.
            if not _mark_sent(marker, item.id, at, lease):
                log.warning("notification %s: sent, but its claim was taken over meanwhile", item.id)
            report.sent += 1
    finally:
        if transport is not None:
            transport.close()


def _mark_sent(marker: marks.Marker, notification_id: int, at: datetime, lease: _Lease) -> bool:
    """The server accepted the message: the row is sent (committed before the next message goes)."""
    return marker.mark(notification_id, at, lease.token)


def _release(ids: list[int], at: datetime, lease: _Lease) -> None:
    """Give rows this process claimed but will not send back to the queue (they were not attempted)."""
    if not ids:
        return
    with write_intent(True):
        db.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids), Notification.status == SENDING, Notification.claimed_until == lease.token)
            .values(status=PENDING, due_at=at, claimed_until=None, attempts=Notification.attempts - 1)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def retry_delay(attempts: int, base: int, cap: int) -> timedelta:
    """Exponential backoff with jitter: about base * 2^(attempts-1) seconds, never more than cap."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    # "Equal jitter": at least half the delay, so retries from many rows spread out but never come at once.
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not a secret


def _record_failure(books: Connection, item: _Outgoing, error: mail.SendError, at: datetime,
                    report: TickReport, lease: _Lease) -> None:
    config = current_app.config
    values: dict = {"claimed_until": None, "last_error": error.reason}
    if not error.temporary:
        values.update(status=FAILED, due_at=at)
        report.failed += 1
        log.warning("notification %s failed for good: %s", item.id, error.reason)
    elif item.attempts >= config["NOTIFY_MAX_ATTEMPTS"]:
        values.update(status=FAILED, due_at=at, last_error=mail.clean_reason(
            f"gave up after {item.attempts} attempts: {error.reason}"))
        report.failed += 1
    else:
        next_try = at + retry_delay(item.attempts, config["NOTIFY_RETRY_BASE_SECONDS"],
                                    config["NOTIFY_RETRY_MAX_SECONDS"])
        if item.expires_at is not None and next_try >= item.expires_at:
            values.update(status=EXPIRED, due_at=at)
            report.expired += 1
        else:
            values.update(status=PENDING, due_at=next_try)
            report.retried += 1
    table = Notification.__table__
    marks.book(books, update(table).where(table.c.id == item.id, *lease.holds()).values(**values))
