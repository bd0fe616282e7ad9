"""How often a member takes a measure: their own rhythm (weekly, every 2 weeks, monthly) at their local time,
the due days it gives, what is due or overdue, and the rhythms a group's facilitators or a program's
coordinators suggest, which members accept or decline.

A rhythm is the member's own, even when it came from a suggestion: it stays when they leave the group, when
the group is archived or when the suggestion is withdrawn, and only the member changes or stops it. What hangs
on a membership is the *pending suggestion*: it is shown only to active members of a group that is not
archived (or of a group the suggesting program runs), asked at every read, so it disappears with the
membership without anything to clean up. Nobody who suggested learns who accepted or declined: the answers are
read only for the member who gave them.

Prompts: the planner asks `measure_prompt_rows` for the due days of today and tomorrow (the member's local
days), one row per member, instrument and local due date, so a prompt arrives once per due day at the member's
local time whatever daylight saving does, and never again for that day. The dispatcher asks `prompt_problem`
just before sending.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, delete, or_, select

from supportnet import audit
from supportnet.checkins import scores
from supportnet.checkins.records import local_today
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.measures import instruments
from supportnet.models import (
    AuditAction,
    Group,
    MeasureResponse,
    MeasureRhythm,
    Membership,
    MemberStatus,
    Notification,
    NotificationKind,
    Program,
    Rhythm,
    RhythmSuggestion,
    SuggestionAnswer,
    User,
)
from supportnet.notifications import outbox
from supportnet.notifications.preferences import preferences_for
from supportnet.recurrence import resolve_local

Kind = NotificationKind
RHYTHM_LABELS: dict[Rhythm, str] = {
    Rhythm.WEEKLY: "every week",
    Rhythm.FORTNIGHTLY: "every 2 weeks",
    Rhythm.MONTHLY: "every month",
}
NOTE_MAX = 300


# --- due days ------------------------------------------------------------------------------------------------


def _add_months(day: date, months: int, wanted_day: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(wanted_day, last))


def due_day(rhythm: Rhythm, starts_on: date, n: int) -> date:
    """The n-th due day (0 is `starts_on`). Monthly keeps the day of the month of `starts_on`, on the month's
    last day when the month is shorter (the 31st gives 30 April, 28 or 29 February, then 31 May again)."""
    if rhythm == Rhythm.WEEKLY:
        return starts_on + timedelta(weeks=n)
    if rhythm == Rhythm.FORTNIGHTLY:
        return starts_on + timedelta(weeks=2 * n)
    return _add_months(starts_on, n, starts_on.day)


def latest_due(rhythm: Rhythm, starts_on: date, today: date) -> date | None:
    """The last due day on or before `today` (None before the first one)."""
    if today < starts_on:
        return None
    if rhythm in (Rhythm.WEEKLY, Rhythm.FORTNIGHTLY):
        step = 7 if rhythm == Rhythm.WEEKLY else 14
        return starts_on + timedelta(days=(today - starts_on).days // step * step)
    n = (today.year - starts_on.year) * 12 + today.month - starts_on.month
    day = due_day(rhythm, starts_on, n)
    return day if day <= today else due_day(rhythm, starts_on, n - 1)


def is_due_day(rhythm: Rhythm, starts_on: date, day: date) -> bool:
    return latest_due(rhythm, starts_on, day) == day


def next_due(rhythm: Rhythm, starts_on: date, today: date) -> date:
    """The first due day on or after `today`."""
    if today <= starts_on:
        return starts_on
    if rhythm in (Rhythm.WEEKLY, Rhythm.FORTNIGHTLY):
        step = 7 if rhythm == Rhythm.WEEKLY else 14
        return starts_on + timedelta(days=-((starts_on - today).days // step) * step)
    n = (today.year - starts_on.year) * 12 + today.month - starts_on.month
    day = due_day(rhythm, starts_on, n)
    return day if day >= today else due_day(rhythm, starts_on, n + 1)


# --- the member's own rhythms --------------------------------------------------------------------------------


def takeable_codes() -> dict[str, str]:
    """Code -> title of the instruments a member may take (and so choose a rhythm for)."""
    return {instrument.code: instrument.title for instrument in instruments.takeable()}


def clean_code(code: str) -> str:
    if code not in takeable_codes():
        raise DomainError("There is no such measure to take.", field="code")
    return code


def rhythm_of(user: User, code: str) -> MeasureRhythm | None:
    return db.session.scalar(select(MeasureRhythm).where(MeasureRhythm.user_id == user.id, MeasureRhythm.code == code))


def _cancel_prompts(user_id: int, code: str | None = None) -> int:
    conditions = [Notification.user_id == user_id, Notification.kind == Kind.MEASURE_PROMPT]
    if code is not None:
        conditions.append(Notification.dedupe_key.like(f"measure:{user_id}:{code}:%"))
    return outbox.cancel(*conditions)


def set_rhythm(user: User, code: str, rhythm: Rhythm, starts_on: date, at: time, now: datetime,
               *, suggestion: RhythmSuggestion | None = None) -> MeasureRhythm:
    """Set or change the member's rhythm for one instrument; prompts already planned at the old rhythm or time
    are cancelled and today's or tomorrow's are planned again (a due day already prompted is not prompted
    again: its row keeps its key)."""
    clean_code(code)
    rhythm = Rhythm(rhythm)
    if starts_on < local_today(user, now) - timedelta(days=366):
        raise DomainError("Choose a first day within the last year or later.", field="starts_on")
    row = rhythm_of(user, code)
    if row is None:
        row = MeasureRhythm(user_id=user.id, code=code, rhythm=rhythm, starts_on=starts_on, at=at, created_at=now,
                            updated_at=now)
        db.session.add(row)
    else:
        row.rhythm, row.starts_on, row.at, row.updated_at = rhythm, starts_on, at, now
    if suggestion is not None:
        row.suggestion_id = suggestion.id
    db.session.flush()
    _cancel_prompts(user.id, code)
    outbox.write(measure_prompt_rows(now, MeasureRhythm.id == row.id), revive=True)
    return row


def stop_rhythm(user: User, code: str, now: datetime) -> bool:
    """Stop the member's rhythm for one instrument: no more prompts (pending ones are cancelled)."""
    found = db.session.execute(
        delete(MeasureRhythm).where(MeasureRhythm.user_id == user.id, MeasureRhythm.code == code)
    ).rowcount
    _cancel_prompts(user.id, code)
    db.session.flush()
    return bool(found)


