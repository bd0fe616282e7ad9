"""The whole handoff from treatment to a first meeting, in a real browser, on a desktop and on a phone.

A coordinator makes a referral and prints its card (the QR code on the page and in the PDF is read back with a
QR decoder and must be the link printed beside it); the person, in a browser of their own in another timezone,
opens that link, picks the meeting, agrees to share their progress, signs up and confirms by email, and is a
member who is going; the facilitator marks them present on the roster; the coordinator sees their progress and
the program's 7-day figure.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from supportnet import clock, groups, memberships, programs, scheduling
from supportnet.extensions import db
from supportnet.models import (
    Consent,
    Group,
    GroupKind,
    JoinPolicy,
    Membership,
    Occurrence,
    Referral,
    Rsvp,
    Scope,
    SiteRole,
    User,
    Visibility,
)
from supportnet.notifications import dispatch
from supportnet.recurrence import Frequency, Recurrence
from supportnet.series_spec import SeriesSpec
from tests.browser.support import DESKTOP, PHONE, sign_in
from tests.conftest import Mailbox, Persona, make_persona
from tests.worlds import followup

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture skips these tests (or fails them in CI) and says why
    Page = expect = None

pytestmark = pytest.mark.browser

PROGRAM = "Harbour Clinic Aftercare"
GROUP = "Harbour Evening Circle"
MEETING = "Evening circle"
GROUP_ZONE = ZoneInfo("Europe/London")
PERSON_ZONE = "America/New_York"  # never London's offset, so "your time" must show
PERSON = {"email": "sam@example.org", "password": "tea by the window", "name": "Sam S."}


@dataclass
class Handoff:
    coordinator: Persona
    facilitator: Persona
    program_id: int
    group_id: int
    occurrence_id: int  # the meeting the person will choose: today's, starting in a few minutes


def _first_meeting_soon() -> datetime:
    # Attendance can be marked from 15 minutes before a meeting starts, and "going" can be answered until it
    # starts: a start 10 minutes from now allows both for the whole run.
    return (datetime.now(GROUP_ZONE) + timedelta(minutes=10)).replace(second=0, microsecond=0)


@pytest.fixture
def handoff(live_server) -> Handoff:
    """What nobody clicks in this story: an admin's program with its coordinator, and the private group it runs
    (by approval, so only the referral lets the person straight in) with a weekly meeting starting soon."""
    app = live_server.app
    clock.set_frozen(None)  # the live server runs on the real clock, and so does everything built here
    admin = make_persona(app, "Ada A.", SiteRole.ADMIN)
    facilitator = make_persona(app, "Fay F.", SiteRole.FACILITATOR)
    coordinator = make_persona(app, "Cora C.")
    start = _first_meeting_soon()
    with app.app_context():
        now = clock.now_utc()
        group = groups.create_group(facilitator.user(), name=GROUP, kind=GroupKind.AFTERCARE,
                                    timezone="Europe/London", now=now, visibility=Visibility.PRIVATE,
                                    join_policy=JoinPolicy.APPROVAL)
        series = scheduling.create_series(group, SeriesSpec(
            title=MEETING, first_date=start.date(), start_time=start.time(), duration_minutes=60,
            timezone="Europe/London", recurrence=Recurrence(Frequency.WEEKLY, weekdays=(start.weekday(),)),
            venue="Community room", address="12 Canal Street",
        ), now)
        program = programs.create_program(PROGRAM, by=admin.user(), now=now)
        programs.add_coordinator(program, coordinator.email, by=admin.user(), now=now)
        programs.set_group_program(group, program, by=admin.user(), now=now)
        db.session.commit()
        first = db.session.scalars(select(Occurrence).where(Occurrence.series_id == series.id)
                                   .order_by(Occurrence.starts_at)).first()
        assert first.starts_at > now, "the first meeting must still be ahead"
        return Handoff(coordinator, facilitator, program.id, group.id, first.id)


# --- small helpers ---


def fits(page: Page, screen: dict) -> bool:
    """Whether the page is no wider than the screen (nothing to reach by scrolling sideways on a phone)."""
    return page.evaluate("document.documentElement.scrollWidth") <= screen["width"]


def decode_qr(image: Image.Image) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(image)]


def decode_pdf_qr(body: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(body)
    try:
        assert len(document) == 1, "the card is one page"
        return decode_qr(document[0].render(scale=2).to_pil())
    finally:
        document.close()


def wait_for_mail(mailbox: Mailbox, address: str, timeout: float) -> EmailMessage | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = mailbox.to(address)
        if messages:
            return messages[-1]
        time.sleep(0.05)
    return None


def confirmation_email(app, mailbox: Mailbox, address: str) -> EmailMessage:
    """The sign-up's email, as the person receives it.

    The app sends it once the response has gone out, from the response's close callbacks. When the browser
    resets that connection (Chromium does, now and then, right after a form's redirect), werkzeug's development
    server skips those callbacks (gunicorn does not), and the committed outbox row waits for the scheduler: so,
    failing the quick path, this runs the scheduler's pass as its process would, and the same email goes out.
    """
    message = wait_for_mail(mailbox, address, timeout=3)
    if message is None:
        with app.app_context():
            dispatch.tick()
        message = wait_for_mail(mailbox, address, timeout=10)
    assert message is not None, f"no email to {address}; got {len(mailbox.messages)} other(s)"
    return message


def seed_accepted_and_attended(app, world: Handoff, name: str) -> None:
    """Another referral of this month, accepted by someone who shares their progress and came to the meeting:
    rows written as the link and the roster would leave them (the browser part of this test does one for real)."""
    person = make_persona(app, name)
    now = clock.now_utc()
    referral_id = followup.make_referral(app, world.program_id, world.group_id, created_at=now,
                                         by=world.coordinator)
    followup.accept(app, referral_id, person, now, shares=True, join_group=False)
    with app.app_context():
        memberships.join_referred(db.session.get(Group, world.group_id), person.user(), now)
        db.session.commit()
    followup.attended(app, person, world.occurrence_id, world.facilitator)


@pytest.mark.parametrize("screen", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_referral_goes_from_a_printed_card_to_a_first_meeting_and_into_the_outcomes(
    new_page, live_server, mailbox, handoff, screen
):
    base, app, occ = live_server.url, live_server.app, handoff.occurrence_id

    # 1. The coordinator signs in and makes a referral for Sam: the group's meeting, nothing else but defaults.
    coordinator: Page = new_page(viewport=DESKTOP, timezone_id="Europe/London")
    sign_in(coordinator, base, handoff.coordinator)
    coordinator.get_by_role("navigation", name="Main").get_by_role("link", name="Referrals").click()
    coordinator.get_by_role("link", name=PROGRAM).click()
    coordinator.get_by_role("link", name="New referral").click()
    expect(coordinator.get_by_role("heading", name="New referral")).to_be_visible()
    coordinator.get_by_role("checkbox", name=re.compile(f"^{MEETING}:")).check()
    coordinator.get_by_label("First name or initials (optional)").fill("Sam")
    coordinator.get_by_role("button", name="Make the referral").click()
    expect(coordinator.get_by_role("heading", name="Referral for Sam")).to_be_visible()
    link = coordinator.locator("#referral-link").inner_text().strip()
    assert re.fullmatch(rf"{re.escape(base)}/r/[A-Za-z0-9_-]+", link), link

    # 2. The card: its QR code, as the screen shows it, is the link in letters; so is the PDF's.
    coordinator.get_by_role("link", name="Print the card").click()
    outside = coordinator.locator("#card-outside")
    expect(outside.locator(".card-address")).to_have_text(link)
    expect(coordinator.locator("#card-inside")).to_contain_text(GROUP)
    shot = outside.locator(".card-qr svg").screenshot()
    assert decode_qr(Image.open(io.BytesIO(shot))) == [link], "the QR code on the card page is not the link"
    pdf_path = coordinator.get_by_role("link", name="download it as a PDF").get_attribute("href")
    pdf = coordinator.context.request.get(base + pdf_path)
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert decode_pdf_qr(pdf.body()) == [link], "the QR code of the PDF card is not the link"

    # 3. Sam, in a browser of their own (no cookies, their screen, their timezone), opens the link.
    person: Page = new_page(viewport=screen, timezone_id=PERSON_ZONE)
    person.goto(link)
    expect(person.get_by_role("heading", name="You're invited to a first meeting")).to_be_visible()
    # Times in Sam's own zone (once the page knows it), with the group's beside them.
    their_time = re.compile(r"your time · (\w{3} )?\d\d:\d\d in London")
    expect(person.locator(f'label[for="meeting-{occ}"]')).to_contain_text(their_time)
    assert fits(person, screen), "the link's page scrolls sideways"
    person.locator(f"#meeting-{occ}").check()
    person.get_by_role("checkbox", name="Let the program that gave me this card see how my first steps go").check()
    person.get_by_role("button", name="Create an account").click()

    expect(person.get_by_role("heading", name="Create an account")).to_be_visible()
    expect(person.get_by_role("main")).to_contain_text(f"Your first meeting: {MEETING} ({GROUP})")
    assert fits(person, screen), "the sign-up page scrolls sideways"
    person.get_by_label("Email", exact=True).fill(PERSON["email"])
    person.get_by_label("Password", exact=True).fill(PERSON["password"])
    person.get_by_label("Display name", exact=True).fill(PERSON["name"])
    person.get_by_label("Timezone", exact=True).select_option(PERSON_ZONE)
    person.get_by_role("checkbox", name=re.compile("I agree")).check()
    person.get_by_role("button", name="Create account").click()
    expect(person.get_by_role("heading", name="Check your email")).to_be_visible()

    confirm = mailbox.link(confirmation_email(app, mailbox, PERSON["email"]), "/account/confirm/")
    assert confirm.startswith(f"{base}/account/confirm/"), confirm
    person.goto(confirm)
    person.get_by_role("button", name="Confirm my email").click()
    expect(person.get_by_role("heading", name="You're going")).to_be_visible()
    expect(person.get_by_role("main")).to_contain_text(f"You're a member of {GROUP} and you're going to {MEETING}")
    expect(person.get_by_role("main")).to_contain_text("your time")
    assert fits(person, screen), "the welcome page scrolls sideways"
    with app.app_context():
        sam = db.session.scalar(select(User).where(User.email == PERSON["email"]))
        referral = db.session.scalar(select(Referral).where(Referral.program_id == handoff.program_id))
        membership = db.session.scalar(select(Membership).where(Membership.user_id == sam.id))
        answer = db.session.scalar(select(Rsvp).where(Rsvp.user_id == sam.id))
        shares = db.session.scalars(select(Consent.scope).where(Consent.subject_id == sam.id)).all()
        assert (referral.accepted_by_id, referral.token) == (sam.id, None), "the link is used up"
        assert (membership.group_id, membership.status.value) == (handoff.group_id, "active")
        assert (answer.occurrence_id, answer.status.value) == (occ, "going")
        assert shares == [Scope.REFERRAL_PROGRESS]
        referral_id = referral.id

    # 4. The facilitator takes attendance on the meeting's roster (in the browser: the meeting starts within
    # 15 minutes, so marking is open).
    facilitator: Page = new_page(viewport=DESKTOP, timezone_id="Europe/London")
    sign_in(facilitator, base, handoff.facilitator)
    facilitator.goto(f"{base}/meetings/{occ}/roster")
    going = facilitator.get_by_role("region", name=re.compile("^Going")).get_by_role("listitem").filter(
        has_text=PERSON["name"])
    going.get_by_role("button", name="Mark attended").click()
    expect(going.get_by_role("button", name="Attended ✓ (undo)")).to_be_visible()

    # 5. The coordinator sees Sam's progress (Sam shares it) on the referral's page.
    coordinator.goto(f"{base}/programs/{handoff.program_id}/referrals/{referral_id}")
    facts = coordinator.locator(".referral-facts")
    expect(coordinator.locator(".referral-state")).to_have_text("Accepted")
    expect(facts).to_contain_text("Opened")
    expect(facts).to_contain_text("Accepted")
    expect(facts).to_contain_text("Joined a group")
    expect(facts).to_contain_text('First answer "going"')
    expect(facts).to_contain_text("First meeting attended")

    # Four more referrals of this month, accepted, shared and attended: with Sam, five people, so the program's
    # outcomes may show the figure (fewer than 5 would read "fewer than 5").
    for name in ("Ava V.", "Bo W.", "Cy X.", "Di Y."):
        seed_accepted_and_attended(app, handoff, name)
    coordinator.get_by_role("link", name=PROGRAM).click()
    coordinator.get_by_role("link", name="Outcomes").click()
    expect(coordinator.get_by_role("heading", name=f"Outcomes of {PROGRAM}")).to_be_visible()
    month = f"{clock.now_utc():%B %Y}"
    row = coordinator.locator("#outcomes tbody tr").filter(has_text=month)
    expect(row.locator("th, td")).to_have_text([month, "5", "5", "5", "100%", "5", "100%"])
