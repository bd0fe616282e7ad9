"""RSVPs, standing RSVPs, "My meetings", the roster and attendance, and proof of attendance."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from supportnet import attendance, rsvps
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import AttendanceProof, Group, User
from supportnet.web.access import get_occurrence_for, get_series_for_viewer, viewer
from supportnet.web.forms import CheckInForm, ProofForm, options
from supportnet.web.helpers import external_url
from supportnet.web.security import safe_next

bp = Blueprint("rsvp", __name__)


def wants_fragment() -> bool:
    """Whether the page's script asked for just the updated widget (it then swaps it in place)."""
    return request.headers.get("X-Requested-With") == "fetch"


def _back(default: str):
    return redirect(safe_next(request.form.get("next"), default))


def render_widget(occ, status: int = 200, error: str | None = None):
    rsvp = rsvps.rsvp_for(occ, viewer())
    back = request.form.get("next") or url_for("meetings.occurrence", occurrence_id=occ.id)
    return render_template(
        "rsvp/_widget.html", occ=occ, rsvp=rsvp, position=rsvps.waitlist_position(rsvp) if rsvp else None,
        error=error, now=now_utc(), next=back, can_answer=rsvps.can_answer(occ.series.group, viewer()),
    ), status


def _answer(occ, action):
    try:
        action(occ, current_user._get_current_object(), now_utc())
    except DomainError as exc:
        db.session.rollback()
        if wants_fragment():
            return render_widget(occ, 409, str(exc))
        flash(str(exc), "error")
        return _back(url_for("meetings.occurrence", occurrence_id=occ.id)), 303
    db.session.commit()
    if wants_fragment():
        return render_widget(occ)
    return _back(url_for("meetings.occurrence", occurrence_id=occ.id))


@bp.post("/meetings/<int:occurrence_id>/rsvp")
@login_required
def going(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id)
    return _answer(occ, rsvps.rsvp)


@bp.post("/meetings/<int:occurrence_id>/rsvp/cancel")
@login_required
def cant_go(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id)
    return _answer(occ, rsvps.cancel)


@bp.post("/groups/<slug>/meetings/<int:series_id>/standing")
@login_required
def start_standing(slug: str, series_id: int):
    group, series = get_series_for_viewer(slug, series_id)
    try:
        rsvps.start_standing(series, current_user._get_current_object(), now_utc())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _back(url_for("groups.show", slug=group.slug)), 303
    db.session.commit()
    flash(f"You're down for every \u201c{series.title}\u201d. You can still say you can't make one week.", "success")
    return _back(url_for("groups.show", slug=group.slug))


@bp.post("/groups/<slug>/meetings/<int:series_id>/standing/stop")
@login_required
def stop_standing(slug: str, series_id: int):
    group, series = get_series_for_viewer(slug, series_id)
    rsvps.stop_standing(series, current_user._get_current_object(), now_utc())
    db.session.commit()
    flash(f"You're no longer down for every \u201c{series.title}\u201d.", "info")
    return _back(url_for("groups.show", slug=group.slug))


@bp.get("/me/meetings")
@login_required
def my_meetings():
    user = current_user._get_current_object()
    upcoming = rsvps.my_upcoming(user, now_utc())
    positions = rsvps.positions_for([r for r, _ in upcoming])
    return render_template(
        "me/meetings.html", upcoming=upcoming, positions=positions, history=attendance.attendance_history(user),
        now=now_utc(),
    )


@bp.get("/meetings/<int:occurrence_id>/roster")
@login_required
def roster(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id, manage=True)
    group = occ.series.group
    return render_template(
        "rsvp/roster.html", occ=occ, group=group, roster=rsvps.roster(occ), code=attendance.code_for(occ),
        counts=attendance.attendance_counts(group, now_utc()), now=now_utc(),
    )


