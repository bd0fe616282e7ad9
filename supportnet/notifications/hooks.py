"""What domain functions call when their change causes notices, in their own transaction (flush only; the
caller commits): an RSVP, a seat from the waitlist, a meeting or series changed, a join request and its
answer, a new facilitator who can read shared check-ins, a member's own change of preferences, a one-to-one
session booked, cancelled or moved, and the sign-up and password-reset emails. Rows a hook writes revive
cancelled ones (see `outbox`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select, update

from supportnet import consent, crypto
from supportnet.consent import Recipient
from supportnet.extensions import db
from supportnet.models import (
    Attendance,
    Channel,
    Consent,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Notification,
    NotificationKind,
    NotificationSettings,
    Occurrence,
    OccurrenceStatus,
    Referral,
    ReferralSuggestion,
    Rsvp,
    RsvpStatus,
    User,
)
from supportnet.notifications import outbox
from supportnet.notifications.outbox import LOOKAHEAD, MAX_OFFSET
from supportnet.notifications.preferences import (
    DEFAULT_CHANNELS,
    Preferences,
    chunks,
    clean_preferences,
    preferences,
    preferences_for,
)

Kind = NotificationKind
EMAIL, IN_APP = Channel.EMAIL, Channel.IN_APP


# A member's own choices are a change that causes notices like any other: saving them cancels and rewrites
# their rows through the outbox, whose row builders read preferences (so this cannot live in `preferences`).


def save_preferences(user: User, prefs: Preferences, now: datetime) -> Preferences:
    """Store the member's choices, stop what they no longer want and write what they now want."""
    prefs = clean_preferences(prefs)
    row = db.session.get(NotificationSettings, user.id)
    if row is None:
        row = NotificationSettings(user_id=user.id)
        db.session.add(row)
    row.channels = {kind.value: sorted(c.value for c in chans) for kind, chans in prefs.channels.items()}
    row.reminder_offsets = list(prefs.reminder_offsets)
    row.quiet_start, row.quiet_end = prefs.quiet_start, prefs.quiet_end
    row.prompt_days = sum(1 << d for d in prefs.prompt_days)
    row.prompt_time = prefs.prompt_time
    row.missed_after = prefs.missed_after
    row.descriptive_subjects = prefs.descriptive_subjects
    row.updated_at = now
    db.session.flush()
    for kind in NotificationKind:
        off = [c for c in Channel if not prefs.wants(kind, c)]
        if off:
            outbox.cancel(Notification.user_id == user.id, Notification.kind == kind, Notification.channel.in_(off))
    # Offsets and prompt days may have changed: re-derive this member's pending reminders and prompts.
    outbox.cancel(Notification.user_id == user.id, Notification.kind.in_([Kind.REMINDER, Kind.STARTING_NOW,
                                                                           Kind.CHECKIN_PROMPT]))
    outbox.write(outbox.reminder_rows(now, Rsvp.user_id == user.id), revive=True)
    outbox.write(outbox.prompt_rows(now, NotificationSettings.user_id == user.id), revive=True)
    return prefs


def stop_email(user: User, kind: NotificationKind, now: datetime) -> None:
    """Stop emails of one kind for the member (the unsubscribe link); the in-app inbox keeps them."""
    prefs = preferences(user)
    channels = dict(prefs.channels)
    channels[kind] = frozenset(channels.get(kind, DEFAULT_CHANNELS[kind])) - {EMAIL}
    save_preferences(user, replace(prefs, channels=channels), now)


def rsvp_going(occ: Occurrence, user_id: int, now: datetime) -> None:
    """The member now has a seat at the meeting: write the reminders that are due soon."""
    if not outbox.going_ahead(occ) or occ.starts_at > now + LOOKAHEAD + MAX_OFFSET or occ.starts_at < now:
        return
    prefs = preferences_for([user_id])[user_id]
    outbox.write(outbox.meeting_rows(user_id, occ.id, occ.starts_at, occ.ends_at, bool(occ.series.online_url), prefs,
                                     now),
                 revive=True)


