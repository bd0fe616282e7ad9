"""Meetings: scheduling a series, editing or ending it, and one meeting's page with its one-off changes."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from supportnet import attendance, rsvps, scheduling, series_spec, timetable, visibility
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import OccurrenceStatus
from supportnet.recurrence import describe, from_rrule
from supportnet.web.access import get_group_for, get_occurrence_for, get_series_for, viewer
from supportnet.web.forms import CancelOccurrenceForm, CheckInForm, MoveOccurrenceForm, SeriesForm
from supportnet.web.helpers import put_error

bp = Blueprint("meetings", __name__)


@bp.route("/groups/<slug>/meetings/new", methods=["GET", "POST"])
@login_required
def new_series(slug: str):
    group = get_group_for(slug, manage=True)
    form = SeriesForm()
    if request.method == "GET":
        form.timezone.data = group.timezone
        form.venue.data, form.address.data = group.venue, group.address
        form.first_date.data = now_utc().astimezone(timetable.zone_of(group)).date()
    if form.validate_on_submit():
        try:
            scheduling.create_series(group, form.to_spec(), now_utc())
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
        else:
            db.session.commit()
            flash("The meeting is scheduled.", "success")
            return redirect(url_for("groups.show", slug=group.slug))
    return render_template("meetings/series_form.html", form=form, group=group, series=None), (
        400 if form.errors or form.form_errors else 200
    )


@bp.route("/groups/<slug>/meetings/<int:series_id>/edit", methods=["GET", "POST"])
@login_required
def edit_series(slug: str, series_id: int):
    group, series = get_series_for(slug, series_id)
    if series.ended_at is not None:
        abort(404)
    form = SeriesForm()
    if request.method == "GET":
        form.fill_from(timetable.spec_for(series))
    if form.validate_on_submit():
        try:
            scheduling.update_series(series, form.to_spec(), now_utc())
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
        else:
            db.session.commit()
            flash("Saved. Meetings that already happened stay as they were.", "success")
            return redirect(url_for("groups.show", slug=group.slug))
    return render_template("meetings/series_form.html", form=form, group=group, series=series), (
        400 if form.errors or form.form_errors else 200
    )


@bp.post("/groups/<slug>/meetings/<int:series_id>/end")
@login_required
def end_series(slug: str, series_id: int):
    group, series = get_series_for(slug, series_id)
    scheduling.end_series(series, now_utc(), by=viewer())
    db.session.commit()
    flash("The series has ended. Past meetings stay in the history.", "info")
    return redirect(url_for("groups.show", slug=group.slug))


@bp.get("/meetings/<int:occurrence_id>")
def occurrence(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id)
    user = viewer()
    series = occ.series
    manager = visibility.can_manage(series.group, user)
    now = now_utc()
    rsvp = rsvps.rsvp_for(occ, user) if user else None
    checkin_open = (
        user is not None and occ.status != OccurrenceStatus.CANCELLED
        and occ.starts_at - attendance.CHECK_IN_OPENS <= now < occ.ends_at
    )
    return render_template(
        "meetings/occurrence.html",
        occ=occ, series=series, group=series.group, manager=manager,
        show_online=visibility.sees_online_link(occ, user),
        rsvp=rsvp, position=rsvps.waitlist_position(rsvp) if rsvp else None, next=request.path,
        can_answer=rsvps.can_answer(series.group, user),
        checkin_open=checkin_open, checkin_form=CheckInForm(formdata=None),
        attended=checkin_open and attendance.has_attended(occ, user),
        schedule=describe(from_rrule(series.rrule, timetable.zone_of(series)), series.dtstart_local),
        cancel_form=CancelOccurrenceForm(formdata=None), now=now, Status=OccurrenceStatus,
    )


@bp.post("/meetings/<int:occurrence_id>/cancel")
@login_required
def cancel(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id, manage=True)
    form = CancelOccurrenceForm()
    if not form.validate_on_submit():
        flash("Keep the reason under 500 characters.", "error")
        return redirect(url_for("meetings.occurrence", occurrence_id=occ.id)), 303
    try:
        scheduling.cancel_occurrence(occ, form.note.data or "", now_utc(), by=viewer())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("meetings.occurrence", occurrence_id=occ.id)), 303
    db.session.commit()
    flash("This meeting is cancelled. Members see the reason.", "info")
    return redirect(url_for("meetings.occurrence", occurrence_id=occ.id))


@bp.route("/meetings/<int:occurrence_id>/move", methods=["GET", "POST"])
@login_required
def move(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id, manage=True)
    tz = timetable.zone_of(occ.series)
    form = MoveOccurrenceForm()
    if request.method == "GET":
        local = occ.starts_at.astimezone(tz)
        form.date.data, form.start_time.data = local.date(), local.time().replace(tzinfo=None)
        form.duration_minutes.data = int((occ.ends_at - occ.starts_at).total_seconds() // 60)
    shift_notice = None
    if form.validate_on_submit():
        requested = datetime.combine(form.date.data, form.start_time.data).replace(second=0, microsecond=0)
        shift_notice = _unconfirmed_shift(form, requested, occ.series.timezone)
    if shift_notice is None and form.validate_on_submit():
        try:
            scheduling.move_occurrence(
                occ,
                new_start_local=datetime.combine(form.date.data, form.start_time.data),
                duration_minutes=form.duration_minutes.data,
                venue=form.venue.data or None,
                address=form.address.data or None,
                note=form.note.data or "",
                now=now_utc(),
                by=viewer(),
            )
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc, default_field="date")
        else:
            db.session.commit()
            flash("The meeting is moved. Members see the new time.", "success")
            return redirect(url_for("meetings.occurrence", occurrence_id=occ.id))
    return render_template(
        "meetings/move.html", form=form, occ=occ, group=occ.series.group, shift_notice=shift_notice
    ), (400 if form.errors or form.form_errors else 200)


def _unconfirmed_shift(form: MoveOccurrenceForm, requested: datetime, zone: str) -> str | None:
    """What to tell the facilitator before moving a meeting to a wall time the clocks skip, unless the form
    already confirms the time it really becomes."""
    if not series_spec.movable_date(requested.date(), now_utc()):
        return None  # the domain refuses it with its own message
    actual = series_spec.wall_time(requested, zone)
    confirmed = f"{actual:%Y-%m-%dT%H:%M}"
    if actual == requested or form.confirm_start.data == confirmed:
        return None
    form.confirm_start.data = confirmed
    day = f"{requested:%a} {requested.day} {requested:%b %Y}"
    return (
        f"{requested:%H:%M} does not exist on {day} in {zone}: the clocks go forward that night. "
        f"The meeting would start at {actual:%H:%M}. Press “Move this meeting” again to move it to "
        f"{actual:%H:%M}, or choose another time."
    )


@bp.post("/meetings/<int:occurrence_id>/restore")
@login_required
def restore(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id, manage=True)
    try:
        scheduling.restore_occurrence(occ, now_utc(), by=viewer())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("meetings.occurrence", occurrence_id=occ.id)), 303
    db.session.commit()
    flash("The meeting is back on its usual time and place.", "success")
    return redirect(url_for("meetings.occurrence", occurrence_id=occ.id))
