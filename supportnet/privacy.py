"""A member's data: everything SupportNet holds about them as one download, erasing it, and retention.

Functions here change models and flush; the caller (a view, a scheduler job) commits.

Decisions worth knowing:

* The export is about the member and nobody else: group and meeting names (they chose to take part), never
  another member's name or email, never who marked their attendance, and no notification payloads (an
  announcement carries its author's name, a join request the requester's).
* Deletion removes rows, not flags: check-ins and own tags, measure responses, rhythms and answers to rhythm
  suggestions, meeting answers (a seat is given up first, so the waitlist moves up), attendance, proofs, memberships,
  tokens, sessions, notifications, settings and two-factor; supporters, the alert rules set for them, emails
  to them not yet sent, and the safety plan. Rows about other people stay, with the link to the
  member emptied: attendance they marked for others, rhythms they suggested to a group or program, and audit
  entries, which then say "deleted user". Notifications other people got that name the member (a
  request to join, an announcement they wrote) are deleted or lose the name.
* The last active facilitator of a group that is not archived must hand it over or archive it first, and the
  last admin must name another: a group or the site is never left without anyone to run it.
* Retention: audit entries older than AUDIT_RETENTION_MONTHS go; check-ins go only for members who chose
  "delete my check-ins after N months", and their measure responses with them (by the day each is about, as
  for check-ins): a member who asks for old check-ins to go means their answers too. Rhythms stay.
  Finished notifications are purged by notifications.purge.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import contains_eager, joinedload

from supportnet import accounts, audit, consent, derived_access, feeds, rsvps, twofactor, visibility
from supportnet import memberships as membership_ops
from supportnet.checkins import export as checkins_export
from supportnet.checkins import records as checkins_records
from supportnet.checkins import sharing as checkins_sharing
from supportnet.checkins.sharing import GroupSharing
from supportnet.clock import timezone_names
from supportnet.coaching import records as coaching_records
from supportnet.devices import describe
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    AccountToken,
    AlertRule,
    Attendance,
    AttendanceProof,
    AuditEntry,
    CheckIn,
    CheckInTag,
    Group,
    LoginFailure,
    MeasureResponse,
    MeasureRhythm,
    MeetingSeries,
    MemberRole,
    Membership,
    MemberStatus,
    Notification,
    NotificationKind,
    NotificationSettings,
    Occurrence,
    OwnTag,
    RecoveryCode,
    RhythmSuggestion,
    Rsvp,
    RsvpStatus,
    SafetyPlan,
    SiteRole,
    StandingRsvp,
    SuggestionAnswer,
    Supporter,
    TwoFactor,
    User,
    UserSession,
)
from supportnet.supporters import alerts as supporter_alerts
from supportnet.supporters import people as supporter_people
from supportnet.supporters import plan as safety_plan

CONSENT_FIELDS = ("recipient", "scope", "what", "purpose", "granted_at", "expires_at", "revoked_at", "end_reason")
RETENTION_CHOICES = (3, 6, 12, 24)  # months a member may choose for their check-ins (None: keep)

README = """Your SupportNet data
====================

Exported {exported_at} (UTC). Everything SupportNet holds about you, and nothing about anyone else.

data.json          everything below in one file
profile: your account; memberships.csv: your groups and what you share with each;
consents.csv: everything you let others see, whom, what for, since and until when;
rsvps.csv: your answers for meetings; attendance.csv: meetings you attended;
checkins.csv: your check-ins, notes included (this file is not encrypted: keep it safe);
measures.csv: the standard measures you took (PHQ-9, GAD-7, BAM), one row each: the instrument and its
  version, your scores, and your answer to each item (data.json has each question and answer in words);
safety-plan.txt: your safety plan, its six parts in order, and your reach-out message (not encrypted:
  keep it safe); data.json also lists your supporters and the alert rules you set for them;
notifications.csv: notices sent to you (their texts are not kept here);
sessions.csv: your one-to-one sessions with a coach (times, status, your note, the coach's follow-up note
  only if they shared it); a coach's own profile, availability and sessions are in data.json ("coaching");