def rsvp_released(occ: Occurrence, user_id: int, now: datetime) -> None:
    """The member gave up their seat or waitlist place: their pending reminders and seat notice stop."""
    outbox.cancel(
        Notification.occurrence_id == occ.id,
        Notification.user_id == user_id,
        Notification.kind.in_([Kind.REMINDER, Kind.STARTING_NOW, Kind.SEAT]),
    )
    newcomer_not_coming(occ, user_id)


def seat_given(rsvp: Rsvp, now: datetime) -> None:
    """Tell a member who got a seat from the waitlist, and write their reminders."""
    occ = rsvp.occurrence
    prefs = preferences_for([rsvp.user_id])[rsvp.user_id]
    queued = outbox.utc_stamp(rsvp.queued_at or now)
    rows = [
        outbox.new_row(rsvp.user_id, Kind.SEAT, channel, f"seat:{occ.id}:{rsvp.user_id}:{queued}", now, now,
                       expires=occ.starts_at, occurrence_id=occ.id, payload={"starts_at": occ.starts_at.isoformat()})
        for channel in prefs.channels_for(Kind.SEAT)
    ]
    rows += outbox.meeting_rows(rsvp.user_id, occ.id, occ.starts_at, occ.ends_at, bool(occ.series.online_url), prefs,
                                now)
    outbox.write(rows, revive=True)
    newcomer_seated(occ, rsvp.user_id, now)


@dataclass(frozen=True)
class OccurrenceSnapshot:
    """What members see of one meeting, taken before a change."""

    cancelled: bool
    starts_at: datetime
    ends_at: datetime
    venue: str
    address: str


def occurrence_snapshot(occ: Occurrence) -> OccurrenceSnapshot:
    """Remember what members see of a meeting, before changing it."""
    return OccurrenceSnapshot(
        occ.status == OccurrenceStatus.CANCELLED, occ.starts_at, occ.ends_at, occ.effective_venue,
        occ.effective_address,
    )


def occurrence_changed(occ: Occurrence, before: OccurrenceSnapshot, now: datetime) -> None:
    """A meeting was cancelled, moved or restored: tell who answered, and redo its reminders and digests."""
    after = occurrence_snapshot(occ)
    _resync([occ.id], now)
    if after == before or (before.cancelled and after.cancelled):
        return  # e.g. only the reason of a cancelled meeting changed: no second notice
    if after.cancelled:
        change = "cancelled"
    elif occ.status == OccurrenceStatus.SCHEDULED and occ.starts_at == occ.original_start and (
        before.cancelled or before.starts_at != occ.starts_at or (before.venue, before.address) !=
        (after.venue, after.address)
    ):
        change = "restored"
    else:
        change = "moved"
    answered = db.session.execute(
        select(Rsvp.user_id).where(Rsvp.occurrence_id == occ.id, Rsvp.status.in_([RsvpStatus.GOING,
                                                                                 RsvpStatus.WAITLISTED]))
    ).scalars().all()
    if not answered:
        return
    sequence = db.session.scalar(select(Occurrence.sequence).where(Occurrence.id == occ.id))
    prefs = preferences_for(answered)
    payload = {"change": change, "starts_at": occ.starts_at.isoformat(), "old_starts_at": before.starts_at.isoformat()}
    expires = max(before.ends_at, occ.ends_at)
    rows = [
        outbox.new_row(uid, Kind.CHANGE, channel, f"change:{occ.id}:{sequence}:{uid}", now, now, expires=expires,
                       occurrence_id=occ.id, payload=payload)
        for uid in answered
        for channel in prefs[uid].channels_for(Kind.CHANGE)
    ]
    outbox.write(rows, revive=True)


