"""Check-ins: recording one, the member's history and chart, recovery date, sharing, export and deletion,
and a group's support page for its facilitators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import BooleanField, DateField, HiddenField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from supportnet import visibility
from supportnet.checkins import export as checkins_export
from supportnet.checkins import history as checkins_history
from supportnet.checkins import patterns as checkins_patterns
from supportnet.checkins import records as checkins_records
from supportnet.checkins import recovery as checkins_recovery
from supportnet.checkins import sharing as checkins_sharing
from supportnet.checkins import support as checkins_support
from supportnet.checkins.history import DayPoint, HistoryFilter
from supportnet.checkins.records import CheckInSpec
from supportnet.clock import now_utc
from supportnet.db import flush_erasure
from supportnet.errors import DomainError, Forbidden, NotFound
from supportnet.extensions import db
from supportnet.models import Audience, CheckIn, CheckinSharing, MeetingSeries, Occurrence, OccurrenceStatus, User
from supportnet.supporters import alerts as supporter_alerts
from supportnet.web.access import get_group_for, viewer
from supportnet.web.forms import MultiCheckboxField, options
from supportnet.web.helpers import put_error
from supportnet.web.privacy import fresh_login_required

bp = Blueprint("checkins", __name__)


# --- forms -------------------------------------------------------------------------------------------------------


def _int_or_none(value) -> int | None:
    # Out-of-range or garbled values become None or stay numbers: the domain says what is wrong, in words.
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def scale_field(label: str, labels: dict[int, str], description: str = "", optional: bool = False) -> RadioField:
    """A row of tap-sized choices (mood, craving, energy, sleep); the domain checks the range."""
    # An optional scale gets a "Skip" choice, so that an answer can be taken back when editing.
    choices = [*labels.items(), ("", "Skip")] if optional else list(labels.items())
    return RadioField(
        label, choices=options(choices), coerce=_int_or_none, validate_choice=False, description=description
    )


class CheckInEntryForm(FlaskForm):
    mood = scale_field("How are you feeling?", checkins_records.MOOD_LABELS)
    craving = scale_field(
        "Craving", {n: str(n) for n in range(checkins_records.CRAVING_MIN, checkins_records.CRAVING_MAX + 1)},
        description="0 is none at all, 10 is overwhelming.",
    )
    energy = scale_field("Energy (optional)", checkins_records.ENERGY_LABELS, optional=True)
    sleep = scale_field("How did you sleep? (optional)", checkins_records.SLEEP_LABELS, optional=True)
    tags = MultiCheckboxField("What's going on? (optional)", choices=[], validate_choice=False)
    new_tags = StringField(
        "Your own tags (optional)", validators=[Length(max=300, message="Keep your tags shorter.")],
        description="Separated by commas, e.g. \u201cpayday, new job\u201d. Only you see them.",
        render_kw={"autocomplete": "off", "maxlength": 300},
    )
    note = TextAreaField(
        "Note (optional)", description=f"Up to {checkins_records.NOTE_MAX:,} characters. Stored encrypted.",
        render_kw={"maxlength": checkins_records.NOTE_MAX, "rows": 3},
    )
    share_note = BooleanField(
        "Share this note",
        description="Only with groups where you chose to share notes. Your notes are private otherwise.",
    )
    wants_support = BooleanField("I'd like support")
    day = DateField("Day", validators=[InputRequired(message="Choose the day this check-in is about.")])
    occurrence = HiddenField()
    timing = HiddenField()
    submit = SubmitField("Save check-in")

    def offer_tags(self, user: User) -> None:
        """The common tags and the member's own as checkboxes."""
        own = [(f"{checkins_records.OWN_TAG_PREFIX}{tag.id}", tag.label) for tag in checkins_records.own_tags(user)]
        self.tags.choices = options([*checkins_records.COMMON_TAGS.items(), *own])

    def to_spec(self, occ: Occurrence | None) -> CheckInSpec:
        """What the member entered, as the domain takes it."""
        return CheckInSpec(
            mood=self.mood.data, craving=self.craving.data, energy=self.energy.data, sleep=self.sleep.data,
            tags=list(self.tags.data or []),
            new_tags=[part for part in (self.new_tags.data or "").split(",") if part.strip()],
            note=self.note.data or "", share_note=self.share_note.data, wants_support=self.wants_support.data,
            day=self.day.data, occurrence=occ, timing=self.timing.data or None,
        )

    def fill_from(self, checkin: CheckIn) -> None:
        """Show an existing check-in in the form."""
        for name in ("mood", "craving", "energy", "sleep", "note", "share_note", "wants_support"):
            getattr(self, name).data = getattr(checkin, name)
        self.day.data = checkin.local_date
        self.tags.data = checkins_records.tag_values(checkin)


