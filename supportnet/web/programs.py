"""Programs: admins create programs and name coordinators; coordinators make referrals, print their cards,
follow them, and read the program's outcomes."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from supportnet import cards, followup, programs, visibility
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import Group, User
from supportnet.web.access import get_program_for, get_referral_for, viewer
from supportnet.web.admin import admin_required
from supportnet.web.helpers import put_error
from supportnet.web.security import no_store

bp = Blueprint("programs", __name__)


# Admin: programs, coordinators, the groups a program runs.


class ProgramForm(FlaskForm):
    name = StringField("Program name", description="The clinic's or team's name, as its coordinators know it.")
    submit = SubmitField("Create the program")


class CoordinatorForm(FlaskForm):
    email = EmailField("Email address of their account",
                       description="They need a SupportNet account first. Coordinators must use two-factor.")
    submit = SubmitField("Add coordinator")


class GiveGroupForm(FlaskForm):
    group_id = SelectField("Group", validate_choice=False)
    submit = SubmitField("Give the group to this program")


def _admin_program(program_id: int):
    return db.session.get(programs.Program, program_id) or abort(404)


def _admin_page(program, coordinator_form=None, group_form=None, status: int = 200):
    group_form = group_form or GiveGroupForm(formdata=None)
    group_form.group_id.choices = [("", "Choose a group")] + [
        (str(g.id), g.name) for g in programs.groups_to_give(program)
    ]
    return render_template(
        "programs/admin_program.html", program=program, coordinators=programs.coordinators_of(program),
        groups=programs.groups_of(program), coordinator_form=coordinator_form or CoordinatorForm(formdata=None),
        group_form=group_form,
    ), status


@bp.route("/admin/programs", methods=["GET", "POST"])
@admin_required
def admin_programs():
    form = ProgramForm()
    if form.validate_on_submit():
        try:
            program = programs.create_program(form.name.data or "", by=viewer(), now=now_utc())
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc, "name")
        else:
            db.session.commit()
            flash(f"{program.name} is ready. Next, name its coordinators.", "success")
            return redirect(url_for("programs.admin_program", program_id=program.id))
    status = 400 if request.method == "POST" else 200
    return render_template("programs/admin_list.html", form=form, programs=programs.all_programs()), status


@bp.get("/admin/programs/<int:program_id>")
@admin_required
def admin_program(program_id: int):
    return _admin_page(_admin_program(program_id))


@bp.post("/admin/programs/<int:program_id>/coordinators")
@admin_required
def add_coordinator(program_id: int):
    program = _admin_program(program_id)
    form = CoordinatorForm()
    if form.validate_on_submit():
        try:
            user = programs.add_coordinator(program, form.email.data or "", by=viewer(), now=now_utc())
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc, "email")
        else:
            db.session.commit()
            flash(f"{user.display_name} is now a coordinator of {program.name}.", "success")
            return redirect(url_for("programs.admin_program", program_id=program.id))
    return _admin_page(program, coordinator_form=form, status=400)


@bp.post("/admin/programs/<int:program_id>/coordinators/<int:user_id>/remove")
@admin_required
def remove_coordinator(program_id: int, user_id: int):
    program = _admin_program(program_id)
    user = db.session.get(User, user_id)
    if user is None or not visibility.coordinates(user, program.id):
        abort(404)
    programs.remove_coordinator(program, user, by=viewer(), now=now_utc())
    db.session.commit()
    flash(f"{user.display_name} is no longer a coordinator of {program.name}.", "info")
    return redirect(url_for("programs.admin_program", program_id=program.id))


@bp.post("/admin/programs/<int:program_id>/groups")
@admin_required
def give_group(program_id: int):
    program = _admin_program(program_id)
    form = GiveGroupForm()
    group = None
    if form.validate_on_submit() and (form.group_id.data or "").isdigit():
        group = db.session.get(Group, int(form.group_id.data))
    if group is None:
        form.group_id.errors = ["Choose a group from the list."]
        return _admin_page(program, group_form=form, status=400)
    try:
        programs.set_group_program(group, program, by=viewer(), now=now_utc())
    except DomainError as exc:
        db.session.rollback()
        put_error(form, exc, "group_id")
        return _admin_page(program, group_form=form, status=400)
    db.session.commit()
    flash(f"{group.name} is now run by {program.name}.", "success")
    return redirect(url_for("programs.admin_program", program_id=program.id))


@bp.post("/admin/programs/<int:program_id>/groups/<int:group_id>/remove")
@admin_required
def take_group(program_id: int, group_id: int):
    program = _admin_program(program_id)
    group = db.session.get(Group, group_id)
    if group is None or group.program_id != program.id:
        abort(404)
    programs.set_group_program(group, None, by=viewer(), now=now_utc())
    db.session.commit()
    flash(f"{group.name} is no longer run by {program.name}.", "info")
    return redirect(url_for("programs.admin_program", program_id=program.id))


# Referrals and their cards.

# The person's side of the link (supportnet/web/referrals.py) answers at this path; a short one, because it may
# be typed from a printed card.
REFERRAL_LINK_PATH = "/r/{token}"
CARD_OUTSIDE = ("Someone wants to help you find a meeting.", "Scan the code or type this address.")
_SUGGESTION = re.compile(r"^g(\d{1,18})(?:s(\d{1,18}))?$")


def referral_link(token: str) -> str:
    """The absolute link a referral's card and email carry (built from SUPPORTNET_BASE_URL)."""
    return current_app.config["BASE_URL"] + REFERRAL_LINK_PATH.format(token=token)


