"""Alerts the member controls: rules they read in plain words and can pause ("tell Sam if I miss two meetings in
a row that I usually go to", "... if I haven't checked in for 4 days", "... if my BAM risk score goes above 12"),
each also a consent given to that supporter; planned by the planner, previewed exactly, at most one a day per
supporter, never in the member's quiet hours unless they chose otherwise, and re-checked before sending."""

from __future__ import annotations

from datetime import datetime

from supportnet.models import Channel, Notification, NotificationKind
from supportnet.notifications import outbox
from supportnet.notifications.preferences import Preferences, quiet_until
from supportnet.supporters import people


def verdict(n: Notification, prefs: Preferences, now: datetime) -> tuple[str, str | None, datetime | None]:
    """Whether an email to one of the member's supporters (or the member's own copy in the inbox) goes now:
    ("send"|"cancel"|"expire"|"defer", reason, until). It goes only while the supporter's place stands and, for
    an alert, while the member's rule and consent do; an alert waits for the end of the member's quiet hours
    unless the member chose otherwise."""
    if n.expires_at is not None and now >= n.expires_at:
        return "expire", "too late to be useful", None
    problem = people.send_problem(n, now)
    if problem is None and n.kind == NotificationKind.SUPPORTER_ALERT:
        problem = send_problem(n, now)
    if problem is not None:
        return "cancel", problem, None
    if n.channel == Channel.EMAIL and n.kind == NotificationKind.SUPPORTER_ALERT and not ignores_quiet_hours(n):
        until = quiet_until(prefs, outbox.member_zone(n.user.timezone), now)
        if until is not None and (n.expires_at is None or until < n.expires_at):
            return "defer", None, until
    return "send", None, None


def send_problem(n: Notification, now: datetime) -> str | None:
    """Why a planned alert should not go any more (None when it should). Filled in with the alerts' part."""
    return None


def ignores_quiet_hours(n: Notification) -> bool:
    """Whether the member chose that this alert may go during their quiet hours."""
    return False


def export(user) -> list[dict]:
    """The member's alert rules for their data export (filled in with the alerts' part)."""
    return []