class DeleteAllForm(FlaskForm):
    confirm = StringField(
        "Type DELETE to confirm", validators=[InputRequired(message="Type DELETE to confirm.")],
        render_kw={"autocomplete": "off", "autocapitalize": "characters"},
    )
    submit = SubmitField("Delete all my check-ins")


class RecoveryForm(FlaskForm):
    recovery_date = DateField("Recovery date", validators=[Optional()])
    save = SubmitField("Save")
    restart = SubmitField("Count from today")
    clear = SubmitField("Remove my recovery date")


class SharingForm(FlaskForm):
    level = RadioField(
        "Your check-ins",
        choices=options((level.value, label) for level, label in checkins_sharing.SHARING_LABELS.items()),
        default=CheckinSharing.NONE.value,
    )
    recovery = BooleanField("My day count (from my recovery date)")
    submit = SubmitField("Save")


# --- loading, with authorisation ---------------------------------------------------------------------------------


def me() -> User:
    """The signed-in member (the views below all require one)."""
    user = viewer()
    if user is None:  # login_required runs first; this keeps type checkers and future edits honest
        abort(401)
    return user


def get_checkin_for(checkin_id: int) -> CheckIn:
    """The viewer's own check-in (404 for anybody else's, exactly as for one that does not exist)."""
    checkin = checkins_records.checkin_of(me(), checkin_id)
    if checkin is None:
        abort(404)
    return checkin


def _meeting_from(raw: str | None) -> Occurrence | None:
    """The meeting a check-in form points at, if it exists and the viewer may see it."""
    occurrence_id = _int_or_none(raw)
    # Found by the form fuzzing: an id past the database's integer range is no meeting, not a 500.
    if occurrence_id is None or not 0 < occurrence_id < 2**63:
        return None
    occ = db.session.scalar(
        select(Occurrence)
        .options(joinedload(Occurrence.series).joinedload(MeetingSeries.group))
        .where(Occurrence.id == occurrence_id)
    )
    if occ is None or not visibility.visible_to(occ.series.group, me(), None, now_utc()):
        return None
    return occ


# --- recording ---------------------------------------------------------------------------------------------------


@bp.route("/me/checkins/new", methods=["GET", "POST"])
@login_required
def new():
    user, now = me(), now_utc()
    form = CheckInEntryForm()
    form.offer_tags(user)
    occ = _meeting_from(request.values.get("occurrence"))
    if request.method == "GET":
        form.day.data = checkins_records.local_today(user, now)
        if occ is not None:
            form.occurrence.data = str(occ.id)
            form.timing.data = request.args.get("when") if request.args.get("when") in ("before", "after") else ""
    if form.validate_on_submit():
        try:
            if form.occurrence.data and occ is None:
                raise DomainError("That meeting isn't available to you.")
            checkin = checkins_records.record(user, form.to_spec(occ), now)
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
        else:
            db.session.commit()
            return redirect(url_for("checkins.saved", checkin_id=checkin.id))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("checkins/new.html", form=form, occ=occ, timing=form.timing.data), status


@bp.get("/me/checkins/<int:checkin_id>/saved")
@login_required
def saved(checkin_id: int):
    checkin = get_checkin_for(checkin_id)
    user, now = me(), now_utc()
    support = checkins_records.needs_support_response(checkin)
    return render_template(
        "checkins/saved.html", checkin=checkin, support=support, streak=checkins_history.streak(user, now),
        reach_out=checkins_sharing.reach_out_options(user, now) if support else [],
        crisis_resources=current_app.config["CRISIS_RESOURCES"], moods=checkins_records.MOOD_LABELS,
        tags=checkins_records.tag_labels(checkin),
    )