@bp.post("/meetings/<int:occurrence_id>/attendance/<int:user_id>/<any(mark, unmark):action>")
@login_required
def mark(occurrence_id: int, user_id: int, action: str):
    occ = get_occurrence_for(occurrence_id, manage=True)
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    try:
        if action == "mark":
            attendance.mark_attended(occ, person, current_user._get_current_object(), now_utc())
        else:
            attendance.unmark_attended(occ, person)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("rsvp.roster", occurrence_id=occ.id)), 303
    db.session.commit()
    return redirect(url_for("rsvp.roster", occurrence_id=occ.id))


@bp.post("/meetings/<int:occurrence_id>/code")
@login_required
def new_code(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id, manage=True)
    try:
        attendance.new_code(occ, now_utc())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("rsvp.roster", occurrence_id=occ.id)), 303
    db.session.commit()
    return redirect(url_for("rsvp.roster", occurrence_id=occ.id))


@bp.post("/meetings/<int:occurrence_id>/check-in")
@login_required
def self_check_in(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id)
    form = CheckInForm()
    if not form.validate_on_submit():
        flash("Enter the code the facilitator shows.", "error")
        return redirect(url_for("meetings.occurrence", occurrence_id=occ.id)), 303
    try:
        attendance.self_check_in(occ, current_user._get_current_object(), form.code.data, now_utc())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("meetings.occurrence", occurrence_id=occ.id)), 303
    db.session.commit()
    flash("Your attendance is recorded. Welcome.", "success")
    return redirect(url_for("meetings.occurrence", occurrence_id=occ.id))


# --- proof of attendance ---


def _my_proof(proof_id: int) -> AttendanceProof:
    proof = db.session.get(AttendanceProof, proof_id)
    if proof is None or proof.user_id != current_user.id:
        abort(404)
    return proof


def _proof_form() -> ProofForm:
    user = current_user._get_current_object()
    form = ProofForm()
    form.group.choices = options([("", "All my groups"), *((g.id, g.name) for g in _attended_groups(user))])
    return form


def _attended_groups(user: User) -> list[Group]:
    seen: dict[int, Group] = {}
    for _attendance, occ in attendance.attendance_history(user):
        seen.setdefault(occ.series.group.id, occ.series.group)
    return sorted(seen.values(), key=lambda g: g.name.lower())


@bp.route("/me/attendance/proofs", methods=["GET", "POST"])
@login_required
def proofs():
    user = current_user._get_current_object()
    form = _proof_form()
    if request.method == "GET":
        form.shown_name.data = user.display_name
    if form.validate_on_submit():
        group = next((g for g in _attended_groups(user) if str(g.id) == form.group.data), None)
        label = (form.neutral_label.data or "").strip() or (group.name if group else "Support group meetings")
        try:
            proof = attendance.create_proof(user, shown_name=form.shown_name.data, label=label, group=group,
                                            now=now_utc())
        except DomainError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            return redirect(url_for("rsvp.proof", proof_id=proof.id))
    mine = db.session.scalars(
        db.select(AttendanceProof).where(AttendanceProof.user_id == user.id).order_by(AttendanceProof.id.desc())
    ).all()
    return render_template("me/proofs.html", form=form, proofs=mine), 400 if form.errors or form.form_errors else 200


@bp.get("/me/attendance/proofs/<int:proof_id>")
@login_required
def proof(proof_id: int):
    proof = _my_proof(proof_id)
    link = None if proof.revoked_at else external_url("rsvp.verify", token=attendance.proof_token(proof))
    return render_template("me/proof.html", proof=proof, verify_link=link)


@bp.post("/me/attendance/proofs/<int:proof_id>/revoke")
@login_required
def revoke(proof_id: int):
    proof = _my_proof(proof_id)
    attendance.revoke_proof(proof, now_utc())
    db.session.commit()
    flash("The proof is revoked: its verification link no longer works.", "info")
    return redirect(url_for("rsvp.proofs"))


@bp.get("/proof/<token>")
def verify(token: str):
    proof = attendance.load_proof(token)
    if proof is None:
        abort(404)
    response = render_template("me/verify.html", proof=proof)
    return response, 200, {"X-Robots-Tag": "noindex", "Cache-Control": "no-store"}
