"""The signed-in member's home and the list of meetings by time."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user

from supportnet import agenda, home
from supportnet.clock import now_utc
from supportnet.notifications import compose, inbox
from supportnet.web.access import viewer
from supportnet.web.filters import known_viewer_zone, viewer_zone
from supportnet.web.forms import COMMON_TYPES, KIND_LABELS, WEEKDAYS
from supportnet.web.groups import filters_from_args

bp = Blueprint("home", __name__)

FORMAT_LABELS = {"in_person": "In person", "online": "Online", "hybrid": "Hybrid"}


def render_home():
    """The home page of a signed-in member (the front page shows it in place of the welcome)."""
    user = current_user._get_current_object()
    now = now_utc()
    data = home.home_for(user, now)
    groups_by_id = inbox.inbox_groups(data.unread)
    notices_shown = [(n, compose.inbox_item(n, groups_by_id, data.zone, now)) for n in data.unread]
    return render_template("main/home.html", home=data, notices_shown=notices_shown, now=now)


@bp.get("/meetings")
def meetings_by_time():
    filters = filters_from_args()
    # Capped: a huge page number would overflow the database's OFFSET instead of showing an empty page.
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    now = now_utc()
    result = agenda.listing(filters, viewer(), now, viewer_zone(), page)
    return render_template(
        "meetings/by_time.html", result=result, filters=filters, kinds=KIND_LABELS, weekdays=WEEKDAYS,
        common_types=COMMON_TYPES, now=now, formats=FORMAT_LABELS, meeting_format=agenda.meeting_format,
        city_of=agenda.city_of, zone_known=known_viewer_zone() is not None,
    )
