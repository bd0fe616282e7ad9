"""What each notification says: subjects, text and HTML emails, the .ics of a meeting, and in-app entries.

Discreet by default: subjects and bodies name no group, meeting title, place or group kind
("Reminder: Tuesday 19:00"), because email previews show on lock screens and shared screens. A member who
opts in to descriptive subjects gets the names. The in-app inbox sits behind the member's sign-in and always
names things. Nothing here ever reads or shows check-in content beyond "asked for support" and a day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from icalendar import Calendar, Event

from supportnet import consent, crypto, followup, mail, rsvps
from supportnet.checkins import rhythms as checkins_rhythms
from supportnet.checkins import sharing as checkins_sharing
from supportnet.checkins import support as checkins_support
from supportnet.clock import timezone_names
from supportnet.coaching import notices as coaching_notices
from supportnet.extensions import db
from supportnet.models import (
    Group,
    Notification,
    NotificationKind,
    Occurrence,
    Referral,
    Scope,
    SessionStatus,
    Supporter,
)
from supportnet.notifications.links import (
    cant_make_it_token,
    link,
    path,
    session_cant_make_it_token,
    stop_token,
)
from supportnet.notifications.preferences import ALWAYS_SENT, Preferences
from supportnet.supporters import alerts as supporter_alerts
from supportnet.supporters import people as supporter_people
from supportnet.supporters import reach as supporter_reach
from supportnet.textsafety import safe_meeting_url

Kind = NotificationKind


@dataclass
class Notice:
    subject: str
    paragraphs: list[str]
    actions: list[tuple[str, str]] = field(default_factory=list)
    calendar: bytes | None = None


@dataclass(frozen=True)
class InboxItem:
    title: str
    text: str
    url: str | None


def _zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name if name in timezone_names() else "UTC")


def when_short(instant: datetime, tz: ZoneInfo, now: datetime) -> str:
    """"Tuesday 19:00" within the coming week, "Tuesday 8 December 19:00" further away."""
    local = instant.astimezone(tz)
    days = (local.date() - now.astimezone(tz).date()).days
    if 0 <= days <= 6:
        return f"{local:%A %H:%M}"
    return f"{local:%A} {local.day} {local:%B %H:%M}"


def when_long(start: datetime, end: datetime | None, tz: ZoneInfo) -> str:
    """For example "Tuesday 1 December 2026, 19:00 to 20:30 (Europe/London time)", with a dash."""
    s = start.astimezone(tz)
    text = f"{s:%A} {s.day} {s:%B %Y}, {s:%H:%M}"
    if end is not None:
        e = end.astimezone(tz)
        text += f"\u2013{e:%H:%M}" if e.date() == s.date() else f" \u2013 {e:%A} {e.day} {e:%B}, {e:%H:%M}"
    return f"{text} ({tz.key} time)"


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _place(occ: Occurrence) -> str:
    return ", ".join(part for part in (occ.effective_venue, occ.effective_address) if part)


def meeting_calendar(occ: Occurrence, descriptive: bool, now: datetime) -> bytes:
    """A minimal iCalendar file with this one meeting (discreet: "Meeting", no place) for a reminder."""
    url = link("meetings.occurrence", occurrence_id=occ.id)
    summary = f"{occ.series.title} ({occ.series.group.name})" if descriptive else "Meeting"
    location = _place(occ) if descriptive else ""
    domain = mail.sender_domain(current_app.config["MAIL_FROM"])
    return _calendar(occ.id, occ.sequence or 0, occ.starts_at, occ.ends_at, summary, location, url, domain, now)


@lru_cache(maxsize=256)
def _calendar(occurrence_id: int, sequence: int, starts_at: datetime, ends_at: datetime, summary: str,
              location: str, url: str, domain: str, stamp: datetime) -> bytes:
    # Cached: a tick sends the same meeting's file to everyone going (same stamp within a tick), and building
    # it with icalendar costs more than the rest of the email.
    cal = Calendar()
    cal.add("prodid", "-//SupportNet//Reminders//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"occurrence-{occurrence_id}@{domain}")
    event.add("dtstamp", stamp)
    event.add("dtstart", starts_at)
    event.add("dtend", ends_at)
    event.add("sequence", sequence)
    event.add("summary", summary)
    if location:
        event.add("location", location)
    event.add("url", url)
    event.add("description", url)
    cal.add_component(event)
    return cal.to_ical()


# --- composing one notice ----------------------------------------------------------------------------------


@dataclass
class _Ctx:
    n: Notification
    tz: ZoneInfo
    now: datetime
    descriptive: bool
    email: bool
    url: Callable[..., str]
    group: Group | None

    @property
    def occ(self) -> Occurrence:
        return self.n.occurrence

    def meeting_name(self) -> str:
        occ = self.occ
        return f"{occ.series.title} ({occ.series.group.name})"


def _compose(ctx: _Ctx) -> Notice:
    return _COMPOSERS[ctx.n.kind](ctx)


def _reminder(ctx: _Ctx) -> Notice:
    occ = ctx.occ
    short = when_short(occ.starts_at, ctx.tz, ctx.now)
    long = when_long(occ.starts_at, occ.ends_at, ctx.tz)
    if ctx.descriptive:
        subject = f"Reminder: {occ.series.title}, {short}"
        paragraphs = [f"A reminder that you're going to {ctx.meeting_name()} on {long}."]
        if _place(occ):
            paragraphs.append(f"Where: {_place(occ)}")
    else:
        subject = f"Reminder: {short}"
        paragraphs = [f"A reminder that you're going to a meeting on {long}."]
    actions = [("See the meeting", ctx.url("meetings.occurrence", occurrence_id=occ.id))]
    if ctx.email:
        token = cant_make_it_token(ctx.n.user, occ.id)
        actions.append(("Can't make it? Free your seat", ctx.url("notifications.cant_make_it", token=token)))
    return Notice(subject, paragraphs, actions, meeting_calendar(occ, ctx.descriptive, ctx.now) if ctx.email else None)


def _starting_now(ctx: _Ctx) -> Notice:
    occ = ctx.occ
    series = occ.series
    short = when_short(occ.starts_at, ctx.tz, ctx.now)
    subject = f"Starting now: {series.title}" if ctx.descriptive else f"Starting now: {short}"
    what = ctx.meeting_name() if ctx.descriptive else "Your meeting"
    paragraphs = [f"{what} starts now ({when_long(occ.starts_at, occ.ends_at, ctx.tz)})."]
    if safe_meeting_url(series.online_url):
        paragraphs.append(f"Join online: {series.online_url}")
    if series.online_phone:
        paragraphs.append(f"Or dial in: {series.online_phone}")
    return Notice(subject, paragraphs, [("See the meeting", ctx.url("meetings.occurrence", occurrence_id=occ.id))])


def _change(ctx: _Ctx) -> Notice:
    payload = ctx.n.payload
    change = payload.get("change")
    if change in ("series_changed", "series_ended"):
        return _series_change(ctx, ended=change == "series_ended")
    occ = ctx.occ
    old = _instant(payload.get("old_starts_at")) or occ.starts_at
    old_short = when_short(old, ctx.tz, ctx.now)
    what = ctx.meeting_name() if ctx.descriptive else "the meeting"
    title = f"{occ.series.title}, " if ctx.descriptive else ""
    if change == "cancelled":
        subject = f"Cancelled: {title}{old_short}"
        paragraphs = [f"Sorry: {what} on {when_long(old, None, ctx.tz)} is cancelled."]
    elif change == "restored":
        subject = f"Back on: {title}{when_short(occ.starts_at, ctx.tz, ctx.now)}"
        paragraphs = [f"Good news: {what} on {when_long(occ.starts_at, occ.ends_at, ctx.tz)} is on again, "
                      "at its usual time and place."]
    else:
        subject = f"Moved: {title}{when_short(occ.starts_at, ctx.tz, ctx.now)}"
        paragraphs = [f"{what[0].upper()}{what[1:]} on {when_long(old, None, ctx.tz)} has moved to "
                      f"{when_long(occ.starts_at, occ.ends_at, ctx.tz)}."]
        if ctx.descriptive and _place(occ):
            paragraphs.append(f"Where: {_place(occ)}")
    # The reason is the facilitator's free text and may name the group's purpose, so a discreet email only says
    # there is one (a shared inbox then reveals nothing); descriptive emails and the in-app notice quote it.
    if occ.note and ctx.descriptive:
        paragraphs.append(f"The facilitator says: {occ.note}")
    elif occ.note and change in ("cancelled", "moved"):
        paragraphs.append("The facilitator gave a reason. Read it on the meeting's page (the link below).")
    return Notice(subject, paragraphs, [("See the meeting", ctx.url("meetings.occurrence", occurrence_id=occ.id))])


def _series_change(ctx: _Ctx, ended: bool) -> Notice:
    group = ctx.group
    named = ctx.descriptive and group is not None
    subject = f"Schedule update: {group.name}" if named else "Schedule update"
    whose = f"A meeting series of {group.name}" if named else "A meeting series you're going to"
    if ended:
        paragraphs = [f"{whose} has ended: its coming meetings are cancelled."]
    else:
        paragraphs = [f"{whose} has changed (its time, place or details). Please check the new details."]
    actions = [("See the group's meetings", ctx.url("groups.show", slug=group.slug))] if group else []
    return Notice(subject, paragraphs, actions)


def _seat(ctx: _Ctx) -> Notice:
    occ = ctx.occ
    short = when_short(occ.starts_at, ctx.tz, ctx.now)
    subject = f"You have a seat: {occ.series.title}, {short}" if ctx.descriptive else f"You have a seat: {short}"
    what = ctx.meeting_name() if ctx.descriptive else "the meeting"
    paragraphs = [f"A seat opened up and it's yours: you're going to {what} on "
                  f"{when_long(occ.starts_at, occ.ends_at, ctx.tz)}."]
    actions = [("See the meeting", ctx.url("meetings.occurrence", occurrence_id=occ.id))]
    if ctx.email:
        token = cant_make_it_token(ctx.n.user, occ.id)
        actions.append(("Can't make it? Give the seat back", ctx.url("notifications.cant_make_it", token=token)))
    return Notice(subject, paragraphs, actions, meeting_calendar(occ, ctx.descriptive, ctx.now) if ctx.email else None)


def _join_answer(ctx: _Ctx) -> Notice:
    group = ctx.group
    accepted = ctx.n.payload.get("answer") == "accepted"
    named = ctx.descriptive and group is not None
    if accepted:
        subject = f"Welcome to {group.name}" if named else "Your request was accepted"
        paragraphs = [f"Your request to join {group.name if named else 'the group'} was accepted. "
                      "You can now see its meetings and say you're coming."]
    else:
        subject = f"About your request to join {group.name}" if named else "About your request"
        paragraphs = [f"Your request to join {group.name if named else 'the group'} wasn't accepted this time."]
    actions = [("See the group", ctx.url("groups.show", slug=group.slug))] if group and accepted else []
    return Notice(subject, paragraphs, actions)


def _join_request(ctx: _Ctx) -> Notice:
    group = ctx.group
    named = ctx.descriptive and group is not None
    name = ctx.n.payload.get("name") or "Someone"
    subject = f"New request to join {group.name}" if named else "New request to join"
    paragraphs = [f"{name} asked to join {group.name if named else 'your group'}."]
    actions = [("Answer the request", ctx.url("groups.members", slug=group.slug))] if group else []
    return Notice(subject, paragraphs, actions)


def _digest(ctx: _Ctx) -> Notice:
    occ = ctx.occ
    short = when_short(occ.starts_at, ctx.tz, ctx.now)
    subject = f"Who's coming: {occ.series.title}, {short}" if ctx.descriptive else f"Who's coming: {short}"
    what = ctx.meeting_name() if ctx.descriptive else "the meeting"
    actions = [("See the roster", ctx.url("rsvp.roster", occurrence_id=occ.id))]
    if not ctx.email:
        return Notice(subject, [f"Who's coming to {what} on {when_long(occ.starts_at, occ.ends_at, ctx.tz)}."],
                      actions)
    roster = rsvps.roster(occ)
    going = [row.user.display_name for row in roster.going]
    waiting = [row.user.display_name for row in roster.waitlist]
    paragraphs = [f"For {what} on {when_long(occ.starts_at, occ.ends_at, ctx.tz)}: "
                  f"{len(going)} going, {len(waiting)} on the waitlist."]
    paragraphs.append("Going: " + (", ".join(going) if going else "nobody yet."))
    if waiting:
        paragraphs.append("Waitlist, in order: " + ", ".join(waiting))
    # Only members who share with this group, and only how many: who asked, and when, is on the support page
    # behind the facilitator's sign-in, not in a mailbox that may be read on a shared screen.
    overview = checkins_support.support_overview(occ.series.group, ctx.n.user, ctx.now)
    if overview.requests:
        count = len({member.user_id for member, _checkin in overview.requests})
        people = "1 member who shares" if count == 1 else f"{count} members who share"
        paragraphs.append(f"{people} with your group asked for support in the last 7 days.")
        actions.append(("See who asked for support", ctx.url("checkins.group_support", slug=occ.series.group.slug)))
    return Notice(subject, paragraphs, actions)


def _announcement(ctx: _Ctx) -> Notice:
    group = ctx.group
    payload = ctx.n.payload
    own_subject = payload.get("subject") or ""
    named = ctx.descriptive and group is not None
    if named:
        subject = f"{group.name}: {own_subject}" if own_subject else f"A message from {group.name}"
    else:
        subject = "A message from your facilitator"
    paragraphs = [own_subject] if own_subject else []
    paragraphs += [block.strip() for block in payload.get("body", "").split("\n\n") if block.strip()]
    paragraphs.append(f"\u2014 {payload.get('author', 'Your facilitator')}")
    actions = [("See the group", ctx.url("groups.show", slug=group.slug))] if group else []
    return Notice(subject, paragraphs, actions)


def _checkin_prompt(ctx: _Ctx) -> Notice:
    return Notice(
        "How are you today?",
        ["Take a minute to note how you're doing. It's just for you unless you choose to share."],
        [("Check in", ctx.url("checkins.new"))],
    )


# --- measures: a rhythm's due day ---


def _measure_prompt(ctx: _Ctx) -> Notice:
    # Neutral in email: no instrument's name (a questionnaire about depression or drinking on a lock screen
    # says too much) unless the member asked for descriptive subjects; the inbox, behind sign-in, names it.
    code = (ctx.n.payload or {}).get("code", "")
    title = checkins_rhythms.prompt_title(code) or "a measure"
    named = not ctx.email or ctx.descriptive
    subject = f"A check-in is due: {title}" if named else "A check-in is due"
    what = title if named else "the check-in you chose"
    paragraphs = [f"Today is a day for {what}, on the rhythm you chose. It takes a few minutes and is just for "
                  "you unless you choose to share it.",
                  "This is the only reminder for today; you can change or stop the rhythm on your measures page."]
    return Notice(subject, paragraphs, [("Take it", ctx.url("measures.take", code=code))])


def _missed_you(ctx: _Ctx) -> Notice:
    group = ctx.group
    where = f" at {group.name}" if ctx.descriptive and group is not None else ""
    paragraphs = [f"We haven't seen you{where} for the last few meetings, and we wanted to say we're thinking "
                  "of you. There's no pressure: you're welcome back any time."]
    actions = [("See the coming meetings", ctx.url("groups.show", slug=group.slug))] if group else []
    return Notice("Thinking of you", paragraphs, actions)


def _sharing_audience(ctx: _Ctx) -> Notice:
    group = ctx.group
    named = not ctx.email or ctx.descriptive
    name = ctx.n.payload.get("name") or "Someone"
    if group is None and ctx.n.payload.get("program_id") is not None:
        # A new coordinator of a program the member shares measures with. The program is not named in an email
        # (a treatment centre's name says as much as a group's).
        paragraphs = [
            f"{name} is now a coordinator of a program you share your measures with. A program's coordinators "
            f"see what you chose to share with it, so {name} can now see it too.",
            "Your sharing page lists everyone who can see what you share, and you can stop sharing there at once.",
        ]
        return Notice("Who can see what you share", paragraphs,
                      [("See who can see what you share", ctx.url("checkins.sharing"))])
    where = group.name if named and group is not None else "one of your groups"
    paragraphs = [
        f"{name} is now a facilitator of {where}. A group's facilitators see what you chose to share with it "
        f"(check-ins, your day count, measures), so {name} can now see what you share there.",
        "Your sharing page lists everyone who can see it. If you'd rather not share any more, stop with one click.",
    ]
    actions = [("See who can see what you share", ctx.url("checkins.sharing"))]
    if group is not None:
        token = checkins_sharing.stop_sharing_token(ctx.n.user_id, group.id)
        actions.append(("Stop sharing with this group", ctx.url("checkins.stop_sharing", token=token)))
    return Notice("Who can see what you share", paragraphs, actions)


# --- referral nudges, to a program's coordinators ---


def _referral_nudge(ctx: _Ctx) -> Notice:
    # Neutral everywhere, even to a coordinator who asked for descriptive subjects: the subject names nobody, and
    # the body gives only the first name the coordinator typed on the referral (if any), never a group, a
    # meeting or the program, so a glance at a lock screen learns nothing about anyone's treatment.
    payload = ctx.n.payload or {}
    referral = followup.nudge_referral(ctx.n)
    who = referral.first_name if referral is not None and referral.first_name else None
    if payload.get("reason") == followup.NO_RSVP:
        days, what = followup.NUDGE_NO_RSVP.days, "hasn't said they're going to a meeting yet"
    else:
        days, what = followup.NUDGE_NO_ATTENDANCE.days, "hasn't been to a meeting yet"
    subject = "A referral needs a look"
    text = (f"{who} accepted their referral {days} days ago and {what}." if who
            else f"Someone you referred accepted {days} days ago and {what}.")
    paragraphs = [text, "They chose to share their progress with your program, so you can see how it's going."]
    url = ctx.url("programs.referral", program_id=payload.get("program_id", 0),
                  referral_id=payload.get("referral_id", 0))
    return Notice(subject, paragraphs, [("See the referral", url)])


# --- referrals: a newcomer is coming (to the group's volunteer greeters) ---


def newcomer_first_name(n: Notification, now: datetime) -> str | None:
    """The newcomer's first name, only while they let the group's greeters know it (asked again each time a
    notice is composed: a consent revoked after the notice was written holds back the name)."""
    referral = db.session.get(Referral, n.payload.get("referral_id")) if n.payload.get("referral_id") else None
    if referral is None or referral.accepted_by_id is None or not referral.first_name or n.occurrence is None:
        return None
    recipient = consent.Recipient.group_greeters(n.occurrence.series.group_id)
    if not consent.allows(referral.accepted_by_id, recipient, Scope.NEWCOMER_NAME, now):
        return None
    return referral.first_name


def _newcomer(ctx: _Ctx) -> Notice:
    occ = ctx.occ
    # In the meeting's own time: the greeter meets the newcomer there ("Tuesday 19:00").
    short = when_short(occ.starts_at, _zone(occ.series.timezone), ctx.now)
    title = f" to {occ.series.title}" if ctx.descriptive else ""
    subject = f"A newcomer is coming{title} on {short}"
    name = newcomer_first_name(ctx.n, ctx.now)
    who = f"A newcomer, {name}," if name else "A newcomer"
    what = ctx.meeting_name() if ctx.descriptive else "the meeting"
    paragraphs = [
        f"{who} is coming to {what} on {when_long(occ.starts_at, occ.ends_at, _zone(occ.series.timezone))}.",
        "You volunteered to greet newcomers: a friendly hello when they arrive helps. You can stop greeting on "
        "the group's page.",
    ]
    return Notice(subject, paragraphs, [("See the meeting", ctx.url("meetings.occurrence", occurrence_id=occ.id))])


_COMPOSERS: dict[NotificationKind, Callable[[_Ctx], Notice]] = {
    Kind.REMINDER: _reminder,
    Kind.STARTING_NOW: _starting_now,
    Kind.CHANGE: _change,
    Kind.SEAT: _seat,
    Kind.JOIN_ANSWER: _join_answer,
    Kind.JOIN_REQUEST: _join_request,
    Kind.DIGEST: _digest,
    Kind.ANNOUNCEMENT: _announcement,
    Kind.CHECKIN_PROMPT: _checkin_prompt,
    Kind.MISSED_YOU: _missed_you,
    Kind.SHARING_AUDIENCE: _sharing_audience,
    Kind.REFERRAL_NUDGE: _referral_nudge,
    Kind.NEWCOMER: _newcomer,
    Kind.MEASURE_PROMPT: _measure_prompt,
}


def _account_email(n: Notification) -> mail.Mail:
    """A sign-up or password-reset email from the outbox: the link is decrypted only to be sent."""
    payload = n.payload
    context = {
        "link": str(crypto.decrypt(payload["link"])) if payload.get("link") else None,
        "login_link": link("auth.login"),
        "reset_link": link("auth.forgot_password"),
    }
    message = mail.render(n.user.email, payload["subject"], payload["template"], **context)
    message.headers["Auto-Submitted"] = "auto-generated"
    return message


# A referral's link, to the address a coordinator typed for the person: no account, no name, and a subject
# and text that say nothing of a program, a group or recovery (a shared inbox or a lock screen shows them).
REFERRAL_LINK_SUBJECT = "An invitation for you"


def referral_link_email(n: Notification) -> mail.Mail:
    """The email of a referral's link: the address and the link are decrypted only to be sent."""
    payload = n.payload
    message = mail.render(str(crypto.decrypt(payload["to"])), REFERRAL_LINK_SUBJECT, "referral_link",
                          link=str(crypto.decrypt(payload["link"])))
    message.headers["Auto-Submitted"] = "auto-generated"
    return message


