"""Models, one module per domain noun. Importing this package registers every table."""

from supportnet.db import Base

# Data controls: the audit log and two-factor authentication.
from supportnet.models.audit import AuditAction, AuditEntry
from supportnet.models.checkin import CheckIn, CheckInTag, MeetingTiming, OwnTag
from supportnet.models.coaching import (
    AvailabilityChange,
    AvailabilityWindow,
    Coach,
    CoachingSession,
    CoachVisibility,
    SessionStatus,
    TimeOff,
)
from supportnet.models.consent import Audience, Consent, EndReason, Scope
from supportnet.models.feed import FeedVersion
from supportnet.models.group import (
    CheckinSharing,
    Group,
    GroupKind,
    GroupTag,
    JoinPolicy,
    MemberRole,
    Membership,
    MemberStatus,
    Visibility,
)
from supportnet.models.measure import MeasureResponse, MeasureRhythm, Rhythm, RhythmSuggestion, SuggestionAnswer
from supportnet.models.meeting import MeetingSeries, Occurrence, OccurrenceStatus, OnlineVisibility

# Notifications: the outbox and members' choices.
from supportnet.models.notification import (
    Channel,
    Notification,
    NotificationKind,
    NotificationSettings,
    NotificationStatus,
)
from supportnet.models.program import Program, ProgramCoordinator, ProgramMonth, Referral, ReferralSuggestion
from supportnet.models.rsvp import (
    Attendance,
    AttendanceCode,
    AttendanceHow,
    AttendanceProof,
    Rsvp,
    RsvpStatus,
    StandingRsvp,
)
from supportnet.models.supporter import AlertKind, AlertRule, Relation, SafetyPlan, Supporter, SupporterEnd
from supportnet.models.twofactor import RecoveryCode, TwoFactor
from supportnet.models.user import AccountToken, LoginFailure, SiteRole, TokenPurpose, User, UserSession

# An id is never handed out twice. Ids end up in addresses, signed links, emails, calendar UIDs and exports;
# SQLite would otherwise give a deleted row's id to the next row, so an old link would name somebody else.
# PostgreSQL's identity sequences never go back; on SQLite every table keyed by an integer `id` uses
# AUTOINCREMENT (migration 0009 rebuilt the existing tables). A new table keyed by `id` gets it here too.
for _table in Base.metadata.tables.values():
    if [column.name for column in _table.primary_key.columns] == ["id"]:
        _table.dialect_options["sqlite"]["autoincrement"] = True

__all__ = [
    "AccountToken",
    "AlertKind",
    "AlertRule",
    "Attendance",
    "AttendanceCode",
    "AttendanceHow",
    "AttendanceProof",
    "Audience",
    "AuditAction",
    "AuditEntry",
    "AvailabilityChange",
    "AvailabilityWindow",
    "Channel",
    "CheckIn",
    "CheckInTag",
    "CheckinSharing",
    "Coach",
    "CoachVisibility",
    "CoachingSession",
    "Consent",
    "EndReason",
    "FeedVersion",
    "Group",
    "GroupKind",
    "GroupTag",
    "JoinPolicy",
    "LoginFailure",
    "MeasureResponse",
    "MeasureRhythm",
    "MeetingSeries",
    "MeetingTiming",
    "MemberRole",
    "MemberStatus",
    "Membership",
    "Notification",
    "NotificationKind",
    "NotificationSettings",
    "NotificationStatus",
    "Occurrence",
    "OccurrenceStatus",
    "OnlineVisibility",
    "OwnTag",
    "Program",
    "ProgramCoordinator",
    "ProgramMonth",
    "RecoveryCode",
    "Referral",
    "ReferralSuggestion",
    "Relation",
    "Rhythm",
    "RhythmSuggestion",
    "Rsvp",
    "RsvpStatus",
    "SafetyPlan",
    "Scope",
    "SessionStatus",
    "SiteRole",
    "StandingRsvp",
    "SuggestionAnswer",
    "Supporter",
    "SupporterEnd",
    "TimeOff",
    "TokenPurpose",
    "TwoFactor",
    "User",
    "UserSession",
    "Visibility",
]
