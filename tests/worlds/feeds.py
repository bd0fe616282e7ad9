"""The calendar feeds' world: three public or unlisted groups in London, New York and Sydney with meetings on both
sides of each DST change, cancelled, moved and moved-then-cancelled weeks, a series split by an edit and one ended,
Unicode, commas, semicolons and newlines in titles, and a title and a description that try to inject an alarm;
with the readers of a feed, and a member's private calendar address."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import select

from supportnet import clock, groups, memberships, rsvps, scheduling, timetable
from supportnet.extensions import db
from supportnet.models import (
    GroupKind,
    JoinPolicy,
    MeetingSeries,
    Occurrence,
    OnlineVisibility,
    Visibility,
)
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec
from tests.conftest import PINNED_NOW, Persona, post

LONDON, NEW_YORK, SYDNEY = "Europe/London", "America/New_York", "Australia/Sydney"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
HOST = "supportnet.test"
EARLY = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # when the series that get split or ended were created
UNICODE_TITLE = "Café, tea; and talk \u2014 ünïcödé \U0001f331"
EVIL_TITLE = "Evil\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nEND:VALARM"
EVIL_DESCRIPTION = "Bring\r\nBEGIN:VALARM\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nnothing; really, \\nothing"
NEWLINE_TITLE = "Line one\nLine two; three, four"


def weekly(*days: int, **ends) -> Recurrence:
    return Recurrence(Frequency.WEEKLY, weekdays=days, **ends)


def spec(title: str, first: date, start: time, zone: str, recurrence: Recurrence, **changes) -> SeriesSpec:
    base = SeriesSpec(
        title=title,
        first_date=first,
        start_time=start,
        duration_minutes=90,
        timezone=zone,
        recurrence=recurrence,
        venue="Community room",
        address="12 Canal Street, Manchester M1 3HE",
    )
    return dataclasses.replace(base, **changes)


def local(zone: str, *args) -> datetime:
    """A wall time in a zone, as a UTC instant."""
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


@dataclass
class FeedWorld:
    """Slugs, series ids and occurrence ids of the feed tests' world, by name."""

    slugs: dict[str, str] = field(default_factory=dict)
    series: dict[str, int] = field(default_factory=dict)
    occurrences: dict[str, int] = field(default_factory=dict)
    invite_token: str = ""


def occurrence_at(series: MeetingSeries, when: datetime) -> Occurrence:
    return db.session.scalars(
        select(Occurrence).where(Occurrence.series_id == series.id, Occurrence.original_start == when)
    ).one()