meetings.ics: the meetings you said you are going to (or wait for), for any calendar app.

Times ending in +00:00 are UTC.
"""


# --- export ------------------------------------------------------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _profile(user: User) -> dict:
    return {
        "email": user.email,
        "display_name": user.display_name,
        "timezone": user.timezone,
        "site_role": user.role.value,
        "created_at": _iso(user.created_at),
        "email_confirmed_at": _iso(user.email_confirmed_at),
        "password_changed_at": _iso(user.password_changed_at),
        "recovery_date": _iso(user.recovery_date),
        "checkin_retention_months": user.checkin_retention_months,
        "calendar_feed": getattr(user, "calendar_token_hash", None) is not None,
        "calendar_discreet_titles": getattr(user, "calendar_discreet", None),
        "calendar_all_meetings": getattr(user, "calendar_all_meetings", None),
    }


def _memberships(user: User, now: datetime) -> list[dict]:
    shares = checkins_sharing.sharing_by_group(user, now)
    rows = db.session.scalars(
        select(Membership).join(Membership.group).options(contains_eager(Membership.group))
        .where(Membership.user_id == user.id).order_by(Membership.created_at, Membership.id)
    ).all()
    return [
        {
            "group": m.group.name,
            "group_address": m.group.slug,
            "role": m.role.value,
            "status": m.status.value,
            "asked_or_joined_at": _iso(m.created_at),
            "joined_at": _iso(m.joined_at),
            "checkin_sharing": shares.get(m.group_id, GroupSharing()).level.value,
            "shares_recovery_date": shares.get(m.group_id, GroupSharing()).recovery_date,
        }
        for m in rows
    ]


def _consents(user: User) -> list[dict]:
    """Every consent the member gave, standing or ended, with whom and what for as they read it."""
    return [
        {
            "recipient": item.recipient,
            "scope": item.consent.scope.value,
            "what": item.what,
            "purpose": item.consent.purpose,
            "granted_at": _iso(item.consent.granted_at),
            "expires_at": _iso(item.consent.expires_at),
            "revoked_at": _iso(item.consent.revoked_at),
            "end_reason": item.consent.end_reason.value if item.consent.end_reason is not None else None,
        }
        for item in checkins_sharing.describe(consent.history_for(user.id), with_readers=False)
    ]


def _occurrence_query(model):
    return (
        select(model)
        .join(model.occurrence)
        .join(Occurrence.series)
        .join(MeetingSeries.group)
        .options(contains_eager(model.occurrence).contains_eager(Occurrence.series).contains_eager(MeetingSeries.group))
    )


def _meeting(occ: Occurrence) -> dict:
    return {
        "group": occ.series.group.name,
        "meeting": occ.series.title,
        "starts_at": _iso(occ.starts_at),
        "ends_at": _iso(occ.ends_at),
        "meeting_status": occ.status.value,
    }


def _rsvps(user: User) -> list[dict]:
    rows = db.session.scalars(
        _occurrence_query(Rsvp).where(Rsvp.user_id == user.id).order_by(Occurrence.starts_at, Rsvp.id)
    ).all()
    return [
        {
            **_meeting(r.occurrence),
            "answer": r.status.value,
            "waitlisted_since": _iso(r.queued_at),
            "from_standing_rsvp": r.standing_id is not None,
            "answered_at": _iso(r.created_at),
            "changed_at": _iso(r.updated_at),
        }
        for r in rows
    ]


def _standing(user: User) -> list[dict]:
    rows = db.session.scalars(
        select(StandingRsvp).options(joinedload(StandingRsvp.series).joinedload(MeetingSeries.group))
        .where(StandingRsvp.user_id == user.id).order_by(StandingRsvp.id)
    ).all()
    return [
        {"group": s.series.group.name, "meeting": s.series.title, "since": _iso(s.created_at)} for s in rows
    ]


def _attendance(user: User) -> list[dict]:
    rows = db.session.scalars(
        _occurrence_query(Attendance).where(Attendance.user_id == user.id).order_by(Occurrence.starts_at)
    ).all()
    # Not who marked it: that is another person's name.
    return [{**_meeting(a.occurrence), "how": a.how.value, "recorded_at": _iso(a.marked_at)} for a in rows]


def _proofs(user: User) -> list[dict]:
    rows = db.session.scalars(
        select(AttendanceProof).where(AttendanceProof.user_id == user.id).order_by(AttendanceProof.id)
    ).all()
    return [
        {"shown_name": p.shown_name, "label": p.label, "dates": list(p.dates), "created_at": _iso(p.created_at),
         "revoked_at": _iso(p.revoked_at)}
        for p in rows
    ]


def _notifications(user: User) -> list[dict]:
    rows = db.session.scalars(
        select(Notification).options(joinedload(Notification.occurrence).joinedload(Occurrence.series))
        .where(Notification.user_id == user.id).order_by(Notification.due_at, Notification.id)
    ).all()
    names = dict(
        db.session.execute(select(Group.id, Group.name).where(Group.id.in_({n.group_id for n in rows}))).all()
    )
    return [
        {
            "kind": n.kind.value,
            "channel": n.channel.value,
            "status": n.status.value,
            "due_at": _iso(n.due_at),
            "sent_at": _iso(n.sent_at),
            "read_at": _iso(n.read_at),
            "group": names.get(n.group_id),
            "meeting": n.occurrence.series.title if n.occurrence is not None else None,
            "meeting_starts_at": _iso(n.occurrence.starts_at) if n.occurrence is not None else None,
        }
        for n in rows
    ]


def _notification_settings(user: User) -> dict | None:
    row = db.session.get(NotificationSettings, user.id)
    if row is None:
        return None
    return {
        "channels": {kind: sorted(channels) for kind, channels in (row.channels or {}).items()},
        "reminder_minutes_before": list(row.reminder_offsets or []),
        "quiet_start": _iso(row.quiet_start),
        "quiet_end": _iso(row.quiet_end),
        "checkin_prompt_days": [day for day in range(7) if row.prompt_days & (1 << day)],
        "checkin_prompt_time": _iso(row.prompt_time),
        "missed_you_after": row.missed_after,
        "descriptive_subjects": row.descriptive_subjects,
    }


def _sessions(user: User) -> list[dict]:
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id))
    return [
        {"device": describe(s.user_agent), "signed_in_at": _iso(s.created_at), "last_seen_at": _iso(s.last_seen_at),
         "keep_signed_in": s.remember}
        for s in rows
    ]


def _audit(user: User) -> list[dict]:
    # What the member did as a facilitator, and what was done about them; never the other person's name.
    return [
        {
            "at": _iso(e.at),
            "action": e.action.value,
            "you_were": "the one who acted" if e.actor_id == user.id else "the member concerned",
            "group": e.group.name if e.group is not None else None,
        }
        for e in audit.entries_about(user)
    ]


def export_data(user: User, now: datetime) -> dict:
    """Everything SupportNet holds about the member, as plain values."""
    return {
        "exported_at": _iso(now),
        "profile": _profile(user),
        "two_factor": {
            "enabled": twofactor.is_enabled(user), "recovery_codes_left": twofactor.recovery_codes_left(user)
        },
        "sessions": _sessions(user),
        "memberships": _memberships(user, now),
        "consents": _consents(user),
        "standing_rsvps": _standing(user),
        "rsvps": _rsvps(user),
        "attendance": _attendance(user),
        "attendance_proofs": _proofs(user),
        "checkins": checkins_export.export_records(user),
        "measures": checkins_export.measure_records(user),
        "measure_rhythms": checkins_export.rhythm_records(user),
        "rhythm_suggestion_answers": checkins_export.suggestion_answer_records(user),
        "safety_plan": safety_plan.export(user),
        "supporters": supporter_people.export(user),
        "alert_rules": supporter_alerts.export(user),
        "notification_settings": _notification_settings(user),
        "notifications": _notifications(user),
        "audit_log": _audit(user),
        # One-to-one sessions as a member, and (for a coach) their own coaching data.
        "coaching_sessions": coaching_records.member_sessions(user),
        "coaching": coaching_records.coach_data(user),
    }


def _csv(rows: Sequence[dict], fields: Sequence[str] | None = None) -> str:
    out = io.StringIO()
    fields = list(fields or (rows[0].keys() if rows else []))
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: checkins_export._spreadsheet_safe(value) for key, value in row.items()})
    return out.getvalue()


def _calendar(user: User, links: feeds.Links, host: str) -> bytes:
    rows = db.session.scalars(
        _occurrence_query(Rsvp)
        .where(Rsvp.user_id == user.id, Rsvp.status.in_((RsvpStatus.GOING, RsvpStatus.WAITLISTED)))
        .order_by(Occurrence.starts_at, Occurrence.id)
    ).all()
    roles = dict(
        db.session.execute(
            select(Membership.group_id, Membership.role).where(
                Membership.user_id == user.id, Membership.status == MemberStatus.ACTIVE
            )
        ).all()
    )
    entries = []
    for row in rows:
        series = row.occurrence.series
        going = row.status == RsvpStatus.GOING
        show_online = visibility.member_sees_online_link(series, user, roles.get(series.group_id), seated=going)
        entries.append(feeds.MeetingEntry(row.occurrence, show_online=show_online, waitlisted=not going))
    zone = ZoneInfo(user.timezone if user.timezone in timezone_names() else "UTC")
    return feeds.private_calendar(entries, discreet=False, viewer_zone=zone, links=links, host=host)


def export_zip(user: User, now: datetime, links: feeds.Links, host: str) -> bytes:
    """The member's export as one ZIP: data.json, a CSV per list, their meetings as .ics, and a README."""
    data = export_data(user, now)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def add(name: str, content: str | bytes) -> None:
            # A fixed timestamp: the archive says when it was made in README and data.json, nowhere else.
            info = zipfile.ZipInfo(name, date_time=now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)

        add("README.txt", README.format(exported_at=now.strftime("%Y-%m-%d %H:%M")))
        add("data.json", json.dumps(data, ensure_ascii=False, indent=2))
        add("memberships.csv", _csv(data["memberships"]))
        add("consents.csv", _csv(data["consents"], CONSENT_FIELDS))
        add("rsvps.csv", _csv(data["rsvps"]))
        add("attendance.csv", _csv(data["attendance"]))
        add("checkins.csv", checkins_export.export_csv(user))
        measure_fields, measure_rows = checkins_export.measure_table(data["measures"])
        add("measures.csv", _csv(measure_rows, measure_fields))
        add("safety-plan.txt", safety_plan.as_text(user))
        add("notifications.csv", _csv(data["notifications"]))
        add("meetings.ics", _calendar(user, links, host))
        add("sessions.csv", _csv(data["coaching_sessions"], coaching_records.SESSION_FIELDS))
    return buffer.getvalue()


