"""One authorisation helper per resource: load it, check who may see or manage it, or answer 404/403."""

from __future__ import annotations

from flask import abort
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from supportnet import visibility
from supportnet.clock import now_utc
from supportnet.extensions import db
from supportnet.models import Group, MeetingSeries, Membership, Occurrence, Program, Referral, User, Visibility
from supportnet.web.security import no_store


def viewer() -> User | None:
    """The signed-in user, or None for a visitor."""
    return current_user._get_current_object() if current_user.is_authenticated else None  # type: ignore[attr-defined]


def get_group_for(slug: str, *, manage: bool = False, invite_token: str | None = None) -> Group:
    """The group with this slug if the viewer may see it (else 404) and, with manage=True, manage it (else 403)."""
    group = db.session.scalar(select(Group).where(Group.slug == slug))
    user = viewer()
    if group is None or not visibility.visible_to(group, user, invite_token, now_utc()):
        abort(404)
    if manage and not visibility.can_manage(group, user):
        abort(403)
    if group.visibility == Visibility.PRIVATE:
        no_store()
    return group


def get_series_for(slug: str, series_id: int) -> tuple[Group, MeetingSeries]:
    """A series of a group the viewer manages (404 for another group's series)."""
    group = get_group_for(slug, manage=True)
    series = db.session.get(MeetingSeries, series_id)
    if series is None or series.group_id != group.id:
        abort(404)
    return group, series


def get_series_for_viewer(slug: str, series_id: int) -> tuple[Group, MeetingSeries]:
    """A running series of a group the viewer may see (404 otherwise)."""
    group = get_group_for(slug)
    series = db.session.get(MeetingSeries, series_id)
    if series is None or series.group_id != group.id or series.ended_at is not None:
        abort(404)
    return group, series


def get_occurrence_for(occurrence_id: int, *, manage: bool = False) -> Occurrence:
    """A meeting of a group the viewer may see (404), and with manage=True may manage (403)."""
    occ = db.session.scalar(
        select(Occurrence)
        .options(joinedload(Occurrence.series).joinedload(MeetingSeries.group))
        .where(Occurrence.id == occurrence_id)
    )
    if occ is None:
        abort(404)
    group = occ.series.group
    user = viewer()
    if not visibility.visible_to(group, user, None, now_utc()):
        abort(404)
    if manage and not visibility.can_manage(group, user):
        abort(403)
    return occ


def get_membership_for(group: Group, membership_id: int) -> Membership:
    """A membership of this group (404 for any other)."""
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.group_id != group.id:
        abort(404)
    return membership


def get_program_for(user: User | None, program_id: int) -> Program:
    """A program the viewer coordinates (404 otherwise: site admins too, unless named coordinators)."""
    program = db.session.get(Program, program_id)
    if program is None or not visibility.coordinates(user, program.id):
        abort(404)
    no_store()
    return program


def get_referral_for(user: User | None, program: Program, referral_id: int) -> Referral:
    """A referral of this program, which the viewer coordinates (404 for another program's referral)."""
    referral = db.session.get(Referral, referral_id)
    if referral is None or referral.program_id != program.id or not visibility.coordinates(user, program.id):
        abort(404)
    no_store()
    return referral