@dataclass(frozen=True)
class Due:
    """A measure whose latest due day has come and that the member has not taken since."""

    code: str
    title: str
    due_on: date
    overdue: bool  # the due day is before today


def due_now(user: User, now: datetime) -> list[Due]:
    """The instruments whose latest due day (in the member's zone) is today or past, not taken since."""
    today = local_today(user, now)
    titles = takeable_codes()
    taken = {code: day for (_, code), day in scores.last_taken([user.id]).items()}
    found: list[Due] = []
    for row in db.session.scalars(select(MeasureRhythm).where(MeasureRhythm.user_id == user.id)
                                  .order_by(MeasureRhythm.code)):
        latest = latest_due(row.rhythm, row.starts_on, today)
        if latest is None or row.code not in titles:
            continue
        if taken.get(row.code) is not None and taken[row.code] >= latest:
            continue
        found.append(Due(row.code, titles[row.code], latest, latest < today))
    return found


# --- prompts through the outbox ------------------------------------------------------------------------------


def _prompt_key(user_id: int, code: str, day: date) -> str:
    return f"measure:{user_id}:{code}:{day.isoformat()}"


def measure_prompt_rows(now: datetime, *conditions) -> list[dict]:
    """Prompts for due days today and tomorrow (members' local days) still ahead and not yet answered."""
    found = db.session.execute(
        select(MeasureRhythm, User.timezone).join(User, User.id == MeasureRhythm.user_id).where(*conditions)
    ).all()
    if not found:
        return []
    prefs = preferences_for(rhythm.user_id for rhythm, _ in found)
    taken = scores.last_taken(rhythm.user_id for rhythm, _ in found)
    codes = takeable_codes()
    rows: list[dict] = []
    for rhythm, tz_name in found:
        channels = prefs[rhythm.user_id].channels_for(Kind.MEASURE_PROMPT)
        if not channels or rhythm.code not in codes:
            continue
        tz = outbox.member_zone(tz_name)
        today = now.astimezone(tz).date()
        for day in (today, today + timedelta(days=1)):
            if not is_due_day(rhythm.rhythm, rhythm.starts_on, day):
                continue
            last = taken.get((rhythm.user_id, rhythm.code))
            if last is not None and last >= day:
                continue
            # Keyed by the member's local date: once per due day whatever DST does; a wall time that does not
            # exist that day moves forward, an ambiguous one takes the first.
            due = resolve_local(datetime.combine(day, rhythm.at), tz).astimezone(UTC)
            if due < now:
                continue
            end_of_day = resolve_local(datetime.combine(day + timedelta(days=1), time(0, 0)), tz).astimezone(UTC)
            payload = {"code": rhythm.code, "date": day.isoformat(), "rhythm": rhythm.rhythm.value,
                       "at": rhythm.at.strftime("%H:%M")}
            for channel in channels:
                rows.append(outbox.new_row(
                    rhythm.user_id, Kind.MEASURE_PROMPT, channel, _prompt_key(rhythm.user_id, rhythm.code, day),
                    due, now, expires=end_of_day, payload=payload,
                ))
    return rows


