"""The planner: re-derives what is missing (idempotent, safe from several processes). Every few minutes it
writes the reminders, digests and check-in prompts that have come within the outbox's lookahead, and the
"we missed you" notes. Flush only; the scheduler commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, cast, select

from supportnet import attendance, followup
from supportnet.checkins import rhythms
from supportnet.coaching import notices as coaching_notices
from supportnet.extensions import db
from supportnet.models import (
    Channel,
    Group,
    MeetingSeries,
    Membership,
    MemberStatus,
    NotificationKind,
    NotificationSettings,
)
from supportnet.notifications import outbox
from supportnet.notifications.preferences import from_row
from supportnet.supporters import alerts as supporter_alerts

Kind = NotificationKind
# "We missed you": how many past meetings (with attendance taken) are looked at.
MISSED_LOOKBACK = 12
MISSED_EXPIRES = timedelta(days=7)


@dataclass
class PlanReport:
    reminders: int = 0
    digests: int = 0
    prompts: int = 0
    missed: int = 0
    nudges: int = 0
    measure_prompts: int = 0
    # Alerts the member set for their supporters (supportnet/supporters/alerts.py).
    supporter_alerts: int = 0
    session_reminders: int = 0


def plan(now: datetime) -> PlanReport:
    """Write every reminder, digest, check-in prompt and "we missed you" note that is due soon and missing."""
    reminders = outbox.reminder_rows(now)
    digests = outbox.digest_rows(now)
    prompts = outbox.prompt_rows(now)
    missed = _missed_rows(now)
    # Referral nudges to program coordinators (supportnet/followup.py decides which are due and wanted).
    nudges = followup.nudge_rows(now)
    # Measures due today or tomorrow by a rhythm the member chose (supportnet/checkins/rhythms.py): once per due day.
    measure_prompts = rhythms.measure_prompt_rows(now)
    # Insert only: a row a hook cancelled on purpose stays cancelled (the hooks themselves revive rows).
    for rows in (reminders, digests, prompts, missed, nudges, measure_prompts):
        outbox.write(rows)
    # --- alerts the member controls: each an email to a supporter plus the member's own record of it ---
    alert_rows = supporter_alerts.alert_rows(now)
    outbox.write(alert_rows)
    # --- one-to-one sessions: the member's reminders at their chosen offsets (supportnet/coaching/notices.py) ---
    session_reminders = coaching_notices.reminder_rows(now)
    outbox.write(session_reminders)
    return PlanReport(len(reminders), len(digests), len(prompts), len(missed), len(nudges), len(measure_prompts),
                      len([row for row in alert_rows if row["channel"] == Channel.EMAIL]), len(session_reminders))


def _missed_rows(now: datetime) -> list[dict]:
    """"We missed you" for members who opted in and missed their last N meetings of a series they usually attend."""
    # The column is JSON: a text match finds the few rows that mention the kind; Python decides for real.
    candidates = db.session.scalars(
        select(NotificationSettings).where(cast(NotificationSettings.channels, String).like("%missed_you%"))
    ).all()
    rows: list[dict] = []
    for settings in candidates:
        prefs = from_row(settings)
        channels = prefs.channels_for(Kind.MISSED_YOU)
        if not channels:
            continue
        series_rows = db.session.execute(
            select(MeetingSeries.id, MeetingSeries.group_id)
            .join(Membership, and_(Membership.group_id == MeetingSeries.group_id,
                                   Membership.user_id == settings.user_id))
            .join(Group, Group.id == MeetingSeries.group_id)
            .where(Membership.status == MemberStatus.ACTIVE, MeetingSeries.ended_at.is_(None),
                   Group.archived_at.is_(None))
        ).all()
        for series_id, group_id in series_rows:
            first_missed = _missed_streak_start(settings.user_id, series_id, prefs.missed_after, now)
            if first_missed is None:
                continue
            for channel in channels:
                rows.append(outbox.new_row(
                    settings.user_id, Kind.MISSED_YOU, channel, f"missed:{settings.user_id}:{series_id}:{first_missed}",
                    now, now, expires=now + MISSED_EXPIRES, group_id=group_id,
                    payload={"series_id": series_id, "missed": prefs.missed_after},
                ))
    return rows


def _missed_streak_start(user_id: int, series_id: int, n: int, now: datetime) -> int | None:
    """The first meeting of the member's current streak of misses, if it is N long and they usually come."""
    streak, first_missed, before = attendance.missed_streak(
        attendance.recent_record(user_id, series_id, now, MISSED_LOOKBACK))
    usually = len(before) >= 2 and sum(before) >= max(2, (len(before) + 1) // 2)
    return first_missed if streak >= n and usually else None
