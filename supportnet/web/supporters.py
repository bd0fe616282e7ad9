"""A member's own people: their supporters (naming, inviting, removing), the supporter's side of the signed
links (accept, stop; no account needed), "reach out", the safety plan, and alert rules."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField
from wtforms.validators import InputRequired

from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import AlertKind, SupporterEnd
from supportnet.supporters import alerts, people
from supportnet.web.access import viewer
from supportnet.web.forms import options
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


# --- my people: alert rules ----------------------------------------------------------------------------------


class AlertRuleForm(FlaskForm):
    """A new alert rule: which supporter, what about, the number, and whether it may go in quiet hours."""

    supporter_id = IntegerField("Who to tell", validators=[InputRequired()])
    kind = SelectField("When", choices=options((kind.value, kind.value) for kind in AlertKind), validate_choice=False,
                       validators=[InputRequired()])
    threshold = IntegerField("Number", validators=[InputRequired()])
    during_quiet_hours = BooleanField("Send it during my quiet hours too")


def _alerts_page(form: AlertRuleForm | None = None, status: int = 200):
    user = viewer()
    no_store()
    rules = [(rule, alerts.sentence(rule.kind, rule.threshold, rule.supporter.name),
              alerts.message(rule.kind, rule.threshold, user.display_name)) for rule in alerts.rules_of(user)]
    examples = {kind: alerts.message(kind, alerts.RANGES[kind][0], user.display_name) for kind in AlertKind}
    return render_template("supporters/alerts.html", rules=rules, supporters=alerts.active_supporters(user),
                           form=form or AlertRuleForm(), ranges=alerts.RANGES, examples=examples,
                           kinds=AlertKind, confirm=ConfirmForm()), status


def _alerts_refused(message: str, form: AlertRuleForm):
    db.session.rollback()
    flash(message, "error")
    return _alerts_page(form, 400)


@bp.get("/me/people/alerts")
@login_required
def alerts_page():
    return _alerts_page()


@bp.post("/me/people/alerts")
@login_required
def create_alert():
    form = AlertRuleForm()
    if not form.validate_on_submit():
        return _alerts_refused("Choose a supporter, what the alert is about and a whole number.", form)
    try:
        alerts.create(viewer(), form.supporter_id.data, form.kind.data, form.threshold.data, now_utc(),
                      during_quiet_hours=bool(form.during_quiet_hours.data))
    except DomainError as exc:
        return _alerts_refused(str(exc), form)
    db.session.commit()
    flash("Saved. The message your supporter would get is shown beside the rule.", "success")
    return redirect(url_for("supporters.alerts_page"))


def _change_alert(rule_id: int, action: str):
    rule = alerts.rule_for(viewer(), rule_id)
    if rule is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    now = now_utc()
    if action == "pause":
        alerts.pause(rule, now)
        message = "Paused: nothing will be sent from this rule until you resume it."
    elif action == "resume":
        alerts.resume(rule)
        message = "Resumed."
    else:
        alerts.delete(rule, now)
        message = "Deleted: your supporter will not be told anything from this rule."
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("supporters.alerts_page"))


@bp.post("/me/people/alerts/<int:rule_id>/pause")
@login_required
def pause_alert(rule_id: int):
    return _change_alert(rule_id, "pause")


@bp.post("/me/people/alerts/<int:rule_id>/resume")
@login_required
def resume_alert(rule_id: int):
    return _change_alert(rule_id, "resume")


@bp.post("/me/people/alerts/<int:rule_id>/delete")
@login_required
def delete_alert(rule_id: int):
    return _change_alert(rule_id, "delete")
