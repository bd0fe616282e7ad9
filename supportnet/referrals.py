"""A referral from the person's side: opening the one-time link, choosing a first meeting, accepting (joining
the suggested group as an invited person would, answering "going"), the consents chosen on the way, and telling
the group's volunteer greeters that a newcomer is coming.

Decisions worth knowing:

* The link is found by the sha256 of its token; the token itself is never looked up or logged. Its state is
  derived from the row: used (accepted), withdrawn, expired, or open, in that order.
* A referral is the person's invitation to the suggested groups, and the coordinator's suggestion stands for a
  facilitator's approval (memberships.join_referred): the program's own groups let them in at once whatever
  their join policy; another group only while it is public and anyone may join it (`programs.may_suggest`,
  asked again here). Someone a facilitator removed stays out, and an archived group refuses.
* Accepting claims the referral with one conditional UPDATE (still not accepted, not withdrawn, not expired)
  before anything else, so two people accepting at once (two sign-ups from one card) never both get in: the
  second finds it used, and the caller rolls back whatever it did.
* The consents the person chooses are off unless they tick them, and each is recorded with the one sentence the
  form showed (`PROGRESS_PURPOSE`, `NAME_PURPOSE`). They have no expiry of their own: deleting the referral
  (90 days after it was used) deletes them with it.

Functions here change models and flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from supportnet import consent, memberships, programs, rsvps, timetable
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    Group,
    MeetingSeries,
    Membership,
    Occurrence,
    OccurrenceStatus,
    Referral,
    Rsvp,
    RsvpStatus,
    Scope,
    User,
)
from supportnet.notifications import hooks

# The sentences the form shows beside each choice, recorded with the consent as the person read them.
PROGRESS_PURPOSE = (
    "The program that gave you this link may see whether you joined, answered for a meeting and went to your "
    "first one, and when; you can stop this at any time on your privacy page."
)
NAME_PURPOSE = (
    "The group's volunteer greeters, who are told that a newcomer is coming, may also know your first name so "
    "they can welcome you."
)
# How many of each suggestion's next meetings the link offers.
MEETINGS_PER_SUGGESTION = 3

USED_MESSAGE = "This invitation was already used. Sign in to see your meetings."
EXPIRED_MESSAGE = "This invitation has expired. Ask the person who gave you the card for a new one."
WITHDRAWN_MESSAGE = "This invitation is no longer valid. Ask the person who gave you the card for a new one."


LinkState = programs.ReferralState
_REFUSALS = {LinkState.ACCEPTED: USED_MESSAGE, LinkState.EXPIRED: EXPIRED_MESSAGE,
             LinkState.WITHDRAWN: WITHDRAWN_MESSAGE}


@dataclass(frozen=True)
class Choices:
    """What the person chose on the link: the meeting, and the two consents (both off unless ticked)."""

    occurrence_id: int
    share_progress: bool = False
    share_name: bool = False

    def saved(self) -> dict:
        """As kept on a sign-up's confirmation token until the email is confirmed."""
        return {"occurrence_id": self.occurrence_id, "share_progress": self.share_progress,
                "share_name": self.share_name}

    @classmethod
    def from_saved(cls, saved: dict | None) -> Choices:
        saved = saved or {}
        try:
            occurrence_id = int(saved.get("occurrence_id"))
        except (TypeError, ValueError) as exc:
            raise DomainError("Choose a meeting.", field="meeting") from exc
        return cls(occurrence_id, saved.get("share_progress") is True, saved.get("share_name") is True)


@dataclass(frozen=True)
class Suggested:
    """A suggested group (or one of its series) and its next meetings one can still answer for."""

    group: Group
    series: MeetingSeries | None
    meetings: list[Occurrence]


@dataclass(frozen=True)
class Acceptance:
    referral: Referral
    membership: Membership
    rsvp: Rsvp
    waitlist_position: int | None

    @property
    def waitlisted(self) -> bool:
        return self.rsvp.status == RsvpStatus.WAITLISTED


def find(token: str) -> Referral | None:
    """The referral whose link this token is, or None."""
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(Referral).where(Referral.token_hash == programs.token_digest(token)))


def lookup(token: str, now: datetime) -> tuple[Referral, LinkState] | None:
    """The referral of this link and its state, or None for a link that never existed (or was deleted)."""
    referral = find(token)
    return None if referral is None else (referral, programs.referral_state(referral, now))


