"""Rhythms of measures: a member's own rhythm per instrument, and the rhythms a group's facilitators or a
program's coordinators suggest (suggesting, withdrawing; members accept or decline).

Nobody who suggests learns who accepted or declined: the suggestion pages list the suggestions only.
"""

from __future__ import annotations

from datetime import time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SubmitField, TextAreaField, TimeField
from wtforms.validators import Length, Optional

from supportnet import visibility
from supportnet.checkins import rhythms
from supportnet.checkins.records import local_today
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import Rhythm, RhythmSuggestion
from supportnet.web.access import get_group_for, get_program_for, viewer
from supportnet.web.helpers import put_error
from supportnet.web.security import no_store

bp = Blueprint("rhythms", __name__)

STOP = "stop"
RHYTHM_CHOICES = [(r.value, label) for r, label in rhythms.RHYTHM_LABELS.items()]


class RhythmForm(FlaskForm):
    rhythm = SelectField("How often", choices=[*RHYTHM_CHOICES, (STOP, "Stop: no more prompts")])
    starts_on = DateField("First day", validators=[Optional()], description="Empty means today.")
    at = TimeField("At (your local time)", validators=[Optional()], description="Empty means 09:00.")
    submit = SubmitField("Save")


class AnswerForm(FlaskForm):
    starts_on = DateField("First day", validators=[Optional()])
    at = TimeField("At (your local time)", validators=[Optional()])


class SuggestForm(FlaskForm):
    code = SelectField("Measure", validate_choice=False)
    rhythm = SelectField("How often", choices=RHYTHM_CHOICES)
    note = TextAreaField("A note for members (optional)", validators=[Optional(), Length(max=rhythms.NOTE_MAX)],
                         description="For example: \u201cWe look at these together once a month.\u201d")
    submit = SubmitField("Suggest it")


def _back():
    return redirect(url_for("measures.index"))


def _refused(message: str):
    """Bad input: the member's rhythms again with what to fix, as a 400."""
    db.session.rollback()
    flash(message, "error")
    no_store()
    return render_template("measures/rhythms_page.html", rhythms=rhythms.overview(viewer(), now_utc())), 400


@bp.get("/me/measures/rhythms")
@login_required
def mine():
    no_store()
    return render_template("measures/rhythms_page.html", rhythms=rhythms.overview(viewer(), now_utc()))


@bp.post("/me/measures/<code>/rhythm")
@login_required
def set_rhythm(code: str):
    user, now = viewer(), now_utc()
    if code not in rhythms.takeable_codes():
        abort(404)
    form = RhythmForm()
    if not form.validate_on_submit():
        return _refused("Choose how often, a first day and a time.")
    try:
        if form.rhythm.data == STOP:
            rhythms.stop_rhythm(user, code, now)
            message = "Stopped: no more prompts for this measure."
        else:
            rhythms.set_rhythm(user, code, Rhythm(form.rhythm.data), form.starts_on.data or local_today(user, now),
                               form.at.data or time(9, 0), now)
            message = "Saved. You'll get one prompt on each due day, at the time you chose."
    except DomainError as exc:
        return _refused(str(exc))
    db.session.commit()
    flash(message, "success")
    return _back()


def _own_suggestion(suggestion_id: int) -> RhythmSuggestion:
    """A suggestion the member may still answer (404 for another place's, an answered or a withdrawn one)."""
    suggestion = rhythms.open_suggestion(viewer(), suggestion_id, now_utc())
    if suggestion is None:
        abort(404)
    return suggestion


