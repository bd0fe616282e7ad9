"""One-to-one sessions: coach profiles and availability, booking, a member's and a coach's sessions."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from supportnet.checkins.records import member_zone
from supportnet.clock import now_utc
from supportnet.coaching import booking
from supportnet.errors import DomainError, NotFound
from supportnet.extensions import db
from supportnet.models import Coach, CoachingSession, SessionStatus
from supportnet.notifications import links

bp = Blueprint("coaching", __name__)


# --- booking, a member's sessions ---


def _instant(value: str | None) -> datetime | None:
    """An ISO UTC instant from a form, or None when it is not one."""
    try:
        parsed = datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


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
        return render_template("coaching/booking_refused.html", coach=coach, error="Please choose a time.",
                               note=note), 400
    try:
        session = booking.book(current_user, coach, starts_at, note, now_utc())
    except DomainError as error:
        db.session.rollback()
        # The member's note comes back on the page: nothing they wrote is lost.
        status = 409 if error.field == "starts_at" else 400
        return render_template("coaching/booking_refused.html", coach=coach, error=str(error), note=note), status
    db.session.commit()
    flash("Your session is booked.", "success")
    return redirect(url_for("coaching.my_session", session_id=session.id))


@bp.get("/me/sessions")
@login_required
def my_sessions():
    return render_template("coaching/booking_sessions.html", sessions=booking.sessions_of(current_user),
                           zone=member_zone(current_user), now=now_utc())


@bp.get("/me/sessions/<int:session_id>")
@login_required
def my_session(session_id: int):
    session = _my_session(session_id)
    now = now_utc()
    # The coach's room is shown to the member only while the session is booked and has not ended.
    room = session.coach.online_url if session.status == SessionStatus.BOOKED and session.ends_at > now else None
    return render_template("coaching/booking_session.html", session=session, zone=member_zone(current_user),
                           room=room, now=now, cant_make_it=links.session_cant_make_it_token(session))


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
    cal = icalendar.Calendar()
    cal.add("prodid", "-//SupportNet//Sessions 1.0//EN")
    cal.add("version", "2.0")
    event = icalendar.Event()
    # The UID names the row's random nonce, never the coach or member; the summary says nothing of recovery.
    event.add("uid", f"session-{session.nonce}@supportnet")
    event.add("summary", "Session")
    event.add("dtstart", session.starts_at.astimezone(UTC))
    event.add("dtend", session.ends_at.astimezone(UTC))
    event.add("dtstamp", now_utc().astimezone(UTC))
    event.add("status", "CANCELLED" if session.status == SessionStatus.CANCELLED else "CONFIRMED")
    cal.add_component(event)
    response = Response(cal.to_ical(), mimetype="text/calendar")
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