def _resync(occurrence_ids: Sequence[int], now: datetime) -> None:
    """Cancel the pending reminders and digests of these meetings and write what now applies."""
    if not occurrence_ids:
        return
    for chunk in chunks(list(occurrence_ids), 500):
        outbox.cancel(Notification.occurrence_id.in_(chunk),
                      Notification.kind.in_([Kind.REMINDER, Kind.STARTING_NOW, Kind.DIGEST]))
        outbox.write(outbox.reminder_rows(now, Occurrence.id.in_(chunk)), revive=True)
        outbox.write(outbox.digest_rows(now, Occurrence.id.in_(chunk)), revive=True)


@dataclass(frozen=True)
class SeriesSnapshot:
    """What members see of a series, and who answered for its coming meetings, before a change."""

    series_id: int
    looks: tuple
    people: frozenset[int]


def _series_looks(series: MeetingSeries) -> tuple:
    return (series.title, series.venue, series.address, series.online_url, series.online_phone,
            series.dtstart_local, series.timezone, series.rrule, series.duration_minutes)


def series_snapshot(series: MeetingSeries, now: datetime) -> SeriesSnapshot:
    """Remember what members see of a series and who is going to or waiting for its coming meetings."""
    people = db.session.scalars(
        select(Rsvp.user_id)
        .join(Occurrence, Rsvp.occurrence_id == Occurrence.id)
        .where(
            Occurrence.series_id == series.id,
            Occurrence.starts_at > now,
            Occurrence.status != OccurrenceStatus.CANCELLED,
            Rsvp.status.in_([RsvpStatus.GOING, RsvpStatus.WAITLISTED]),
        )
        .distinct()
    ).all()
    return SeriesSnapshot(series.id, _series_looks(series), frozenset(people))


def series_changed(before: SeriesSnapshot, series: MeetingSeries, now: datetime, *, ended: bool = False) -> None:
    """A series was edited, split or ended: one notice per member who answered, and redone reminders."""
    upcoming = db.session.scalars(
        select(Occurrence.id).where(
            Occurrence.series_id.in_({before.series_id, series.id}),
            Occurrence.starts_at > now,
            Occurrence.starts_at <= now + LOOKAHEAD + MAX_OFFSET,
        )
    ).all()
    _resync(upcoming, now)
    if not ended and _series_looks(series) == before.looks:
        return
    if not before.people:
        return
    db.session.flush()
    sequence = db.session.scalar(select(MeetingSeries.sequence).where(MeetingSeries.id == series.id))
    prefs = preferences_for(before.people)
    payload = {"change": "series_ended" if ended else "series_changed", "series_id": series.id}
    rows = [
        outbox.new_row(uid, Kind.CHANGE, channel, f"series:{series.id}:{sequence}:{uid}", now, now,
                       group_id=series.group_id, payload=payload)
        for uid in sorted(before.people)
        for channel in prefs[uid].channels_for(Kind.CHANGE)
    ]
    outbox.write(rows, revive=True)


def join_requested(membership: Membership, now: datetime) -> None:
    """Tell the group's active facilitators that someone asks to join."""
    facilitators = db.session.scalars(
        select(Membership.user_id).where(
            Membership.group_id == membership.group_id,
            Membership.role == MemberRole.FACILITATOR,
            Membership.status == MemberStatus.ACTIVE,
        )
    ).all()
    prefs = preferences_for(facilitators)
    payload = {"membership_id": membership.id, "name": membership.user.display_name}
    rows = [
        outbox.new_row(uid, Kind.JOIN_REQUEST, channel, f"join-request:{membership.id}:{outbox.utc_stamp(now)}:{uid}",
                       now, now, group_id=membership.group_id, payload=payload)
        for uid in facilitators
        for channel in prefs[uid].channels_for(Kind.JOIN_REQUEST)
    ]
    outbox.write(rows)


def join_answered(membership: Membership, accepted: bool, now: datetime) -> None:
    """Tell someone that their request to join was accepted or declined."""
    prefs = preferences_for([membership.user_id])[membership.user_id]
    answer = "accepted" if accepted else "declined"
    rows = [
        outbox.new_row(membership.user_id, Kind.JOIN_ANSWER, channel,
                       f"join-answer:{membership.id}:{answer}:{outbox.utc_stamp(now)}", now, now,
                       group_id=membership.group_id, payload={"answer": answer})
        for channel in prefs.channels_for(Kind.JOIN_ANSWER)
    ]
    outbox.write(rows)