@bp.route("/me/checkins/<int:checkin_id>", methods=["GET", "POST"])
@login_required
def edit(checkin_id: int):
    checkin = get_checkin_for(checkin_id)
    form = CheckInEntryForm()
    form.offer_tags(me())
    if request.method == "GET":
        form.fill_from(checkin)
    if form.validate_on_submit():
        try:
            checkins_records.update(checkin, form.to_spec(None), now_utc())
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
            checkin = get_checkin_for(checkin_id)
        else:
            db.session.commit()
            flash("Your check-in is saved.", "success")
            return redirect(url_for("checkins.history"))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("checkins/edit.html", form=form, checkin=checkin,
                           moods=checkins_records.MOOD_LABELS), status


@bp.post("/me/checkins/<int:checkin_id>/delete")
@login_required
def delete(checkin_id: int):
    checkin = get_checkin_for(checkin_id)
    checkins_records.delete_checkin(checkin)
    db.session.commit()
    flash("The check-in is deleted.", "info")
    return redirect(url_for("checkins.history"))


@bp.post("/me/checkins/delete-all")
@login_required
# Erasing everything at once is as final as deleting the account: the same recent "confirm it's you" first.
@fresh_login_required(back="checkins.history")
def delete_all():
    form = DeleteAllForm()
    if not form.validate_on_submit() or (form.confirm.data or "").strip().lower() != "delete":
        flash("Nothing was deleted: type DELETE in the box to confirm.", "error")
        return redirect(url_for("checkins.history", _anchor="delete-all")), 303
    deleted = checkins_records.delete_all(me())
    db.session.commit()
    flush_erasure(db.engine)  # the deleted notes and answers leave the WAL too
    flash(f"All your check-ins are deleted ({deleted.checkins}), and your measure results ({deleted.measures}).",
          "info")
    return redirect(url_for("checkins.history"))


# --- history, chart and patterns ---------------------------------------------------------------------------------


PERIOD_CHOICES = {"30": 30, "90": 90, "365": 365, "all": None}


def _history_filter() -> tuple[HistoryFilter, str]:
    args = request.args
    period = args.get("days") if args.get("days") in PERIOD_CHOICES else "30"
    tag = args.get("tag") or None
    return HistoryFilter(
        days=PERIOD_CHOICES[period], tag=tag[:20] if tag else None,
        support_only=args.get("support") == "1", meetings_only=args.get("meetings") == "1",
    ), period


@bp.get("/me/checkins")
@login_required
def history():
    user, now = me(), now_utc()
    filters, period = _history_filter()
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    today = checkins_records.local_today(user, now)
    chart_days = filters.days or 365
    start = today - timedelta(days=chart_days - 1)
    points = checkins_history.daily_points(user, start, today)
    return render_template(
        "checkins/history.html",
        page=checkins_history.history(user, filters, now, page), filters=filters, period=period,
        chart=build_chart(points, start, today, "trend"), streak=checkins_history.streak(user, now),
        chart_title="Mood and craving, " + ("the last year" if chart_days == 365 else f"the last {chart_days} days"),
        patterns=checkins_patterns.patterns(user, checkins_history.period_start(user, now, filters.days), today),
        recovery=checkins_recovery.recovery(user, now), own_tags=checkins_records.own_tags(user),
        common_tags=checkins_records.COMMON_TAGS,
        moods=checkins_records.MOOD_LABELS, tag_labels=checkins_records.tag_labels,
        delete_all_form=DeleteAllForm(formdata=None),
        sharing=checkins_sharing.shared_groups(user, now),
    )


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Panel:
    name: str  # "mood" or "craving": the CSS class and the words
    title: str
    top: float
    height: float
    ticks: list[tuple[float, str]]
    line: str  # SVG polyline points
    dots: list[Dot]


@dataclass(frozen=True)
class Chart:
    id: str
    width: int
    height: int
    left: float
    right: float
    panels: list[Panel]
    x_ticks: list[tuple[float, str, str]]  # x, label, text-anchor
    points: list[DayPoint]
    start: date
    end: date
    dot_radius: float
    summary: str


