"""What a group's facilitators and a program's coordinators see of the measures members share with them.

Only a group's own active facilitators and a program's named coordinators read these pages; anyone else (a
facilitator of another group, a site admin, a coordinator of another program, a member) gets 404, as for a page
that does not exist. A member's page is 404 too unless that member shares scores with this place now.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import login_required

from supportnet.checkins import records as checkins_records
from supportnet.checkins import shared_measures
from supportnet.checkins.shared_measures import Place
from supportnet.checkins.support import AGGREGATE_MIN
from supportnet.clock import now_utc
from supportnet.extensions import db
from supportnet.models import User
from supportnet.web.access import get_group_for, get_program_for, viewer
from supportnet.web.security import no_store

bp = Blueprint("shared_measures", __name__)


def _me() -> User:
    user = viewer()
    if user is None:  # login_required runs first; this keeps type checkers and future edits honest
        abort(401)
    return user


def _group_place(slug: str) -> Place:
    place = Place.of_group(get_group_for(slug))
    if not place.may_read(viewer()):
        abort(404)
    no_store()
    return place


def _program_place(program_id: int) -> Place:
    return Place.of_program(get_program_for(viewer(), program_id))


def _overview(place: Place):
    user, now = _me(), now_utc()
    sharers = shared_measures.shared_overview(place, now, by=user)
    db.session.commit()  # the reads' audit entries
    return render_template(
        "shared_measures/overview.html", place=place, sharers=sharers,
        summaries=shared_measures.summaries(place, checkins_records.local_today(user, now), now),
        minimum=AGGREGATE_MIN, months=shared_measures.SUMMARY_MONTHS,
    )


def _member(place: Place, user_id: int):
    user, now = _me(), now_utc()
    detail = shared_measures.member_measures(place, user_id, by=user, now=now)
    if detail is None:
        abort(404)
    db.session.commit()  # the read's audit entry
    return render_template("shared_measures/member.html", place=place, detail=detail)


@bp.get("/groups/<slug>/measures")
@login_required
def group_overview(slug: str):
    return _overview(_group_place(slug))


@bp.get("/groups/<slug>/measures/<int:user_id>")
@login_required
def group_member(slug: str, user_id: int):
    return _member(_group_place(slug), user_id)


@bp.get("/programs/<int:program_id>/measures")
@login_required
def program_overview(program_id: int):
    return _overview(_program_place(program_id))


@bp.get("/programs/<int:program_id>/measures/<int:user_id>")
@login_required
def program_member(program_id: int, user_id: int):
    return _member(_program_place(program_id), user_id)
