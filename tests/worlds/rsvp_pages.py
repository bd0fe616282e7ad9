"""The RSVP pages' world: a public and a private group that began meeting a week ago, which the member attended and
made a proof of; with the readers of the RSVP box, the flashed messages and the RSVP rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from html import unescape
from html.parser import HTMLParser

from flask import Flask
from sqlalchemy import select

from supportnet import attendance, clock, scheduling
from supportnet.extensions import db
from supportnet.models import (
    JoinPolicy,
    Occurrence,
    Rsvp,
    RsvpStatus,
    Visibility,
)
from tests.builders import weekly
from tests.conftest import PINNED_NOW, Persona, make_persona, post
from tests.pages import browser, html, text
from tests.worlds.group_pages import add_member, london, occurrences_of, start_group

MINUTE = timedelta(minutes=1)
FETCH = {"X-Requested-With": "fetch"}
# The first meeting of every series below: Tuesday 1 December 2026, 19:00-20:30 in London (= UTC in winter).
FIRST_START = london(2026, 12, 1, 19, 0)
FIRST_END = london(2026, 12, 1, 20, 30)
DURING = FIRST_START + 10 * MINUTE


class _BoxFinder(HTMLParser):
    """The outer HTML of the element with a given id (for the RSVP box of one meeting)."""

    def __init__(self, source: str, element_id: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source, self.element_id = source, element_id
        self.lines = source.splitlines(keepends=True)
        self.start: int | None = None
        self.end: int | None = None
        self.depth = 0

    def _offset(self) -> int:
        line, col = self.getpos()
        return sum(len(x) for x in self.lines[: line - 1]) + col

    def handle_starttag(self, tag, attrs):
        if self.end is not None:
            return
        if self.start is None:
            if tag == "div" and dict(attrs).get("id") == self.element_id:
                self.start, self.depth = self._offset(), 1
        elif tag == "div":
            self.depth += 1

    def handle_endtag(self, tag):
        if self.start is None or self.end is not None or tag != "div":
            return
        self.depth -= 1
        if self.depth == 0:
            self.end = self._offset() + len("</div>")


def rsvp_box(page: str, occurrence_id: int) -> str:
    """The RSVP box of the meeting on the page ('' when the page has none)."""
    finder = _BoxFinder(page, f"rsvp-{occurrence_id}")
    finder.feed(page)
    if finder.start is None or finder.end is None:
        return ""
    return page[finder.start : finder.end]


def flashes(response) -> str:
    """The flashed messages on the page, as text."""
    found = re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html(response), re.S)
    return unescape(" ".join(" ".join(found).split()))


def box_text(box: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", box).replace("&#39;", "'").split())


def page_text(response) -> str:
    return text(response).replace("&#39;", "'")


def assert_fragment(response, occurrence_id: int, status: int = 200) -> str:
    """The response is just the updated RSVP box of the meeting (no page around it); return its text."""
    body = html(response).strip()
    assert response.status_code == status, (response.status_code, body[-500:])
    assert response.mimetype == "text/html"
    assert body.startswith(f'<div class="rsvp" id="rsvp-{occurrence_id}"'), body[:200]
    assert "<html" not in body and "<main" not in body and "<nav" not in body
    assert rsvp_box(body, occurrence_id) == body
    return box_text(body)


def rsvp_rows(occurrence_id: int) -> dict[int, RsvpStatus]:
    return dict(db.session.execute(select(Rsvp.user_id, Rsvp.status).where(Rsvp.occurrence_id == occurrence_id)).all())


def counters(occurrence_id: int) -> tuple[int, int]:
    occ = db.session.get(Occurrence, occurrence_id)
    return occ.going_count, occ.waitlist_count


@dataclass
class Refs:
    slug: str
    id: int
    series_id: int
    occurrence_id: int  # the next meeting: Tue 1 Dec 2026, 19:00
    past_occurrence_id: int  # Tue 24 Nov, which the member attended
    code: str  # the self check-in code of the next meeting
    proof_id: int  # the member's proof for this group
    proof_token: str


@dataclass
class World:
    public: Refs
    private: Refs
    personas: dict[str, Persona | None]
    member_id: int

    def group(self, which: str) -> Refs:
        return getattr(self, which)


PERSONAS = ("anonymous", "outsider", "member", "other_facilitator", "facilitator", "admin")
GROUPS = ("public", "private")


def build_world(app, member, outsider, facilitator, other_facilitator, admin) -> World:
    """Two groups that began meeting on Tuesday 24 November, which the member attended; the member made a proof."""
    refs = {}
    with app.app_context():
        clock.set_frozen(PINNED_NOW - timedelta(days=7))
        made = []
        for which, visibility, policy, name in (
            ("public", Visibility.PUBLIC, JoinPolicy.OPEN, "Thursday Integration Circle"),
            ("private", Visibility.PRIVATE, JoinPolicy.INVITE, "Quiet Harbour Circle"),
        ):
            group = start_group(facilitator, name, visibility=visibility, join_policy=policy)
            series = scheduling.create_series(group, weekly(first_date=date(2026, 11, 24)), clock.now_utc())
            add_member(group, member)
            made.append((which, group, series))
        start_group(other_facilitator, "Saturday Walkers")
        db.session.commit()
        clock.set_frozen(PINNED_NOW)
        for which, group, series in made:
            past, upcoming = occurrences_of(series.id)[:2]
            attendance.mark_attended(past, member.user(), facilitator.user(), clock.now_utc())
            code = attendance.new_code(upcoming, clock.now_utc())
            proof = attendance.create_proof(
                member.user(), shown_name="M. Example", label="Weekly support group", group=group, now=clock.now_utc()
            )
            refs[which] = Refs(
                slug=group.slug, id=group.id, series_id=series.id, occurrence_id=upcoming.id,
                past_occurrence_id=past.id, code=code, proof_id=proof.id, proof_token=attendance.proof_token(proof),
            )
        db.session.commit()
        assert db.session.get(Occurrence, refs["public"].occurrence_id).starts_at == FIRST_START
    return World(
        public=refs["public"],
        private=refs["private"],
        personas={
            "anonymous": None, "outsider": outsider, "member": member, "other_facilitator": other_facilitator,
            "facilitator": facilitator, "admin": admin,
        },
        member_id=member.id,
    )


def say(app: Flask, persona: Persona, occurrence_id: int, action: str = "going", **kwargs):
    """The persona answers in a browser of their own (action: going or cancel)."""
    url = f"/meetings/{occurrence_id}/rsvp" + ("/cancel" if action == "cancel" else "")
    return post(browser(app, persona), url, **kwargs)


def two_seats_and_four_members(app, facilitator, member) -> dict:
    """A public open group with a weekly Tuesday meeting of 2 seats, and four members: Ann, Ben, Cat and Mia."""
    people = {name: make_persona(app, name) for name in ("Ann A.", "Ben B.", "Cat C.")}
    people["Mia M."] = member
    with app.app_context():
        group = start_group(facilitator, "Thursday Integration Circle")
        series = scheduling.create_series(group, weekly(capacity=2), clock.now_utc())
        for persona in people.values():
            add_member(group, persona)
        db.session.commit()
        first, second = occurrences_of(series.id)[:2]
        return {
            "slug": group.slug, "series_id": series.id, "occ": first.id, "second": second.id,
            "people": people, "facilitator": facilitator,
        }
