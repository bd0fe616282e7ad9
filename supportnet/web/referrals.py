"""A referral link from the person's side: the suggested meetings, signing up or in, the first RSVP; and the
toggle by which a member volunteers to greet newcomers.

The link's token is the person's key. Its pages are never stored by a browser or proxy (no-store), never tell
another site where they were (Referrer-Policy: no-referrer), and request logs redact /r/<token>
(supportnet/logs.py), including when it rides in the sign-in page's `next`. The only token that ever appears in
an address is the link's own: the sign-up keeps the referral on its confirmation token instead.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SubmitField
from wtforms.validators import InputRequired

from supportnet import memberships, referrals, rsvps, visibility
from supportnet.clock import now_utc
from supportnet.db import write_intent
from supportnet.errors import DomainError, Forbidden
from supportnet.extensions import db, limiter
from supportnet.models import Occurrence, Referral, RsvpStatus
from supportnet.referrals import LinkState
from supportnet.web.access import get_group_for, get_occurrence_for, viewer
from supportnet.web.auth import checked_sign_up, start_registration
from supportnet.web.forms import RegisterForm
from supportnet.web.security import no_store

bp = Blueprint("referrals", __name__)

UNKNOWN_MESSAGE = ("We couldn't find this invitation. Check that the whole link was copied, or ask the person who "
                   "gave you the card for a new one.")


@bp.after_request
def _no_referrer(response):
    # A page under a one-time link tells no other site (a linked map, a calendar) the address it came from.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


PROGRESS_LABEL = "Let the program that gave me this card see how my first steps go"
NAME_LABEL = "Tell the group's greeters my first name"


class ReferralForm(FlaskForm):
    meeting = RadioField("Your first meeting", coerce=int, choices=[],
                         validators=[InputRequired(message="Choose a meeting.")])
    share_progress = BooleanField(PROGRESS_LABEL, description=referrals.PROGRESS_PURPOSE)
    share_name = BooleanField(NAME_LABEL, description=referrals.NAME_PURPOSE)
    accept = SubmitField("Join and say I'm going")
    sign_up = SubmitField("Create an account")
    sign_in = SubmitField("I already have an account")


class ReferralSignUpForm(RegisterForm):
    meeting = HiddenField()
    # Shown again as boxes, never carried as hidden fields: a consent is recorded only from a form on which the
    # person saw the box they ticked (an address can be typed by anyone holding the card's link).
    progress = BooleanField(PROGRESS_LABEL, description=referrals.PROGRESS_PURPOSE)
    name = BooleanField(NAME_LABEL, description=referrals.NAME_PURPOSE)


class GreeterForm(FlaskForm):
    greet = HiddenField()


def _unavailable(message: str, status: int):
    return render_template("referrals/unavailable.html", message=message), status


def _open_referral(token: str, *, used_status: int | None = None):
    """(referral, None) for an open link, or (None, the response to give): a kind page for an unknown (404),
    expired or withdrawn (410) link; a used one sends the person to sign in (or, posting to it, 410)."""
    no_store()
    now = now_utc()
    found = referrals.lookup(token, now)
    if found is None:
        return None, _unavailable(UNKNOWN_MESSAGE, 404)
    referral, state = found
    if state == LinkState.ACCEPTED:
        if used_status is not None:
            return None, _unavailable(referrals.USED_MESSAGE, used_status)
        flash(referrals.USED_MESSAGE, "info")
        return None, redirect(url_for("rsvp.my_meetings") if current_user.is_authenticated else url_for("auth.login"))
    if state != LinkState.OPEN:
        message = referrals.EXPIRED_MESSAGE if state == LinkState.EXPIRED else referrals.WITHDRAWN_MESSAGE
        return None, _unavailable(message, 410)
    return referral, None


def _choice_args(source) -> dict:
    """The choice carried in an address (through sign-in and sign-up), as the form's fields."""
    try:
        meeting = int(source.get("meeting", ""))
    except ValueError:
        meeting = None
    return {"meeting": meeting, "share_progress": source.get("progress") == "1",
            "share_name": source.get("name") == "1"}


def _carry(choices: referrals.Choices) -> dict:
    return {"meeting": choices.occurrence_id, "progress": "1" if choices.share_progress else None,
            "name": "1" if choices.share_name else None}


def _page(referral: Referral, form: ReferralForm, suggested, status: int = 200):
    return render_template("referrals/link.html", referral=referral, form=form, suggested=suggested,
                           signed_in=current_user.is_authenticated), status


