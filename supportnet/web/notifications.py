"""Notifications: the in-app inbox, preferences, the emailed "stop these" and "can't make it" links, and
facilitators' announcements to their group.

Emailed links carry a signed token and only ever show a confirmation page on GET (mail scanners follow
links); the change is a POST with CSRF from that page. A tampered link gets a 400 page and changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, SubmitField, TextAreaField, TimeField
from wtforms.validators import InputRequired, Length, Optional

from supportnet import memberships, rsvps, visibility
from supportnet.checkins.records import member_zone
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import (
    Channel,
    Notification,
    NotificationKind,
)
from supportnet.notifications import announcements, compose, hooks, links
from supportnet.notifications import inbox as notif_inbox
from supportnet.notifications import preferences as notif_preferences
from supportnet.notifications.preferences import KIND_LABELS, REMINDER_CHOICES, Preferences
from supportnet.web.access import get_group_for, viewer
from supportnet.web.filters import viewer_zone
from supportnet.web.forms import WEEKDAYS, MultiCheckboxField, options
from supportnet.web.helpers import put_error
from supportnet.web.security import safe_next

bp = Blueprint("notifications", __name__)

CHANNEL_LABELS = {Channel.EMAIL: "Email", Channel.IN_APP: "In SupportNet"}
# Facilitators' kinds are shown only to people who can facilitate.
FACILITATOR_KINDS = (NotificationKind.JOIN_REQUEST, NotificationKind.DIGEST)
# Program coordinators' kinds are shown only to coordinators.
COORDINATOR_KINDS = (NotificationKind.REFERRAL_NUDGE,)


def _kind_field(kind: NotificationKind, channel: Channel) -> str:
    return f"{kind.value}__{channel.value}"


class PreferencesForm(FlaskForm):
    reminder_offsets = MultiCheckboxField(
        "Remind me before meetings I'm going to",
        choices=options(REMINDER_CHOICES.items()),
        description="None ticked: no reminders.",
    )
    quiet_hours = BooleanField("Quiet hours: hold emails back at night")
    quiet_start = TimeField("From", validators=[Optional()], default=None)
    quiet_end = TimeField("Until", validators=[Optional()], default=None)
    prompt_days = MultiCheckboxField("Check-in prompt on", choices=options(enumerate(WEEKDAYS)))
    prompt_time = TimeField("at", validators=[InputRequired(message="Choose a time.")])
    missed_after = SelectField(
        "\u201cWe missed you\u201d after this many missed meetings in a row",
        choices=options((n, str(n)) for n in range(2, 11)),
        default="3",
    )
    descriptive_subjects = BooleanField(
        "Name the group and the meeting in email subjects",
        description="Off by default: subjects then say only \u201cReminder: Tuesday 19:00\u201d, so nothing on a "
        "lock screen or a shared screen says what the meeting is.",
    )
    submit = SubmitField("Save preferences")


for _kind in NotificationKind:
    for _channel in Channel:
        setattr(PreferencesForm, _kind_field(_kind, _channel), BooleanField(CHANNEL_LABELS[_channel]))


def _fill(form: PreferencesForm, prefs: Preferences) -> None:
    form.reminder_offsets.data = [str(m) for m in prefs.reminder_offsets]
    form.quiet_hours.data = prefs.quiet_start is not None
    form.quiet_start.data = prefs.quiet_start
    form.quiet_end.data = prefs.quiet_end
    form.prompt_days.data = [str(d) for d in sorted(prefs.prompt_days)]
    form.prompt_time.data = prefs.prompt_time
    form.missed_after.data = str(prefs.missed_after)
    form.descriptive_subjects.data = prefs.descriptive_subjects
    for kind in NotificationKind:
        for channel in Channel:
            getattr(form, _kind_field(kind, channel)).data = prefs.wants(kind, channel)


def _read(form: PreferencesForm, current: Preferences, shown: list[NotificationKind]) -> Preferences:
    channels = {}
    for kind in NotificationKind:
        if kind not in shown:
            # Not on the page (another role's kinds, kinds with no choice here): keep as is, rather than read the
            # absent checkboxes as "off".
            channels[kind] = frozenset(current.channels_for(kind))
            continue
        channels[kind] = frozenset(c for c in Channel if getattr(form, _kind_field(kind, c)).data)
    quiet = bool(form.quiet_hours.data)
    if quiet and (form.quiet_start.data is None or form.quiet_end.data is None):
        raise DomainError("Give quiet hours both a start and an end.", field="quiet_start")
    return Preferences(
        channels=channels,
        reminder_offsets=tuple(int(m) for m in form.reminder_offsets.data or []),
        quiet_start=form.quiet_start.data if quiet else None,
        quiet_end=form.quiet_end.data if quiet else None,
        prompt_days=frozenset(int(d) for d in form.prompt_days.data or []),
        prompt_time=form.prompt_time.data,
        missed_after=int(form.missed_after.data),
        descriptive_subjects=bool(form.descriptive_subjects.data),
    )


# --- the inbox ---


@bp.get("/notifications")
@login_required
def inbox():
    user = current_user._get_current_object()
    rows = notif_inbox.inbox(user)
    group_by_id = notif_inbox.inbox_groups(rows)
    now = now_utc()
    items = [(n, compose.inbox_item(n, group_by_id, viewer_zone(), now)) for n in rows]
    return render_template("notifications/inbox.html", items=items, unread=sum(1 for n in rows if not n.read_at))


@bp.post("/notifications/read")
@login_required
def read_all():
    notif_inbox.mark_read(current_user._get_current_object(), now_utc())
    db.session.commit()
    return redirect(url_for("notifications.inbox"))


@bp.post("/notifications/<int:notification_id>/open")
@login_required
def open_item(notification_id: int):
    n = db.session.get(Notification, notification_id)
    if n is None or n.user_id != current_user.id or n.channel != Channel.IN_APP:
        abort(404)
    notif_inbox.mark_read(current_user._get_current_object(), now_utc(), n.id)
    db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("notifications.inbox")))


# --- preferences ---


@bp.route("/notifications/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    user = current_user._get_current_object()
    current = notif_preferences.preferences(user)
    # Site facilitators, and members who facilitate a group, see the facilitators' kinds.
    facilitator = visibility.is_facilitator_anywhere(user)
    coordinator = visibility.coordinates_a_program(user)
    kinds = [k for k in KIND_LABELS if (facilitator or k not in FACILITATOR_KINDS)
             and (coordinator or k not in COORDINATOR_KINDS)]
    form = PreferencesForm()
    if request.method == "GET":
        _fill(form, current)
    if form.validate_on_submit():
        try:
            hooks.save_preferences(user, _read(form, current, kinds), now_utc())
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
        else:
            db.session.commit()
            flash("Your notification preferences are saved.", "success")
            return redirect(url_for("notifications.preferences"))
    return render_template(
        "notifications/preferences.html", form=form, kinds=kinds, labels=KIND_LABELS, channels=list(Channel),
        field_name=_kind_field, zone=user.timezone,
    ), 400 if form.errors or form.form_errors else 200


# --- emailed links ---


def _invalid_link():
    return render_template(
        "notifications/invalid_link.html",
        message="This link is not valid. It may have been changed or cut off by your email program. "
        "Nothing was changed.",
    ), 400


@bp.route("/notifications/stop/<token>", methods=["GET", "POST"])
def stop(token: str):
    found = links.read_stop_token(token)
    if found is None:
        return _invalid_link()
    user, kind = found
    if request.method == "POST":
        hooks.stop_email(user, kind, now_utc())
        db.session.commit()
        return render_template("notifications/stopped.html", label=compose.STOP_LABELS[kind])
    return render_template("notifications/stop.html", label=compose.STOP_LABELS[kind])


@bp.route("/notifications/cant-make-it/<token>", methods=["GET", "POST"])
def cant_make_it(token: str):
    found = links.read_cant_make_it_token(token)
    if found is None:
        return _invalid_link()
    user, occ = found
    tz = member_zone(user)
    when = compose.when_long(occ.starts_at, occ.ends_at, tz)
    answer = rsvps.rsvp_for(occ, user)
    going = answer is not None and answer.status in rsvps.ACTIVE
    if request.method == "POST":
        if going:
            try:
                rsvps.cancel(occ, user, now_utc())
            except DomainError as exc:
                db.session.rollback()
                return render_template("notifications/cant_make_it.html", when=when, going=going,
                                       error=str(exc), done=False), 409
            db.session.commit()
        return render_template("notifications/cant_make_it.html", when=when, going=False, done=True,
                               error=None)
    return render_template("notifications/cant_make_it.html", when=when, going=going, done=False,
                           error=None)


# --- announcements ---


class AnnouncementForm(FlaskForm):
    subject = StringField("Subject (optional)", validators=[Length(max=announcements.ANNOUNCEMENT_SUBJECT_MAX)])
    body = TextAreaField(
        "Message",
        validators=[InputRequired(message="Write a message."), Length(max=announcements.ANNOUNCEMENT_BODY_MAX)],
        description="Every member of the group gets it, by email and in SupportNet, as each of them chose. "
        "Members' emails show it under a neutral subject unless they chose otherwise.",
    )
    nonce = HiddenField()
    submit = SubmitField("Send to the group")


@bp.route("/groups/<slug>/announce", methods=["GET", "POST"])
@login_required
def announce(slug: str):
    group = get_group_for(slug, manage=True)
    form = AnnouncementForm()
    if request.method == "GET":
        form.nonce.data = announcements.new_nonce()
    if form.validate_on_submit():
        try:
            count = announcements.announce(group, viewer(), form.subject.data or "", form.body.data or "",
                                           now_utc(), form.nonce.data)
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
        else:
            db.session.commit()
            flash(f"Your message is on its way to {count} member{'s' if count != 1 else ''}.", "success")
            return redirect(url_for("groups.show", slug=group.slug))
    return render_template("notifications/announce.html", form=form, group=group,
                           members=memberships.member_count(group) - 1), 400 if form.errors or form.form_errors else 200


# --- the unread count in the navigation ---


@bp.app_context_processor
def _unread():
    def unread_notifications() -> int:
        user = viewer()
        return notif_inbox.unread_count(user) if user is not None else 0

    return {"unread_notifications": unread_notifications}