# --- deletion ----------------------------------------------------------------------------------------------------


class CannotDelete(DomainError):
    """Something must be handed over first; `groups` lists the groups concerned."""

    def __init__(self, message: str, groups: Sequence[Group] = ()):
        super().__init__(message)
        self.groups = list(groups)


def groups_to_hand_over(user: User) -> list[Group]:
    """Groups (not archived) whose only active facilitator is this member: hand over or archive them first."""
    mine = db.session.scalars(
        select(Membership).join(Membership.group).options(contains_eager(Membership.group)).where(
            Membership.user_id == user.id,
            Membership.role == MemberRole.FACILITATOR,
            Membership.status == MemberStatus.ACTIVE,
            Group.archived_at.is_(None),
        )
    ).all()
    result = []
    for membership in mine:
        others = [m for m in membership_ops.facilitators(membership.group) if m.user_id != user.id]
        if not others:
            result.append(membership.group)
    return sorted(result, key=lambda g: g.name.lower())


def _is_last_admin(user: User) -> bool:
    if user.role != SiteRole.ADMIN:
        return False
    admins = db.session.scalar(select(func.count()).select_from(User).where(User.role == SiteRole.ADMIN))
    return admins <= 1


def check_deletable(user: User) -> None:
    """Raise CannotDelete if the account cannot go yet (last facilitator of a group, or the last admin)."""
    if _is_last_admin(user):
        raise CannotDelete(
            "You are SupportNet's only admin. Make someone else an admin before you delete your account."
        )
    pending = groups_to_hand_over(user)
    if pending:
        names = ", ".join(g.name for g in pending)
        raise CannotDelete(
            f"You are the only facilitator of {names}. Make someone else a facilitator, or archive the group, "
            "before you delete your account.",
            pending,
        )


