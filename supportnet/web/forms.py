"""Forms. Fields produce domain values (a timezone field yields an IANA name that exists)."""

from __future__ import annotations

import functools
import importlib.resources

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import Choice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from supportnet.clock import timezone_names
from supportnet.errors import DomainError
from supportnet.groups import MEETING_GUIDE_TYPES, GroupSpec
from supportnet.models import (
    Group,
    GroupKind,
    JoinPolicy,
    MemberRole,
    OnlineVisibility,
    SiteRole,
    Visibility,
)
from supportnet.passwords import MAX_LENGTH
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec


def options(pairs) -> list[SelectChoice]:
    """WTForms choices from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


# Zones most people here live in, offered first; the rest follow alphabetically.
COMMON_ZONES = (
    "Europe/London", "Europe/Dublin", "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Amsterdam",
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto",
    "America/Mexico_City", "America/Sao_Paulo", "Australia/Sydney", "Pacific/Auckland", "Asia/Kolkata",
    "Asia/Tokyo", "Africa/Johannesburg", "UTC",
)


@functools.cache
def listed_zones() -> tuple[str, ...]:
    """The zones the picker lists: tzdata's zone.tab (one name per place), without legacy aliases like
    US/Eastern or Asia/Calcutta and without Etc/GMT+5, whose sign is the reverse of what people expect."""
    table = (importlib.resources.files("tzdata") / "zoneinfo" / "zone.tab").read_text(encoding="utf-8")
    names = {line.split("\t")[2] for line in table.splitlines() if line and not line.startswith("#")}
    return tuple(sorted((names & timezone_names()) - set(COMMON_ZONES)))


def _zone_label(name: str) -> str:
    return name.replace("_", " ")


def timezone_choices() -> dict[str, list[tuple[str, str]]]:
    return {
        "Common": [(name, _zone_label(name)) for name in COMMON_ZONES],
        "All timezones": [(name, _zone_label(name)) for name in listed_zones()],
    }


class TimezoneField(SelectField):
    """A select of IANA zones; the browser's zone is filled in by static/js/app.js."""

    def __init__(self, label: str = "Timezone", **kwargs):
        kwargs.setdefault("validators", [InputRequired(message="Choose a timezone.")])
        super().__init__(label, choices=timezone_choices, default="UTC", **kwargs)

    def pre_validate(self, form) -> None:
        # A set look-up instead of WTForms' walk through 400 choices. Every IANA name is accepted (a member
        # may have an older alias saved), though the list shows only current ones.
        if self.data not in timezone_names():
            raise ValidationError("Choose a timezone from the list.")

    def iter_groups(self):
        groups = list(super().iter_groups())
        shown = set(COMMON_ZONES) | set(listed_zones())
        if self.data and self.data in timezone_names() and self.data not in shown:
            # A saved alias stays visible and selected, so saving the form never changes the zone silently.
            groups.insert(0, ("Your current timezone", [Choice(self.data, _zone_label(self.data), True, {})]))
        return groups


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
    role = SelectField("Site role", choices=options((r.value, r.value.title()) for r in SiteRole))
    submit = SubmitField("Save role")


class CalendarFeedForm(FlaskForm):
    """A member's private calendar feed: neutral or full titles, RSVP'd meetings or all."""

    discreet = BooleanField(
        "Discreet titles",
        description="Your calendar shows \u201cGroup \u00b7 Tue 19:00\u201d and no details, so nothing on a lock "
        "screen or a shared calendar says what the meeting is.",
    )
    scope = RadioField(
        "Meetings in your calendar",
        choices=options([("rsvp", "The meetings you said you're going to"), ("all", "Every meeting of your groups")]),
        default="rsvp",
    )
    submit = SubmitField("Save calendar settings")


# --- groups and meetings -----------------------------------------------------------------------------------------

