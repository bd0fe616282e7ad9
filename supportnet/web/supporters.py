"""A member's own people: their supporters (naming, inviting, removing), the supporter's side of the signed
links (accept, stop; no account needed), "reach out", the safety plan, and alert rules."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import Relation, SupporterEnd
from supportnet.supporters import people
from supportnet.web.access import viewer
from supportnet.web.forms import options
from supportnet.web.helpers import put_error
from supportnet.web.security import no_store

bp = Blueprint("supporters", __name__)


class ConfirmForm(FlaskForm):
    """A one-button form: its CSRF token only."""


# --- the supporter's side: signed links, no account needed ---------------------------------------------------


@bp.route("/supporter/<token>/stop", methods=["GET", "POST"])
def stop(token: str):
    """A supporter stops being someone's supporter: a confirmation page, then a POST; signed out like the other
    links in emails. The page names nobody (whoever holds the link learns nothing about the member)."""
    no_store()
    supporter = people.supporter_for_token(token, "stop")
    if supporter is None or supporter.ended_at is not None:
        return render_template("supporters/stopped.html", done=False, gone=True), 404
    form = ConfirmForm()
    if form.validate_on_submit():
        people.stop_by_supporter(supporter, now_utc())
        db.session.commit()
        return render_template("supporters/stopped.html", done=True, gone=False)
    return render_template("supporters/stopped.html", done=False, gone=False, form=form)


# --- my people: supporters (the supporter accepts; the member names, lists, removes and re-invites) ---------


@bp.route("/supporter/<token>/accept", methods=["GET", "POST"])
def accept(token: str):
    """A supporter accepts an invitation: a confirmation page, then a POST. No account is needed, and whoever is
    signed in in this browser stays as they were (accepting touches no account)."""
    no_store()
    supporter = people.supporter_for_token(token, "accept")
    if supporter is None or supporter.ended_at is not None or supporter.accepted_at is not None:
        return render_template("supporters/accept.html", state="gone"), 404
    now = now_utc()
    if now >= people.invitation_expires_at(supporter):
        return render_template("supporters/accept.html", state="expired"), 410
    who = supporter.user.display_name
    form = ConfirmForm()
    if form.validate_on_submit():
        people.accept(supporter, now)
        db.session.commit()
        return render_template("supporters/accept.html", state="done", who=who, stop_url=people.stop_url(supporter))
    return render_template("supporters/accept.html", state="ask", who=who, form=form)


class InviteForm(FlaskForm):
    name = StringField("Their name", validators=[DataRequired(message="Enter a name for them."),
                                                 Length(max=people.NAME_MAX)],
                       description="As you call them (\u201cSam\u201d, \u201cmy sponsor\u201d). Only you see it.",
                       render_kw={"maxlength": people.NAME_MAX, "autocomplete": "off"})
    email = EmailField("Their email address", validators=[InputRequired(message="Enter their email address."),
                                                          Length(max=254)],
                       description="Only you see it. We use it to send them your invitation and, if they "
                       "accept, the messages you choose to send.",
                       render_kw={"maxlength": 254, "autocomplete": "off", "inputmode": "email"})
    relation = SelectField("Who they are to you",
                           choices=options((r.value, label) for r, label in people.RELATION_LABELS.items()))
    submit = SubmitField("Send the invitation")


def _people_page(form: InviteForm, status: int = 200):
    no_store()
    user, now = viewer(), now_utc()
    rows = [(s, people.state_of(s, now)) for s in people.supporters_of(user)]
    standing = sum(1 for s, _state in rows if s.ended_at is None)
    return render_template("supporters/people.html", rows=rows, form=form, people=people, standing=standing,
                           max_standing=people.MAX_STANDING, address_of=people.address_of), status


@bp.get("/me/people")
@login_required
def people_page():
    return _people_page(InviteForm(formdata=None))


@bp.post("/me/people")
@login_required
def invite():
    form = InviteForm()
    if not form.validate_on_submit():
        return _people_page(form, 400)
    try:
        supporter = people.invite(viewer(), form.name.data, form.email.data, Relation(form.relation.data),
                                  now_utc())
    except DomainError as exc:
        db.session.rollback()
        put_error(form, exc)
        return _people_page(form, 400)
    db.session.commit()
    flash(f"Invitation on its way to {supporter.name}. You'll see here when they accept.", "success")
    return redirect(url_for("supporters.people_page"))


def _own_or_404(supporter_id: int):
    supporter = people.own_supporter(viewer(), supporter_id)
    if supporter is None:
        abort(404)
    return supporter


@bp.post("/me/people/<int:supporter_id>/remove")
@login_required
def remove(supporter_id: int):
    supporter = _own_or_404(supporter_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if people.end(supporter, SupporterEnd.REMOVED, now_utc()):
        db.session.commit()
        flash(f"{supporter.name} is removed: nothing more goes to them, and their address is deleted.", "success")
    return redirect(url_for("supporters.people_page"))


@bp.post("/me/people/<int:supporter_id>/resend")
@login_required
def resend(supporter_id: int):
    supporter = _own_or_404(supporter_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        people.resend(viewer(), supporter.id, now_utc())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _people_page(InviteForm(formdata=None), 400)
    db.session.commit()
    flash(f"The invitation to {supporter.name} is on its way again, with new links.", "success")
    return redirect(url_for("supporters.people_page"))
