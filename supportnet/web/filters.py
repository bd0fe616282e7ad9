"""Template filters and globals: local times for the viewer, plain-text paragraphs, and the quick exit."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_login import current_user
from jinja2.utils import urlize
from markupsafe import Markup

from supportnet.clock import timezone_names
from supportnet.groups import tag_label
from supportnet.recurrence import describe, from_rrule
from supportnet.textsafety import safe_meeting_url


def viewer_zone() -> ZoneInfo:
    """The signed-in viewer's timezone (UTC for visitors)."""
    name = getattr(current_user, "timezone", None) if current_user else None
    return ZoneInfo(name if name in timezone_names() else "UTC")


def local_time(instant: datetime | None, fmt: str = "%a %-d %b %Y, %H:%M") -> str:
    """Format an aware instant in the viewer's timezone."""
    if instant is None:
        return ""
    return instant.astimezone(viewer_zone()).strftime(fmt)


def meeting_when(starts_at: datetime, ends_at: datetime, meeting_tz: str) -> Markup:
    """"Tue 1 Dec 2026, 19:00-20:00 your time · 20:00 in Berlin" (the second part only when the zones differ)."""
    mine = viewer_zone()
    start, end = starts_at.astimezone(mine), ends_at.astimezone(mine)
    same_day = start.date() == end.date()
    if same_day:
        text = f"{start:%a %-d %b %Y, %H:%M}\u2013{end:%H:%M}"
    else:
        text = f"{start:%a %-d %b %Y, %H:%M} \u2013 {end:%a %-d %b, %H:%M}"
    theirs = ZoneInfo(meeting_tz)
    there = starts_at.astimezone(theirs)
    if there.utcoffset() != start.utcoffset():
        city = meeting_tz.rsplit("/", 1)[-1].replace("_", " ")
        label = "your time" if current_user and current_user.is_authenticated else "UTC"
        day = "" if there.date() == start.date() else f"{there:%a} "
        return Markup("{} {} · {}{:%H:%M} in {}").format(text, label, day, there, city)
    return Markup("{}").format(text)


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
    app.add_template_global(meeting_when, "meeting_when")
    app.add_template_global(tag_label, "tag_label")
    app.add_template_global(describe_series, "describe_series")
    # Meeting links are checked again where they are shown: a stored link that isn't a plain https URL is left out.
    app.add_template_filter(safe_meeting_url, "meeting_link")

    @app.context_processor
    def _globals():
        return {
            "quick_exit_url": current_app.config["QUICK_EXIT_URL"],
            "dev_mode": current_app.config["SUPPORTNET_ENV"] != "production",
        }
