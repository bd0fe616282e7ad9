"""A member's standard measures: the list, taking one, the result (crisis resources first when an answer calls
for them), the trend with its table, deleting a response."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm

from supportnet.checkins import rhythms as checkins_rhythms
from supportnet.checkins import scores
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.measures import instruments
from supportnet.measures.definitions import Instrument
from supportnet.models import MeasureResponse, User
from supportnet.supporters import alerts as supporter_alerts
from supportnet.web.access import viewer
from supportnet.web.checkins import CHART_WIDTH, LEFT, RIGHT, TOP, Dot, Panel, chart_x, x_ticks

bp = Blueprint("measures", __name__)


class MeasureForm(FlaskForm):
    """The CSRF token of a measure's form; the items are read from the request by their labels, because each
    instrument version has its own."""


def me() -> User:
    """The signed-in member (the views below all require one)."""
    user = viewer()
    if user is None:
        abort(401)
    return user


def takeable_instrument(code: str) -> Instrument:
    """The version of an instrument a member is offered today (404 for any other code)."""
    if code not in {instrument.code for instrument in instruments.takeable()}:
        abort(404)
    return instruments.current(code)


def get_response_for(response_id: int) -> MeasureResponse:
    """The viewer's own response (404 for anybody else's, exactly as for one that does not exist)."""
    response = scores.response_of(me(), response_id)
    if response is None:
        abort(404)
    return response


def _posted_answers(instrument: Instrument) -> tuple[dict[str, int], list[str]]:
    """The answers in the posted form, and the labels of items whose value was not one of the item's own."""
    answers, garbled = {}, []
    for item in instrument.items:
        raw = request.form.get(f"item-{item.label}", "").strip()
        if not raw:
            continue
        try:
            value = int(raw)
        except ValueError:
            garbled.append(item.label)
            continue
        if value not in item.values:
            garbled.append(item.label)
            continue
        answers[item.label] = value
    return scores.without_skipped(instrument, answers), garbled


# --- the list ----------------------------------------------------------------------------------------------------


@bp.get("/me/measures")
@login_required
def index():
    user, now = me(), now_utc()
    latest = scores.latest_by_code(user)
    offered = instruments.takeable()
    trends = {i.code: measure_chart(scores.trend(user, i.code, now), i) for i in offered if i.code in latest}
    return render_template(
        "measures/index.html", instruments=offered, latest=latest, trends=trends,
        rhythms=checkins_rhythms.overview(user, now), **_crisis_first(user, latest.values()),
    )


def _crisis_first(user: User, newest: Iterable[MeasureResponse]) -> dict:
    """What a page that shows scores needs to put the crisis resources first: while the newest result of an
    instrument on it raised the safety flag, the same panel as on that result comes before any score."""
    flagged = any(scores.score_of(response).safety_flag for response in newest)
    return {"crisis_first": flagged, "crisis_resources": current_app.config["CRISIS_RESOURCES"],
            "told_of_bam_risk": supporter_alerts.told_of_bam_risk(user) if flagged else []}


# --- taking one --------------------------------------------------------------------------------------------------


@bp.route("/me/measures/<code>/take", methods=["GET", "POST"])
@login_required
def take(code: str):
    instrument = takeable_instrument(code)
    user, now = me(), now_utc()
    form = MeasureForm()
    attended = scores.days_at_meetings(user, now) if instrument.code == "BAM" else None
    if request.method == "GET":
        answers: dict[str, int] = {}
        if attended is not None:
            answers[scores.BAM_MEETINGS_ITEM] = scores.bam_meetings_option(attended)
        return render_template("measures/take.html", instrument=instrument, form=form, answers=answers,
                               attended=attended, problems=[], message=None)
    answers, garbled = _posted_answers(instrument)
    message = None
    if not form.validate_on_submit():
        message = "The form had expired. Your answers are still here: please send them again."
    elif garbled:
        message = f"Please choose one of the listed answers for item{'s' if len(garbled) > 1 else ''} " \
                  f"{', '.join(garbled)}."
    else:
        try:
            response, _ = scores.record(user, instrument, answers, now, attendance_offered=attended)
        except DomainError as exc:
            db.session.rollback()
            message = str(exc)
        else:
            db.session.commit()
            return redirect(url_for("measures.result", response_id=response.id))
    problems = garbled or _missing(instrument, answers)
    return render_template("measures/take.html", instrument=instrument, form=form, answers=answers,
                           attended=attended, problems=problems, message=message), 400


def _missing(instrument: Instrument, answers: dict[str, int]) -> list[str]:
    """The items still to answer, for marking them on the re-shown form."""
    return [item.label for item in instrument.items if not item.optional and item.label not in answers
            and not (item.skip and answers.get(item.skip.when_item) == item.skip.when_value)]