def build_feed_world(app, facilitator: Persona, member: Persona) -> FeedWorld:
    """Build the world (see the module docstring); returns the names of what is in it."""
    world = FeedWorld()
    with app.app_context():
        fac, mia = facilitator.user(), member.user()
        clock.set_frozen(EARLY)
        try:
            london = groups.create_group(
                fac, name="Café Circle, London; Thursdays", kind=GroupKind.PEER_SUPPORT, timezone=LONDON, now=EARLY,
                description="Tea; talk, and \u201cquiet\u201d company.\nAll welcome.", venue="Friends House",
                address="6 Mount Street, Manchester", tags=["O", "W", "walking"],
            )
            wednesday = scheduling.create_series(
                london, spec("Wednesday circle", date(2026, 11, 4), time(18, 0), LONDON, weekly(WED)), EARLY
            )
            monday = scheduling.create_series(
                london, spec("Monday lunch", date(2026, 11, 2), time(12, 0), LONDON, weekly(MON)), EARLY
            )
            db.session.commit()
        finally:
            clock.set_frozen(PINNED_NOW)
        now = PINNED_NOW

        # London: Sundays across both clock changes, a Tue+Thu series with every kind of one-off change, one-offs.
        sunday = scheduling.create_series(
            london, spec(UNICODE_TITLE, date(2026, 11, 29), time(10, 0), LONDON, weekly(SUN)), now
        )
        evening = scheduling.create_series(
            london,
            spec(
                "Evening circle", date(2026, 12, 1), time(19, 0), LONDON, weekly(TUE, THU),
                online_url="https://meet.example.org/evening", online_visibility=OnlineVisibility.EVERYONE,
                online_notes="Passcode 4242",
            ),
            now,
        )
        scheduling.cancel_occurrence(
            occurrence_at(evening, local(LONDON, 2026, 12, 8, 19)), "Holiday; no meeting, sorry", now
        )
        moved = occurrence_at(evening, local(LONDON, 2026, 12, 10, 19))
        scheduling.move_occurrence(moved, new_start_local=datetime(2026, 12, 11, 18, 0), now=now, note="Room, moved")
        moved_cancelled = occurrence_at(evening, local(LONDON, 2026, 12, 15, 19))
        scheduling.move_occurrence(moved_cancelled, new_start_local=datetime(2026, 12, 16, 19, 0), now=now)
        scheduling.cancel_occurrence(moved_cancelled, "Cancelled after all", now)
        across = occurrence_at(evening, local(LONDON, 2027, 3, 25, 19))  # GMT, moved into BST
        scheduling.move_occurrence(across, new_start_local=datetime(2027, 3, 29, 19, 0), now=now, venue="Library")
        walk = scheduling.create_series(
            london, spec("Winter walk", date(2027, 1, 16), time(11, 0), LONDON, Recurrence(Frequency.ONCE)), now
        )
        carols = scheduling.create_series(
            london, spec("Carol evening", date(2026, 12, 17), time(18, 0), LONDON, Recurrence(Frequency.ONCE)), now
        )
        scheduling.cancel_occurrence(occurrence_at(carols, local(LONDON, 2026, 12, 17, 18)), "", now)
        evil = scheduling.create_series(
            london,
            spec("placeholder", date(2026, 12, 3), time(7, 0), LONDON, weekly(THU), description=EVIL_DESCRIPTION),
            now,
        )
        newline = scheduling.create_series(
            london, spec("placeholder", date(2026, 12, 5), time(9, 0), LONDON, weekly(SAT)), now
        )
        # Titles the form would have tidied up, as older or imported data might hold them.
        evil.title, newline.title = EVIL_TITLE, NEWLINE_TITLE
        later = scheduling.update_series(wednesday, dataclasses.replace(timetable.spec_for(wednesday),
                                                                        start_time=time(17, 30)), now)
        assert later.id != wednesday.id and later.previous_id == wednesday.id  # split: the old one has begun
        scheduling.end_series(monday, now)

        # New York shows cancellations in calendars; Sundays at 01:30 (twice on the fall-back night) and 02:30
        # (missing on the spring-forward night) as well as at 10:00; monthly rules; every other week.
        new_york = groups.create_group(
            fac, name="Brooklyn Peer Support", kind=GroupKind.PEER_SUPPORT, timezone=NEW_YORK, now=now,
            calendar_shows_cancellations=True, tags=["O", "LGBTQ"],
        )
        ny = {}
        for name, start in (("ny_sunday_10", time(10, 0)), ("ny_sunday_0130", time(1, 30)),
                            ("ny_sunday_0230", time(2, 30))):
            ny[name] = scheduling.create_series(
                new_york, spec(f"Sunday {start:%H:%M}", date(2026, 11, 29), start, NEW_YORK, weekly(SUN)), now
            )
        ny_monday = scheduling.create_series(
            new_york,
            spec("Monday night", date(2026, 11, 30), time(19, 0), NEW_YORK, weekly(MON), venue="", address="",
                 online_url="https://meet.example.org/monday", online_visibility=OnlineVisibility.MEMBERS),
            now,
        )
        scheduling.cancel_occurrence(occurrence_at(ny_monday, local(NEW_YORK, 2026, 12, 7, 19)), "Snow", now)
        ny_moved = occurrence_at(ny_monday, local(NEW_YORK, 2026, 12, 14, 19))
        scheduling.move_occurrence(ny_moved, new_start_local=datetime(2026, 12, 15, 20, 0), now=now)
        ny_moved_cancelled = occurrence_at(ny_monday, local(NEW_YORK, 2026, 12, 21, 19))
        scheduling.move_occurrence(ny_moved_cancelled, new_start_local=datetime(2026, 12, 22, 19, 0), now=now)
        scheduling.cancel_occurrence(ny_moved_cancelled, "", now)
        ny["ny_first_saturday"] = scheduling.create_series(
            new_york,
            spec("First Saturday hike", date(2026, 12, 1), time(9, 0), NEW_YORK,
                 Recurrence(Frequency.MONTHLY_WEEKDAY, nth=1, weekday=SAT, count=12), duration_minutes=240),
            now,
        )
        ny["ny_fortnight"] = scheduling.create_series(
            new_york,
            spec("Fortnightly Friday", date(2026, 12, 4), time(18, 0), NEW_YORK,
                 Recurrence(Frequency.WEEKLY, interval=2, weekdays=(FRI,), until=date(2027, 6, 30))),
            now,
        )
        ny["ny_31st"] = scheduling.create_series(
            new_york,
            spec("On the 31st", date(2026, 12, 1), time(12, 0), NEW_YORK,
                 Recurrence(Frequency.MONTHLY_DAY, month_day=31)),
            now,
        )
        ny["ny_last_day"] = scheduling.create_series(
            new_york,
            spec("Last day", date(2026, 12, 1), time(23, 0), NEW_YORK,
                 Recurrence(Frequency.MONTHLY_DAY, month_day=-1)),
            now,
        )

        # Sydney (unlisted): the southern hemisphere changes clocks in April and October.
        sydney = groups.create_group(
            fac, name="Harbour Circle", kind=GroupKind.AFTERCARE, timezone=SYDNEY, now=now,
            visibility=Visibility.UNLISTED,
        )
        syd_sunday = scheduling.create_series(
            sydney, spec("Sunday morning", date(2026, 11, 29), time(9, 0), SYDNEY, weekly(SUN)), now
        )
        syd_wednesday = scheduling.create_series(
            sydney, spec("Wednesday evening", date(2026, 12, 2), time(19, 0), SYDNEY, weekly(WED)), now
        )
        scheduling.cancel_occurrence(occurrence_at(syd_wednesday, local(SYDNEY, 2026, 12, 2, 19)), "", now)
        syd_moved = occurrence_at(syd_wednesday, local(SYDNEY, 2027, 3, 31, 19))
        scheduling.move_occurrence(syd_moved, new_start_local=datetime(2027, 4, 5, 19, 0), now=now)

        # A private group: its meetings are in members' private feeds only.
        private = groups.create_group(
            fac, name="Quiet Harbour", kind=GroupKind.AFTERCARE, timezone=LONDON, now=now,
            visibility=Visibility.PRIVATE, join_policy=JoinPolicy.INVITE,
        )
        quiet = scheduling.create_series(
            private,
            spec("Quiet circle", date(2026, 12, 3), time(19, 0), LONDON, weekly(THU), venue="", address="",
                 online_url="https://meet.example.org/quiet", online_visibility=OnlineVisibility.RSVP),
            now,
        )
        world.invite_token = memberships.regenerate_invite(private, now, days=30)

        # Mia joins London and New York, comes every Sunday in London, and says yes to a few meetings.
        for group in (london, new_york):
            memberships.join(group, mia, now)
        memberships.join(private, mia, now, invite_token=world.invite_token)
        rsvps.start_standing(sunday, mia, now)
        for occ_id in (moved.id, across.id):
            rsvps.rsvp(db.session.get(Occurrence, occ_id), mia, now)
        rsvps.rsvp(occurrence_at(quiet, local(LONDON, 2026, 12, 3, 19)), mia, now)
        rsvps.rsvp(ny_moved, mia, now)
        db.session.commit()

        world.slugs = {"london": london.slug, "new_york": new_york.slug, "sydney": sydney.slug,
                       "private": private.slug}
        world.series = {
            "wednesday": wednesday.id, "wednesday_later": later.id, "monday": monday.id, "sunday": sunday.id,
            "evening": evening.id, "walk": walk.id, "carols": carols.id, "evil": evil.id, "newline": newline.id,
            "ny_monday": ny_monday.id, "syd_sunday": syd_sunday.id, "syd_wednesday": syd_wednesday.id,
            "quiet": quiet.id, **{name: s.id for name, s in ny.items()},
        }
        world.occurrences = {
            "moved": moved.id, "moved_cancelled": moved_cancelled.id, "across": across.id,
            "ny_moved": ny_moved.id, "ny_moved_cancelled": ny_moved_cancelled.id, "syd_moved": syd_moved.id,
        }
    return world