@bp.app_context_processor
def _navigation():
    def coordinates_a_program() -> bool:
        user = viewer()
        return user is not None and visibility.coordinates_a_program(user)

    return {"coordinates_a_program": coordinates_a_program}


class ReferralForm(FlaskForm):
    suggestions = SelectMultipleField("Suggest groups or meetings", validate_choice=False)
    first_name = StringField("First name or initials (optional)", validators=[Optional()],
                             description="So you know whose card it is. It is printed inside the card.")
    note = TextAreaField("A note for them (optional)", validators=[Optional(), Length(max=programs.MAX_NOTE)],
                         description="A few words they read inside the card and when they open the link.")
    valid_days = StringField("The link works for (days)", default=str(programs.DEFAULT_VALID_DAYS),
                             description=f"From 1 to {programs.MAX_VALID_DAYS} days.")
    email = EmailField("Their email address (optional)", validators=[Optional()],
                       description="If you enter one, the link is emailed to them too. It is not kept.")
    submit = SubmitField("Make the referral")

    def chosen(self) -> list[tuple[int, int | None]]:
        found = []
        for value in self.suggestions.data or []:
            match = _SUGGESTION.match(value or "")
            if match is None:
                raise DomainError("Suggest only groups and meetings from the list.", field="suggestions")
            found.append((int(match[1]), int(match[2]) if match[2] else None))
        return found

    def days(self) -> int:
        raw = (self.valid_days.data or "").strip()
        if not raw.isdigit() or len(raw) > 3:
            raise DomainError(f"Enter a number of days from 1 to {programs.MAX_VALID_DAYS}.", field="valid_days")
        return int(raw)


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.get("/programs")
@login_required
def mine():
    mine = programs.programs_for(_me())
    if not mine:
        abort(404)
    no_store()
    return render_template("programs/mine.html", programs=mine)


@bp.get("/programs/<int:program_id>")
@login_required
def show(program_id: int):
    program = get_program_for(_me(), program_id)
    referrals = programs.referrals_of(program)
    now = now_utc()
    return render_template("programs/show.html", program=program, referrals=referrals,
                           statuses=followup.statuses(referrals, now))


@bp.route("/programs/<int:program_id>/referrals/new", methods=["GET", "POST"])
@login_required
def new_referral(program_id: int):
    program = get_program_for(_me(), program_id)
    form = ReferralForm()
    if form.validate_on_submit():
        try:
            referral, _token = programs.create_referral(
                program, by=_me(), suggestions=form.chosen(), now=now_utc(), first_name=form.first_name.data,
                note=form.note.data, valid_days=form.days(), email=form.email.data, link_for=referral_link,
            )
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
        else:
            db.session.commit()
            flash("The referral is ready: print the card, or give them the link.", "success")
            return redirect(url_for("programs.referral", program_id=program.id, referral_id=referral.id))
    return render_template(
        "programs/referral_form.html", program=program, form=form, groups=programs.suggestable_groups(program),
        checked=set(form.suggestions.data or []),
    ), 400 if request.method == "POST" else 200