CHART_WIDTH, PANEL_HEIGHT, LEFT, RIGHT, TOP, GAP, BOTTOM = 400, 90, 30, 8, 18, 34, 20


def build_chart(points: list[DayPoint], start: date, end: date, chart_id: str) -> Chart:
    """Server-side SVG geometry for mood (1-5) and craving (0-10) per day; no script, no third party."""
    span = max((end - start).days, 1)

    def x_of(day: date) -> float:
        return chart_x(day, start, end)

    panels = []
    for index, (name, title, low, high, tick_values) in enumerate([
        ("mood", "Mood (1 very low, 5 very good)", 1, 5, [1, 3, 5]),
        ("craving", "Craving (0 none, 10 overwhelming)", 0, 10, [0, 5, 10]),
    ]):
        top = TOP + index * (PANEL_HEIGHT + GAP)

        def y_of(value: float, top=top, low=low, high=high) -> float:
            return round(top + PANEL_HEIGHT - (value - low) / (high - low) * PANEL_HEIGHT, 1)

        dots = [
            Dot(x_of(p.day), y_of(getattr(p, name)), f"{p.day:%a %-d %b}: {name} {getattr(p, name):.1f}")
            for p in points
        ]
        panels.append(Panel(
            name, title, top, PANEL_HEIGHT, [(y_of(v), str(v)) for v in tick_values],
            " ".join(f"{d.x},{d.y}" for d in dots), dots,
        ))
    height = TOP + 2 * PANEL_HEIGHT + GAP + BOTTOM
    return Chart(
        id=chart_id, width=CHART_WIDTH, height=height, left=LEFT, right=CHART_WIDTH - RIGHT, panels=panels,
        x_ticks=x_ticks(start, end),
        points=points, start=start, end=end,
        dot_radius=3 if span <= 95 else 1.6, summary=_chart_summary(points, span + 1),
    )


def chart_x(day: date, start: date, end: date) -> float:
    """Where a day falls on the x axis of a chart from `start` to `end` (shared by the measures' trend)."""
    return round(LEFT + (day - start).days / max((end - start).days, 1) * (CHART_WIDTH - LEFT - RIGHT), 1)


def x_ticks(start: date, end: date) -> list[tuple[float, str, str]]:
    """The x axis labels of a chart from `start` to `end`: position, words and text anchor."""
    return [(chart_x(day, start, end), label, _anchor(chart_x(day, start, end))) for day, label in _x_ticks(start, end)]


def _anchor(x: float) -> str:
    # Labels at either end are anchored inwards so that none is cut off at the edge of the picture.
    if x > CHART_WIDTH - RIGHT - 16:
        return "end"
    if x < LEFT + 16:
        return "start"
    return "middle"


def _x_ticks(start: date, end: date) -> list[tuple[date, str]]:
    span = (end - start).days
    if span > 95:
        first = date(start.year, start.month, 1)
        months = []
        while first <= end:
            if first >= start:
                months.append((first, f"{first:%b}"))
            first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return months
    step = 7 if span <= 31 else 14
    ticks, day = [], end
    while day >= start:
        ticks.append((day, f"{day:%-d %b}"))
        day -= timedelta(days=step)
    return list(reversed(ticks))


def _chart_summary(points: list[DayPoint], days: int) -> str:
    if not points:
        return f"No check-ins in the last {days} days."
    mood = sum(p.mood for p in points) / len(points)
    craving = sum(p.craving for p in points) / len(points)
    return (
        f"{len(points)} of the last {days} days have a check-in. Average mood {mood:.1f} of 5, "
        f"average craving {craving:.1f} of 10."
    )


def shared_points(shared: list[checkins_support.SharedCheckIn]) -> list[DayPoint]:
    """Per-day averages of what a member shared, for the facilitator's small chart."""
    by_day: dict[date, list[checkins_support.SharedCheckIn]] = {}
    for checkin in shared:
        by_day.setdefault(checkin.day, []).append(checkin)
    return [
        DayPoint(day, sum(c.mood for c in items) / len(items), sum(c.craving for c in items) / len(items), len(items))
        for day, items in sorted(by_day.items())
    ]