# --- a member's own people: emails to a supporter ---

# The wording of each kind of email to a supporter, by kind: (notification, supporter, now) -> Notice. Each part
# of supportnet/supporters/ adds its own; the address is read from the supporter's row only here, to send.
SUPPORTER_EMAILS: dict[NotificationKind, Callable[[Notification, Supporter, datetime], Notice]] = {}


def supporter_email(n: Notification, now: datetime) -> mail.Mail:
    """The email of one row to a member's supporter: to the supporter's address (decrypted only to send), with
    the wording of its kind; no group, meeting or recovery word in the subject."""
    supporter = db.session.get(Supporter, n.supporter_id)
    notice = SUPPORTER_EMAILS[n.kind](n, supporter, now)
    context = {"paragraphs": notice.paragraphs, "actions": notice.actions,
               "stop_url": supporter_people.stop_url(supporter)}
    return mail.Mail(
        to=supporter_people.address_of(supporter) or "",
        subject=notice.subject,
        text=render_template("email/supporter.txt", **context),
        html=render_template("email/supporter.html", **context),
        headers={"Auto-Submitted": "auto-generated"},
    )


# --- my people: "reach out" ---


def _reach_out_email(n: Notification, supporter: Supporter, now: datetime) -> Notice:
    """The member's own words to one supporter: a subject that names only the member's chosen display name (no
    group, meeting or recovery word), their message, and nothing else about them (no address to reply to)."""
    _, message = supporter_reach.record_text(n)
    return Notice(
        f"A message from {n.user.display_name}",
        [f"\"{message}\"",
         "They chose to send this to you through SupportNet. If you can, get in touch with them the way you "
         "usually do."],
    )


