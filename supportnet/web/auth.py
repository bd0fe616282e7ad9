"""Sign-up, sign-in, sign-out and password reset."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    after_this_request,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from supportnet import accounts, passwords, referrals, twofactor
from supportnet.clock import now_utc
from supportnet.errors import DomainError, TooManyAttempts
from supportnet.extensions import db, limiter
from supportnet.models import TokenPurpose, User
from supportnet.notifications import dispatch, hooks
from supportnet.web.forms import (
    ConfirmForm,
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
)
from supportnet.web.helpers import external_url, put_error
from supportnet.web.privacy import TwoFactorCodeForm as TwoFactorLoginForm
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


def _send_after_response(notification_id: int) -> None:
    """Send a queued account email once the response has gone out (so its timing tells the requester nothing).

    The row is already committed to the outbox: if this attempt fails, or the connection or the process dies
    first, the scheduler sends it with retries.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    @after_this_request
    def _defer(response):
        def _send() -> None:
            with app.app_context():
                try:
                    dispatch.send_now([notification_id])
                except Exception as exc:  # the scheduler retries it; never let this escape into the server
                    # The kind of error only: a mail or driver error's text can carry the recipient's address.
                    current_app.logger.warning(
                        "could not send an account email now (%s); the scheduler will", type(exc).__name__
                    )
                finally:
                    db.session.remove()

        response.call_on_close(_send)
        return response


def _field_problems(form: RegisterForm) -> None:
    """Put every field's problem on the form at once, the domain's rules included, so one submit shows them all."""
    checks = (
        (form.email, accounts.normalize_email),
        (form.password, passwords.check_policy),
        (form.display_name, accounts.clean_display_name),
    )
    for field, check in checks:
        if field.errors or not field.data:
            continue
        try:
            check(field.data)
        except DomainError as exc:
            field.errors = [*field.errors, str(exc)]


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def register():
    form = RegisterForm()
    if checked_sign_up(form) and start_registration(form):
        return redirect(url_for("auth.check_email"))
    return render_template("auth/register.html", form=form)


def checked_sign_up(form: RegisterForm) -> bool:
    """Whether a submitted sign-up form is valid, with every field's problem put on it at once."""
    valid = form.validate_on_submit()
    if form.is_submitted():
        _field_problems(form)
    return valid and not form.errors


def start_registration(form: RegisterForm, **referral) -> bool:
    """Register from a checked sign-up form and queue its email (the same answer whether or not the address has
    an account); False with the problem on the form. `referral`: a sign-up from a referral link (see
    accounts.register). Commits."""
    try:
        outcome = accounts.register(
            form.email.data, form.password.data, form.display_name.data, form.timezone.data, now_utc(), **referral
        )
    except DomainError as exc:
        put_error(form, exc)
        return False
    user, now = outcome.user, now_utc()
    if outcome.confirm_token:
        link = external_url("auth.confirm_email", token=outcome.confirm_token)
        queued = hooks.account_email(
            user, "confirm_email", "Confirm your email address", now,
            accounts.TOKEN_LIFETIME[TokenPurpose.CONFIRM_EMAIL], link,
        )
    else:
        # The address has an account: its owner hears about the attempt, the requester does not.
        queued = hooks.account_email(user, "account_exists", "About your sign-up", now,
                                     accounts.TOKEN_LIFETIME[TokenPurpose.CONFIRM_EMAIL])
    db.session.commit()
    _send_after_response(queued)
    return True


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
    now = now_utc()
    try:
        # A sign-up from a referral link carries the referral and the choices made on it (read before the
        # token is used up).
        pending = accounts.find_token(token, TokenPurpose.CONFIRM_EMAIL, now)
        referral_id, choices = pending.referral_id, pending.referral_choices
        user = accounts.confirm_email(token, now)
    except accounts.InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=str(exc)), 400
    sign_in(user, remember=False)
    accepted = None
    if referral_id is not None:
        try:
            accepted = referrals.accept_saved(referral_id, user, choices, now)
        except DomainError as exc:
            # Used meanwhile (another sign-up from the same card), withdrawn, or the meeting is gone: the
            # account is confirmed all the same.
            flash(str(exc), "info")
    db.session.commit()
    flash("Your email is confirmed. Welcome to SupportNet.", "success")
    if accepted is not None:
        return redirect(url_for("referrals.welcome", occurrence_id=accepted.rsvp.occurrence_id))
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
            if twofactor.is_enabled(user):
                # The password was right; no session exists until the second step passes too.
                _start_two_factor(user, bool(form.remember.data))
                db.session.commit()
                return redirect(url_for("auth.two_factor", next=request.args.get("next") or None))
            sign_in(user, remember=bool(form.remember.data))
            db.session.commit()
            return redirect(safe_next(request.args.get("next"), url_for("main.index")))
    return render_template("auth/login.html", form=form), status


