"""Members' data and security: confirming it's them, export, deletion, devices, two-factor, and the audit log."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length

from supportnet import accounts, audit, devices, mail, privacy, twofactor
from supportnet.clock import now_utc
from supportnet.db import flush_erasure
from supportnet.errors import DomainError, TooManyAttempts
from supportnet.extensions import db, limiter
from supportnet.models import AuditAction
from supportnet.web.access import get_group_for
from supportnet.web.admin import admin_required
from supportnet.web.feeds import WebLinks, uid_host
from supportnet.web.forms import options, password_field
from supportnet.web.helpers import put_error
from supportnet.web.security import safe_next
from supportnet.web.sessions import session_limits

bp = Blueprint("privacy", __name__)


def _auth_limit() -> str:
    return current_app.config["AUTH_RATE_LIMIT"]


def _me():
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _failure_window() -> tuple[int, timedelta]:
    cfg = current_app.config
    return cfg["LOGIN_FAILURE_LIMIT"], timedelta(minutes=cfg["LOGIN_FAILURE_WINDOW_MINUTES"])


# --- forms -------------------------------------------------------------------------------------------------------


def code_field() -> StringField:
    return StringField(
        "Code from your authenticator app",
        validators=[InputRequired(message="Enter the code."), Length(max=40)],
        description="Six digits. Lost your phone? Type one of your recovery codes instead.",
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "off", "maxlength": 40},
    )


class ReauthForm(FlaskForm):
    password = password_field("Your password", "current-password")
    code = code_field()
    submit = SubmitField("Continue")


class TwoFactorCodeForm(FlaskForm):
    code = code_field()
    submit = SubmitField("Confirm")


class DeleteAccountForm(FlaskForm):
    confirm = StringField(
        "Type DELETE to confirm", validators=[InputRequired(message="Type DELETE to confirm."), Length(max=20)],
        render_kw={"autocomplete": "off", "maxlength": 20},
    )
    submit = SubmitField("Delete my account and all my data")


class RetentionForm(FlaskForm):
    months = SelectField(
        "Delete my check-ins automatically",
        choices=options([("", "Never: keep them until I delete them"),
                         *((m, f"When they are older than {m} months") for m in privacy.RETENTION_CHOICES)]),
    )
    submit = SubmitField("Save")


# --- confirming it's you -----------------------------------------------------------------------------------------


def current_session_row():
    """This browser's live session row, or None."""
    if not current_user.is_authenticated:
        return None
    return accounts.find_session(current_user.session_token or "", now_utc(), *session_limits())


def is_fresh() -> bool:
    """Whether this browser proved who it is within REAUTH_MINUTES."""
    window = timedelta(minutes=current_app.config["REAUTH_MINUTES"])
    return accounts.is_fresh(current_session_row(), now_utc(), window)