def _usable_link(referral) -> str | None:
    return referral_link(referral.token) if programs.is_usable(referral, now_utc()) else None


@bp.get("/programs/<int:program_id>/referrals/<int:referral_id>")
@login_required
def referral(program_id: int, referral_id: int):
    program = get_program_for(_me(), program_id)
    item = get_referral_for(_me(), program, referral_id)
    now = now_utc()
    status = followup.statuses([item], now)[item.id]
    # Reading a person's progress is itself recorded (they see it in their export): an access log, not a change.
    if followup.record_view(item, _me(), now):
        db.session.commit()
    return render_template(
        "programs/referral.html", program=program, referral=item, link=_usable_link(item),
        status=status, meetings=programs.card_meetings(item, now),
    )


def _card_parts(program_id: int, referral_id: int):
    program = get_program_for(_me(), program_id)
    item = get_referral_for(_me(), program, referral_id)
    link = _usable_link(item)
    if link is None:
        flash("This link can no longer be used, so there is no card to print.", "info")
        return None, redirect(url_for("programs.referral", program_id=program.id, referral_id=item.id), 303)
    return (program, item, link, programs.card_meetings(item, now_utc())), None


@bp.get("/programs/<int:program_id>/referrals/<int:referral_id>/card")
@login_required
def card(program_id: int, referral_id: int):
    parts, answer = _card_parts(program_id, referral_id)
    if answer is not None:
        return answer
    program, item, link, meetings = parts
    return render_template("programs/card.html", program=program, referral=item, link=link, meetings=meetings,
                           outside=CARD_OUTSIDE, qr=cards.qr_svg(link))


def _inside_lines(item, meetings) -> list[str]:
    lines = [f"For {item.first_name}" if item.first_name else "For you"]
    if item.note:
        lines.extend(item.note.split("\n"))
    lines.append("Meetings you could go to:")
    for meeting in meetings:
        name = meeting.group.name + (f" - {meeting.title}" if meeting.title else "")
        when = "; ".join(t.strftime("%a %-d %b, %H:%M") for t in meeting.times) or "no date planned yet"
        lines.append(f"{name}: {when} (times in {meeting.timezone.replace('_', ' ')})")
    return lines


@bp.get("/programs/<int:program_id>/referrals/<int:referral_id>/card.pdf")
@login_required
def card_pdf(program_id: int, referral_id: int):
    parts, answer = _card_parts(program_id, referral_id)
    if answer is not None:
        return answer
    program, item, link, meetings = parts
    body = cards.card_pdf(CARD_OUTSIDE, _inside_lines(item, meetings), link, small_print=program.name)
    response = current_app.response_class(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = 'attachment; filename="card.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/programs/<int:program_id>/referrals/<int:referral_id>/withdraw")
@login_required
def withdraw(program_id: int, referral_id: int):
    program = get_program_for(_me(), program_id)
    item = get_referral_for(_me(), program, referral_id)
    back = url_for("programs.referral", program_id=program.id, referral_id=item.id)
    try:
        programs.withdraw_referral(item, by=_me(), now=now_utc())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back, 303)
    db.session.commit()
    flash("The referral is withdrawn: its link no longer works.", "info")
    return redirect(back)


# Follow-up and outcomes.


@bp.get("/programs/<int:program_id>/outcomes")
@login_required
def outcomes(program_id: int):
    program = get_program_for(_me(), program_id)
    table = followup.outcomes(program, now_utc())
    return render_template("programs/outcomes.html", program=program, table=table,
                           small_cell=followup.SMALL_CELL)


@bp.get("/programs/<int:program_id>/outcomes.csv")
@login_required
def outcomes_csv(program_id: int):
    program = get_program_for(_me(), program_id)
    now = now_utc()
    table = followup.outcomes(program, now)
    response = Response(table.csv(), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="program-{program.id}-outcomes-{now:%Y-%m-%d}.csv"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