def _give_up_seats(user: User, now: datetime) -> None:
    answers = db.session.scalars(
        _occurrence_query(Rsvp).where(Rsvp.user_id == user.id, Rsvp.status.in_(rsvps.ACTIVE))
    ).all()
    for answer in answers:
        occ = answer.occurrence
        if occ.starts_at > now:
            # The same path as "can't go": the seat goes to the first on the waitlist, who is told.
            rsvps.cancel(occ, user, now)
        else:
            # A meeting that has started never promotes anyone; its counters still follow the rows.
            going = answer.status == RsvpStatus.GOING
            db.session.execute(
                update(Occurrence).where(Occurrence.id == occ.id).values(
                    going_count=Occurrence.going_count - (1 if going else 0),
                    waitlist_count=Occurrence.waitlist_count - (0 if going else 1),
                ).execution_options(synchronize_session=False)
            )
    db.session.flush()


def _forget_in_other_peoples_notifications(
    user: User, membership_ids: list[int], group_ids: list[int], facilitated: list[int]
) -> None:
    # Join requests name the requester. Payloads are JSON, so filter here.
    if membership_ids:
        requests = db.session.scalars(
            select(Notification).where(Notification.kind == NotificationKind.JOIN_REQUEST,
                                       Notification.group_id.in_(group_ids), Notification.user_id != user.id)
        ).all()
        for row in requests:
            if (row.payload or {}).get("membership_id") in membership_ids:
                db.session.delete(row)
    if facilitated:
        # Announcements name their author; "X can now see what you share" names the new facilitator.
        for kind, key in ((NotificationKind.ANNOUNCEMENT, "author"), (NotificationKind.SHARING_AUDIENCE, "name")):
            rows = db.session.scalars(
                select(Notification).where(Notification.kind == kind, Notification.group_id.in_(facilitated),
                                           Notification.user_id != user.id)
            ).all()
            for row in rows:
                payload = dict(row.payload or {})
                if payload.get(key) == user.display_name:
                    payload[key] = audit.DELETED_USER
                    row.payload = payload