KIND_LABELS = {
    GroupKind.AFTERCARE: "Aftercare group",
    GroupKind.MEETUP: "Sober-community meetup",
    GroupKind.PEER_SUPPORT: "Peer support circle",
}
VISIBILITY_LABELS = {
    Visibility.PUBLIC: "Public: listed in the directory and calendar feeds",
    Visibility.UNLISTED: "Unlisted: anyone with the link can find it",
    Visibility.PRIVATE: "Private: only members (and people with an invite link) know it exists",
}
JOIN_POLICY_LABELS = {
    # Not "Open": that is the Meeting Guide type for meetings anyone may attend, a different thing.
    JoinPolicy.OPEN: "Anyone can join straight away",
    JoinPolicy.APPROVAL: "Approval: a facilitator approves each request",
    JoinPolicy.INVITE: "Invite: only through an invite link",
}
ONLINE_VISIBILITY_LABELS = {
    OnlineVisibility.EVERYONE: "Everyone who can see the meeting",
    OnlineVisibility.MEMBERS: "Members of the group",
    OnlineVisibility.RSVP: "Members who said they are coming",
}
# The Meeting Guide types offered as checkboxes; any other code can be typed under "Other tags".
COMMON_TYPES = ["O", "C", "W", "M", "BE", "LGBTQ", "Y", "X", "ASL", "CF", "D", "SP", "MED", "OUT"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NTH_LABELS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _choices(labels: dict) -> list[SelectChoice]:
    return options((key.value, label) for key, label in labels.items())


class GroupForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Give the group a name."), Length(max=120)])
    slug = StringField(
        "Web address",
        validators=[Optional(), Length(max=80)],
        description="The end of the group's address, e.g. thursday-circle. Leave empty to make one from the name.",
    )
    description = TextAreaField(
        "Description", validators=[Length(max=5000)],
        description="Plain text. Blank lines start new paragraphs; links become clickable.",
    )
    kind = RadioField("Kind of group", choices=_choices(KIND_LABELS), default=GroupKind.AFTERCARE.value)
    types = MultiCheckboxField(
        "Meeting types", choices=options((code, MEETING_GUIDE_TYPES[code]) for code in COMMON_TYPES)
    )
    other_tags = StringField(
        "Other tags", validators=[Length(max=500)],
        description="Separated by commas, e.g. \u201cwalking, family\u201d, or other Meeting Guide codes.",
    )
    visibility = RadioField(
        "Who can find it", choices=_choices(VISIBILITY_LABELS), default=Visibility.PUBLIC.value
    )
    join_policy = RadioField("Who can join", choices=_choices(JOIN_POLICY_LABELS), default=JoinPolicy.OPEN.value)
    timezone = TimezoneField("Timezone", description="Meetings use this timezone unless you say otherwise.")
    venue = StringField("Usual venue", validators=[Length(max=200)])
    address = StringField("Address", validators=[Length(max=300)])
    contact_note = TextAreaField(
        "Contact note for members", validators=[Length(max=2000)],
        description="Shown to members only, e.g. how to reach the facilitators.",
    )
    # Calendar feeds: a cancelled week shows as "Cancelled: ..." instead of disappearing.
    calendar_shows_cancellations = BooleanField(
        "Show cancelled meetings in calendars",
        description="Subscribers then see a cancelled week as \u201cCancelled: \u2026\u201d instead of it just "
        "disappearing. Google Calendar hides cancelled meetings either way.",
    )
    submit = SubmitField("Save group")

    def tags(self) -> list[str]:
        """Checked meeting types followed by the typed tags, as raw strings for the domain to clean."""
        typed = [part for part in (self.other_tags.data or "").split(",") if part.strip()]
        return [*(self.types.data or []), *typed]

    def spec(self) -> GroupSpec:
        """The group's details as typed, for the domain to clean (groups.clean_spec)."""
        return GroupSpec(
            name=self.name.data or "",
            slug=(self.slug.data or "").strip() or None,
            description=self.description.data or "",
            kind=self.kind.data,
            visibility=self.visibility.data,
            join_policy=self.join_policy.data,
            timezone=self.timezone.data,
            venue=self.venue.data or "",
            address=self.address.data or "",
            contact_note=self.contact_note.data or "",
            tags=tuple(self.tags()),
            calendar_shows_cancellations=bool(self.calendar_shows_cancellations.data),
        )

    def fill_from(self, group: Group) -> None:
        """Show an existing group in the form."""
        codes = [t.code for t in group.tags]
        self.types.data = [c for c in codes if c in COMMON_TYPES]
        self.other_tags.data = ", ".join(c for c in codes if c not in COMMON_TYPES)


class SeriesForm(FlaskForm):
    error_fields = {"recurrence": "frequency"}

    title = StringField("Title", validators=[DataRequired(message="Give the meeting a title."), Length(max=120)])
    description = TextAreaField("Description", validators=[Length(max=5000)])
    first_date = DateField("First date", validators=[InputRequired(message="Choose the date of the first meeting.")])
    start_time = TimeField("Starts at", validators=[InputRequired(message="Choose a start time.")])
    duration_minutes = IntegerField(
        "Length in minutes", default=60,
        validators=[InputRequired(message="Say how long the meeting lasts, in minutes.")],
    )
    timezone = TimezoneField("Timezone")
    frequency = RadioField(
        "Repeats",
        choices=options([
            (Frequency.ONCE.value, "Once"),
            (Frequency.WEEKLY.value, "Weekly, or every few weeks"),
            (Frequency.MONTHLY_WEEKDAY.value, "Monthly on a weekday (e.g. the first Monday)"),
            (Frequency.MONTHLY_DAY.value, "Monthly on a date (e.g. the 15th)"),
        ]),
        default=Frequency.WEEKLY.value,
    )
    interval = IntegerField("Every how many weeks or months", default=1, validators=[Optional()])
    weekdays = MultiCheckboxField(
        "On", choices=options(enumerate(WEEKDAYS)), coerce=int, validate_choice=True
    )
    nth = SelectField("Which", choices=options(NTH_LABELS.items()), coerce=int, default=1)
    weekday = SelectField("Weekday", choices=options(enumerate(WEEKDAYS)), coerce=int, default=0)
    month_day = SelectField(
        "Day of the month", choices=options([*((d, str(d)) for d in range(1, 32)), (-1, "Last day")]),
        coerce=int, default=1,
        description="Months without that day (e.g. the 31st) are skipped, as in every calendar app.",
    )
    ends = RadioField(
        "Ends", choices=options([("never", "Never"), ("on", "On a date"), ("after", "After a number of meetings")]),
        default="never",
    )
    until = DateField("Last date", validators=[Optional()])
    count = IntegerField("Number of meetings", validators=[Optional()])
    venue = StringField("Venue", validators=[Length(max=200)])
    address = StringField("Address", validators=[Length(max=300)])
    location_notes = TextAreaField("Notes about the place", validators=[Length(max=2000)])
    online_url = StringField("Online meeting link", validators=[Length(max=500)])
    online_phone = StringField("Dial-in phone", validators=[Length(max=50)])
    online_notes = TextAreaField("Notes about joining online", validators=[Length(max=2000)])
    online_visibility = RadioField(
        "Who sees the online link", choices=_choices(ONLINE_VISIBILITY_LABELS),
        default=OnlineVisibility.MEMBERS.value,
    )
    capacity = IntegerField(
        "Seats", validators=[Optional()], description="Leave empty when there is no limit.",
    )
    submit = SubmitField("Save meeting")

    def recurrence(self) -> Recurrence:
        """The recurrence the form describes (the domain validates it)."""
        freq = Frequency(self.frequency.data)
        ends = {
            "until": self.until.data if self.ends.data == "on" else None,
            "count": self.count.data if self.ends.data == "after" else None,
        }
        if self.ends.data == "on" and self.until.data is None:
            raise DomainError("Choose the last date, or choose another way to end.", field="until")
        if self.ends.data == "after" and not self.count.data:
            raise DomainError("Say after how many meetings it ends.", field="count")
        if freq == Frequency.ONCE:
            return Recurrence(freq)
        # Empty means every week; 0 or less is passed on so the domain can refuse it with a reason.
        interval = 1 if self.interval.data is None else self.interval.data
        if freq == Frequency.WEEKLY:
            if not self.weekdays.data:
                raise DomainError("Choose at least one weekday.", field="weekdays")
            return Recurrence(freq, interval=interval, weekdays=tuple(self.weekdays.data), **ends)
        if freq == Frequency.MONTHLY_WEEKDAY:
            return Recurrence(freq, interval=interval, nth=self.nth.data, weekday=self.weekday.data, **ends)
        return Recurrence(freq, interval=interval, month_day=self.month_day.data, **ends)

    def to_spec(self) -> SeriesSpec:
        """The series the form describes, as the scheduling domain takes it."""
        return SeriesSpec(
            title=self.title.data or "",
            description=self.description.data or "",
            first_date=self.first_date.data,
            start_time=self.start_time.data,
            duration_minutes=self.duration_minutes.data,
            timezone=self.timezone.data,
            recurrence=self.recurrence(),
            venue=self.venue.data or "",
            address=self.address.data or "",
            location_notes=self.location_notes.data or "",
            online_url=(self.online_url.data or "").strip(),
            online_phone=self.online_phone.data or "",
            online_notes=self.online_notes.data or "",
            online_visibility=OnlineVisibility(self.online_visibility.data),
            capacity=self.capacity.data,
        )

    def fill_from(self, spec: SeriesSpec) -> None:
        """Show an existing series in the form."""
        rec = spec.recurrence
        for name in ("title", "description", "first_date", "start_time", "duration_minutes", "timezone", "venue",
                     "address", "location_notes", "online_url", "online_phone", "online_notes", "capacity"):
            getattr(self, name).data = getattr(spec, name)
        self.online_visibility.data = spec.online_visibility.value
        self.frequency.data = rec.frequency.value
        self.interval.data = rec.interval
        self.weekdays.data = list(rec.weekdays)
        self.nth.data = rec.nth or 1
        self.weekday.data = rec.weekday or 0
        self.month_day.data = rec.month_day or 1
        self.ends.data = "on" if rec.until else "after" if rec.count else "never"
        self.until.data = rec.until
        self.count.data = rec.count


class CancelOccurrenceForm(FlaskForm):
    note = TextAreaField(
        "Reason shown to members", validators=[Length(max=500)],
        description="For example: \u201cNo meeting over the holidays.\u201d",
    )
    submit = SubmitField("Cancel this meeting")


class MoveOccurrenceForm(FlaskForm):
    error_fields = {"new_start_local": "date", "tz": "date"}

    date = DateField("New date", validators=[InputRequired(message="Choose the new date.")])
    start_time = TimeField("New start time", validators=[InputRequired(message="Choose the new start time.")])
    duration_minutes = IntegerField("Length in minutes", validators=[Optional()])
    venue = StringField("Venue (leave empty to keep the usual one)", validators=[Length(max=200)])
    address = StringField("Address (leave empty to keep the usual one)", validators=[Length(max=300)])
    note = TextAreaField("Note shown to members", validators=[Length(max=500)])
    # The wall time the facilitator was shown and accepted for a time the clocks skip ("2027-03-28T02:30").
    confirm_start = HiddenField()
    submit = SubmitField("Move this meeting")


class MemberRoleForm(FlaskForm):
    role = SelectField("Role", choices=options((r.value, r.value.title()) for r in MemberRole))
    submit = SubmitField("Save role")


class InviteJoinForm(FlaskForm):
    token = HiddenField()
    submit = SubmitField("Join the group")


class CheckInForm(FlaskForm):
    code = StringField(
        "Check-in code", validators=[DataRequired(message="Enter the code."), Length(max=12)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "inputmode": "text"},
    )
    submit = SubmitField("I'm here")


class ProofForm(FlaskForm):
    shown_name = StringField(
        "Name to show", validators=[DataRequired(message="Enter the name the proof should show."), Length(max=60)],
        description="For example your full name, if the person asking for proof needs it. Only this proof shows it.",
    )
    group = SelectField("Meetings of", choices=[], validate_choice=True)
    neutral_label = StringField(
        "Describe the meetings as", validators=[Length(max=120)],
        description="Leave empty to use the group's name, or write a neutral label such as "
        "\u201cWeekly support group\u201d.",
    )
    submit = SubmitField("Make a proof")
