"""The Meeting Guide feed: public groups' weekly meetings as the code4recovery JSON array (`/meeting-guide.json`).

Meeting finders (the Meeting Guide app, TSML UI, intergroup websites) import this format. The spec
(github.com/code4recovery/spec) is for weekly meetings only: a listing is a weekday, a time and a place, and
"monthly or non-recurring meetings" belong on another page. So the feed lists, for public groups that are not
archived, every running series that meets every week (one or more weekdays). Left out, on purpose:

* series that meet every 2 or more weeks, monthly, or once: the format cannot say "every other Friday" or "the
  first Saturday", and an app would show them every week;
* unlisted and private groups (the directory does not list them either), archived groups, and series with no
  meeting ahead (ended, or run out by their number of meetings or end date).

Listings say what happens next. When a schedule edit starts the new schedule later (from a date weeks ahead), the
old schedule still has meetings until then: both are listed while both do, the old one noting its last meeting
and the new one its first. An online meeting whose link only members see has neither an address nor a link here,
which importers would reject without a word: its notes say so and where to ask.

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
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from supportnet import visibility
from supportnet.extensions import db
from supportnet.feeds import Links, clean_text
from supportnet.groups import is_spec_code
from supportnet.models import Group, MeetingSeries, Visibility
from supportnet.recurrence import Frequency, RecurrenceError, expand, from_rrule, resolve_local
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


_DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_ABBR = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Longer than any gap a listed rule has: a weekly series still running has a meeting within a week, and an ended
# one's rule has an UNTIL, so this only bounds the search.
_AHEAD = timedelta(days=366 * 11)
_WEEK = timedelta(days=8)


@dataclass(frozen=True)
class Listing:
    """A weekly series of a public group, the first series of its line (whose id makes the slug), and what to say
    about when it starts or stops."""

    series: MeetingSeries
    root_id: int
    slug_suffix: str = ""
    lead: str = ""


def _day(instant: datetime, series: MeetingSeries) -> str:
    local = instant.astimezone(series.tz)
    return f"{_DAY_ABBR[local.weekday()]} {local.day} {_MONTH_ABBR[local.month]} {local.year}"


def weekly_days(series: MeetingSeries) -> tuple[int, ...] | None:
    """The local weekdays (0 = Monday) of a series that meets every week, or None for any other schedule."""
    try:
        rec = from_rrule(series.rrule, series.tz)
    except RecurrenceError:
        return None
    if rec.frequency is not Frequency.WEEKLY or rec.interval != 1:
        return None
    return rec.weekdays


def load(now: datetime) -> list[Listing]:
    """The weekly series of public groups that are not archived and have a meeting ahead, in two queries."""
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
        if weekly_days(series) is None:
            continue
        root, seen = series.id, set()
        while previous.get(root) is not None and root not in seen:
            seen.add(root)
            root = previous[root]
        first = resolve_local(series.dtstart_local, series.tz).astimezone(UTC)
        if series.ended_at is None:
            ahead = expand(series.rrule, series.dtstart_local, series.tz, max(now, first), max(now, first) + _WEEK)
            if not ahead:
                continue  # ran out by its number of meetings or its end date
            lead = f"From {_day(first, series)}." if first > now else ""
            listings.append(Listing(series, root, lead=lead))
            continue
        # An ended series is listed only while a schedule edit left it meetings before the new schedule starts.
        ahead = expand(series.rrule, series.dtstart_local, series.tz, now, now + _AHEAD)
        if ahead:
            listings.append(
                Listing(series, root, f"-{series.id}", f"Last meeting at this time: {_day(ahead[-1], series)}.")
            )
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
        "slug": f"meeting-{listing.root_id}{listing.slug_suffix}",
        "day": days[0] if len(days) == 1 else days,
        "time": _hhmm(series.dtstart_local),
        "end_time": _hhmm(series.dtstart_local + series.duration),
        "timezone": series.timezone,
        "types": sorted(code for code in group.tag_codes if is_spec_code(code) and code in SPEC_TYPES),
        "notes": "\n\n".join(
            part for part in (listing.lead, _members_only_note(series, group, links), clean_text(series.description))
            if part
        ),
        "location": " ".join(clean_text(series.venue).split()),
        "location_notes": clean_text(series.location_notes),
        "formatted_address": " ".join(clean_text(series.address or group.address).split()),
        "group": " ".join(clean_text(group.name).split()),
        "url": links.group(group),
        "updated": f"{updated:%Y-%m-%d %H:%M:%S}",
    }
    if visibility.online_link_public(series):
        item["conference_url"] = safe_meeting_url(series.online_url) or ""
        item["conference_url_notes"] = clean_text(series.online_notes) if series.online_url else ""
        phone = re.sub(r"[\s().-]", "", series.online_phone)
        item["conference_phone"] = phone if _PHONE.match(phone) else ""
    return {key: value for key, value in item.items() if value not in ("", [], None)}


def _members_only_note(series: MeetingSeries, group: Group, links: Links) -> str:
    """For an online-only meeting whose link members alone see: importers need a place or a link, or a reason."""
    if series.venue or series.address or group.address or not (series.online_url or series.online_phone):
        return ""
    if visibility.online_link_public(series):
        return ""
    return (
        "Online meeting: the link is shared with the group's members. Join the group or ask for it at "
        f"{links.group(group)}."
    )


def meetings(listings: Sequence[Listing], links: Links) -> list[dict]:
    """Every listing in the spec's format, ordered by slug."""
    return sorted((meeting(listing, links) for listing in listings), key=lambda item: item["slug"])


def to_json(items: list[dict]) -> bytes:
    """The feed's bytes: the same listings always give the same bytes."""
    return json.dumps(items, ensure_ascii=False, sort_keys=True, indent=1).encode() + b"\n"
