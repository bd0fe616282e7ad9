"""Models, one module per domain noun. Importing this package registers every table."""

from supportnet.models.checkin import CheckIn, CheckInTag, MeetingTiming, OwnTag
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
from supportnet.models.meeting import MeetingSeries, Occurrence, OccurrenceStatus, OnlineVisibility
from supportnet.models.rsvp import (
    Attendance,
    AttendanceCode,
    AttendanceHow,
    AttendanceProof,
    Rsvp,
    RsvpStatus,
    StandingRsvp,
)
from supportnet.models.user import AccountToken, LoginFailure, SiteRole, TokenPurpose, User, UserSession

__all__ = [
    "AccountToken",
    "Attendance",
    "AttendanceCode",
    "AttendanceHow",
    "AttendanceProof",
    "CheckIn",
    "CheckInTag",
    "CheckinSharing",
    "Group",
    "GroupKind",
    "GroupTag",
    "JoinPolicy",
    "LoginFailure",
    "MeetingSeries",
    "MeetingTiming",
    "MemberRole",
    "MemberStatus",
    "Membership",
    "Occurrence",
    "OccurrenceStatus",
    "OnlineVisibility",
    "OwnTag",
    "Rsvp",
    "RsvpStatus",
    "SiteRole",
    "StandingRsvp",
    "TokenPurpose",
    "User",
    "UserSession",
    "Visibility",
]
