"""Sign-up, sign-in, sign-out and password reset."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from supportnet import accounts, mail
from supportnet.clock import now_utc
from supportnet.errors import DomainError, TooManyAttempts
from supportnet.extensions import db, limiter
from supportnet.models import TokenPurpose, User
from supportnet.web.forms import (
    ConfirmForm,
    ForgotPasswordForm,
    LoginForm,
    PostForm,
    RegisterForm,
    ResetPasswordForm,
)
from supportnet.web.helpers import external_url, put_error
from supportnet.web.security import safe_next

bp = Blueprint("auth", __name__)


def _auth_limit() -> str:
    return current_app.config["AUTH_RATE_LIMIT"]


def sign_in(user: User, remember: bool) -> None:
    """Start a fresh server-side session for the user in this browser (the caller commits)."""
    # A new session at every sign-in: nothing planted in the cookie before (fixation) survives.
    session.clear()
    accounts.start_session(user, now_utc(), remember=remember, user_agent=request.user_agent.string)
    login_user(user, remember=remember)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            outcome = accounts.register(
                form.email.data, form.password.data, form.display_name.data, form.timezone.data, now_utc()
            )
        except DomainError as exc:
            put_error(form, exc)
        else:
            db.session.commit()
            user = outcome.user
            if outcome.confirm_token:
                link = external_url("auth.confirm_email", token=outcome.confirm_token)
                message = mail.render(user.email, "Confirm your email address", "confirm_email", link=link)
            else:
                # The address has an account: its owner hears about the attempt, the requester does not.
                message = mail.render(
                    user.email, "About your sign-up", "account_exists",
                    login_link=external_url("auth.login"), reset_link=external_url("auth.forgot_password"),
                )
            mail.send_after_response(message)
            return redirect(url_for("auth.check_email"))
    return render_template("auth/register.html", form=form)


@bp.get("/register/check-email")
def check_email():
    return render_template("auth/check_email.html")


@bp.route("/account/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    form = ConfirmForm()
    if request.method == "GET":
        try:
            accounts.find_token(token, TokenPurpose.CONFIRM_EMAIL, now_utc())
        except accounts.InvalidToken as exc:
            return render_template("auth/invalid_link.html", message=str(exc)), 400
        return render_template("auth/confirm_email.html", form=form)
    if not form.validate_on_submit():
        abort(400)
    try:
        user = accounts.confirm_email(token, now_utc())
    except accounts.InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=str(exc)), 400
    sign_in(user, remember=False)
    db.session.commit()
    flash("Your email is confirmed. Welcome to SupportNet.", "success")
    return redirect(url_for("main.index"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), url_for("main.index")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        cfg = current_app.config
        try:
            user = accounts.authenticate(
                form.email.data, form.password.data, now_utc(),
                limit=cfg["LOGIN_FAILURE_LIMIT"], window=timedelta(minutes=cfg["LOGIN_FAILURE_WINDOW_MINUTES"]),
            )
        except TooManyAttempts as exc:
            form.form_errors.append(str(exc))
            status = 429
        except accounts.InvalidCredentials as exc:
            db.session.commit()  # keep the recorded failure: it feeds the throttle
            form.form_errors.append(str(exc))
        else:
            sign_in(user, remember=bool(form.remember.data))
            db.session.commit()
            return redirect(safe_next(request.args.get("next"), url_for("main.index")))
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    if not PostForm().validate_on_submit():
        abort(400)
    accounts.end_session(current_user.session_token or "")
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("main.index"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        issued = accounts.request_password_reset(form.email.data, now_utc())
        db.session.commit()
        if issued is not None:
            user, token = issued
            link = external_url("auth.reset_password", token=token)
            mail.send_after_response(mail.render(user.email, "Reset your password", "reset_password", link=link))
        return redirect(url_for("auth.reset_sent"))
    return render_template("auth/forgot_password.html", form=form)


@bp.get("/forgot-password/sent")
def reset_sent():
    return render_template("auth/reset_sent.html")


@bp.route("/account/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def reset_password(token: str):
    try:
        accounts.find_token(token, TokenPurpose.RESET_PASSWORD, now_utc())
    except accounts.InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=str(exc)), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data, now_utc())
        except DomainError as exc:
            put_error(form, exc, default_field="password")
        else:
            db.session.commit()
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash("Your password is changed and every device is signed out. Sign in with the new password.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form)
