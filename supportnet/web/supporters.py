"""A member's own people: their supporters (naming, inviting, removing), the supporter's side of the signed
links (accept, stop; no account needed), "reach out", the safety plan, and alert rules."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from supportnet.clock import now_utc
from supportnet.errors import DomainError, NotFound
from supportnet.extensions import db
from supportnet.models import AlertKind, Relation, SupporterEnd, User
from supportnet.supporters import alerts, people, reach
from supportnet.supporters import plan as safety_plan
from supportnet.supporters.plan import PlanError
from supportnet.web.access import viewer
from supportnet.web.forms import MultiCheckboxField, options
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


# --- my people: "reach out" ----------------------------------------------------------------------------------

class ReachOutForm(FlaskForm):
    """Who gets the message this time; the nonce makes one loaded form send at most once per supporter."""

    supporters = MultiCheckboxField("Send to", coerce=int, validate_choice=False)
    nonce = HiddenField()


class ReachOutMessageForm(FlaskForm):
    choice = RadioField("Your message", choices=[], validate_choice=False)
    own = StringField("In your own words", validators=[Optional()])


@bp.app_template_global()
def reach_out_ready() -> bool:
    """Whether the signed-in member has someone "reach out" can reach (the button shows only then). Asked by the
    crisis panel, which also shows to people signed out or with no supporter."""
    if "reach_out_ready" not in g:
        user = viewer()
        g.reach_out_ready = user is not None and bool(people.active_supporters(user))
    return bool(g.reach_out_ready)


def _reach_out_page(form: ReachOutForm, status: int = 200):
    user = viewer()
    supporters = people.active_supporters(user)
    form.supporters.choices = options((s.id, s.name) for s in supporters)
    if not form.is_submitted():
        form.supporters.data = [s.id for s in supporters]  # everyone ticked: one tap sends
        form.nonce.data = reach.new_nonce()
    return render_template(
        "supporters/reach_out.html", form=form, supporters=supporters, message=reach.message_of(user),
        chosen=reach.has_chosen(user),
        crisis_resources=current_app.config["CRISIS_RESOURCES"],
    ), status


@bp.get("/me/reach-out")
@login_required
def reach_out():
    no_store()
    return _reach_out_page(ReachOutForm())


@bp.post("/me/reach-out")
@login_required
def reach_out_send():
    no_store()
    form = ReachOutForm()
    if not form.validate_on_submit():
        return _reach_out_page(form, 400)
    try:
        reach.reach_out(viewer(), form.supporters.data or [], form.nonce.data or "", now_utc())
    except NotFound:
        abort(404)
    except DomainError as exc:
        put_error(form, exc, "supporters")
        return _reach_out_page(form, 400)
    db.session.commit()
    return redirect(url_for("supporters.reach_out_sent", nonce=form.nonce.data))


@bp.get("/me/reach-out/sent/<nonce>")
@login_required
def reach_out_sent(nonce: str):
    no_store()
    record = reach.sent_record(viewer(), nonce)
    if record is None:
        abort(404)
    names, message = reach.record_text(record)
    return render_template(
        "supporters/reach_out_sent.html", record=record, to=reach.names_phrase(names), message=message,
        crisis_resources=current_app.config["CRISIS_RESOURCES"],
    )


@bp.route("/me/reach-out/message", methods=["GET", "POST"])
@login_required
def reach_out_message():
    no_store()
    user = viewer()
    form = ReachOutMessageForm()
    form.choice.choices = options([*((text, text) for text in reach.PHRASINGS), ("own", "In my own words")])
    if form.validate_on_submit():
        text = form.own.data if form.choice.data == "own" else form.choice.data
        if form.choice.data not in reach.PHRASINGS and form.choice.data != "own":
            text = None
        try:
            reach.set_message(user, text, now_utc())
        except DomainError as exc:
            put_error(form, exc, "own")
        else:
            db.session.commit()
            return redirect(url_for("supporters.reach_out"))
    elif not form.is_submitted():
        current = reach.message_of(user)
        form.choice.data = current if current in reach.PHRASINGS else "own"
        form.own.data = "" if current in reach.PHRASINGS else current
    status = 400 if form.errors or form.form_errors else 200
    return render_template("supporters/reach_out_message.html", form=form, max_length=reach.MAX_LENGTH), status

# --- my people: the safety plan --------------------------------------------------------------------------------
# Always the viewer's own plan: no id in any address, so nobody can ask for someone else's.


class SafetyPlanForm(FlaskForm):
    """The six parts, each optional; the domain checks length and characters (so what was typed comes back)."""

    warning_signs = TextAreaField(safety_plan.PARTS[0].title)
    coping_strategies = TextAreaField(safety_plan.PARTS[1].title)
    distractions = TextAreaField(safety_plan.PARTS[2].title)
    people_to_ask = TextAreaField(safety_plan.PARTS[3].title)
    professionals = TextAreaField(safety_plan.PARTS[4].title)
    safer_environment = TextAreaField(safety_plan.PARTS[5].title)


def _me() -> User:
    user = viewer()
    if user is None:  # login_required runs first
        abort(401)
    return user


@bp.route("/me/safety-plan", methods=["GET", "POST"])
@login_required
def safety_plan_page():
    """The member's safety plan: six labelled parts, saved together."""
    user = _me()
    form = SafetyPlanForm()
    suggested = False
    # Only the parts the form sent: a request without them must not wipe the plan.
    sent = {key: form[key].data for key in safety_plan.PART_KEYS if key in request.form}
    if form.validate_on_submit() and not sent:
        form.form_errors.append("Nothing was sent to save: your plan is unchanged.")
    elif form.validate_on_submit():
        try:
            safety_plan.save(user, sent, now_utc())
        except PlanError as error:
            db.session.rollback()
            put_error(form, error)
        else:
            db.session.commit()
            flash("Your safety plan is saved.", "info")
            return redirect(url_for("supporters.safety_plan_page"))
    elif not form.is_submitted():
        for key, value in safety_plan.parts_of(user).items():
            form[key].data = value
        # Step 5 starts from the deployment's crisis lines, for the member to keep, change or remove.
        if not form.professionals.data:
            form.professionals.data = safety_plan.crisis_suggestion(current_app.config["CRISIS_RESOURCES"])
            suggested = True
    status = 400 if form.is_submitted() else 200
    return render_template("supporters/safety_plan.html", form=form, parts=safety_plan.PARTS, suggested=suggested,
                           has_plan=not safety_plan.is_empty(user), clear_form=ConfirmForm()), status


@bp.get("/me/safety-plan/print")
@login_required
def safety_plan_print():
    """The plan on one printable page, without the site's navigation."""
    user = _me()
    return render_template("supporters/safety_plan_print.html", parts=safety_plan.PARTS,
                           texts=safety_plan.parts_of(user))


@bp.post("/me/safety-plan/clear")
@login_required
def safety_plan_clear():
    """Empty the six parts (the reach-out message stays)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    safety_plan.clear(_me())
    db.session.commit()
    flash("Your safety plan is cleared.", "info")
    return redirect(url_for("supporters.safety_plan_page"))

# --- my people: alert rules ----------------------------------------------------------------------------------


class AlertRuleForm(FlaskForm):
    """A new alert rule: which supporter, what about, the number, and whether it may go in quiet hours."""

    # Bounded like every id in an address: a number no row can have is refused, never sent to the database.
    supporter_id = IntegerField("Who to tell", validators=[InputRequired(), NumberRange(min=1, max=2**63 - 1)])
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
    return render_template("supporters/alerts.html", rules=rules, supporters=people.active_supporters(user),
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
