"""Programs: admins create programs and name coordinators; coordinators make referrals, print their cards,
follow them, and read the program's outcomes."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from flask_login import login_required

from supportnet import followup, visibility
from supportnet.clock import now_utc
from supportnet.extensions import db
from supportnet.models import Program
from supportnet.web.access import viewer
from supportnet.web.security import no_store

bp = Blueprint("programs", __name__)


# Admin: programs, coordinators, the groups a program runs.


# Referrals and their cards.


# Follow-up and outcomes.


def _program_for_coordinator(program_id: int) -> Program:
    """The program if the viewer coordinates it; 404 otherwise (whether it exists is nobody else's business)."""
    program = db.session.get(Program, program_id)
    if program is None or not visibility.coordinates(viewer(), program.id):
        abort(404)
    no_store()
    return program


@bp.get("/programs/<int:program_id>/outcomes")
@login_required
def outcomes(program_id: int):
    program = _program_for_coordinator(program_id)
    table = followup.outcomes(program, now_utc())
    return render_template("programs/outcomes.html", program=program, table=table,
                           small_cell=followup.SMALL_CELL)


@bp.get("/programs/<int:program_id>/outcomes.csv")
@login_required
def outcomes_csv(program_id: int):
    program = _program_for_coordinator(program_id)
    now = now_utc()
    table = followup.outcomes(program, now)
    response = Response(table.csv(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="program-{program.id}-outcomes-{now:%Y-%m-%d}.csv"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