@bp.route("/r/<token>", methods=["GET", "POST"])
def link(token: str):
    referral, refused = _open_referral(token, used_status=410 if request.method == "POST" else None)
    if refused is not None:
        return refused
    now = now_utc()
    if request.method == "GET" and referral.opened_at is None:
        # A GET that writes, once: when the link was first opened is a fact about the link (what the program
        # sees under the person's consent: "opened, never went further"), written at most once by a conditional
        # UPDATE, so repeating the request changes nothing. Recording it only on the accept would lose exactly
        # the people who opened the card and stopped. The read ends first so that the write takes SQLite's lock
        # up front.
        db.session.rollback()
        with write_intent(True):
            referrals.mark_opened(referral, now)
            db.session.commit()
    suggested = referrals.suggested_meetings(referral, now)
    form = ReferralForm() if request.method == "POST" else ReferralForm(formdata=None, data=_choice_args(request.args))
    form.meeting.choices = [(occ.id, "") for s in suggested for occ in s.meetings]
    if request.method == "GET":
        return _page(referral, form, suggested)
    if not form.validate_on_submit():
        return _page(referral, form, suggested, 400)
    choices = referrals.Choices(form.meeting.data, bool(form.share_progress.data),
                                bool(form.share_name.data) and bool(referral.first_name))
    if not current_user.is_authenticated:
        if form.sign_up.data:
            return redirect(url_for("referrals.sign_up", token=token, **_carry(choices)))
        # Back to this link after signing in, with the choice kept in the address (the link page's own, and the
        # logs redact it there too).
        return redirect(url_for("auth.login", next=url_for("referrals.link", token=token, **_carry(choices))))
    try:
        accepted = referrals.accept(referral, current_user._get_current_object(),
                                    db.session.get(Occurrence, choices.occurrence_id), choices, now)
    except DomainError as exc:
        db.session.rollback()
        form.meeting.errors = [*form.meeting.errors, str(exc)]
        return _page(referral, form, referrals.suggested_meetings(referral, now),
                     403 if isinstance(exc, Forbidden) else 409)
    db.session.commit()
    return redirect(url_for("referrals.welcome", occurrence_id=accepted.rsvp.occurrence_id))


@bp.route("/r/<token>/sign-up", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["AUTH_RATE_LIMIT"], methods=["POST"])  # as the plain sign-up
def sign_up(token: str):
    referral, refused = _open_referral(token, used_status=410 if request.method == "POST" else None)
    if refused is not None:
        return refused
    now = now_utc()
    if current_user.is_authenticated:
        # Already signed in: the link's own page accepts in one step.
        return redirect(url_for("referrals.link", token=token,
                                **{name: request.args.get(name) for name in ("meeting", "progress", "name")}))
    if request.method == "POST":
        form = ReferralSignUpForm()
    else:
        carried = _choice_args(request.args)
        form = ReferralSignUpForm(formdata=None, data={
            "meeting": request.args.get("meeting", ""), "progress": carried["share_progress"],
            "name": carried["share_name"]})
    try:
        occ = referrals.check_choice(referral, _choice_args({"meeting": form.meeting.data or ""})["meeting"], now)
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("referrals.link", token=token)), 303
    choices = referrals.Choices(occ.id, bool(form.progress.data), bool(form.name.data) and bool(referral.first_name))
    if request.method == "POST" and checked_sign_up(form) and start_registration(
        form, referral_id=referral.id, referral_choices=choices.saved()
    ):
        return redirect(url_for("auth.check_email"))
    return render_template("referrals/sign_up.html", form=form, occurrence=occ, token=token, referral=referral,
                           back=url_for("referrals.link", token=token, **_carry(choices))), \
        400 if form.errors else 200


@bp.get("/welcome/<int:occurrence_id>")
@login_required
def welcome(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id)
    answer = rsvps.rsvp_for(occ, viewer())
    if answer is None or answer.status not in rsvps.ACTIVE:
        return redirect(url_for("meetings.occurrence", occurrence_id=occ.id))
    position = rsvps.waitlist_position(answer) if answer.status == RsvpStatus.WAITLISTED else None
    return render_template("referrals/welcome.html", occ=occ, group=occ.series.group, position=position,
                           going=answer.status == RsvpStatus.GOING)


# --- volunteer greeters ---


@bp.post("/groups/<slug>/greeter")
@login_required
def greeter(slug: str):
    group = get_group_for(slug)
    form = GreeterForm()
    if not form.validate_on_submit():
        abort(400)
    membership = visibility.membership_for(group, viewer())
    if membership is None or not membership.is_active:
        abort(403)
    on = form.greet.data == "1"
    try:
        memberships.set_greeter(membership, on, now_utc())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("groups.show", slug=group.slug)), 303
    db.session.commit()
    flash("Thank you: you'll be told when a newcomer is coming." if on
          else "You no longer greet newcomers to this group.", "success" if on else "info")
    return redirect(url_for("groups.show", slug=group.slug))