def get_feed(client, slug: str, **kwargs):
    return client.get(f"/groups/{slug}/calendar.ics", **kwargs)


def parse(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def events(cal: icalendar.Calendar, uid: str | None = None) -> list[icalendar.Event]:
    return [e for e in cal.walk("VEVENT") if uid is None or str(e["UID"]) == uid]


def master(cal: icalendar.Calendar, series_id: int) -> icalendar.Event:
    [event] = [e for e in events(cal, f"series-{series_id}@{HOST}") if "RECURRENCE-ID" not in e]
    return event


def overrides(cal: icalendar.Calendar, series_id: int) -> dict[datetime, icalendar.Event]:
    return {
        e["RECURRENCE-ID"].dt.astimezone(UTC): e
        for e in events(cal, f"series-{series_id}@{HOST}")
        if "RECURRENCE-ID" in e
    }


def exdates(event: icalendar.Event) -> list[datetime]:
    values = event.get("EXDATE", [])
    values = values if isinstance(values, list) else [values]
    return sorted(d.dt.astimezone(UTC) for v in values for d in v.dts)


def raw_lines(body: bytes, name: str) -> list[str]:
    """The unfolded content lines of a feed that start with `name` (e.g. "DTSTART")."""
    unfolded = body.replace(b"\r\n ", b"").decode()
    return [line for line in unfolded.split("\r\n") if line.split(";")[0].split(":")[0] == name]


_ADDRESS = re.compile(r'value="(http://supportnet\.test/calendar/([A-Za-z0-9_-]+)\.ics)"')


def make_address(client) -> tuple[str, str]:
    """Ask for a new private calendar address in Settings; return it and its token (shown this once)."""
    page = post(client, "/account/calendar-address")
    assert page.status_code == 200
    match = _ADDRESS.search(page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    return match.group(1), match.group(2)