# --- the result --------------------------------------------------------------------------------------------------


@bp.get("/me/measures/responses/<int:response_id>")
@login_required
def result(response_id: int):
    response = get_response_for(response_id)
    instrument = scores.instrument_of(response)
    return render_template(
        "measures/result.html", response=response, instrument=instrument, score=scores.score_of(response),
        answers=scores.answers_of(response), crisis_resources=current_app.config["CRISIS_RESOURCES"],
        told_of_bam_risk=supporter_alerts.told_of_bam_risk(me()),
        form=MeasureForm(formdata=None),
    )


@bp.post("/me/measures/responses/<int:response_id>/delete")
@login_required
def delete(response_id: int):
    get_response_for(response_id)
    if not MeasureForm().validate_on_submit():
        abort(400)
    scores.delete(me(), response_id)
    db.session.commit()
    flash("That result is deleted.", "info")
    return redirect(url_for("measures.index"))


# --- the trend ---------------------------------------------------------------------------------------------------


@bp.get("/me/measures/<code>/trend")
@login_required
def trend(code: str):
    instrument = takeable_instrument(code)
    user, now = me(), now_utc()
    data = scores.trend(user, code, now)
    newest = scores.latest_by_code(user).get(code)
    return render_template("measures/trend.html", instrument=instrument, trend=data,
                           chart=measure_chart(data, instrument),
                           **_crisis_first(user, [newest] if newest is not None else []))


@dataclass(frozen=True)
class MeasureChart:
    id: str
    title: str
    width: int
    height: int
    left: float
    right: float
    panels: list[Panel]
    x_ticks: list[tuple[float, str, str]]
    points: list
    dot_radius: float
    summary: str


PANEL_HEIGHT, GAP, BOTTOM = 70, 34, 20


def _top_of(instrument: Instrument, subscale: str) -> int:
    """The highest score a subscale can reach: the sum of its items' highest values."""
    spec = next(s for s in instrument.scoring.subscales if s.name == subscale)
    return sum(max(instrument.item(label).values) for label in spec.items)


def measure_chart(data: scores.Trend, instrument: Instrument) -> MeasureChart:
    """One panel per subscale over time, and a last panel of meetings attended per 30 days; the SVG is drawn
    on the server with the check-in chart's axes (no script, no third party)."""
    days = [p.day for p in data.points] + [s.end for s in data.attendance]
    start, end = (min(days), max(days)) if days else (date.today(), date.today())
    rows = [(name, f"{name.capitalize()} (0 to {_top_of(instrument, name)})", _top_of(instrument, name),
             [(p.day, p.scores.get(name)) for p in data.points]) for name in data.subscales]
    top_meetings = max([s.meetings for s in data.attendance] + [4])
    rows.append(("meetings", f"Meetings attended in 30 days (0 to {top_meetings})", top_meetings,
                 [(s.end, s.meetings) for s in data.attendance]))
    panels = []
    for index, (name, title, high, values) in enumerate(rows):
        top = TOP + index * (PANEL_HEIGHT + GAP)

        def y_of(value: float, top=top, high=high) -> float:
            return round(top + PANEL_HEIGHT - value / max(high, 1) * PANEL_HEIGHT, 1)

        dots = [Dot(chart_x(day, start, end), y_of(value), f"{day:%-d %b %Y}: {name} {value}")
                for day, value in values if value is not None]
        ticks = [(y_of(v), str(v)) for v in sorted({0, high // 2, high})]
        panels.append(Panel(name, title, top, PANEL_HEIGHT, ticks, " ".join(f"{d.x},{d.y}" for d in dots), dots))
    height = TOP + len(rows) * PANEL_HEIGHT + (len(rows) - 1) * GAP + BOTTOM
    return MeasureChart(
        id=f"trend-{instrument.code.lower()}", title=f"{instrument.title}: your scores and meetings over time",
        width=CHART_WIDTH, height=height, left=LEFT, right=CHART_WIDTH - RIGHT, panels=panels,
        x_ticks=x_ticks(start, end), points=data.points, dot_radius=3, summary=_summary(data),
    )


def _summary(data: scores.Trend) -> str:
    if not data.points:
        return "No results yet."
    last = data.points[-1]
    scores_text = ", ".join(f"{name} {last.scores.get(name)}" for name in data.subscales)
    meetings = data.attendance[-1].meetings if data.attendance else 0
    return (f"{len(data.points)} result{'s' if len(data.points) != 1 else ''} since "
            f"{data.points[0].day:%-d %b %Y}. The latest, on {last.day:%-d %b %Y}: {scores_text}. "
            f"Meetings recorded in the last 30 days: {meetings}.")