def delete_account(user: User, now: datetime) -> str:
    """Erase the member's account and everything about them; returns the address to confirm it to."""
    check_deletable(user)
    email, user_id = user.email, user.id
    memberships = db.session.execute(
        select(Membership.id, Membership.group_id, Membership.role).where(Membership.user_id == user_id)
    ).all()
    # Everything a place in a group gave ends as it does when leaving (the waitlist moves up, ...); then the
    # rows themselves go.
    for _id, group_id, _role in memberships:
        derived_access.end_access(group_id, [user_id], now)
    _give_up_seats(user, now)
    facilitated = [group_id for _id, group_id, role in memberships if role == MemberRole.FACILITATOR]
    _forget_in_other_peoples_notifications(
        user, [row[0] for row in memberships], [row[1] for row in memberships], facilitated
    )
    checkins_records.delete_all(user)
    # Sessions as a member, and a coach's profile and sessions (members told of cancellations first).
    coaching_records.erase(user, now)
    # Emails to the member's supporters are the member's rows (user_id), so pending ones go with the
    # notifications, before the supporters, their alert rules and the safety plan; none is left to dispatch.
    db.session.execute(
        delete(Notification).where(
            Notification.supporter_id.in_(select(Supporter.id).where(Supporter.user_id == user_id))
        ).execution_options(synchronize_session=False)
    )
    for model in (Rsvp, StandingRsvp, Attendance, AttendanceProof, Membership, AccountToken, UserSession,
                  Notification, NotificationSettings, RecoveryCode, TwoFactor, MeasureRhythm, SuggestionAnswer,
                  AlertRule, Supporter, SafetyPlan):
        db.session.execute(delete(model).where(model.user_id == user_id).execution_options(synchronize_session=False))
    db.session.execute(
        delete(LoginFailure).where(
            LoginFailure.account_key.in_([accounts.account_key(email), twofactor.failure_key(user)])
        )
    )
    # Rows about other people stay; the link to this member becomes empty ("deleted user").
    db.session.execute(update(Attendance).where(Attendance.marked_by_id == user_id).values(marked_by_id=None))
    db.session.execute(
        update(RhythmSuggestion).where(RhythmSuggestion.created_by_id == user_id).values(created_by_id=None)
    )
    db.session.execute(update(AuditEntry).where(AuditEntry.actor_id == user_id).values(actor_id=None))
    db.session.execute(update(AuditEntry).where(AuditEntry.subject_id == user_id).values(subject_id=None))
    db.session.execute(delete(User).where(User.id == user_id).execution_options(synchronize_session=False))
    db.session.expunge_all()
    db.session.flush()
    return email


