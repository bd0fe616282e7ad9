"""A member's own settings: profile, email, password and private calendar feed."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user

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
    PostForm,
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
@fresh_login_required()  # issue 9: a recent "confirm it's you" first
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
@fresh_login_required()  # issue 9: a recent "confirm it's you" first
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
    form = ConfirmForm()
    if request.method == "GET":
        try:
            row = accounts.find_token(token, TokenPurpose.CHANGE_EMAIL, now_utc())
        except accounts.InvalidToken as exc:
            return render_template("auth/invalid_link.html", message=str(exc)), 400
        return render_template("account/confirm_email_change.html", form=form, new_email=row.new_email)
    if not form.validate_on_submit():
        abort(400)
    try:
        _user, old_email = accounts.confirm_email_change(token, now_utc())
    except accounts.InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=str(exc)), 400
    db.session.commit()
    mail.send_quietly(mail.render(old_email, "Your email address was changed", "email_changed"))
    flash("Your email address is changed.", "success")
    return redirect(url_for("account.settings") if current_user.is_authenticated else url_for("auth.login"))


# --- the private calendar feed (issue 7); not under /account/calendar/..., which logs would redact ---


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
    if not PostForm().validate_on_submit():
        abort(400)
    token = calendars.regenerate_token(current_user._get_current_object())
    db.session.commit()
    # Only the token's hash is stored, so the address is shown this once; the previous one stops working.
    return _settings_page(calendar_url=external_url("feeds.private_calendar", token=token))


@bp.post("/calendar-off")
@login_required
def calendar_off():
    if not PostForm().validate_on_submit():
        abort(400)
    calendars.revoke_token(current_user._get_current_object())
    db.session.commit()
    flash("Your private calendar is off. Calendar apps subscribed to it stop getting meetings.", "info")
    return redirect(url_for("account.settings"))