def fresh_login_required(back: str | None = None):
    """Views that change who can sign in, or hand out or erase data, need a recent proof of identity.

    Without one the person is sent to "confirm it's you", then back to `back` (an endpoint; for a GET view,
    the page itself). A POST is never replayed: they press the button again.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if not is_fresh():
                target = request.full_path if request.method == "GET" else url_for(back or "account.settings")
                flash("For your safety, confirm it's you first.", "info")
                return redirect(url_for("privacy.reauthenticate", next=target.rstrip("?"))), 303
            return view(*args, **kwargs)

        return wrapper

    return decorate


@bp.route("/account/confirm-identity", methods=["GET", "POST"])
@login_required
@limiter.limit(_auth_limit, methods=["POST"])
def reauthenticate():
    user = _me()
    needs_code = twofactor.is_enabled(user)
    form = ReauthForm()
    if not needs_code:
        del form.code
    target = safe_next(request.args.get("next"), url_for("account.settings"))
    status = 200
    if form.validate_on_submit():
        now = now_utc()
        limit, window = _failure_window()
        try:
            found = accounts.authenticate(user.email, form.password.data, now, limit=limit, window=window)
            if found.id != user.id:  # cannot happen (the email is the account's), but never trust it
                abort(400)
            if needs_code:
                twofactor.verify(user, form.code.data, now, limit, window)
        except TooManyAttempts as exc:
            db.session.commit()
            form.form_errors.append(str(exc))
            status = 429
        except accounts.InvalidCredentials:
            db.session.commit()  # the failure feeds the throttle
            form.password.errors = [*form.password.errors, "That password is not right."]
            status = 400
        except twofactor.InvalidCode as exc:
            db.session.commit()
            put_error(form, exc, default_field="code")
            status = 400
        else:
            row = current_session_row()
            if row is None:
                return current_app.login_manager.unauthorized()
            accounts.mark_reauthenticated(row, now)
            db.session.commit()
            return redirect(target)
    elif request.method == "POST":
        status = 400
    return render_template("privacy/reauth.html", form=form, needs_code=needs_code), status


# --- staff must use two-factor -----------------------------------------------------------------------------------

# What a facilitator or admin without two-factor may still reach: setting it up, and leaving.
_SETUP_ENDPOINTS = frozenset({
    "static", "auth.logout", "main.privacy", "main.healthz", "privacy.reauthenticate", "privacy.two_factor",
    "privacy.two_factor_setup", "privacy.two_factor_confirm",
})


@bp.before_app_request
def _staff_set_up_two_factor_first():
    if request.endpoint in _SETUP_ENDPOINTS or (request.endpoint or "").startswith("dev."):
        return None
    if not current_user.is_authenticated:
        return None
    user = _me()
    if not twofactor.is_required(user, current_app.config) or twofactor.is_enabled(user):
        return None
    flash("Everyone who facilitates a group, coordinates a program or coaches members protects their account with "
          "two-factor authentication. Set it up to continue.", "info")
    return redirect(url_for("privacy.two_factor")), 303


# --- your data: export, retention, deletion ----------------------------------------------------------------------


@bp.get("/account/data")
@login_required
def data():
    user = _me()
    form = RetentionForm(formdata=None, months=str(user.checkin_retention_months or ""))
    return render_template("privacy/data.html", retention_form=form)


@bp.post("/account/data/export")
@login_required
@fresh_login_required(back="privacy.data")
def export():
    user = _me()
    now = now_utc()
    body = privacy.export_zip(user, now, WebLinks(), uid_host())
    response = Response(body, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="supportnet-data-{now:%Y-%m-%d}.zip"'
    return response


@bp.post("/account/data/retention")
@login_required
def retention():
    form = RetentionForm()
    if not form.validate_on_submit():
        flash("Choose one of the listed periods.", "error")
        return redirect(url_for("privacy.data")), 303
    months = int(form.months.data) if form.months.data else None
    privacy.set_checkin_retention(_me(), months)
    db.session.commit()
    if months:
        flash(f"Check-ins older than {months} months will be deleted automatically, every day.", "success")
    else:
        flash("Your check-ins are kept until you delete them.", "success")
    return redirect(url_for("privacy.data"))


@bp.get("/account/delete")
@login_required
def delete_account_page():
    user = _me()
    return render_template(
        "privacy/delete.html", form=DeleteAccountForm(formdata=None), hand_over=privacy.groups_to_hand_over(user),
        last_admin=privacy._is_last_admin(user),
    )


@bp.post("/account/delete")
@login_required
@fresh_login_required(back="privacy.delete_account_page")
def delete_account():
    form = DeleteAccountForm()
    user = _me()
    if not form.validate_on_submit() or (form.confirm.data or "").strip().lower() != "delete":
        flash("Nothing was deleted: type DELETE in the box to confirm.", "error")
        return redirect(url_for("privacy.delete_account_page")), 303
    try:
        email = privacy.delete_account(user, now_utc())
    except privacy.CannotDelete as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("privacy.delete_account_page")), 303
    db.session.commit()
    flush_erasure(db.engine)  # the deleted rows leave the WAL too
    logout_user()
    session.clear()
    # After the commit: SMTP never runs inside a transaction. The old address is the only one we had.
    mail.send_quietly(mail.render(email, "Your account was deleted", "account_deleted"))
    flash("Your account and everything in it are deleted. Take care.", "info")
    return redirect(url_for("main.index"))


# --- devices -----------------------------------------------------------------------------------------------------


@bp.get("/account/sessions")
@login_required
def sessions():
    listed = devices.list_for(_me(), current_user.session_token, now_utc(), *session_limits())
    return render_template("privacy/sessions.html", devices=listed)


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    current = current_session_row()
    current_id = current.id if current is not None else None
    if not devices.end(_me(), session_id):
        abort(404)
    db.session.commit()
    if current_id == session_id:
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
        return redirect(url_for("auth.login"))
    flash("That device is signed out.", "success")
    return redirect(url_for("privacy.sessions"))


@bp.post("/account/sessions/end-all")
@login_required
def end_all_sessions():
    accounts.end_all_sessions(_me())
    db.session.commit()
    logout_user()
    session.clear()
    flash("Every device, this one included, is signed out.", "info")
    return redirect(url_for("auth.login"))


# --- two-factor --------------------------------------------------------------------------------------------------


def _issuer() -> str:
    return urlsplit(current_app.config["BASE_URL"]).hostname or "SupportNet"


@bp.get("/account/two-factor")
@login_required
def two_factor():
    user = _me()
    row = twofactor.settings_for(user)
    return render_template(
        "privacy/two_factor.html", row=row, enabled=row is not None and row.is_active,
        required=twofactor.is_required(user, current_app.config), codes_left=twofactor.recovery_codes_left(user),
    )


@bp.post("/account/two-factor/setup")
@login_required
@fresh_login_required(back="privacy.two_factor")
def two_factor_setup():
    try:
        twofactor.begin_setup(_me(), now_utc())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("privacy.two_factor")), 303
    db.session.commit()
    return redirect(url_for("privacy.two_factor_confirm"))


@bp.route("/account/two-factor/confirm", methods=["GET", "POST"])
@login_required
@fresh_login_required(back="privacy.two_factor")
def two_factor_confirm():
    user = _me()
    row = twofactor.settings_for(user)
    if row is None or row.is_active:
        return redirect(url_for("privacy.two_factor"))
    form = TwoFactorCodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = twofactor.confirm_setup(user, form.code.data, now_utc())
        except DomainError as exc:
            put_error(form, exc, default_field="code")
            status = 400
        else:
            # This browser just proved the new factor too.
            db.session.commit()
            return render_template("privacy/recovery_codes.html", codes=codes, first_time=True)
    elif request.method == "POST":
        status = 400
    uri = twofactor.provisioning_uri(row, user.email, _issuer())
    return render_template(
        "privacy/two_factor_confirm.html", form=form, secret=twofactor.grouped_secret(row), uri=uri,
        qr=twofactor.qr_svg(uri),
    ), status


@bp.post("/account/two-factor/recovery-codes")
@login_required
@fresh_login_required(back="privacy.two_factor")
def recovery_codes():
    user = _me()
    if not twofactor.is_enabled(user):
        return redirect(url_for("privacy.two_factor")), 303
    codes = twofactor.new_recovery_codes(user, now_utc())
    db.session.commit()
    return render_template("privacy/recovery_codes.html", codes=codes, first_time=False)


@bp.post("/account/two-factor/disable")
@login_required
@fresh_login_required(back="privacy.two_factor")
def two_factor_disable():
    user = _me()
    if twofactor.is_required(user, current_app.config):
        flash("Facilitators and admins must keep two-factor authentication on.", "error")  # group ones too
        return redirect(url_for("privacy.two_factor")), 303
    twofactor.disable(user)
    db.session.commit()
    flash("Two-factor authentication is off. Your password alone now signs you in.", "info")
    return redirect(url_for("privacy.two_factor"))


# --- the audit log -----------------------------------------------------------------------------------------------


@bp.get("/groups/<slug>/audit")
@login_required
def group_audit(slug: str):
    group = get_group_for(slug, manage=True)
    return render_template("privacy/audit.html", group=group, lines=audit.group_log(group))


@bp.get("/admin/audit")
@admin_required
def site_audit():
    action = request.args.get("action")
    chosen = AuditAction(action) if action in {a.value for a in AuditAction} else None
    return render_template(
        "privacy/audit.html", group=None, lines=audit.site_log(action=chosen), actions=audit.LABELS, chosen=chosen,
    )
