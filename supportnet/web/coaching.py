"""One-to-one sessions: coach profiles and availability, booking, a member's and a coach's sessions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, EmailField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Optional

from supportnet import mail
from supportnet.checkins.records import member_zone
from supportnet.clock import now_utc
from supportnet.coaching import booking, coaches, notices
from supportnet.errors import DomainError, Forbidden, NotFound
from supportnet.extensions import db
from supportnet.models import Coach, CoachingSession, CoachVisibility, Program, SessionStatus
from supportnet.notifications import links
from supportnet.web.access import get_program_for, viewer
from supportnet.web.admin import admin_required
from supportnet.web.forms import TimezoneField
from supportnet.web.helpers import put_error
from supportnet.web.security import no_store

bp = Blueprint("coaching", __name__)


# --- coaching: coaches and availability ---


class GrantForm(FlaskForm):
    email = EmailField("Email address of their account",
                       description="They need a confirmed SupportNet account. Coaches must use two-factor.")
    visibility = SelectField("Who may find and book them", choices=[
        ("public", "Everyone signed in"), ("program", "Members of a program's groups only")])
    program_id = SelectField("Program", validate_choice=False)
    submit = SubmitField("Make them a coach")


class EndForm(FlaskForm):
    submit = SubmitField("End coach role")


def _grant_page(form: GrantForm, program, status: int = 200):
    programs_ = [program] if program is not None else list(db.session.scalars(
        select(Program).order_by(Program.name)))
    form.program_id.choices = [("", "No program")] + [(str(p.id), p.name) for p in programs_]
    return render_template("coaching/manage.html", form=form, end_form=EndForm(formdata=None), program=program,
                           coaches=coaches.coaches_granted_by_scope(program)), status


def _grant(program):
    form = GrantForm()
    if program is not None:
        form.visibility.data = "program"
        form.program_id.data = str(program.id)
    if form.validate_on_submit():
        target = program
        if program is None and form.visibility.data == "program":
            raw_id = _number(form.program_id.data)
            target = db.session.get(Program, raw_id) if raw_id is not None else None
        try:
            coach = coaches.grant(form.email.data or "", by=viewer(), now=now_utc(),
                                  visibility_=CoachVisibility(form.visibility.data or "public"), program=target)
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc, "email")
        else:
            db.session.commit()
            if coach is None:  # a coordinator's invitation: the same words whatever the address
                flash(f"If a confirmed SupportNet account uses {form.email.data.strip()}, its owner will find "
                      f"your invitation to coach under Sessions, for {coaches.INVITATION_DAYS} days. They are "
                      "listed here once they accept.", "success")
            else:
                flash(f"{coach.display_name} is a coach now. They set up their profile at /coach/profile.",
                      "success")
            return redirect(request.path)
    return _grant_page(form, program, 400 if request.method == "POST" else 200)


def _end(program, coach_id: int):
    coach = db.session.get(Coach, coach_id)
    if coach is None or (program is not None and coach.program_id != program.id):
        abort(404)
    form = EndForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        coaches.end(coach, by=viewer(), now=now_utc())
    except DomainError as exc:
        db.session.rollback()
        abort(403 if isinstance(exc, Forbidden) else 400)
    db.session.commit()
    flash(f"{coach.display_name} is no longer a coach.", "success")
    return redirect(request.path.rsplit("/", 2)[0])


@bp.route("/admin/coaches", methods=["GET", "POST"])
@admin_required
def admin_coaches():
    no_store()
    return _grant(None)


@bp.post("/admin/coaches/<int:coach_id>/end")
@admin_required
def admin_end_coach(coach_id: int):
    return _end(None, coach_id)


@bp.route("/programs/<int:program_id>/coaches", methods=["GET", "POST"])
@login_required
def program_coaches(program_id: int):
    return _grant(get_program_for(viewer(), program_id))


@bp.post("/programs/<int:program_id>/coaches/<int:coach_id>/end")
@login_required
def program_end_coach(program_id: int, coach_id: int):
    return _end(get_program_for(viewer(), program_id), coach_id)


def _own_coach() -> Coach:
    coach = coaches.coach_of(viewer())
    if coach is None:
        abort(404)
    no_store()
    return coach


class ProfileForm(FlaskForm):
    display_name = StringField("Name members see")
    offers = TextAreaField("What you offer", description="In your own words: the kind of support, your approach.")
    languages = StringField("Languages")
    online = BooleanField("Online sessions")
    in_person = BooleanField("In-person sessions")
    place = StringField("Where (in person)")
    timezone = TimezoneField("Your timezone", description="Your weekly windows are in this zone.")
    session_minutes = IntegerField("Session length (minutes)", validators=[Optional()])
    buffer_minutes = IntegerField("Buffer between sessions (minutes)", validators=[Optional()])
    notice_hours = IntegerField("Minimum notice (hours)", validators=[Optional()])
    horizon_days = IntegerField("Bookable how many days ahead", validators=[Optional()])
    late_change_hours = IntegerField("Cancelling or moving needs a note within (hours)", validators=[Optional()])
    online_url = StringField("Online room link", description="https only. Shown only to a member who booked.")
    submit = SubmitField("Save profile")


_NUMBERS = ("session_minutes", "buffer_minutes", "notice_hours", "horizon_days", "late_change_hours")


@bp.route("/coach/profile", methods=["GET", "POST"])
@login_required
def coach_profile():
    coach = _own_coach()
    form = ProfileForm(obj=coach) if request.method == "GET" else ProfileForm()
    if form.validate_on_submit():
        if any(getattr(form, n).data is None for n in _NUMBERS):
            form.form_errors.append("Fill in every number.")
        else:
            profile = coaches.Profile(
                **{n: getattr(form, n).data or "" for n in ("display_name", "offers", "languages", "place",
                                                             "timezone", "online_url")},
                online=bool(form.online.data), in_person=bool(form.in_person.data),
                **{n: getattr(form, n).data for n in _NUMBERS})
            try:
                coaches.update_profile(coach, profile)
            except DomainError as exc:
                db.session.rollback()
                put_error(form, exc)
            else:
                db.session.commit()
                flash("Your profile is saved.", "success")
                return redirect(url_for("coaching.coach_profile"))
    status = 400 if request.method == "POST" else 200
    program = db.session.get(Program, coach.program_id) if coach.program_id is not None else None
    return render_template("coaching/profile.html", form=form, coach=coach,
                           program_name=program.name if program is not None else None), status


class AvailabilityForm(FlaskForm):
    """CSRF for every change on the availability page; the fields are read per action."""


def _number(raw: str | None) -> int | None:
    """A row id or small number from a form: ASCII digits that fit a database integer, else None."""
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def _time(raw: str | None, field: str) -> time:
    try:
        return time.fromisoformat((raw or "").strip())
    except ValueError:
        raise DomainError("Enter a time like 09:30.", field=field) from None


def _date(raw: str | None, field: str) -> date:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        raise DomainError("Enter a date like 2027-03-14.", field=field) from None


def _local(raw: str | None, field: str) -> datetime:
    try:
        value = datetime.fromisoformat((raw or "").strip())
    except ValueError:
        raise DomainError("Enter a date and time like 2027-03-14 09:00.", field=field) from None
    if value.tzinfo is not None:
        raise DomainError("Enter the time in your own zone, without an offset.", field=field)
    return value


def _change_availability(coach: Coach, form) -> str:
    action = form.get("action", "")
    if action == "add_window":
        weekday = _number(form.get("weekday"))
        coaches.add_window(coach, -1 if weekday is None else weekday,
                           _time(form.get("starts"), "starts"), _time(form.get("ends"), "ends"))
        return "Window added."
    if action == "add_change":
        off = form.get("off") == "1"
        coaches.add_change(coach, _date(form.get("day"), "day"), off=off,
                           starts=None if off else _time(form.get("change_starts"), "change_starts"),
                           ends=None if off else _time(form.get("change_ends"), "change_ends"))
        return "Exception added."
    if action == "add_time_off":
        coaches.add_time_off(coach, _local(form.get("off_starts"), "off_starts"),
                             _local(form.get("off_ends"), "off_ends"))
        return "Time off added."
    if action == "remove":
        coaches.remove(coach, form.get("kind", ""), _number(form.get("row_id")) or 0)
        return "Removed."
    raise DomainError("Choose what to change.")


@bp.route("/coach/availability", methods=["GET", "POST"])
@login_required
def coach_availability():
    coach = _own_coach()
    form = AvailabilityForm()
    error = None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            message = _change_availability(coach, request.form)
        except NotFound:
            db.session.rollback()
            abort(404)
        except DomainError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("coaching.coach_availability"))
    zone = ZoneInfo(coach.timezone)
    return render_template(
        "coaching/availability.html", form=form, coach=coach, error=error, weekdays=coaches.WEEKDAYS,
        windows=coaches.windows_of(coach), changes=coaches.changes_of(coach), zone=zone,
        time_off=[(t, t.starts_at.astimezone(zone), t.ends_at.astimezone(zone)) for t in coaches.time_off_of(coach)],
        values=request.form,
    ), (400 if error else 200)


@bp.get("/coaches")
@login_required
def coach_list():
    return render_template("coaching/list.html", coaches=coaches.visible_to(viewer()))


def _visible_coach(coach_id: int) -> Coach:
    coach = db.session.get(Coach, coach_id)
    if coach is None or not coaches.may_see(viewer(), coach):
        abort(404)
    return coach


def _slot_days(spans, zone: ZoneInfo) -> list[tuple[date, list]]:
    """Free slots grouped by local day in `zone`: [(day, [(local start, span), ...]), ...]."""
    local = [(span.starts.astimezone(zone), span) for span in spans]
    return [(day, list(items)) for day, items in groupby(local, key=lambda pair: pair[0].date())]


def _coach_page(coach: Coach, *, error: str | None = None, note: str = "", chosen: str | None = None) -> str:
    zone = member_zone(viewer())
    days = _slot_days(coaches.free_slots(coach, now_utc()), zone)
    return render_template("coaching/coach.html", coach=coach, days=days, zone=zone,
                           coach_zone=ZoneInfo(coach.timezone), may_book=booking.may_book(viewer(), coach),
                           note_max=booking.NOTE_MAX, error=error, note=note, chosen=chosen)


@bp.get("/coaches/<int:coach_id>")
@login_required
def coach_page(coach_id: int):
    return _coach_page(_visible_coach(coach_id))

# --- booking, a member's sessions ---


def _instant(value: str | None) -> datetime | None:
    """An ISO UTC instant from a form, or None when it is not one."""
    try:
        parsed = datetime.fromisoformat((value or "").strip())
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):  # not a time, or one whose UTC falls off the calendar
        return None


def _my_session(session_id: int) -> CoachingSession:
    try:
        return booking.session_for(current_user, session_id)
    except NotFound:
        abort(404)


@bp.post("/coaches/<int:coach_id>/book")
@login_required
def book(coach_id: int):
    coach = db.session.get(Coach, coach_id)
    if coach is None or not booking.may_book(current_user, coach):
        abort(404)
    starts_at = _instant(request.form.get("starts_at"))
    note = request.form.get("note", "")
    if starts_at is None:
        return _coach_page(coach, error="Please choose a time.", note=note), 400
    try:
        session = booking.book(current_user, coach, starts_at, note, now_utc())
    except DomainError as error:
        db.session.rollback()
        # The free times come back with the member's note and choice: nothing they wrote is lost.
        status = 409 if error.field == "starts_at" else 400
        return _coach_page(coach, error=str(error), note=note, chosen=request.form.get("starts_at")), status
    db.session.commit()
    flash("Your session is booked.", "success")
    return redirect(url_for("coaching.my_session", session_id=session.id))


@bp.get("/me/sessions")
@login_required
def my_sessions():
    now = now_utc()
    return render_template("coaching/booking_sessions.html", sessions=booking.sessions_of(current_user),
                           zone=member_zone(current_user), now=now, invitations=coaches.invitations_for(
                               current_user, now), is_coach=coaches.coach_of(current_user) is not None)


@bp.post("/coach/invitations/<int:coach_id>/<any(accept, decline):answer>")
@login_required
def answer_invitation(coach_id: int, answer: str):
    try:
        if answer == "accept":
            coaches.accept(current_user, coach_id, now_utc())
        else:
            coaches.decline(current_user, coach_id, now_utc())
    except NotFound:
        abort(404)
    db.session.commit()
    if answer == "accept":
        flash("You coach now. Set up your profile and your availability, then members can book you.", "success")
        return redirect(url_for("coaching.coach_profile"))
    flash("You declined the invitation. Nobody is told.", "success")
    return redirect(url_for("coaching.my_sessions"))


@bp.get("/me/sessions/<int:session_id>")
@login_required
def my_session(session_id: int):
    session = _my_session(session_id)
    now = now_utc()
    zone = member_zone(current_user)
    upcoming = session.status == SessionStatus.BOOKED and session.starts_at > now
    room = notices.room_for(session, now)
    move_days = _slot_days(coaches.free_slots(session.coach, now), zone) if upcoming else []
    return render_template("coaching/booking_session.html", session=session, zone=zone, room=room, now=now,
                           upcoming=upcoming, move_days=move_days, follow_up=notices.coach_note_for_member(session),
                           room_opens=notices.ROOM_OPENS_MINUTES,
                           cant_make_it=links.session_cant_make_it_token(session))


def _change(session_id: int, moving: bool):
    session = _my_session(session_id)
    note = request.form.get("note", "")
    try:
        if moving:
            new_start = _instant(request.form.get("starts_at"))
            if new_start is None:
                raise DomainError("Please choose a new time.", "starts_at")
            session = booking.move(session, new_start, current_user, note, now_utc())
        else:
            booking.cancel(session, current_user, note, now_utc())
    except DomainError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("coaching.my_session", session_id=session_id)), 303
    db.session.commit()
    flash("Your session was moved." if moving else "Your session is cancelled.", "success")
    return redirect(url_for("coaching.my_session", session_id=session.id))


@bp.post("/me/sessions/<int:session_id>/cancel")
@login_required
def cancel_session(session_id: int):
    return _change(session_id, moving=False)


@bp.post("/me/sessions/<int:session_id>/move")
@login_required
def move_session(session_id: int):
    return _change(session_id, moving=True)


@bp.get("/me/sessions/<int:session_id>.ics")
@login_required
def session_ics(session_id: int):
    session = _my_session(session_id)
    # The same file, UID and all, as the confirmation email's: importing both never gives two events. The summary
    # says nothing of recovery.
    body = notices.session_calendar(session, "Session", mail.sender_domain(current_app.config["MAIL_FROM"]),
                                    now_utc())
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/sessions/cant-make-it/<token>", methods=["GET", "POST"])
def session_cant_make_it(token: str):
    session = links.read_session_cant_make_it_token(token)
    if session is None:
        return render_template("notifications/invalid_link.html", message="This link is not valid. Nothing was "
                               "changed."), 400
    zone = member_zone(session.member)
    booked = session.status == SessionStatus.BOOKED
    if request.method == "POST" and booked:
        try:
            booking.cancel(session, session.member, request.form.get("note", ""), now_utc())
        except DomainError as error:
            db.session.rollback()
            return render_template("coaching/booking_cant_make_it.html", session=session, zone=zone,
                                   booked=booked, error=str(error), done=False), 409
        db.session.commit()
        return render_template("coaching/booking_cant_make_it.html", session=session, zone=zone, booked=False,
                               error=None, done=True)
    return render_template("coaching/booking_cant_make_it.html", session=session, zone=zone, booked=booked,
                           error=None, done=request.method == "POST")


# --- a coach's sessions ---


def _coach_session(session_id: int) -> CoachingSession:
    _own_coach()
    try:
        return booking.session_of_coach(current_user, session_id)
    except NotFound:
        abort(404)


@bp.get("/coach/sessions")
@login_required
def coach_sessions():
    coach = _own_coach()
    now = now_utc()
    sessions = booking.sessions_with(coach)
    ahead = [s for s in sessions if s.status == SessionStatus.BOOKED and s.ends_at > now]
    earlier = [s for s in reversed(sessions) if s not in ahead]
    return render_template("coaching/coach_sessions.html", coach=coach, ahead=ahead, earlier=earlier,
                           zone=ZoneInfo(coach.timezone), now=now)


def _coach_session_page(session: CoachingSession, *, error: str | None = None, status: int = 200,
                        follow_up: str | None = None, shared: bool | None = None, cancel_note: str = ""):
    now = now_utc()
    # Reading the member's notes is audited: the page shows them, so showing the page is the read.
    notes = notices.read_notes(session, current_user, now)
    db.session.commit()
    return render_template(
        "coaching/coach_session.html", session=session, zone=ZoneInfo(session.coach.timezone), now=now,
        notes=notes, error=error, cancel_note=cancel_note,
        follow_up=session.coach_note if follow_up is None else follow_up,
        shared=session.coach_note_shared if shared is None else shared,
        follow_up_max=notices.FOLLOW_UP_MAX, late=session.starts_at - now < timedelta(
            hours=session.coach.late_change_hours),
    ), status


@bp.get("/coach/sessions/<int:session_id>")
@login_required
def coach_session(session_id: int):
    return _coach_session_page(_coach_session(session_id))


@bp.post("/coach/sessions/<int:session_id>/follow-up")
@login_required
def coach_follow_up(session_id: int):
    session = _coach_session(session_id)
    text, shared = request.form.get("coach_note", ""), request.form.get("shared") == "1"
    try:
        notices.write_coach_note(session, current_user, text, shared)
    except DomainError as error:
        db.session.rollback()
        # What the coach wrote comes back on the page: nothing is lost.
        return _coach_session_page(session, error=str(error), status=400, follow_up=text, shared=shared)
    db.session.commit()
    flash("Your follow-up note is saved" + (" and shared with them." if session.coach_note_shared else
                                            ". Only you can read it."), "success")
    return redirect(url_for("coaching.coach_session", session_id=session.id))


@bp.post("/coach/sessions/<int:session_id>/cancel")
@login_required
def coach_cancel(session_id: int):
    session = _coach_session(session_id)
    note = request.form.get("note", "")
    try:
        booking.cancel(session, current_user, note, now_utc())
    except DomainError as error:
        db.session.rollback()
        return _coach_session_page(session, error=str(error), status=409 if error.field is None else 400,
                                   cancel_note=note)
    db.session.commit()
    flash("The session is cancelled. Your member is told.", "success")
    return redirect(url_for("coaching.coach_session", session_id=session.id))