def _reach_out_record(ctx: _Ctx) -> Notice:
    """The member's record in their inbox of a press of "reach out": to whom and what."""
    names, message = supporter_reach.record_text(ctx.n)
    to = supporter_reach.names_phrase(names) or "your supporters"
    nonce = (ctx.n.payload or {}).get("nonce")
    actions = [("See what was sent", ctx.url("supporters.reach_out_sent", nonce=nonce))] if nonce else []
    return Notice("You reached out", [f"You reached out to {to}: '{message}'"], actions)


SUPPORTER_EMAILS[Kind.REACH_OUT] = _reach_out_email
_COMPOSERS[Kind.REACH_OUT] = _reach_out_record

# --- a member's own people: alerts the member set (the supporter's email, and the member's record) ---


def _supporter_alert_email(n: Notification, supporter: Supporter, now: datetime) -> Notice:
    # The same function makes the preview the member agreed to: the email cannot say more than it.
    subject, paragraphs = supporter_alerts.message_for(n)
    return Notice(subject, paragraphs)


def _supporter_alert_record(ctx: _Ctx) -> Notice:
    supporter = db.session.get(Supporter, ctx.n.supporter_id) if ctx.n.supporter_id else None
    name = supporter.name if supporter is not None else "your supporter"
    _subject, paragraphs = supporter_alerts.message_for(ctx.n)
    return Notice(f"We told {name}", [f"We told {name}: \u201c{paragraphs[0]}\u201d",
                                      "This is one of your alert rules; you can pause or delete it."],
                  [("Your alert rules", ctx.url("supporters.alerts_page"))])


