"""Demo data for development: a few accounts, public groups in two timezones, their meeting series, a
treatment program with a coordinator that runs one of the groups, and a few weeks of standard measures for the
demo member (so the trend has something to show).

Everything goes through the domain functions (accounts, groups, scheduling), so demo data obeys the same
rules as real data; measure responses are scored by `measures.scoring` exactly as a member's are. `seed` is
idempotent: accounts are keyed by email, groups by slug and series by title within their group, and the
member's measures are added only while they have none; a second run creates nothing. Dates are picked
relative to `now`, so a fresh seed always has upcoming meetings, one of them cancelled and one moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from supportnet import accounts, groups, memberships, programs, scheduling, visibility
from supportnet.coaching import coaches
from supportnet.extensions import db
from supportnet.measures import instruments, scoring
from supportnet.models import (
    Coach,
    Group,
    GroupKind,
    JoinPolicy,
    MeasureResponse,
    MeetingSeries,
    Occurrence,
    OnlineVisibility,
    Program,
    SiteRole,
    User,
)
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec

# Development-only passwords: seed-demo refuses to run in production.
DEMO_USERS = [
    (SiteRole.ADMIN, "admin@example.org", "Admin A.", "Europe/London", "demo-admin-pass"),
    (SiteRole.FACILITATOR, "facilitator@example.org", "Fran F.", "Europe/London", "demo-facilitator-pass"),
    (SiteRole.MEMBER, "member@example.org", "Sam K.", "America/New_York", "demo-member-pass"),
    (SiteRole.MEMBER, "member2@example.org", "Alex R.", "Europe/London", "demo-member2-pass"),
    # Coordinates the demo program: makes referrals and prints their cards (Referrals in the navigation).
    (SiteRole.MEMBER, "coordinator@example.org", "Cory C.", "Europe/London", "demo-coordinator-pass"),
    # A public coach members can book one-to-one sessions with (Sessions in the navigation, then Find a coach).
    (SiteRole.MEMBER, "coach@example.org", "Jo M.", "America/Chicago", "demo-coach-pass"),
]
ADMIN, FACILITATOR, MEMBER, MEMBER2, COORDINATOR, COACH = (user[1] for user in DEMO_USERS)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@dataclass(frozen=True)
class DemoSeries:
    """A meeting series of a demo group; the first meeting is the first matching day after `now`."""

    title: str
    recurrence: Recurrence
    start_time: time
    duration_minutes: int
    description: str = ""
    venue: str = ""
    address: str = ""
    location_notes: str = ""
    online_url: str = ""
    online_notes: str = ""
    online_visibility: OnlineVisibility = OnlineVisibility.MEMBERS
    capacity: int | None = None


@dataclass(frozen=True)
class DemoGroup:
    slug: str
    name: str
    kind: GroupKind
    timezone: str
    facilitator: str  # email of a demo account
    description: str
    tags: tuple[str, ...]
    join_policy: JoinPolicy = JoinPolicy.OPEN
    venue: str = ""
    address: str = ""
    contact_note: str = ""
    series: tuple[DemoSeries, ...] = ()
    # (email, approved): in an approval group an unapproved request stays pending for the facilitator.
    members: tuple[tuple[str, bool], ...] = field(default_factory=tuple)


DEMO_GROUPS = (
    DemoGroup(
        slug="thursday-aftercare-integration-circle",
        name="Thursday Aftercare Integration Circle",
        kind=GroupKind.AFTERCARE,
        timezone="Europe/London",
        facilitator=FACILITATOR,
        description=(
            "A small, closed circle for people who have finished a residential or day programme and are "
            "settling back into everyday life. We check in, talk through what the week brought and share "
            "what is helping. Ask to join and a facilitator will say hello before your first meeting."
        ),
        tags=("C", "D", "BE", "aftercare"),
        join_policy=JoinPolicy.APPROVAL,
        venue="Canal Street Wellbeing Centre",
        address="12 Canal Street, Manchester",
        contact_note="Ring the bell marked 'Community room'; someone will come down to let you in.",
        series=(
            DemoSeries(
                title="Integration circle",
                recurrence=Recurrence(Frequency.WEEKLY, weekdays=(THU,)),
                start_time=time(19, 0),
                duration_minutes=90,
                description="Check-in round, then an open discussion. Tea and biscuits from 18:45.",
                venue="Canal Street Wellbeing Centre, community room",
                address="12 Canal Street, Manchester",
                location_notes="Step-free entrance on the side of the building.",
                capacity=8,
            ),
        ),
        members=((MEMBER2, True), (MEMBER, False)),
    ),
    DemoGroup(
        slug="sober-friday-coffee",
        name="Sober Friday Coffee",
        kind=GroupKind.MEETUP,
        timezone="Europe/London",
        facilitator=FACILITATOR,
        description=(
            "An easy-going coffee morning every other Friday for anyone in recovery, and for the people "
            "who support them. No agenda and no speeches: just good coffee and company."
        ),
        tags=("O", "BE", "BRK", "social"),
        venue="The Lantern Café",
        address="3 Market Row, Manchester",
        series=(
            DemoSeries(
                title="Coffee morning",
                recurrence=Recurrence(Frequency.WEEKLY, interval=2, weekdays=(FRI,)),
                start_time=time(10, 30),
                duration_minutes=90,
                description="We sit at the big table at the back. Look for the green mug on the table.",
                venue="The Lantern Café",
                address="3 Market Row, Manchester",
            ),
        ),
        members=((MEMBER2, True),),
    ),
    DemoGroup(
        slug="sunday-morning-recovery-meditation",
        name="Sunday Morning Recovery Meditation",
        kind=GroupKind.PEER_SUPPORT,
        timezone="Europe/London",
        facilitator=FACILITATOR,
        description=(
            "Twenty minutes of guided meditation followed by a short sharing round. Come to the room or "
            "join online; beginners are very welcome and nobody has to speak."
        ),
        tags=("O", "MED", "BE", "mindfulness"),
        venue="Friends Meeting House",
        address="6 Mount Street, Manchester",
        series=(
            DemoSeries(
                title="Meditation and sharing",
                recurrence=Recurrence(Frequency.WEEKLY, weekdays=(SUN,)),
                start_time=time(9, 30),
                duration_minutes=60,
                venue="Friends Meeting House, quiet room",
                address="6 Mount Street, Manchester",
                online_url="https://meet.example.org/sunday-recovery-meditation",
                online_notes="Cameras optional.",
                online_visibility=OnlineVisibility.MEMBERS,
            ),
        ),
    ),
    DemoGroup(
        slug="monthly-sober-hike",
        name="Monthly Sober Hike",
        kind=GroupKind.MEETUP,
        timezone="America/New_York",
        facilitator=ADMIN,
        description=(
            "A relaxed half-day hike on the first Saturday of the month, at the pace of the slowest walker. "
            "Bring water, a snack and shoes you can walk in; we finish with lunch for anyone who can stay."
        ),
        tags=("O", "OUT", "social"),
        venue="Bear Mountain State Park",
        address="Bear Mountain Inn parking lot, Bear Mountain, NY",
        series=(
            DemoSeries(
                title="First Saturday hike",
                recurrence=Recurrence(Frequency.MONTHLY_WEEKDAY, nth=1, weekday=SAT),
                start_time=time(9, 0),
                duration_minutes=240,
                description="About 5 miles with a few hills. We cancel in storms; check here the evening before.",
                venue="Bear Mountain Inn parking lot",
                address="3020 Seven Lakes Drive, Bear Mountain, NY",
                location_notes="Meet by the trail map board at the north end of the lot.",
                capacity=15,
            ),
        ),
        members=((MEMBER, True),),
    ),
    DemoGroup(
        slug="peer-support-circle-online",
        name="Peer Support Circle Online",
        kind=GroupKind.PEER_SUPPORT,
        timezone="America/New_York",
        facilitator=ADMIN,
        description=(
            "A weekly video circle for people in recovery wherever they live. We open with a short reading, "
            "then anyone who wishes can share. What is said in the circle stays in the circle."
        ),
        tags=("O", "D", "LIT", "online"),
        series=(
            DemoSeries(
                title="Tuesday evening circle",
                recurrence=Recurrence(Frequency.WEEKLY, weekdays=(TUE,)),
                start_time=time(20, 0),
                duration_minutes=60,
                online_url="https://meet.example.org/peer-support-circle",
                online_notes="The room opens ten minutes early. You can keep your camera off.",
                online_visibility=OnlineVisibility.MEMBERS,
            ),
        ),
        members=((MEMBER, True), (MEMBER2, True)),
    ),
)

# A treatment centre's aftercare team: it runs the integration circle, and its coordinator refers people to it.
DEMO_PROGRAM = "Harbour House aftercare"

# One-off changes to upcoming meetings of the integration circle, by index among its upcoming meetings.
CHANGED_GROUP = "thursday-aftercare-integration-circle"
CANCEL_INDEX = 1  # the 2nd upcoming meeting
CANCEL_NOTE = "No meeting this week: the facilitator is away. We meet again the following Thursday."
MOVE_INDEX = 3  # the 4th upcoming meeting
MOVE_NOTE = "Moved to the day before this week: the centre is closed on Thursday. Same room, same time."


def seed(now: datetime) -> list[tuple[str, str, str]]:
    """Create whatever demo data is missing; return (role, email, password) for each demo login."""
    logins = []
    users: dict[str, User] = {}
    for role, email, name, tz, password in DEMO_USERS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = accounts.create_user(email, password, name, now, timezone=tz, role=role)
        users[email] = user
        logins.append(({COORDINATOR: "coordinator", COACH: "coach"}.get(email, role.value), email, password))
    seeded = {demo.slug: _seed_group(demo, users, now) for demo in DEMO_GROUPS}
    _seed_program(users, seeded[CHANGED_GROUP], now)
    _seed_measures(users[MEMBER], now)
    _seed_coach(users, now)
    return logins


# The demo member's past measures: (weeks ago, instrument code, item label -> answer value). A PHQ-9 every two
# weeks easing from moderate to mild, and a monthly BAM with use falling and protective factors growing. No
# answer raises the safety flag, and the BAM's skipped items (5, and 7A-7G after "0 days") are left out, as
# the form leaves them.
DEMO_MEASURES: tuple[tuple[int, str, dict[str, int]], ...] = (
    (8, "PHQ-9", {"1": 2, "2": 2, "3": 2, "4": 2, "5": 1, "6": 1, "7": 1, "8": 0, "9": 0, "difficulty": 1}),
    (6, "PHQ-9", {"1": 1, "2": 2, "3": 1, "4": 2, "5": 1, "6": 1, "7": 1, "8": 0, "9": 0, "difficulty": 1}),
    (4, "PHQ-9", {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1, "6": 1, "7": 0, "8": 0, "9": 0, "difficulty": 1}),
    (2, "PHQ-9", {"1": 1, "2": 1, "3": 1, "4": 1, "5": 0, "6": 0, "7": 0, "8": 0, "9": 0, "difficulty": 0}),
    (9, "BAM", {"1": 2, "2": 2, "3": 2, "4": 1, "5": 1, "6": 0, "8": 2, "9": 3, "10": 2, "11": 1, "12": 2,
                "13": 1, "14": 4, "15": 1, "16": 2, "17": 2}),
    (5, "BAM", {"1": 2, "2": 1, "3": 2, "4": 0, "6": 0, "8": 1, "9": 3, "10": 3, "11": 1, "12": 2, "13": 0,
                "14": 4, "15": 1, "16": 3, "17": 3}),
    (1, "BAM", {"1": 1, "2": 1, "3": 1, "4": 0, "6": 0, "8": 1, "9": 4, "10": 3, "11": 0, "12": 3, "13": 0,
                "14": 4, "15": 0, "16": 3, "17": 3}),
)


def _seed_measures(member: User, now: datetime) -> None:
    """Give the demo member a few past measure responses, scored like any other, unless they have some."""
    if db.session.scalar(select(MeasureResponse.id).where(MeasureResponse.user_id == member.id).limit(1)):
        return
    zone = ZoneInfo(member.timezone)
    for weeks_ago, code, answers in DEMO_MEASURES:
        instrument = instruments.current(code)
        result = scoring.score(instrument, answers)
        taken_at = now - timedelta(weeks=weeks_ago)
        db.session.add(MeasureResponse(
            user_id=member.id, code=instrument.code, version=instrument.version, answers=json.dumps(answers),
            scores=dict(result.subscales), taken_at=taken_at, local_date=taken_at.astimezone(zone).date(),
            attendance_offered=None,
        ))
    db.session.flush()


def _seed_coach(users: dict[str, User], now: datetime) -> None:
    """Make the demo coach a public coach with weekday afternoons free, unless they coach already."""
    if db.session.scalar(select(Coach.id).where(Coach.user_id == users[COACH].id)) is not None:
        return  # (ids only: a coach row holds encrypted columns, and a demo rerun must not need them)
    coach = coaches.grant(COACH, by=users[ADMIN], now=now)
    coaches.update_profile(coach, coaches.Profile(
        display_name="Jo M. (peer recovery coach)", offers="One-to-one peer recovery coaching: planning the first "
        "weeks after treatment, finding meetings, and what to do on hard evenings.", languages="English, Spanish",
        online=True, in_person=False, place="", timezone="America/Chicago", session_minutes=50, buffer_minutes=10,
        notice_hours=12, horizon_days=21, late_change_hours=12, online_url="https://meet.example.org/jo-demo"))
    for weekday in (MON, TUE, WED, THU, FRI):
        coaches.add_window(coach, weekday, time(13), time(17))


def _seed_program(users: dict[str, User], group: Group, now: datetime) -> Program:
    admin = users[ADMIN]
    program = db.session.scalar(select(Program).where(Program.name == DEMO_PROGRAM))
    if program is None:
        program = programs.create_program(DEMO_PROGRAM, by=admin, now=now)
    if not visibility.coordinates(users[COORDINATOR], program.id):
        programs.add_coordinator(program, COORDINATOR, by=admin, now=now)
    if group.program_id != program.id:
        programs.set_group_program(group, program, by=admin, now=now)
    return program


def _seed_group(demo: DemoGroup, users: dict[str, User], now: datetime) -> Group:
    group = db.session.scalar(select(Group).where(Group.slug == demo.slug))
    if group is None:
        group = groups.create_group(
            users[demo.facilitator],
            name=demo.name,
            slug=demo.slug,
            kind=demo.kind,
            timezone=demo.timezone,
            now=now,
            description=demo.description,
            join_policy=demo.join_policy,
            venue=demo.venue,
            address=demo.address,
            contact_note=demo.contact_note,
            tags=demo.tags,
        )
    titles = set(db.session.scalars(select(MeetingSeries.title).where(MeetingSeries.group_id == group.id)))
    for item in demo.series:
        if item.title in titles:
            continue
        series = scheduling.create_series(group, _spec(item, demo.timezone, now), now)
        if demo.slug == CHANGED_GROUP:
            _change_upcoming(series, now)
    for email, approved in demo.members:
        membership = visibility.membership_for(group, users[email])
        if membership is None:
            membership = memberships.join(group, users[email], now)
            if approved:
                memberships.approve(membership, now)
    return group


def _spec(item: DemoSeries, timezone: str, now: datetime) -> SeriesSpec:
    # Tomorrow in the series' zone is never in the past, so create_series accepts the first meeting.
    tomorrow = now.astimezone(ZoneInfo(timezone)).date() + timedelta(days=1)
    return SeriesSpec(
        title=item.title,
        description=item.description,
        first_date=tomorrow,
        start_time=item.start_time,
        duration_minutes=item.duration_minutes,
        timezone=timezone,
        recurrence=item.recurrence,
        venue=item.venue,
        address=item.address,
        location_notes=item.location_notes,
        online_url=item.online_url,
        online_notes=item.online_notes,
        online_visibility=item.online_visibility,
        capacity=item.capacity,
    )


def _change_upcoming(series: MeetingSeries, now: datetime) -> None:
    """Cancel one upcoming meeting and move another a day earlier, so the demo shows both notices."""
    upcoming = list(
        db.session.scalars(
            select(Occurrence)
            .where(Occurrence.series_id == series.id, Occurrence.starts_at > now)
            .order_by(Occurrence.starts_at)
            .limit(MOVE_INDEX + 1)
        )
    )
    scheduling.cancel_occurrence(upcoming[CANCEL_INDEX], CANCEL_NOTE, now)
    moved = upcoming[MOVE_INDEX]
    local_start = moved.starts_at.astimezone(series.tz).replace(tzinfo=None)
    scheduling.move_occurrence(moved, new_start_local=local_start - timedelta(days=1), now=now, note=MOVE_NOTE)
