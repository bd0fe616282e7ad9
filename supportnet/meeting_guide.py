"""The Meeting Guide feed: public groups' weekly meetings as the code4recovery JSON array (`/meeting-guide.json`).

Meeting finders (the Meeting Guide app, TSML UI, intergroup websites) import this format. The spec
(github.com/code4recovery/spec) is for weekly meetings only: a listing is a weekday, a time and a place, and
"monthly or non-recurring meetings" belong on another page. So the feed lists, for public groups that are not
archived, every running series that meets every week (one or more weekdays). Left out, on purpose:

* series that meet every 2 or more weeks, monthly, or once: the format cannot say "every other Friday" or "the
  first Saturday", and an app would show them every week;
* unlisted and private groups (the directory does not list them either), archived groups and ended series.

Nothing about members is in it. The online link is there only when the facilitator made it visible to
everyone (privacy rule 4). A listing's slug stays the same when its schedule is edited (a split series keeps
the slug of the first series of its line) and when the group is renamed.

`load` reads the database; `meetings` and `to_json` are pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from supportnet.extensions import db
from supportnet.feeds import Links, clean_text
from supportnet.groups import is_spec_code
from supportnet.models import Group, MeetingSeries, OnlineVisibility, Visibility
from supportnet.recurrence import Frequency, RecurrenceError, from_rrule
from supportnet.textsafety import safe_meeting_url

# The meeting types of the spec's current table. groups.MEETING_GUIDE_TYPES also knows "SPD" (Speaker/
# Discussion), which the spec no longer lists; a feed only sends the codes the spec defines.
SPEC_TYPES = frozenset(
    {
        "11", "12x12", "A", "ABSI", "AL", "AL-AN", "AM", "ASL", "B", "BA", "BE", "BI", "BRK", "C", "CAN", "CF", "D",
        "DA", "DB", "DD", "DE", "DR", "EL", "EN", "FA", "FF", "FR", "G", "GR", "H", "HE", "HI", "HR", "HU", "ITA", "JA",
        "KOR", "L", "LGBTQ", "LIT", "LS", "LT", "M", "MED", "ML", "N", "NB", "NDG", "NO", "O", "OUT", "P", "POA", "POC",
        "POL", "POR", "PUN", "RUS", "S", "SEN", "SK", "SM", "SP", "ST", "SV", "T", "TC", "TH", "TL", "TR", "UK", "W",
        "X", "XB", "XT", "Y",
    }
)
_PHONE = re.compile(r"^\+?[0-9,*#]+$")


@dataclass(frozen=True)
class Listing:
    """A weekly series of a public group, and the first series of its line (whose id makes the slug)."""

    series: MeetingSeries
    root_id: int


def weekly_days(series: MeetingSeries) -> tuple[int, ...] | None:
    """The local weekdays (0 = Monday) of a series that meets every week, or None for any other schedule."""
    try:
        rec = from_rrule(series.rrule, series.tz)
    except RecurrenceError:
        return None
    if rec.frequency is not Frequency.WEEKLY or rec.interval != 1:
        return None
    return rec.weekdays


def load() -> list[Listing]:
    """The running weekly series of public groups that are not archived, in two queries."""
    rows = list(
        db.session.scalars(
            select(MeetingSeries)
            .join(MeetingSeries.group)
            .options(selectinload(MeetingSeries.group).selectinload(Group.tags))
            .where(Group.visibility == Visibility.PUBLIC, Group.archived_at.is_(None))
            .order_by(MeetingSeries.id)
        )
    )
    previous = {s.id: s.previous_id for s in rows}
    listings = []
    for series in rows:
        if series.ended_at is not None or weekly_days(series) is None:
            continue
        root, seen = series.id, set()
        while previous.get(root) is not None and root not in seen:
            seen.add(root)
            root = previous[root]
        listings.append(Listing(series, root))
    return listings


def _hhmm(value) -> str:
    return f"{value:%H:%M}"


def meeting(listing: Listing, links: Links) -> dict:
    """One listing in the spec's fields; optional fields that do not apply are left out, as the spec asks."""
    series = listing.series
    group = series.group
    days = sorted((day + 1) % 7 for day in weekly_days(series) or ())  # the spec counts from Sunday = 0
    updated = max(series.updated_at, group.updated_at).astimezone(UTC)
    item = {
        "name": " ".join(clean_text(series.title).split()),
        "slug": f"meeting-{listing.root_id}",
        "day": days[0] if len(days) == 1 else days,
        "time": _hhmm(series.dtstart_local),
        "end_time": _hhmm(series.dtstart_local + series.duration),
        "timezone": series.timezone,
        "types": sorted(code for code in group.tag_codes if is_spec_code(code) and code in SPEC_TYPES),
        "notes": clean_text(series.description),
        "location": " ".join(clean_text(series.venue).split()),
        "location_notes": clean_text(series.location_notes),
        "formatted_address": " ".join(clean_text(series.address or group.address).split()),
        "group": " ".join(clean_text(group.name).split()),
        "url": links.group(group),
        "updated": f"{updated:%Y-%m-%d %H:%M:%S}",
    }
    if series.online_visibility == OnlineVisibility.EVERYONE:
        item["conference_url"] = safe_meeting_url(series.online_url) or ""
        item["conference_url_notes"] = clean_text(series.online_notes) if series.online_url else ""
        phone = re.sub(r"[\s().-]", "", series.online_phone)
        item["conference_phone"] = phone if _PHONE.match(phone) else ""
    return {key: value for key, value in item.items() if value not in ("", [], None)}


def meetings(listings: Sequence[Listing], links: Links) -> list[dict]:
    """Every listing in the spec's format, ordered by slug."""
    return sorted((meeting(listing, links) for listing in listings), key=lambda item: item["slug"])


def to_json(items: list[dict]) -> bytes:
    """The feed's bytes: the same listings always give the same bytes."""
    return json.dumps(items, ensure_ascii=False, sort_keys=True, indent=1).encode() + b"\n"