SUPPORTER_EMAILS[Kind.SUPPORTER_ALERT] = _supporter_alert_email
_COMPOSERS[Kind.SUPPORTER_ALERT] = _supporter_alert_record

# --- my people: supporters (the invitation, and the member's record of an answer) ---


def _supporter_invite_email(n: Notification, supporter: Supporter, now: datetime) -> Notice:
    # Neutral: the member's display name and nothing about groups, meetings or recovery (a lock screen or a
    # shared inbox shows the subject); what being a supporter means, in plain words.
    who = n.user.display_name
    paragraphs = [
        f"{who} would like you to be one of the people they can turn to, and asked us to let you know.",
        f"If you say yes, {who} may send you a short message when they would like to talk (for example "
        "\u201cI'd appreciate a call today\u201d). You would get alerts only if they choose to turn them on for you, "
        "and they will see which ones. You don't need an account.",
        "You can stop at any time with the link at the end of every email. If you'd rather not, choose "
        "\u201cNo thanks\u201d and you won't hear from us again.",
    ]
    actions = [("Accept", link("supporters.accept", token=supporter_people.token_for(supporter, "accept")))]
    stop = supporter_people.stop_url(supporter)
    if stop:
        actions.append(("No thanks", stop))
    return Notice(f"{who} asks you to be there for them", paragraphs, actions)