def sharing_audience_grew(membership: Membership, now: datetime) -> int:
    """Someone became a facilitator of the group: tell every member who shares anything with its facilitators
    (check-ins, the recovery date, measures), in the inbox and by email, whatever their settings (it changes who
    reads what they share). Returns how many are told."""
    sharers = db.session.scalars(
        select(Membership.user_id).where(
            Membership.group_id == membership.group_id,
            Membership.status == MemberStatus.ACTIVE,
            Membership.user_id.in_(consent.sharers(Recipient.group_facilitators(membership.group_id), now)),
            Membership.user_id != membership.user_id,
        )
    ).all()
    payload = {"name": membership.user.display_name}
    rows = [
        outbox.new_row(uid, Kind.SHARING_AUDIENCE, channel,
                       f"sharing-audience:{membership.id}:{outbox.utc_stamp(now)}:{uid}", now, now,
                       group_id=membership.group_id, payload=payload)
        for uid in sharers
        for channel in (EMAIL, IN_APP)
    ]
    outbox.write(rows)
    return len(sharers)


def program_audience_grew(program_id: int, coordinator: User, now: datetime) -> int:
    """Someone became a coordinator of a program: tell every member who shares measures with its coordinators,
    as for a group's new facilitator (always sent). Returns how many are told."""
    sharers = db.session.scalars(
        consent.sharers(Recipient.program_coordinators(program_id), now)
        .where(Consent.subject_id != coordinator.id)
    ).all()
    payload = {"name": coordinator.display_name, "program_id": program_id}
    rows = [
        outbox.new_row(uid, Kind.SHARING_AUDIENCE, channel,
                       f"program-audience:{program_id}:{coordinator.id}:{outbox.utc_stamp(now)}:{uid}", now, now,
                       payload=payload)
        for uid in sharers
        for channel in (EMAIL, IN_APP)
    ]
    outbox.write(rows)
    return len(sharers)


def account_email(user: User, template: str, subject: str, now: datetime, lifetime: timedelta,
                  link_url: str | None = None) -> int:
    """Queue a sign-up or password-reset email in the outbox; returns the row's id (for `send_now`).

    The outbox makes it survive a dropped connection, a restart and a mail server outage (retried with backoff
    until `lifetime`, the life of the link, has passed).
    The one-time link is stored only encrypted with the data key, and deleted once the row is sent, fails for
    good or expires (`scrub_account_links`).
    """
    payload = {"template": template, "subject": subject}
    if link_url is not None:
        payload["link"] = crypto.encrypt(link_url)
    row = Notification(**outbox.new_row(user.id, Kind.ACCOUNT, EMAIL, f"account:{uuid.uuid4().hex}", now, now,
                                        expires=now + lifetime, payload=payload))
    db.session.add(row)
    db.session.flush()
    return row.id


# --- referrals: the group's volunteer greeters hear that a newcomer is coming ---


def _newcomer_key(referral_id: int, occurrence_id: int) -> str:
    return f"newcomer:{referral_id}:{occurrence_id}:"


def newcomer_coming(referral_id: int, occ: Occurrence, newcomer_id: int, now: datetime) -> int:
    """Tell each active greeter of the meeting's group (not the newcomer) that a newcomer is coming; one notice
    per referral, meeting, greeter and channel. The payload names only the referral: whether the first name may
    be told is asked when the notice is composed. Returns how many greeters are told."""
    greeters = db.session.scalars(
        select(Membership.user_id).where(
            Membership.group_id == occ.series.group_id,
            Membership.status == MemberStatus.ACTIVE,
            Membership.greets_newcomers.is_(True),
            Membership.user_id != newcomer_id,
        )
    ).all()
    prefs = preferences_for(greeters)
    rows = [
        outbox.new_row(uid, Kind.NEWCOMER, channel, f"{_newcomer_key(referral_id, occ.id)}{uid}", now, now,
                       expires=occ.starts_at, occurrence_id=occ.id, payload={"referral_id": referral_id})
        for uid in greeters
        for channel in prefs[uid].channels_for(Kind.NEWCOMER)
    ]
    outbox.write(rows)
    return len(greeters)