@bp.post("/me/measures/suggestions/<int:suggestion_id>/accept")
@login_required
def accept(suggestion_id: int):
    suggestion = _own_suggestion(suggestion_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _refused("Choose a valid first day and time.")
    try:
        rhythms.accept(viewer(), suggestion, now_utc(), starts_on=form.starts_on.data, at=form.at.data)
    except DomainError as exc:
        return _refused(str(exc))
    db.session.commit()
    flash("Accepted: it is your rhythm now, and only you can change or stop it.", "success")
    return _back()


@bp.post("/me/measures/suggestions/<int:suggestion_id>/decline")
@login_required
def decline(suggestion_id: int):
    suggestion = _own_suggestion(suggestion_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    rhythms.decline(viewer(), suggestion, now_utc())
    db.session.commit()
    flash("Declined. You won't be asked about it again.", "info")
    return _back()


# --- suggesting: a group's facilitators, a program's coordinators ----------------------------------------------


def _suggest_page(*, group=None, program=None, form: SuggestForm | None = None, status: int = 200):
    form = form or SuggestForm(formdata=None)
    form.code.choices = list(rhythms.takeable_codes().items())
    return render_template(
        "measures/suggestions.html", group=group, program=program, form=form,
        suggestions=rhythms.suggestions_of(group=group, program=program), titles=rhythms.takeable_codes(),
        labels=rhythms.RHYTHM_LABELS,
    ), status


def _suggest(*, group=None, program=None):
    form = SuggestForm()
    form.code.choices = list(rhythms.takeable_codes().items())
    if request.method == "POST":
        if not form.validate_on_submit():
            return _suggest_page(group=group, program=program, form=form, status=400)
        try:
            rhythms.suggest(group=group, program=program, code=form.code.data or "", rhythm=form.rhythm.data,
                            note=form.note.data, by_user=viewer(), now=now_utc())
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc, "code")
            return _suggest_page(group=group, program=program, form=form, status=400)
        db.session.commit()
        flash("Suggested. Members see it on their measures page and choose for themselves.", "success")
        return None
    return _suggest_page(group=group, program=program)


def _facilitated_group(slug: str):
    """A group the viewer facilitates (404 if they may not see it, 403 if they may see but do not facilitate)."""
    group = get_group_for(slug)
    if not visibility.is_group_facilitator(group, viewer()):
        abort(403)
    no_store()
    return group


@bp.route("/groups/<slug>/measures/suggestions", methods=["GET", "POST"])
@login_required
def group_suggestions(slug: str):
    group = _facilitated_group(slug)
    if group.archived_at is not None and request.method == "POST":
        abort(403)
    page = _suggest(group=group)
    return page if page is not None else redirect(url_for("rhythms.group_suggestions", slug=group.slug))


def _withdraw(suggestion: RhythmSuggestion | None, belongs: bool, back: str):
    """Withdraw one of this place's suggestions (404 for another place's, as for one that does not exist)."""
    if suggestion is None or not belongs:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    rhythms.withdraw(suggestion, by_user=viewer(), now=now_utc())
    db.session.commit()
    flash("Withdrawn. Members who accepted keep their rhythm: it is theirs.", "info")
    return redirect(back)


@bp.post("/groups/<slug>/measures/suggestions/<int:suggestion_id>/withdraw")
@login_required
def group_withdraw(slug: str, suggestion_id: int):
    group = _facilitated_group(slug)
    suggestion = db.session.get(RhythmSuggestion, suggestion_id)
    return _withdraw(suggestion, suggestion is not None and suggestion.group_id == group.id,
                     url_for("rhythms.group_suggestions", slug=group.slug))


@bp.route("/programs/<int:program_id>/measures/suggestions", methods=["GET", "POST"])
@login_required
def program_suggestions(program_id: int):
    program = get_program_for(viewer(), program_id)
    page = _suggest(program=program)
    return page if page is not None else redirect(url_for("rhythms.program_suggestions", program_id=program.id))


@bp.post("/programs/<int:program_id>/measures/suggestions/<int:suggestion_id>/withdraw")
@login_required
def program_withdraw(program_id: int, suggestion_id: int):
    program = get_program_for(viewer(), program_id)
    suggestion = db.session.get(RhythmSuggestion, suggestion_id)
    return _withdraw(suggestion, suggestion is not None and suggestion.program_id == program.id,
                     url_for("rhythms.program_suggestions", program_id=program.id))