def prompt_problem(n: Notification) -> str | None:
    """Why a planned measure prompt should not go any more (None when it still should)."""
    if n.user is None:
        return "no such member"
    payload = n.payload or {}
    row = db.session.scalar(select(MeasureRhythm).where(MeasureRhythm.user_id == n.user_id,
                                                         MeasureRhythm.code == payload.get("code")))
    if row is None:
        return "the rhythm was stopped"
    if row.rhythm.value != payload.get("rhythm") or row.at.strftime("%H:%M") != payload.get("at"):
        return "the rhythm changed"
    day = date.fromisoformat(payload["date"])
    if not is_due_day(row.rhythm, row.starts_on, day):
        return "no longer a due day"
    taken = db.session.scalar(select(MeasureResponse.id).where(
        MeasureResponse.user_id == n.user_id, MeasureResponse.code == row.code, MeasureResponse.local_date >= day
    ).limit(1))
    return "already taken" if taken is not None else None


def prompt_title(code: str) -> str | None:
    """The title of an instrument a prompt names (None if it can no longer be taken)."""
    return takeable_codes().get(code)


# --- suggestions ---------------------------------------------------------------------------------------------


def suggest(*, code: str, rhythm: Rhythm, note: str | None, by_user: User, now: datetime,
            group: Group | None = None, program: Program | None = None) -> RhythmSuggestion:
    """A group's facilitators or a program's coordinators suggest a measure at a rhythm (the caller has checked
    that `by_user` may). Members see it until they answer; the audit entry names ids only."""
    if (group is None) == (program is None):
        raise DomainError("A suggestion comes from one group or one program.")
    clean_code(code)
    try:
        rhythm = Rhythm(rhythm)
    except ValueError:
        raise DomainError("Choose every week, every 2 weeks or every month.", field="rhythm") from None
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise DomainError(f"Keep the note to {NOTE_MAX} characters.", field="note")
    place = RhythmSuggestion.group_id == group.id if group else RhythmSuggestion.program_id == program.id
    if db.session.scalar(select(RhythmSuggestion.id).where(
            place, RhythmSuggestion.code == code, RhythmSuggestion.withdrawn_at.is_(None)).limit(1)) is not None:
        # Members see each open suggestion once: the same measure again would ask them twice.
        raise DomainError("This measure is already suggested here. Withdraw that suggestion first to change it.",
                          field="code")
    suggestion = RhythmSuggestion(group_id=group.id if group else None, program_id=program.id if program else None,
                                  code=code, rhythm=rhythm, note=note, created_by_id=by_user.id, created_at=now)
    db.session.add(suggestion)
    db.session.flush()
    details = {"suggestion_id": suggestion.id}
    if program is not None:
        details["program_id"] = program.id
    audit.record(AuditAction.RHYTHM_SUGGESTED, actor=by_user, now=now, group=group, **details)
    return suggestion


def withdraw(suggestion: RhythmSuggestion, *, by_user: User, now: datetime) -> None:
    """Members who have not answered stop seeing it; rhythms already accepted stay (they are the members')."""
    if suggestion.withdrawn_at is not None:
        return
    suggestion.withdrawn_at = now
    group = db.session.get(Group, suggestion.group_id) if suggestion.group_id else None
    details = {"suggestion_id": suggestion.id}
    if suggestion.program_id is not None:
        details["program_id"] = suggestion.program_id
    audit.record(AuditAction.RHYTHM_SUGGESTION_WITHDRAWN, actor=by_user, now=now, group=group, **details)
    db.session.flush()


def suggestions_of(*, group: Group | None = None, program: Program | None = None) -> list[RhythmSuggestion]:
    """A group's or a program's suggestions, newest first (what its facilitators or coordinators see: never
    who answered)."""
    where = RhythmSuggestion.group_id == group.id if group is not None else RhythmSuggestion.program_id == program.id
    return list(db.session.scalars(select(RhythmSuggestion).where(where).order_by(RhythmSuggestion.id.desc())))


def _places_of(user: User):
    """Ids of the groups where the member is active (group not archived), and of the programs running them."""
    rows = db.session.execute(
        select(Group.id, Group.program_id)
        .join(Membership, and_(Membership.group_id == Group.id, Membership.user_id == user.id))
        .where(Membership.status == MemberStatus.ACTIVE, Group.archived_at.is_(None))
    ).all()
    return {g for g, _ in rows}, {p for _, p in rows if p is not None}


