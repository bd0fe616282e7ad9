"""A member's own settings: profile, email, password and private calendar feed."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from supportnet import accounts, calendars, mail
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import TokenPurpose
from supportnet.web.forms import (
    CalendarFeedForm,
    ChangeEmailForm,
    ChangePasswordForm,
    ConfirmForm,
    ProfileForm,
)
from supportnet.web.helpers import external_url, put_error
from supportnet.web.privacy import fresh_login_required
from supportnet.web.sessions import session_limits

bp = Blueprint("account", __name__, url_prefix="/account")


def _settings_page(profile=None, email=None, password=None, status: int = 200, calendar=None, calendar_url=None):
    user = current_user
    profile = profile or ProfileForm(display_name=user.display_name, timezone=user.timezone, formdata=None)
    calendar = calendar or CalendarFeedForm(
        discreet=user.calendar_discreet, scope="all" if user.calendar_all_meetings else "rsvp", formdata=None
    )
    return (
        render_template(
            "account/settings.html",
            profile_form=profile,
            email_form=email or ChangeEmailForm(formdata=None),
            password_form=password or ChangePasswordForm(formdata=None),
            calendar_form=calendar,
            calendar_url=calendar_url,  # the private feed's address, only right after it was made
        ),
        status,
    )


@bp.get("")
@login_required
def settings():
    return _settings_page()


@bp.post("/profile")
@login_required
def update_profile():
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            accounts.update_profile(current_user, form.display_name.data, form.timezone.data)
        except DomainError as exc:
            put_error(form, exc)
        else:
            db.session.commit()
            flash("Your profile is saved.", "success")
            return redirect(url_for("account.settings"))
    return _settings_page(profile=form, status=400)


@bp.post("/password")
@login_required
@fresh_login_required()  # a recent "confirm it's you" first
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()  # the real object: login_user() must not get the proxy
        try:
            remember = _current_session_remembered()
            accounts.change_password(user, form.current_password.data, form.new_password.data, now_utc())
        except DomainError as exc:
            put_error(form, exc, default_field="new_password")
        else:
            # Every other device is signed out; this one continues on a brand-new session.
            session.clear()
            accounts.start_session(user, now_utc(), remember=remember, user_agent=request.user_agent.string)
            login_user(user, remember=remember)
            db.session.commit()
            flash("Your password is changed. Other devices are signed out.", "success")
            return redirect(url_for("account.settings"))
    return _settings_page(password=form, status=400)


def _current_session_remembered() -> bool:
    found = accounts.find_session(current_user.session_token or "", now_utc(), *session_limits())
    return bool(found and found.remember)


@bp.post("/email")
@login_required
@fresh_login_required()  # a recent "confirm it's you" first
def change_email():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            token, new_email = accounts.request_email_change(
                current_user, form.current_password.data, form.email.data, now_utc()
            )
        except DomainError as exc:
            put_error(form, exc)
        else:
            db.session.commit()
            if token:
                link = external_url("account.confirm_email_change", token=token)
                message = mail.render(new_email, "Confirm your new email address", "change_email", link=link)
            else:
                message = mail.render(new_email, "About your email address", "email_taken")
            mail.send_after_response(message)
            flash(f"We sent a confirmation link to {new_email}. Your address changes when you open it.", "info")
            return redirect(url_for("account.settings"))
    return _settings_page(email=form, status=400)


@bp.route("/email/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    # Opening the new mailbox is not enough: the change is confirmed from a signed-in session of the account,
    # one that outlived any password change, reset or "sign out everywhere" since (those end the link too).
    if not current_user.is_authenticated:
        flash("Sign in first, then open the link again to confirm your new address.", "info")
        return redirect(url_for("auth.login", next=request.path))
    user = current_user._get_current_object()
    now = now_utc()
    try:
        row = accounts.pending_email_change(token, user, now)
    except accounts.InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=str(exc)), 400
    form = ConfirmForm()
    if request.method == "GET":
        return render_template("account/confirm_email_change.html", form=form, new_email=row.new_email)
    if not form.validate_on_submit():
        abort(400)
    # The old address hears about the change, with a way to undo it, before the change takes effect.
    revert = accounts.prepare_revert(user, now)
    old_email = user.email
    db.session.commit()
    notice = mail.render(old_email, "Your email address is changing", "email_changed",
                         revert_link=external_url("account.revert_email_change", token=revert))
    if not mail.send_quietly(notice):
        accounts.drop_revert(revert)
        db.session.commit()
        flash("We could not send a notice to your current address, so nothing changed. Try again in a few minutes.",
              "error")
        return redirect(url_for("account.settings")), 303
    try:
        accounts.confirm_email_change(token, user, now_utc())
    except accounts.InvalidToken as exc:
        db.session.rollback()
        accounts.drop_revert(revert)
        db.session.commit()
        return render_template("auth/invalid_link.html", message=str(exc)), 400
    db.session.commit()
    flash("Your email address is changed.", "success")
    return redirect(url_for("account.settings"))


@bp.route("/not-me/<token>", methods=["GET", "POST"])
def revert_email_change(token: str):
    """The old address's "this wasn't me": works signed out, since whoever changed the address may hold the session."""
    try:
        accounts.find_token(token, TokenPurpose.REVERT_EMAIL_CHANGE, now_utc())
    except accounts.InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=str(exc)), 400
    form = ConfirmForm()
    if request.method == "GET":
        return render_template("account/revert_email_change.html", form=form)
    if not form.validate_on_submit():
        abort(400)
    try:
        accounts.revert_email_change(token, now_utc())
    except accounts.InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=str(exc)), 400
    db.session.commit()
    logout_user()
    session.clear()
    flash("Your old address is back and every device is signed out. Choose a new password now.", "success")
    return redirect(url_for("auth.forgot_password"))


# --- the private calendar feed; not under /account/calendar/..., which logs would redact ---


@bp.post("/calendar")
@login_required
def calendar_settings():
    form = CalendarFeedForm()
    if not form.validate_on_submit():
        return _settings_page(calendar=form, status=400)
    calendars.set_preferences(current_user, discreet=form.discreet.data, all_meetings=form.scope.data == "all")
    db.session.commit()
    flash("Your calendar settings are saved.", "success")
    return redirect(url_for("account.settings"))


@bp.post("/calendar-address")
@login_required
def new_calendar_address():
    token = calendars.regenerate_token(current_user._get_current_object())
    db.session.commit()
    # Only the token's hash is stored, so the address is shown this once; the previous one stops working.
    return _settings_page(calendar_url=external_url("feeds.private_calendar", token=token))


@bp.post("/calendar-off")
@login_required
def calendar_off():
    calendars.revoke_token(current_user._get_current_object())
    db.session.commit()
    flash("Your private calendar is off. Calendar apps subscribed to it stop getting meetings.", "info")
    return redirect(url_for("account.settings"))