# --- retention ---------------------------------------------------------------------------------------------------


def set_checkin_retention(user: User, months: int | None) -> None:
    """Choose how long check-ins are kept: None keeps them, or one of RETENTION_CHOICES months."""
    if months is not None and months not in RETENTION_CHOICES:
        raise DomainError("Choose one of the listed periods.", field="months")
    user.checkin_retention_months = months
    db.session.flush()


@dataclass(frozen=True)
class PurgeReport:
    audit_entries: int
    checkins: int
    measure_responses: int = 0
    unanswered_invitations: int = 0


def _retention_cutoffs(now: datetime) -> list[tuple[int, date]]:
    """(member id, first local day kept) for every member who chose a retention period."""
    opted = db.session.execute(
        select(User.id, User.timezone, User.checkin_retention_months).where(User.checkin_retention_months.is_not(None))
    ).all()
    cutoffs = []
    for user_id, zone, months in opted:
        today = now.astimezone(ZoneInfo(zone if zone in timezone_names() else "UTC")).date()
        cutoffs.append((user_id, today - relativedelta(months=months)))
    return cutoffs


def purge_checkins(now: datetime) -> int:
    """Delete check-ins older than each opted-in member's chosen period (in their own days); returns how many."""
    removed = 0
    for user_id, cutoff in _retention_cutoffs(now):
        result = db.session.execute(
            delete(CheckIn).where(CheckIn.user_id == user_id, CheckIn.local_date < cutoff)
            .execution_options(synchronize_session=False)
        )
        removed += result.rowcount
        if result.rowcount:
            # An own tag no check-in uses any more goes with the last one that had it, as when deleting by hand.
            used = exists().where(CheckInTag.own_tag_id == OwnTag.id)
            db.session.execute(delete(OwnTag).where(OwnTag.user_id == user_id, ~used))
    return removed


def purge_measure_responses(now: datetime) -> int:
    """Delete measure responses older than each opted-in member's check-in period, by the day each is about
    (as check-ins are); returns how many."""
    removed = 0
    for user_id, cutoff in _retention_cutoffs(now):
        removed += db.session.execute(
            delete(MeasureResponse).where(MeasureResponse.user_id == user_id, MeasureResponse.local_date < cutoff)
            .execution_options(synchronize_session=False)
        ).rowcount
    return removed


def purge(now: datetime, config) -> PurgeReport:
    """The daily retention pass: old audit entries, and check-ins and measure responses of members who chose a
    period."""
    return PurgeReport(
        audit_entries=audit.purge(now, int(config.get("AUDIT_RETENTION_MONTHS", 24))),
        checkins=purge_checkins(now),
        measure_responses=purge_measure_responses(now),
        # A supporter's address is not kept when they never answered.
        unanswered_invitations=supporter_people.end_unanswered_invitations(now),
    )

