"""The planner: re-derives what is missing (idempotent, safe from several processes). Every few minutes it
writes the reminders, digests and check-in prompts that have come within the outbox's lookahead, and the
"we missed you" notes. Flush only; the scheduler commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, case, cast, func, select

from supportnet import followup
from supportnet.checkins import rhythms
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    Group,
    MeetingSeries,
    Membership,
    MemberStatus,
    NotificationKind,
    NotificationSettings,
    Occurrence,
    OccurrenceStatus,
)
from supportnet.notifications import outbox
from supportnet.notifications.preferences import from_row

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
    return PlanReport(len(reminders), len(digests), len(prompts), len(missed), len(nudges), len(measure_prompts))


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
    # Only meetings whose attendance was taken count: a facilitator who never marks attendance must not make
    # every member look absent.
    taken = db.session.execute(
        select(Occurrence.id, func.max(case((Attendance.user_id == user_id, 1), else_=0)))
        .join(Attendance, Attendance.occurrence_id == Occurrence.id)
        .where(Occurrence.series_id == series_id, Occurrence.ends_at <= now,
               Occurrence.status != OccurrenceStatus.CANCELLED)
        .group_by(Occurrence.id, Occurrence.starts_at)
        .order_by(Occurrence.starts_at.desc())
        .limit(MISSED_LOOKBACK)
    ).all()
    streak = 0
    first_missed = None
    for occ_id, attended in taken:
        if attended:
            break
        streak += 1
        first_missed = occ_id
    before = [bool(attended) for _occ_id, attended in taken[streak:]]
    usually = len(before) >= 2 and sum(before) >= max(2, (len(before) + 1) // 2)
    return first_missed if streak >= n and usually else None