# --- export ------------------------------------------------------------------------------------------------------


def _download(body: str, mimetype: str, extension: str) -> Response:
    name = f"checkins-{checkins_records.local_today(me(), now_utc()).isoformat()}.{extension}"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/me/checkins/export.csv")
@login_required
@fresh_login_required()  # exporting health data needs a recent "confirm it's you"
def export_csv():
    return _download(checkins_export.export_csv(me()), "text/csv", "csv")


@bp.get("/me/checkins/export.json")
@login_required
@fresh_login_required()  # exporting health data needs a recent "confirm it's you"
def export_json():
    return _download(checkins_export.export_json(me(), now_utc()), "application/json", "json")


# --- recovery date -----------------------------------------------------------------------------------------------


@bp.route("/me/recovery", methods=["GET", "POST"])
@login_required
def recovery():
    user, now = me(), now_utc()
    form = RecoveryForm()
    if request.method == "GET":
        form.recovery_date.data = user.recovery_date
    if form.validate_on_submit():
        if form.clear.data:
            day = None
        elif form.restart.data:
            day = checkins_records.local_today(user, now)
        else:
            day = form.recovery_date.data
        try:
            if day is None and not form.clear.data:
                raise DomainError("Choose a date, or remove your recovery date.", field="recovery_date")
            checkins_recovery.set_recovery_date(user, day, now)
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
        else:
            db.session.commit()
            flash("Saved.", "success")
            return redirect(url_for("checkins.recovery"))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("checkins/recovery.html", form=form, recovery=checkins_recovery.recovery(user, now)), status


class MeasureSharingForm(FlaskForm):
    recipient = HiddenField()
    level = RadioField(
        "Your measures",
        choices=options((level.value, label) for level, label in checkins_sharing.MEASURE_LABELS.items()),
        default=checkins_sharing.MeasureLevel.NONE.value,
    )
    submit = SubmitField("Save")


# --- sharing -----------------------------------------------------------------------------------------------------


def _sharing_form(membership, shares: checkins_sharing.GroupSharing, formdata=None) -> SharingForm:
    prefix = f"m{membership.id}"
    if formdata is not None:
        return SharingForm(prefix=prefix)
    return SharingForm(prefix=prefix, formdata=None, level=shares.level.value, recovery=shares.recovery_date)


@bp.route("/me/sharing", methods=["GET", "POST"])
@login_required
def sharing():
    user, now = me(), now_utc()
    memberships = checkins_sharing.sharing_memberships(user)
    shares = checkins_sharing.sharing_by_group(user, now)
    none = checkins_sharing.GroupSharing()
    forms = {m.id: _sharing_form(m, shares.get(m.group_id, none)) for m in memberships}
    status = 200
    if request.method == "POST":
        chosen = next((m for m in memberships if str(m.id) == request.form.get("membership")), None)
        if chosen is None:
            flash("You are no longer a member of that group.", "error")
            return redirect(url_for("checkins.sharing")), 303
        form = forms[chosen.id] = _sharing_form(chosen, none, request.form)
        try:
            if not form.validate_on_submit():
                raise DomainError("Choose what to share.", field="level")
            checkins_sharing.set_sharing(chosen, form.level.data, form.recovery.data, now)
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
            status = 400
        else:
            db.session.commit()
            flash(f"Saved what {chosen.group.name} sees.", "success")
            return redirect(url_for("checkins.sharing"))
    return _sharing_page(user, memberships, forms, status)


def _sharing_page(user: User, memberships, forms, status: int = 200, measure_forms=None):
    now = now_utc()
    places = checkins_sharing.measure_places(user, now)
    measure_forms = dict(measure_forms or {})
    for place in places:
        if place.key not in measure_forms:
            measure_forms[place.key] = MeasureSharingForm(
                prefix=f"ms-{place.key.replace(':', '-')}", formdata=None, recipient=place.key,
                level=place.level.value)
    return render_template("checkins/sharing.html", memberships=memberships, forms=forms,
                           shared_days=checkins_support.SHARED_DAYS,
                           readers=checkins_sharing.who_can_see(memberships),
                           measure_places=places, measure_forms=measure_forms,
                           everything=checkins_sharing.everything_shared(user, now)), status


