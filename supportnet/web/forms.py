"""Forms. Fields produce domain values (a timezone field yields an IANA name that exists)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from supportnet.clock import timezone_names
from supportnet.models import SiteRole
from supportnet.passwords import MAX_LENGTH


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(timezone_names())]


class TimezoneField(SelectField):
    """A select of IANA zones; the browser's zone is filled in by static/js/app.js."""

    def __init__(self, label: str = "Timezone", **kwargs):
        kwargs.setdefault("validators", [InputRequired(message="Choose a timezone.")])
        super().__init__(label, choices=timezone_choices, default="UTC", **kwargs)

    def pre_validate(self, form) -> None:
        # A set look-up instead of WTForms' walk through 400 choices.
        if self.data not in timezone_names():
            raise ValidationError("Choose a timezone from the list.")


def password_field(label: str, autocomplete: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            InputRequired(message="Enter a password."),
            Length(max=MAX_LENGTH, message=f"Use at most {MAX_LENGTH} characters."),
        ],
        render_kw={"autocomplete": autocomplete, "maxlength": MAX_LENGTH},
    )


def email_field(label: str = "Email") -> EmailField:
    return EmailField(
        label,
        validators=[InputRequired(message="Enter your email address."), Length(max=254)],
        render_kw={"autocomplete": "email", "inputmode": "email", "maxlength": 254},
    )


def display_name_field() -> StringField:
    return StringField(
        "Display name",
        validators=[DataRequired(message="Enter a display name."), Length(max=60)],
        description="Shown to your groups' facilitators. A first name and last initial (\u201cSam K.\u201d) "
        "or a nickname keeps you anonymous.",
        render_kw={"autocomplete": "nickname", "maxlength": 60},
    )


class RegisterForm(FlaskForm):
    email = email_field()
    password = password_field("Password", "new-password")
    display_name = display_name_field()
    timezone = TimezoneField(
        description="Meeting times are shown in this timezone.", render_kw={"data-browser-zone": "1"}
    )
    consent = BooleanField(
        "I agree that SupportNet stores what I enter, including health-related information such as "
        "check-ins, to provide this service, as the privacy page explains.",
        validators=[DataRequired(message="We can only create an account with your consent.")],
    )
    submit = SubmitField("Create account")


class LoginForm(FlaskForm):
    email = email_field()
    password = password_field("Password", "current-password")
    remember = BooleanField("Keep me signed in on this device")
    submit = SubmitField("Sign in")


class ForgotPasswordForm(FlaskForm):
    email = email_field()
    submit = SubmitField("Send reset link")


class ResetPasswordForm(FlaskForm):
    password = password_field("New password", "new-password")
    submit = SubmitField("Set new password")


class ChangePasswordForm(FlaskForm):
    current_password = password_field("Current password", "current-password")
    new_password = password_field("New password", "new-password")
    submit = SubmitField("Change password")


class ProfileForm(FlaskForm):
    display_name = display_name_field()
    timezone = TimezoneField()
    submit = SubmitField("Save")


class ChangeEmailForm(FlaskForm):
    email = email_field("New email")
    current_password = password_field("Current password", "current-password")
    submit = SubmitField("Send confirmation")


class ConfirmForm(FlaskForm):
    """A button that turns an emailed link (GET) into the change it stands for (POST)."""

    submit = SubmitField("Confirm")


class RoleForm(FlaskForm):
    role = SelectField("Site role", choices=[r.value for r in SiteRole])
    submit = SubmitField("Save role")


class PostForm(FlaskForm):
    """CSRF only, for buttons such as "Sign out"."""