def open_suggestions(user: User, now: datetime) -> list[RhythmSuggestion]:
    """Suggestions the member can still answer: not withdrawn, from a group where they are an active member
    (not archived) or a program running such a group, and not answered by them. Read at each call, so a
    suggestion disappears with the membership or the group."""
    groups, programs_ = _places_of(user)
    if not groups:
        return []
    answered = select(SuggestionAnswer.suggestion_id).where(SuggestionAnswer.user_id == user.id)
    return list(db.session.scalars(
        select(RhythmSuggestion)
        .where(
            RhythmSuggestion.withdrawn_at.is_(None),
            or_(RhythmSuggestion.group_id.in_(groups), RhythmSuggestion.program_id.in_(programs_ or {-1})),
            RhythmSuggestion.id.not_in(answered),
            RhythmSuggestion.code.in_(takeable_codes()),
        )
        .order_by(RhythmSuggestion.id)
    ))


def open_suggestion(user: User, suggestion_id: int, now: datetime) -> RhythmSuggestion | None:
    """One suggestion the member can answer, or None (someone else's place, answered, withdrawn)."""
    return next((s for s in open_suggestions(user, now) if s.id == suggestion_id), None)


def _answer(user: User, suggestion: RhythmSuggestion, accepted: bool, now: datetime) -> None:
    db.session.add(SuggestionAnswer(suggestion_id=suggestion.id, user_id=user.id, accepted=accepted, answered_at=now))
    db.session.flush()


def accept(user: User, suggestion: RhythmSuggestion, now: datetime, *, starts_on: date | None = None,
           at: time | None = None) -> MeasureRhythm:
    """The member takes up the suggestion as their own rhythm (replacing their rhythm for that instrument)."""
    if open_suggestion(user, suggestion.id, now) is None:
        raise DomainError("This suggestion can no longer be answered.")
    existing = rhythm_of(user, suggestion.code)
    when = at or (existing.at if existing is not None else time(9, 0))
    row = set_rhythm(user, suggestion.code, suggestion.rhythm, starts_on or local_today(user, now), when, now,
                     suggestion=suggestion)
    _answer(user, suggestion, True, now)
    return row


def decline(user: User, suggestion: RhythmSuggestion, now: datetime) -> None:
    """The member says no: the suggestion is never shown to them again."""
    if open_suggestion(user, suggestion.id, now) is None:
        raise DomainError("This suggestion can no longer be answered.")
    _answer(user, suggestion, False, now)


# --- what the pages show -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RhythmLine:
    code: str
    title: str
    rhythm: Rhythm
    label: str
    starts_on: date
    at: time
    next_due: date
    suggested: bool  # it came from a suggestion the member accepted


@dataclass(frozen=True)
class SuggestionLine:
    id: int
    code: str
    title: str
    rhythm: Rhythm
    label: str
    note: str | None
    source: str  # the group's or the program's name (the member is in it)


@dataclass(frozen=True)
class Overview:
    """The member's rhythms, what is due now, and the suggestions waiting for an answer: the measures page and
    the home read this."""

    rhythms: list[RhythmLine] = field(default_factory=list)
    due: list[Due] = field(default_factory=list)
    suggestions: list[SuggestionLine] = field(default_factory=list)
    # Code -> title of every instrument a rhythm can be chosen for (the form's choices).
    instruments: dict[str, str] = field(default_factory=dict)
    today: date | None = None


def overview(user: User, now: datetime) -> Overview:
    """Everything about the member's rhythms the measures page shows."""
    titles = takeable_codes()
    today = local_today(user, now)
    lines = [
        RhythmLine(row.code, titles.get(row.code, row.code), row.rhythm, RHYTHM_LABELS[row.rhythm], row.starts_on,
                   row.at, next_due(row.rhythm, row.starts_on, today), row.suggestion_id is not None)
        for row in db.session.scalars(select(MeasureRhythm).where(MeasureRhythm.user_id == user.id)
                                      .order_by(MeasureRhythm.code))
    ]
    open_ = open_suggestions(user, now)
    names = _source_names(open_)
    suggestions = [
        SuggestionLine(s.id, s.code, titles[s.code], s.rhythm, RHYTHM_LABELS[s.rhythm], s.note,
                       names.get((s.group_id, s.program_id), ""))
        for s in open_
    ]
    return Overview(lines, due_now(user, now), suggestions, titles, today)


def _source_names(suggestions: list[RhythmSuggestion]) -> dict[tuple[int | None, int | None], str]:
    group_ids = {s.group_id for s in suggestions if s.group_id}
    program_ids = {s.program_id for s in suggestions if s.program_id}
    names: dict[tuple[int | None, int | None], str] = {}
    if group_ids:
        for gid, name in db.session.execute(select(Group.id, Group.name).where(Group.id.in_(group_ids))):
            names[(gid, None)] = name
    if program_ids:
        for pid, name in db.session.execute(select(Program.id, Program.name).where(Program.id.in_(program_ids))):
            names[(None, pid)] = name
    return names