@bp.post("/me/sharing/measures")
@login_required
def measure_sharing():
    """Choose what one group's facilitators or one program's coordinators see of the member's measures."""
    user, now = me(), now_utc()
    key = request.form.get("recipient", "")
    form = MeasureSharingForm(prefix=f"ms-{key.replace(':', '-')}")
    try:
        if not form.validate_on_submit() or form.recipient.data != key:
            raise DomainError("Choose what to share.", field="level")
        place = checkins_sharing.set_measure_sharing(user, key, form.level.data, now)
    except DomainError as exc:
        db.session.rollback()
        put_error(form, exc)
        if all(p.key != key for p in checkins_sharing.measure_places(user, now)):
            flash(str(exc), "error")  # no form on the page to carry the message
        memberships = checkins_sharing.sharing_memberships(user)
        shares = checkins_sharing.sharing_by_group(user, now)
        none = checkins_sharing.GroupSharing()
        forms = {m.id: _sharing_form(m, shares.get(m.group_id, none)) for m in memberships}
        return _sharing_page(user, memberships, forms, 400, {key: form})
    db.session.commit()
    flash(f"Saved what {place.name} see of your measures.", "success")
    return redirect(url_for("checkins.sharing"))


@bp.post("/me/sharing/consents/<int:consent_id>/revoke")
@login_required
def revoke_consent(consent_id: int):
    """End one consent from the "Everything you share" list at once; another member's consent is not found."""
    try:
        ended = checkins_sharing.revoke_consent(me(), consent_id, now_utc())
    except NotFound:
        abort(404)
    if ended is None:
        flash("That had already ended: nobody sees it.", "info")
        return redirect(url_for("checkins.sharing")), 303
    if ended.audience == Audience.SUPPORTER:  # an alert rule lives only as long as its consent
        supporter_alerts.forget_rules_without_consent(me(), now_utc())
    db.session.commit()
    flash("Done: they no longer see it.", "success")
    return redirect(url_for("checkins.sharing"))


@bp.route("/notifications/stop-sharing/<token>", methods=["GET", "POST"])
def stop_sharing(token: str):
    """The one-click "stop sharing" of the notice that someone new can see what a member shares: a signed link,
    a confirmation page and a POST, working signed out like the other links in emails."""
    membership = checkins_sharing.membership_for_stop_token(token)
    if membership is None:
        return render_template("auth/invalid_link.html",
                               message="This link is invalid, or you are no longer a member of that group."), 400
    if request.method == "POST":
        checkins_sharing.stop_sharing(membership, now_utc())
        db.session.commit()
        return render_template("checkins/stop_sharing.html", done=True)
    return render_template("checkins/stop_sharing.html", done=False)


# --- a group's support page, for its facilitators ----------------------------------------------------------------


@bp.get("/groups/<slug>/support")
@login_required
def group_support(slug: str):
    group = get_group_for(slug, manage=True)
    now = now_utc()
    try:
        overview = checkins_support.support_overview(group, me(), now)
    except Forbidden:
        abort(403)
    charts = {
        member.user_id: build_chart(
            shared_points(member.checkins), overview.since, checkins_records.local_today(me(), now),
            f"member-{member.user_id}"
        )
        for member in overview.members
    }
    return render_template(
        "checkins/support.html", group=group, overview=overview, charts=charts, moods=checkins_records.MOOD_LABELS,
        minimum=checkins_support.AGGREGATE_MIN, shared_days=checkins_support.SHARED_DAYS, Sharing=CheckinSharing,
    )


def occurrence_link_state(occ: Occurrence, now: datetime) -> str | None:
    """"before" or "after" while a meeting's check-in link is offered (2 hours before to 6 hours after)."""
    if occ.status == OccurrenceStatus.CANCELLED:
        return None
    if occ.starts_at - timedelta(hours=2) <= now < occ.starts_at:
        return "before"
    if occ.starts_at <= now <= occ.ends_at + timedelta(hours=6):
        return "after"
    return None


@bp.app_template_global("checkin_link_state")
def _checkin_link_state(occ: Occurrence, now: datetime) -> str | None:
    return occurrence_link_state(occ, now)
