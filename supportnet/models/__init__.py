"""Models, one module per domain noun. Importing this package registers every table."""

from supportnet.models.group import (
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
from supportnet.models.user import AccountToken, LoginFailure, SiteRole, TokenPurpose, User, UserSession

__all__ = [
    "AccountToken",
    "Group",
    "GroupKind",
    "GroupTag",
    "JoinPolicy",
    "LoginFailure",
    "MeetingSeries",
    "MemberRole",
    "MemberStatus",
    "Membership",
    "Occurrence",
    "OccurrenceStatus",
    "OnlineVisibility",
    "SiteRole",
    "TokenPurpose",
    "User",
    "UserSession",
    "Visibility",
]