SUPPORTER_EMAILS[Kind.SUPPORTER_INVITE] = _supporter_invite_email


def _supporter_event(ctx: _Ctx) -> Notice:
    # The member's own record in their inbox: a supporter accepted or stopped.
    name = (ctx.n.payload or {}).get("name") or "A supporter"
    event = (ctx.n.payload or {}).get("event")
    if event == "declined":
        text = f"{name} said no thanks to your invitation. Nothing more goes to them, and their address is deleted."
        return Notice(f"{name} said no thanks", [text], [("See my people", ctx.url("supporters.people_page"))])
    if event == "stopped":
        text = (f"{name} stopped being your supporter. They won't get any more messages or alerts from you, and "
                "their address is deleted.")
        return Notice(f"{name} stopped", [text], [("See my people", ctx.url("supporters.people_page"))])
    text = f"{name} accepted: they may now get the messages you send them, and alerts you turn on for them."
    return Notice(f"{name} accepted", [text], [("See my people", ctx.url("supporters.people_page"))])


_COMPOSERS[Kind.SUPPORTER_INVITE] = _supporter_event


# --- one-to-one sessions: the wording lives with the sessions (supportnet/coaching/notices.py) ---


def _session(ctx: _Ctx) -> Notice:
    said = coaching_notices.wording(ctx.n, ctx.tz, ctx.now, ctx.descriptive, ctx.email,
                                    current_app.config["MAIL_FROM"])
    session = said.session
    if session is None:
        return Notice(said.subject, said.paragraphs, [("See my notifications", ctx.url("notifications.inbox"))])
    if not said.as_member:
        return Notice(said.subject, said.paragraphs,
                      [("See the session", ctx.url("coaching.coach_session", session_id=session.id))], said.calendar)
    actions = [("See your session", ctx.url("coaching.my_session", session_id=session.id))]
    if ctx.email and ctx.n.kind != Kind.SESSION_CHANGED and session.status == SessionStatus.BOOKED:
        # Works without signing in, like the "can't make it" link of a meeting's reminder.
        actions.append(("Can't make it?", link("coaching.session_cant_make_it",
                                               token=session_cant_make_it_token(session))))
    return Notice(said.subject, said.paragraphs, actions, said.calendar)