# --- the second step: an authenticator code, for accounts with two-factor on ---

PENDING_LOGIN = "pending_two_factor"
PENDING_LIFETIME = timedelta(minutes=5)


def _start_two_factor(user: User, remember: bool) -> None:
    # The pending sign-in lives only in the signed session cookie: account id, "keep me signed in", when the
    # password was checked and which password it was (a reset in between voids it).
    session.clear()
    session[PENDING_LOGIN] = {
        "user_id": user.id, "remember": remember, "at": now_utc().timestamp(),
        "password_changed_at": user.password_changed_at.timestamp(),
    }


def _pending_user() -> tuple[User, bool] | None:
    pending = session.get(PENDING_LOGIN)
    if not isinstance(pending, dict):
        return None
    try:
        at, user_id = float(pending["at"]), int(pending["user_id"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 <= now_utc().timestamp() - at <= PENDING_LIFETIME.total_seconds():
        return None
    user = db.session.get(User, user_id)
    if user is None or user.password_changed_at.timestamp() != pending.get("password_changed_at"):
        return None
    return user, bool(pending.get("remember"))


@bp.route("/login/two-factor", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def two_factor():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), url_for("main.index")))
    pending = _pending_user()
    if pending is None:
        session.pop(PENDING_LOGIN, None)
        flash("Please sign in again.", "info")
        return redirect(url_for("auth.login", next=request.args.get("next") or None))
    user, remember = pending
    form = TwoFactorLoginForm()
    status = 200
    if form.validate_on_submit():
        cfg = current_app.config
        try:
            used = twofactor.verify(
                user, form.code.data, now_utc(),
                limit=cfg["LOGIN_FAILURE_LIMIT"], window=timedelta(minutes=cfg["LOGIN_FAILURE_WINDOW_MINUTES"]),
            )
        except TooManyAttempts as exc:
            form.form_errors.append(str(exc))
            status = 429
        except twofactor.InvalidCode as exc:
            db.session.commit()  # keep the recorded failure: it feeds the throttle
            form.code.errors = [*form.code.errors, str(exc)]
            status = 400
        else:
            sign_in(user, remember=remember)
            db.session.commit()
            if used == "recovery":
                left = twofactor.recovery_codes_left(user)
                flash(f"You used a recovery code; {left} left. Make new ones in Settings if you are running low.",
                      "info")
            return redirect(safe_next(request.args.get("next"), url_for("main.index")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/two_factor.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
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
        now = now_utc()
        issued = accounts.request_password_reset(form.email.data, now)
        queued = None
        if issued is not None:
            user, token = issued
            link = external_url("auth.reset_password", token=token)
            queued = hooks.account_email(user, "reset_password", "Reset your password", now,
                                         accounts.TOKEN_LIFETIME[TokenPurpose.RESET_PASSWORD], link)
        db.session.commit()
        if queued is not None:
            _send_after_response(queued)
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
