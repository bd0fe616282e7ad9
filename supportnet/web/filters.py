"""Template filters and globals: local times for the viewer, plain-text paragraphs, and the quick exit."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, has_request_context, request
from flask_login import current_user
from jinja2.utils import urlize
from markupsafe import Markup, escape

from supportnet.clock import timezone_names
from supportnet.groups import tag_label
from supportnet.recurrence import describe, from_rrule
from supportnet.textsafety import safe_meeting_url

# Set by the page's script for visitors who are not signed in: the zone their browser reports. It says nothing
# about who they are, and an unknown or forged value is ignored.
VISITOR_ZONE_COOKIE = "supportnet_tz"


def known_viewer_zone() -> ZoneInfo | None:
    """The viewer's timezone: a member's own, else the one a visitor's browser told us; None when unknown."""
    if current_user and current_user.is_authenticated:
        name = getattr(current_user, "timezone", None)
        return ZoneInfo(name if name in timezone_names() else "UTC")
    name = request.cookies.get(VISITOR_ZONE_COOKIE, "") if has_request_context() else ""
    return ZoneInfo(name) if name in timezone_names() else None


def viewer_zone() -> ZoneInfo:
    """The viewer's timezone (UTC for a visitor whose browser has not said)."""
    return known_viewer_zone() or ZoneInfo("UTC")


def meeting_time(instant: datetime | None, meeting_tz: str, fmt: str = "%H:%M") -> str:
    """An instant of a meeting in the viewer's timezone, or in the meeting's own when the viewer's is unknown."""
    if instant is None:
        return ""
    return instant.astimezone(known_viewer_zone() or ZoneInfo(meeting_tz)).strftime(fmt)


def local_time(instant: datetime | None, fmt: str = "%a %-d %b %Y, %H:%M") -> str:
    """Format an aware instant in the viewer's timezone."""
    if instant is None:
        return ""
    return instant.astimezone(viewer_zone()).strftime(fmt)


def meeting_when(starts_at: datetime, ends_at: datetime, meeting_tz: str) -> Markup:
    """"Tue 1 Dec 2026, 19:00-20:00 your time · 20:00 in Berlin" (the second part only when the zones differ).

    For a visitor whose timezone is unknown (no script has run yet), the meeting's own local time, labelled.
    """
    theirs = ZoneInfo(meeting_tz)
    city = meeting_tz.rsplit("/", 1)[-1].replace("_", " ")
    mine = known_viewer_zone()
    if mine is None:
        start, end = starts_at.astimezone(theirs), ends_at.astimezone(theirs)
        if start.date() == end.date():
            return Markup("{:%a %-d %b %Y, %H:%M}\u2013{:%H:%M} {} time").format(start, end, city)
        return Markup("{:%a %-d %b %Y, %H:%M} \u2013 {:%a %-d %b, %H:%M} {} time").format(start, end, city)
    start, end = starts_at.astimezone(mine), ends_at.astimezone(mine)
    same_day = start.date() == end.date()
    if same_day:
        text = f"{start:%a %-d %b %Y, %H:%M}\u2013{end:%H:%M}"
    else:
        text = f"{start:%a %-d %b %Y, %H:%M} \u2013 {end:%a %-d %b, %H:%M}"
    there = starts_at.astimezone(theirs)
    if there.utcoffset() != start.utcoffset():
        label = "your time"
        day = "" if there.date() == start.date() else f"{there:%a} "
        return Markup("{} {} · {}{:%H:%M} in {}").format(text, label, day, there, city)
    return Markup("{}").format(text)


# A phone number as people write it (3 to 15 digits, spaces allowed inside, an optional leading +), standing alone.
_PHONE = re.compile(r"(?<![\w/+.-])(\+?\d(?:[\d ]{1,16})\d)(?![\w/.-])")


def phone_links(text: str | None) -> Markup:
    """Plain text, escaped, with phone numbers made tel: links (crisis numbers must be one tap away)."""
    escaped = str(escape(text or ""))
    return Markup(  # noqa: S704 - the text was escaped above; only digits go into the markup  # nosec
        _PHONE.sub(lambda m: f'<a href="tel:{m.group(1).replace(" ", "")}">{m.group(1)}</a>', escaped)
    )


def describe_series(series) -> str:
    """"Weekly on Tuesday" for a series, from its stored rule."""
    return describe(from_rrule(series.rrule, ZoneInfo(series.timezone)), series.dtstart_local)


def paragraphs(text: str | None) -> Markup:
    """Plain text as HTML paragraphs, escaped, with links made clickable (rel=nofollow noopener)."""
    if not text:
        return Markup("")
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n") if block.strip()]
    html = []
    for block in blocks:
        linked = urlize(block, trim_url_limit=60, rel="nofollow noopener")  # escapes the text itself
        html.append("<p>" + linked.replace("\n", "<br>") + "</p>")
    return Markup("\n".join(html))  # noqa: S704 - every block went through urlize, which escapes  # nosec


# Below this, a count of people is "a few": in a small group "1 going" or "2 members" can single someone out
# (privacy rule 3 says the same of check-in figures).
PEOPLE_COUNT_MIN = 5


def people_count(n: int) -> str:
    """A count of people as pages show it: exact at 0 and from PEOPLE_COUNT_MIN on, "a few" in between."""
    return str(n) if n == 0 or n >= PEOPLE_COUNT_MIN else "a few"


def install(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(people_count, "people_count")
    app.add_template_filter(paragraphs, "paragraphs")
    app.add_template_filter(phone_links, "phone_links")
    app.add_template_global(meeting_when, "meeting_when")
    app.add_template_global(meeting_time, "meeting_time")
    app.add_template_global(tag_label, "tag_label")
    app.add_template_global(describe_series, "describe_series")
    # Meeting links are checked again where they are shown: a stored link that isn't a plain https URL is left out.
    app.add_template_filter(safe_meeting_url, "meeting_link")

    @app.context_processor
    def _globals():
        return {
            "quick_exit_url": current_app.config["QUICK_EXIT_URL"],
        }