for _kind in coaching_notices.SESSION_KINDS:
    _COMPOSERS[_kind] = _session


# What "Stop emails about …" names, one phrase per kind that reads as the end of that sentence.
STOP_LABELS: dict[NotificationKind, str] = {
    Kind.REMINDER: "meeting reminders",
    Kind.STARTING_NOW: "meetings starting now",
    Kind.CHANGE: "changes to meetings you answered for",
    Kind.SEAT: "seats from the waitlist",
    Kind.JOIN_ANSWER: "answers to your requests to join",
    Kind.ANNOUNCEMENT: "messages from your groups' facilitators",
    Kind.CHECKIN_PROMPT: "check-in prompts",
    Kind.MISSED_YOU: "meetings you missed",
    Kind.JOIN_REQUEST: "requests to join your groups",
    Kind.DIGEST: "who's coming, the evening before a meeting",
    Kind.REFERRAL_NUDGE: "referrals that need a look",
    Kind.NEWCOMER: "newcomers coming to your groups",
    Kind.MEASURE_PROMPT: "measures that are due",
    Kind.SESSION_BOOKED: "sessions booked with a coach",
    Kind.SESSION_REMINDER: "session reminders",
    Kind.SESSION_CHANGED: "sessions cancelled or moved",
}


def render_email(name: str, context: dict) -> str:
    """An email template rendered with only what it is given: the outbox renders two per message, and Flask's
    render_template adds the web pages' context processors and signals, which an email never uses."""
    return current_app.jinja_env.get_template(name).render(context)