def newcomer_seated(occ: Occurrence, user_id: int, now: datetime) -> None:
    """A referred newcomer who was on the waitlist got a seat: the group's greeters hear it as they would have
    at acceptance. Only a referral that suggested this group and has not been used for a meeting of it yet: the
    person is still new there."""
    referral_ids = db.session.scalars(
        select(Referral.id)
        .join(ReferralSuggestion, ReferralSuggestion.referral_id == Referral.id)
        .where(Referral.accepted_by_id == user_id, ReferralSuggestion.group_id == occ.series.group_id,
               ~exists().where(Attendance.user_id == user_id, Attendance.occurrence_id == Occurrence.id,
                               Occurrence.series_id == MeetingSeries.id,
                               MeetingSeries.group_id == occ.series.group_id))
        .distinct()
    ).all()
    for referral_id in referral_ids:
        newcomer_coming(referral_id, occ, user_id, now)


def newcomer_not_coming(occ: Occurrence, user_id: int) -> None:
    """A referred newcomer gave up their place at the meeting: the greeters' notices about them stop, and the
    in-app ones already delivered are withdrawn (they would announce someone who is no longer coming)."""
    referral_ids = db.session.scalars(select(Referral.id).where(Referral.accepted_by_id == user_id)).all()
    for referral_id in referral_ids:
        about = Notification.dedupe_key.startswith(_newcomer_key(referral_id, occ.id), autoescape=True)
        outbox.cancel(Notification.kind == Kind.NEWCOMER, about)
        db.session.execute(
            delete(Notification).where(Notification.kind == Kind.NEWCOMER, Notification.channel == IN_APP, about)
            .execution_options(synchronize_session=False)
        )


def greeter_stopped(membership: Membership, now: datetime) -> None:
    """A member stopped greeting newcomers: their notices about newcomers not sent yet stop."""
    meetings = select(Occurrence.id).join(MeetingSeries, Occurrence.series_id == MeetingSeries.id).where(
        MeetingSeries.group_id == membership.group_id)
    outbox.cancel(Notification.user_id == membership.user_id, Notification.kind == Kind.NEWCOMER,
                  Notification.occurrence_id.in_(meetings.scalar_subquery()))


# --- a referral's link, emailed to the address a coordinator typed ---


def referral_link_email(referral_id: int, address: str, link_url: str, now: datetime, expires: datetime) -> int:
    """Queue the email that carries a referral's link to the person; returns the row's id.

    The person has no account yet, so the row names no member: the address and the link are kept only
    encrypted in the payload and deleted once the row is sent, fails for good, is cancelled or expires
    (`dispatch.scrub_account_links`). The dispatcher sends it only while the referral is still open.
    """
    payload = {"referral_id": referral_id, "to": crypto.encrypt(address), "link": crypto.encrypt(link_url)}
    row = Notification(**outbox.new_row(None, Kind.REFERRAL_LINK, EMAIL, f"referral-link:{referral_id}", now, now,
                                        expires=expires, payload=payload))
    db.session.add(row)
    db.session.flush()
    return row.id


def referral_link_withdrawn(referral_id: int) -> int:
    """Cancel a referral's link email that has not gone yet, and delete the address and link it holds."""
    return db.session.execute(
        update(Notification)
        .where(Notification.kind == Kind.REFERRAL_LINK, Notification.status == outbox.PENDING,
               Notification.dedupe_key == f"referral-link:{referral_id}:{EMAIL.value}")
        .values(status=outbox.CANCELLED, claimed_until=None, payload={}, last_error="the referral was withdrawn")
        .execution_options(synchronize_session=False)
    ).rowcount


