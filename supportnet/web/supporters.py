"""A member's own people: their supporters (naming, inviting, removing), the supporter's side of the signed
links (accept, stop; no account needed), "reach out", the safety plan, and alert rules."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_wtf import FlaskForm

from supportnet.clock import now_utc
from supportnet.extensions import db
from supportnet.models import SupporterEnd
from supportnet.supporters import people
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
        people.end(supporter, SupporterEnd.STOPPED, now_utc())
        db.session.commit()
        return render_template("supporters/stopped.html", done=True, gone=False)
    return render_template("supporters/stopped.html", done=False, gone=False, form=form)