def email_for(n: Notification, prefs: Preferences, groups: dict[int, Group], now: datetime) -> mail.Mail:
    """The email of one notification row, in the member's timezone, discreet unless they opted in."""
    if n.kind == Kind.ACCOUNT:
        return _account_email(n)
    user = n.user
    group = groups.get(n.group_id) if n.group_id else (n.occurrence.series.group if n.occurrence else None)
    ctx = _Ctx(n, _zone(user.timezone), now, prefs.descriptive_subjects, True, link, group)
    notice = _compose(ctx)
    # Who can read what a member shares is not a kind of email one turns off: it has its own "stop sharing".
    always = n.kind in ALWAYS_SENT
    stop_url = None if always else link("notifications.stop", token=stop_token(user, n.kind))
    context = {
        "name": user.display_name,
        "paragraphs": notice.paragraphs,
        "actions": notice.actions,
        "stop_url": stop_url,
        "stop_label": None if always else STOP_LABELS[n.kind],
        "settings_url": link("notifications.preferences"),
    }
    message = mail.Mail(
        to=user.email,
        subject=notice.subject,
        text=render_email("email/notice.txt", context),
        html=render_email("email/notice.html", context),
        # RFC 3834: an automatic message; out-of-office replies should not answer it.
        headers={"Auto-Submitted": "auto-generated"},
    )
    if stop_url is not None:
        message.headers["List-Unsubscribe"] = f"<{stop_url}>"
    if notice.calendar is not None:
        message.attachments.append(
            mail.Attachment("meeting.ics", notice.calendar, "text", "calendar", {"method": "PUBLISH"})
        )
    return message


def inbox_item(n: Notification, groups: dict[int, Group], tz: ZoneInfo, now: datetime) -> InboxItem:
    """What the in-app inbox shows for one row (behind the member's sign-in, so it names things)."""
    group = groups.get(n.group_id) if n.group_id else (n.occurrence.series.group if n.occurrence else None)
    if n.occurrence_id is not None and n.occurrence is None:
        return InboxItem("A meeting", "This meeting no longer exists.", None)
    notice = _compose(_Ctx(n, tz, now, True, False, path, group))
    url = notice.actions[0][1] if notice.actions else None
    return InboxItem(notice.subject, " ".join(notice.paragraphs), url)