# --- one-to-one sessions: the confirmation to both sides, the member's reminders, a change to the other side ---
# Rows name the session in their payload (with its start instant, so a moved session's old rows no longer apply);
# the wording and the re-check are in `supportnet.coaching.notices`.


def session_reminder_rows(session_id: int, member_id: int, starts_at: datetime, prefs: Preferences,
                          now: datetime) -> list[dict]:
    """The member's reminders of one session at their chosen offsets, due within the lookahead."""
    rows: list[dict] = []
    stamp = outbox.utc_stamp(starts_at)
    for offset in prefs.reminder_offsets:
        due = starts_at - timedelta(minutes=offset)
        if not now <= due <= now + LOOKAHEAD:
            continue
        for channel in prefs.channels_for(Kind.SESSION_REMINDER):
            rows.append(outbox.new_row(
                member_id, Kind.SESSION_REMINDER, channel, f"session-reminder:{session_id}:{stamp}:{offset}",
                due, now, expires=starts_at,
                payload={"session_id": session_id, "starts_at": starts_at.isoformat(), "offset": offset},
            ))
    return rows


def _session_sides(session) -> list[tuple[int, str, str]]:
    """(user id, role, the other side's display name) for the member and the coach of a session."""
    member = db.session.get(User, session.member_id)
    coach = session.coach
    return [(session.member_id, "member", coach.display_name),
            (coach.user_id, "coach", member.display_name if member is not None else "A member")]


def session_booked(session, now: datetime) -> None:
    """A booked session: the confirmation to the member and the coach, and the member's reminders."""
    stamp = outbox.utc_stamp(session.starts_at)
    rows: list[dict] = []
    sides = _session_sides(session)
    prefs = preferences_for(user_id for user_id, _, _ in sides)
    for user_id, role, other in sides:
        for channel in prefs[user_id].channels_for(Kind.SESSION_BOOKED):
            rows.append(outbox.new_row(
                user_id, Kind.SESSION_BOOKED, channel, f"session-booked:{session.id}:{user_id}:{stamp}", now, now,
                expires=session.starts_at,
                payload={"session_id": session.id, "starts_at": session.starts_at.isoformat(), "role": role,
                         "other_name": other},
            ))
    rows.extend(session_reminder_rows(session.id, session.member_id, session.starts_at,
                                      prefs[session.member_id], now))
    outbox.write(rows, revive=True)


def session_changed(session, what: str, now: datetime, *, moved_to=None) -> None:
    """A session cancelled (`what="cancelled"`) or moved (`"moved"`, to the session `moved_to`): its pending
    notices stop, and the side that did not make the change is told (both, when nobody did: an account deleted)."""
    outbox.cancel(or_(Notification.dedupe_key.like(f"session-booked:{session.id}:%"),
                      Notification.dedupe_key.like(f"session-reminder:{session.id}:%")))
    payload = {"session_id": session.id, "starts_at": session.starts_at.isoformat()}
    if what == "moved" and moved_to is not None:
        payload["moved_to"] = moved_to.starts_at.isoformat()
    sides = [side for side in _session_sides(session) if side[0] != session.cancelled_by_id]
    prefs = preferences_for(user_id for user_id, _, _ in sides)
    rows: list[dict] = []
    for user_id, role, other in sides:
        for channel in prefs[user_id].channels_for(Kind.SESSION_CHANGED):
            rows.append(outbox.new_row(
                user_id, Kind.SESSION_CHANGED, channel, f"session-changed:{session.id}:{user_id}:{what}", now, now,
                expires=session.starts_at, payload=payload | {"role": role, "other_name": other},
            ))
    if what == "moved" and moved_to is not None:
        rows.extend(session_reminder_rows(moved_to.id, moved_to.member_id, moved_to.starts_at,
                                          preferences_for([moved_to.member_id])[moved_to.member_id], now))
    outbox.write(rows, revive=True)
