"""Follow-up after a referral: each referral's status as its coordinators may see it (derived from membership,
RSVP and attendance rows at read time, and only under the person's consent), the nudges to coordinators, the
program's monthly outcomes with small cells suppressed, and the retention of referral rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from supportnet.models import Referral


@dataclass(frozen=True)
class ReferralStatus:
    """What a coordinator may see of one referral. Without the person's consent to follow their progress, an
    accepted referral says "accepted" and nothing more (every fact below is None)."""

    referral_id: int
    state: str  # "open", "expired", "withdrawn" or "accepted"
    follows_progress: bool  # the person lets the program's coordinators see their progress
    opened_at: datetime | None = None
    accepted_at: datetime | None = None
    joined_at: datetime | None = None
    first_rsvp_at: datetime | None = None
    first_attended_at: datetime | None = None  # the start of the first meeting they attended


def _state(referral: Referral, now: datetime) -> str:
    if referral.accepted_at is not None:
        return "accepted"
    if referral.withdrawn_at is not None:
        return "withdrawn"
    return "expired" if referral.expires_at <= now else "open"


def statuses(referrals: Sequence[Referral], now: datetime) -> dict[int, ReferralStatus]:
    """Each referral's status as its coordinators may see it, keyed by referral id."""
    return {r.id: ReferralStatus(r.id, _state(r, now), False) for r in referrals}
