"""Alerts the member controls: rules they read in plain words and can pause ("tell Sam if I miss two meetings in
a row that I usually go to", "... if I haven't checked in for 4 days", "... if my BAM risk score goes above 12"),
each also a consent given to that supporter; planned by the planner, previewed exactly, at most one a day per
supporter, never in the member's quiet hours unless they chose otherwise, and re-checked before sending.

No hidden model: each rule is a plain test of facts the member sees on their own pages (their check-in days,
their attendance, the BAM risk score on their measures page), and the message says only the rule's own words.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from supportnet import attendance, consent
from supportnet.consent import Recipient
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    AlertKind,
    AlertRule,
    Audience,
    Channel,
    CheckIn,
    MeasureResponse,
    MeetingSeries,
    Membership,
    MemberStatus,
    Notification,
    NotificationKind,
    NotificationStatus,
    Scope,
    StandingRsvp,
    Supporter,
    User,
)
from supportnet.notifications import outbox
from supportnet.notifications.preferences import Preferences, quiet_until
from supportnet.supporters import people

Kind = NotificationKind
# The thresholds a member may choose, by kind (inclusive).
RANGES: dict[AlertKind, tuple[int, int]] = {
    AlertKind.MISSED_MEETINGS: (2, 5),
    AlertKind.NO_CHECKIN: (2, 30),
    AlertKind.BAM_RISK: (1, 23),
}
SCOPES: dict[AlertKind, Scope] = {
    AlertKind.MISSED_MEETINGS: Scope.ALERT_MISSED_MEETINGS,
    AlertKind.NO_CHECKIN: Scope.ALERT_NO_CHECKIN,
    AlertKind.BAM_RISK: Scope.ALERT_BAM_RISK,
}
# How many held meetings of a series are looked at for a streak of misses.
LOOKBACK = 12
# An alert planned late in the day may wait for the end of quiet hours the next morning, not longer.
ALERT_LIFETIME = timedelta(days=1)
_LIVE = (NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT)


# --- the rules in plain words, and the exact message --------------------------------------------------------


def sentence(kind: AlertKind, threshold: int, supporter_name: str) -> str:
    """The rule as the member reads it."""
    if kind == AlertKind.MISSED_MEETINGS:
        return f"Tell {supporter_name} if I miss {threshold} meetings in a row that I usually go to."
    if kind == AlertKind.NO_CHECKIN:
        return f"Tell {supporter_name} if I haven't checked in for {threshold} days."
    return f"Tell {supporter_name} if my BAM risk score goes above {threshold}."


def message(kind: AlertKind, threshold: int, member_name: str) -> tuple[str, list[str]]:
    """The subject and paragraphs the supporter gets: the preview the member agrees to and the email are made
    here, from the rule alone, so they cannot differ. The subject names no group and no recovery word; the body
    never names a group or a meeting. The BAM score itself is not sent: the member sees their score, the
    supporter only that the questionnaire they chose suggests a harder time (a number without its scale would
    say more about the member than it helps a friend)."""
    if kind == AlertKind.MISSED_MEETINGS:
        what = f"{member_name} has missed {threshold} meetings in a row that they usually go to."
    elif kind == AlertKind.NO_CHECKIN:
        what = f"{member_name} hasn't checked in for {threshold} days."
    else:
        what = f"{member_name}'s questionnaire suggests a harder time."
    return f"{member_name} might like to hear from you", [
        what,
        f"{member_name} set this up themselves and asked us to tell you, so you might get in touch. It is not an "
        "emergency message: if you think they are in danger, call your local emergency number.",
    ]


def purpose(kind: AlertKind, threshold: int, supporter_name: str) -> str:
    """The consent's purpose sentence on the member's sharing page."""
    return f"{supporter_name} gets an email from your alert rule: \"{sentence(kind, threshold, supporter_name)}\""


def message_for(n: Notification) -> tuple[str, list[str]]:
    """The message of a planned alert (the rule's words as they were when it was planned)."""
    payload = n.payload or {}
    return message(AlertKind(payload["kind"]), int(payload["threshold"]), n.user.display_name)


# --- the member's rules ---------------------------------------------------------------------------------------


def rules_of(user: User) -> list[AlertRule]:
    """The member's rules for supporters whose place stands, oldest first."""
    return list(db.session.scalars(
        select(AlertRule).join(Supporter, Supporter.id == AlertRule.supporter_id)
        .where(AlertRule.user_id == user.id, Supporter.ended_at.is_(None))
        .order_by(AlertRule.created_at, AlertRule.id)
    ))


def told_of_bam_risk(user: User) -> list[tuple[str, int]]:
    """The supporters (by the member's name for them) that a BAM risk rule tells now, with its threshold: a
    measure's result says so, so the member is never surprised."""
    return [(rule.supporter.name, rule.threshold) for rule in rules_of(user)
            if rule.kind == AlertKind.BAM_RISK and rule.paused_at is None and rule.supporter.accepted_at is not None]


def rule_for(user: User, rule_id: int) -> AlertRule | None:
    """One of the member's own rules (None for anyone else's)."""
    rule = db.session.get(AlertRule, rule_id)
    return rule if rule is not None and rule.user_id == user.id else None


def create(user: User, supporter_id: int, kind: str, threshold: int, now: datetime,
           *, during_quiet_hours: bool = False) -> AlertRule:
    """Set a rule for one of the member's active supporters; the permission to tell them is a consent."""
    supporter = db.session.get(Supporter, supporter_id)
    if (supporter is None or supporter.user_id != user.id or supporter.accepted_at is None
            or supporter.ended_at is not None):
        raise DomainError("Choose one of your supporters who has accepted.", "supporter_id")
    try:
        alert_kind = AlertKind(kind)
    except ValueError:
        raise DomainError("Choose what the alert is about.", "kind") from None
    low, high = RANGES[alert_kind]
    if not low <= threshold <= high:
        raise DomainError(f"Choose a number from {low} to {high}.", "threshold")
    if db.session.scalar(select(AlertRule.id).where(AlertRule.supporter_id == supporter.id,
                                                    AlertRule.kind == alert_kind)) is not None:
        raise DomainError(f"You already have this kind of alert for {supporter.name}: delete it first to change "
                          "it.", "kind")
    rule = AlertRule(user_id=user.id, supporter_id=supporter.id, kind=alert_kind, threshold=threshold,
                     during_quiet_hours=during_quiet_hours, created_at=now)
    db.session.add(rule)
    consent.grant(user.id, Recipient.supporter(supporter.id), SCOPES[alert_kind],
                  purpose(alert_kind, threshold, supporter.name), now)
    db.session.flush()
    return rule


def pause(rule: AlertRule, now: datetime) -> None:
    """Pause a rule: nothing is planned, and alerts already planned from it are cancelled."""
    if rule.paused_at is None:
        rule.paused_at = now
    _cancel_pending(rule)
    db.session.flush()


def resume(rule: AlertRule) -> None:
    """Resume a paused rule: it is checked again from the next planner pass."""
    rule.paused_at = None
    db.session.flush()


def delete(rule: AlertRule, now: datetime) -> None:
    """Delete a rule: its consent ends and alerts already planned from it are cancelled."""
    consent.revoke(rule.user_id, Recipient.supporter(rule.supporter_id), (SCOPES[rule.kind],), now)
    _cancel_pending(rule)
    db.session.delete(rule)
    db.session.flush()


def forget_rules_without_consent(user: User, now: datetime) -> int:
    """Delete the member's rules whose consent no longer stands (ended from the sharing page's list, where
    every consent can be ended): a rule nobody may be told about is not a rule. Returns how many went."""
    gone = [rule for rule in rules_of(user)
            if not consent.allows(user.id, Recipient.supporter(rule.supporter_id), SCOPES[rule.kind], now)]
    for rule in gone:
        _cancel_pending(rule)
        db.session.delete(rule)
    db.session.flush()
    return len(gone)


def _alert_rows_of(user_id: int, statuses) -> list[Notification]:
    return list(db.session.scalars(
        select(Notification).where(Notification.user_id == user_id, Notification.kind == Kind.SUPPORTER_ALERT,
                                   Notification.status.in_(statuses))
    ))


def _cancel_pending(rule: AlertRule) -> None:
    # The rule's id is in the payload (JSON): the member's few alert rows are read and matched here.
    ids = [n.id for n in _alert_rows_of(rule.user_id, (NotificationStatus.PENDING,))
           if (n.payload or {}).get("rule_id") == rule.id]
    if ids:
        outbox.cancel(Notification.id.in_(ids))


# --- whether a rule's condition holds ------------------------------------------------------------------------


def condition(rule: AlertRule, user: User, now: datetime) -> str | None:
    """What makes the rule hold now, as a key naming this episode (one alert per episode), or None."""
    if rule.kind == AlertKind.NO_CHECKIN:
        return _no_checkin(rule, user, now)
    if rule.kind == AlertKind.MISSED_MEETINGS:
        return _missed(rule, user, now)
    return _bam_risk(rule, user)


def _local_date(user: User, instant: datetime):
    return instant.astimezone(outbox.member_zone(user.timezone)).date()


def _no_checkin(rule: AlertRule, user: User, now: datetime) -> str | None:
    # Whole local days with no check-in, counted from the last check-in (or the day the rule was set, so a
    # new rule never reaches back): a check-in on Monday and a threshold of 4 holds from Saturday 00:00.
    last = db.session.scalar(select(func.max(CheckIn.local_date)).where(CheckIn.user_id == user.id))
    since = _local_date(user, rule.created_at)
    if last is not None and last > since:
        since = last
    if (_local_date(user, now) - since).days - 1 < rule.threshold:
        return None
    return f"since:{since.isoformat()}"


def _missed(rule: AlertRule, user: User, now: datetime) -> str | None:
    # A series the member usually goes to: standing answers for it, or 3 of the 4 meetings before the streak.
    standing = set(db.session.scalars(select(StandingRsvp.series_id).where(StandingRsvp.user_id == user.id)))
    series_ids = db.session.scalars(
        select(MeetingSeries.id)
        .join(Membership, Membership.group_id == MeetingSeries.group_id)
        .where(Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE,
               MeetingSeries.ended_at.is_(None))
        .order_by(MeetingSeries.id)
    ).all()
    for series_id in series_ids:
        streak, first_missed, before = attendance.missed_streak(
            attendance.recent_record(user.id, series_id, now, LOOKBACK))
        usually = series_id in standing or sum(before[:4]) >= 3
        if streak >= rule.threshold and usually:
            return f"missed:{series_id}:{first_missed}"
    return None


def _bam_risk(rule: AlertRule, user: User) -> str | None:
    # Only the newest BAM, and only one taken since the rule was set: it fires once for the response that
    # crossed the line, and a later one at or under it means it no longer holds.
    response = db.session.scalars(
        select(MeasureResponse).where(MeasureResponse.user_id == user.id, MeasureResponse.code == "BAM")
        .order_by(MeasureResponse.taken_at.desc(), MeasureResponse.id.desc()).limit(1)
    ).first()
    if response is None or response.taken_at < rule.created_at:
        return None
    risk = (response.scores or {}).get("risk")
    return f"bam:{response.id}" if risk is not None and int(risk) > rule.threshold else None


# --- planning and sending -------------------------------------------------------------------------------------


def alert_rows(now: datetime) -> list[dict]:
    """One email to the supporter (and the member's own record of it) for each rule that holds now, under a
    standing consent, at most one per supporter per member-local day: the key carries the supporter and that
    day, so when two rules for one supporter hold the same day the older rule wins and the other waits."""
    found = db.session.execute(
        select(AlertRule, User).join(Supporter, Supporter.id == AlertRule.supporter_id)
        .join(User, User.id == AlertRule.user_id)
        .where(AlertRule.paused_at.is_(None), Supporter.accepted_at.is_not(None), Supporter.ended_at.is_(None))
        .order_by(AlertRule.created_at, AlertRule.id)
    ).all()
    rows: list[dict] = []
    keys: set[str] = set()
    fired: dict[int, set[tuple[int, str]]] = {}
    allowed = consent.standing_among((user.id for _, user in found), Audience.SUPPORTER, now)
    for rule, user in found:
        if (user.id, Recipient.supporter(rule.supporter_id).key, SCOPES[rule.kind]) not in allowed:
            continue
        episode = condition(rule, user, now)
        if episode is None:
            continue
        if user.id not in fired:
            fired[user.id] = {((n.payload or {}).get("rule_id"), (n.payload or {}).get("episode"))
                              for n in _alert_rows_of(user.id, _LIVE)}
        key = f"alert:{rule.supporter_id}:{_local_date(user, now).isoformat()}"
        if (rule.id, episode) in fired[user.id] or key in keys:
            continue
        keys.add(key)
        payload = {"rule_id": rule.id, "kind": rule.kind.value, "threshold": rule.threshold, "episode": episode}
        for channel in (Channel.EMAIL, Channel.IN_APP):
            row = outbox.new_row(user.id, Kind.SUPPORTER_ALERT, channel, key, now, now,
                                 expires=now + ALERT_LIFETIME, payload=payload, supporter_id=rule.supporter_id)
            # The member's record waits with the email (quiet hours, re-checks), so it says "we told" only
            # when the email goes.
            row.update(status=NotificationStatus.PENDING, sent_at=None)
            rows.append(row)
    return rows


def verdict(n: Notification, prefs: Preferences, now: datetime) -> tuple[str, str | None, datetime | None]:
    """Whether an email to one of the member's supporters (or the member's own copy in the inbox) goes now:
    ("send"|"cancel"|"expire"|"defer", reason, until). It goes only while the supporter's place stands and, for
    an alert, while the member's rule and consent do; an alert (and the member's record of it) waits for the
    end of the member's quiet hours unless the member chose otherwise."""
    if n.expires_at is not None and now >= n.expires_at:
        return "expire", "too late to be useful", None
    problem = people.send_problem(n, now)
    if problem is None and n.kind == NotificationKind.SUPPORTER_ALERT:
        problem = send_problem(n, now)
    if problem is not None:
        return "cancel", problem, None
    if n.kind == NotificationKind.SUPPORTER_ALERT and not ignores_quiet_hours(n):
        until = quiet_until(prefs, outbox.member_zone(n.user.timezone), now)
        if until is not None:
            if n.expires_at is not None and until >= n.expires_at:
                # Quiet hours outlast the alert (the outbox was held up): it is never sent inside them.
                return "expire", "quiet hours outlast the alert", None
            return "defer", None, until
    return "send", None, None


def _rule_of(n: Notification) -> AlertRule | None:
    rule_id = (n.payload or {}).get("rule_id")
    rule = db.session.get(AlertRule, rule_id) if isinstance(rule_id, int) else None
    if rule is None or rule.user_id != n.user_id or rule.supporter_id != n.supporter_id:
        return None
    return rule


def send_problem(n: Notification, now: datetime) -> str | None:
    """Why a planned alert should not go any more (None when it should): the rule was deleted or paused, its
    consent ended, or what made it hold has changed (a check-in, an attendance, a newer questionnaire)."""
    rule = _rule_of(n)
    if rule is None:
        return "the rule was deleted"
    if rule.paused_at is not None:
        return "the rule is paused"
    if not consent.allows(rule.user_id, Recipient.supporter(rule.supporter_id), SCOPES[rule.kind], now):
        return "the member's consent ended"
    if condition(rule, n.user, now) != (n.payload or {}).get("episode"):
        return "it no longer holds"
    return None


def ignores_quiet_hours(n: Notification) -> bool:
    """Whether the member chose that this alert may go during their quiet hours."""
    rule = _rule_of(n)
    return bool(rule is not None and rule.during_quiet_hours)


def export(user) -> list[dict]:
    """The member's alert rules for their data export."""
    rules = db.session.scalars(select(AlertRule).where(AlertRule.user_id == user.id)
                               .order_by(AlertRule.created_at, AlertRule.id))
    return [{"kind": rule.kind.value, "threshold": rule.threshold, "supporter": rule.supporter.name,
             "rule": sentence(rule.kind, rule.threshold, rule.supporter.name),
             "during_quiet_hours": rule.during_quiet_hours,
             "paused": rule.paused_at.isoformat() if rule.paused_at else None,
             "created": rule.created_at.isoformat()} for rule in rules]
