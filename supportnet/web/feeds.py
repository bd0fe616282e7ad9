"""Calendar feeds over HTTP: a group's feed, a member's private feed, one meeting's .ics, and the Meeting Guide JSON.

Calendar apps poll these without cookies and without an Accept header, so there is no authentication (the
private feed's address is its secret) and no content negotiation. Every answer carries a strong ETag computed
from the body, and a matching If-None-Match gets 304. If-Modified-Since alone is answered with the full feed:
a feed also changes when its window moves, which no timestamp in the data says, and a stale 304 would leave a
cancelled meeting in someone's calendar. HEAD works like GET (Flask answers it from the GET view).

Calendar apps poll every hour or so and nearly always get 304, so a poll should not even read the rows: feeds
already built are kept in memory (per process) with their ETag, keyed by the versions every write to what the feed
shows moves in its own transaction (supportnet/feed_versions.py), the group's or member's own row, the window and
the site's address. A poll reads the row and the versions (two indexed reads) and answers from memory; after a
change, the versions differ and the feed is built again, re-rendering only the series that changed. The versions
are read before the rows a build reads, so a feed is never kept under a newer version than its rows.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, request
from flask_login import current_user
from sqlalchemy import select

from supportnet import calendars, feeds, meeting_guide, visibility
from supportnet.clock import now_utc, timezone_names
from supportnet.extensions import db
from supportnet.models import Group, Occurrence, User
from supportnet.web.access import get_occurrence_for, viewer
from supportnet.web.helpers import external_url

bp = Blueprint("feeds", __name__)

CALENDAR_TYPE = "text/calendar; charset=utf-8"
PUBLIC_CACHE = "public, max-age=300"


class WebLinks:
    """The absolute links feeds point to, from SUPPORTNET_BASE_URL (never the request's Host header)."""

    def __init__(self) -> None:
        self._groups: dict[str, str] = {}

    def group(self, group: Group) -> str:
        # Every event of a series links to its group: build that link once per feed.
        if group.slug not in self._groups:
            self._groups[group.slug] = external_url("groups.show", slug=group.slug)
        return self._groups[group.slug]

    def occurrence(self, occ: Occurrence) -> str:
        return external_url("meetings.occurrence", occurrence_id=occ.id)

    def my_meetings(self) -> str:
        return external_url("rsvp.my_meetings")


class FeedCache:
    """Feed bodies already built, with their ETags and Last-Modified, by the key of what they show (an LRU)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[bytes, str, datetime | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(
        self, key: str, build: Callable[[], tuple[bytes, datetime | None]]
    ) -> tuple[bytes, str, datetime | None]:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        body, last_modified = build()  # outside the lock: two requests may build the same feed, and get the same bytes
        item = (body, etag_of(body), last_modified)
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return item


def feed_cache() -> FeedCache:
    """This app's cache of built feeds."""
    return current_app.extensions.setdefault("supportnet_feed_cache", FeedCache())


def block_cache() -> feeds.BlockCache:
    """This app's serialized parts of group feeds, so that a rebuild after a change renders only what changed."""
    return current_app.extensions.setdefault("supportnet_feed_blocks", feeds.BlockCache())


def etag_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def uid_host() -> str:
    """The domain part of every UID: the site's own host name, so UIDs never clash with another site's."""
    return urlsplit(current_app.config["BASE_URL"]).hostname or "supportnet.invalid"


def _zone(user: User | None) -> ZoneInfo:
    name = getattr(user, "timezone", None)
    return ZoneInfo(name if name in timezone_names() else "UTC")


def conditional(
    body: bytes,
    *,
    mimetype: str,
    cache_control: str,
    last_modified: datetime | None = None,
    headers: dict[str, str] | None = None,
    etag: str | None = None,
) -> Response:
    """The body with a strong ETag from its bytes, or 304 Not Modified when the client already has these bytes."""
    etag = etag or etag_of(body)
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
    else:
        response = Response(body, content_type=mimetype)
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    if last_modified is not None:
        response.last_modified = last_modified
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@bp.get("/groups/<slug>/calendar.ics")
def group_calendar(slug: str):
    group = db.session.scalar(select(Group).where(Group.slug == slug))
    if group is None or not calendars.group_feed_available(group):
        abort(404)
    versions = calendars.group_versions(group)  # before any row the feed is built from
    span, host = feeds.window(now_utc()), uid_host()
    key = feeds.fingerprint("group", current_app.config["BASE_URL"], host, span, group, versions)

    def build() -> tuple[bytes, datetime | None]:
        entries = calendars.group_entries(group, span)
        body = feeds.group_calendar(group, entries, links=WebLinks(), host=host, span=span, blocks=block_cache())
        return body, feeds.last_modified(calendars.group_changed_at(group, entries))

    body, etag, last_modified = feed_cache().get_or_build(key, build)
    return conditional(
        body,
        etag=etag,
        mimetype=CALENDAR_TYPE,
        cache_control=PUBLIC_CACHE,
        last_modified=last_modified,
        headers={"Content-Disposition": f'inline; filename="{group.slug}.ics"'},
    )


@bp.get("/calendar/<token>.ics")
def private_calendar(token: str):
    user = calendars.user_for_token(token)
    if user is None:
        abort(404)
    versions = calendars.private_versions(user)  # before any row the feed is built from
    span, zone, host = feeds.window(now_utc()), _zone(user), uid_host()
    key = feeds.fingerprint("private", current_app.config["BASE_URL"], host, span, user, zone, versions)

    def build() -> tuple[bytes, datetime | None]:
        entries, changed_at = calendars.private_entries(user, span)
        sessions = calendars.session_entries(user, span)  # one-to-one sessions, as coach or member
        body = feeds.private_calendar(entries, discreet=user.calendar_discreet, viewer_zone=zone, links=WebLinks(),
                                      host=host, sessions=sessions)
        return body, feeds.last_modified(changed_at + [s.changed_at for s in sessions])

    body, etag, last_modified = feed_cache().get_or_build(key, build)
    return conditional(
        body,
        etag=etag,
        mimetype=CALENDAR_TYPE,
        cache_control="private",
        last_modified=last_modified,
        headers={
            "Content-Disposition": 'inline; filename="calendar.ics"',
            # The address is the secret: no search engine, no shared cache and no Referer may keep it.
            "X-Robots-Tag": "noindex",
            "Referrer-Policy": "no-referrer",
        },
    )


def meeting_entry(occ: Occurrence, user: User | None) -> feeds.MeetingEntry:
    """One meeting as this viewer may see it, for a download or an "Add to Google Calendar" link."""
    return feeds.MeetingEntry(occ, show_online=visibility.sees_online_link(occ, user))


def discreet_for(user: User | None) -> bool:
    """Signed-in members get neutral titles in what they add to a calendar while their discreet mode is on."""
    return bool(user is not None and user.calendar_discreet)


@bp.get("/meetings/<int:occurrence_id>/calendar.ics")
def meeting_calendar(occurrence_id: int):
    occ = get_occurrence_for(occurrence_id)
    user = viewer()
    body = feeds.meeting_calendar(
        meeting_entry(occ, user), discreet=discreet_for(user), viewer_zone=_zone(user), links=WebLinks(),
        host=uid_host(),
    )
    return conditional(
        body,
        mimetype=CALENDAR_TYPE,
        cache_control="private, no-cache",
        headers={"Content-Disposition": 'attachment; filename="meeting.ics"'},
    )


@bp.get("/meeting-guide.json")
def meeting_guide_feed():
    body = meeting_guide.to_json(meeting_guide.meetings(meeting_guide.load(now_utc()), WebLinks()))
    return conditional(
        body,
        mimetype="application/json",
        cache_control=PUBLIC_CACHE,
        # Public data made to be read by meeting finders, including TSML UI in other sites' pages.
        headers={"Access-Control-Allow-Origin": "*"},
    )


@bp.app_template_global("google_calendar_link")
def google_calendar_link(occ: Occurrence) -> str:
    """The "Add to Google Calendar" link of a meeting, for the signed-in viewer (or a visitor)."""
    user = viewer()
    return feeds.google_calendar_link(
        meeting_entry(occ, user), discreet=discreet_for(user), viewer_zone=_zone(user), links=WebLinks()
    )


@bp.app_template_global("group_subscribe_links")
def group_subscribe_links(group: Group) -> feeds.SubscribeLinks | None:
    """How to subscribe to a group's feed in the major calendar apps, or None when it has no public feed."""
    if not calendars.group_feed_available(group):
        return None
    return feeds.subscribe_links(external_url("feeds.group_calendar", slug=group.slug), group.name)


@bp.app_template_global("subscribe_links")
def subscribe_links(feed_url: str, name: str) -> feeds.SubscribeLinks:
    """How to subscribe to a feed address in the major calendar apps."""
    return feeds.subscribe_links(feed_url, name)


@bp.app_template_global("calendar_discreet")
def calendar_discreet() -> bool:
    """Whether the signed-in member's calendar titles are neutral (for the note beside the links)."""
    return current_user.is_authenticated and bool(current_user.calendar_discreet)