def mark_opened(referral: Referral, now: datetime) -> bool:
    """Record when the link was first opened (later opens change nothing); whether this was the first."""
    changed = db.session.execute(
        update(Referral).where(Referral.id == referral.id, Referral.opened_at.is_(None)).values(opened_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(referral, ["opened_at"])
    return changed == 1


def _can_answer(occ: Occurrence, now: datetime) -> bool:
    return occ.status != OccurrenceStatus.CANCELLED and not occ.superseded and occ.starts_at > now


def suggested_meetings(referral: Referral, now: datetime) -> list[Suggested]:
    """Each suggestion still open (its group not archived, its series not ended) with its next meetings."""
    found = []
    for suggestion in referral.suggestions:
        group = suggestion.group
        series = suggestion.series
        if group.archived_at is not None or (series is not None and series.ended_at is not None):
            continue
        meetings = timetable.next_to_answer(group, now, series.id if series is not None else None,
                                            MEETINGS_PER_SUGGESTION)
        found.append(Suggested(group, series, meetings))
    return found


def is_suggested(referral: Referral, occ: Occurrence) -> bool:
    """Whether the meeting belongs to a group (or series) the referral suggests."""
    return any(s.group_id == occ.series.group_id and (s.series_id is None or s.series_id == occ.series_id)
               for s in referral.suggestions)


def check_choice(referral: Referral, occurrence_id: int | None, now: datetime) -> Occurrence:
    """The chosen meeting, if it is one the person may start with; else DomainError saying why."""
    occ = db.session.get(Occurrence, occurrence_id) if occurrence_id else None
    if occ is None or not is_suggested(referral, occ):
        raise DomainError("Choose one of the meetings suggested to you.", field="meeting")
    if occ.series.group.archived_at is not None or occ.series.ended_at is not None:
        raise DomainError("This group no longer meets. Choose another meeting.", field="meeting")
    if not _can_answer(occ, now):
        raise DomainError("This meeting has started or is cancelled. Choose another one.", field="meeting")
    return occ


def refuse_unless_open(referral: Referral, now: datetime) -> None:
    link_state = programs.referral_state(referral, now)
    if link_state != LinkState.OPEN:
        raise DomainError(_REFUSALS[link_state])


def _claim(referral: Referral, user: User, now: datetime) -> None:
    """Mark the referral used by this person, only if it still is open (one conditional UPDATE)."""
    claimed = db.session.execute(
        update(Referral)
        .where(Referral.id == referral.id, Referral.accepted_at.is_(None), Referral.withdrawn_at.is_(None),
               Referral.expires_at > now)
        # The encrypted copy of the token goes: a used link has nothing left to print.
        .values(accepted_at=now, accepted_by_id=user.id, token=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(referral)
    if claimed != 1:
        refuse_unless_open(referral, now)
        raise DomainError(USED_MESSAGE)


def accept(referral: Referral, user: User, occurrence: Occurrence | None, choices: Choices,
           now: datetime) -> Acceptance:
    """Use the link: join the meeting's group, answer "going" (or join the waitlist when it is full), and record
    the consents the person ticked. Raises DomainError, changing nothing the caller keeps once it rolls back."""
    refuse_unless_open(referral, now)
    occ = check_choice(referral, occurrence.id if occurrence is not None else None, now)
    group = occ.series.group
    if not programs.may_suggest(referral.program_id, group):
        raise DomainError("This group no longer takes people through this card. Ask the person who gave it to "
                          "you, or find a meeting in the directory.")
    _claim(referral, user, now)
    membership = memberships.join_referred(group, user, now)
    answer = rsvps.rsvp(occ, user, now)
    if choices.share_progress:
        consent.grant(user.id, consent.Recipient.program_coordinators(referral.program_id, referral.id),
                      Scope.REFERRAL_PROGRESS, PROGRESS_PURPOSE, now)
    if choices.share_name and referral.first_name:
        consent.grant(user.id, consent.Recipient.group_greeters(group.id, referral.id), Scope.NEWCOMER_NAME,
                      NAME_PURPOSE, now)
    if answer.status == RsvpStatus.GOING:
        # Notifications hook: the group's volunteer greeters hear that a newcomer is coming.
        hooks.newcomer_coming(referral.id, occ, user.id, now)
    return Acceptance(referral, membership, answer, rsvps.waitlist_position(answer))


def accept_saved(referral_id: int, user: User, saved: dict | None, now: datetime) -> Acceptance:
    """Accept with the choices kept on a sign-up's confirmation token, once its email is confirmed.

    Inside a savepoint: if the link was used meanwhile (someone else's sign-up from the same card confirmed
    first), nothing of this attempt stays and the confirmed account is unaffected.
    """
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        raise DomainError(WITHDRAWN_MESSAGE)
    choices = Choices.from_saved(saved)
    with db.session.begin_nested():
        return accept(referral, user, db.session.get(Occurrence, choices.occurrence_id), choices, now)
