"""A harness for the security suite: the world in a snapshot, a signed-in browser per persona, and one request at
a time against a fresh copy of the snapshot, so that what one request changes never leaks into the next. Used by
the authorization matrix, the form fuzzing and the mass-assignment tests; with what the security baseline tests
share (production keys, whether a redirect stays on the site, the site shell, the security headers, a snapshot of
every row)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from supportnet import accounts, attendance, consent, programs
from supportnet.checkins import rhythms, scores
from supportnet.checkins import sharing as checkins_sharing
from supportnet.clock import now_utc
from supportnet.coaching import coaches
from supportnet.consent import Recipient
from supportnet.crypto import generate_key
from supportnet.extensions import db
from supportnet.measures import instruments
from supportnet.models import (
    AttendanceProof,
    Channel,
    Group,
    Notification,
    NotificationKind,
    Relation,
    Rhythm,
    Scope,
    Supporter,
    UserSession,
)
from supportnet.supporters import alerts as supporter_alerts
from supportnet.supporters import people
from tests.conftest import PASSWORD, DatabaseSnapshot, login
from tests.worlds.data_controls import PERSONAS, World, build_world, enable_two_factor, login_with_code

_ARGUMENT = re.compile(r"<(?:(?P<converter>[a-zA-Z_]\w*)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
BOGUS_TOKEN = "not-a-real-token-0123456789"
STAFF = ("other_facilitator", "facilitator", "admin")

STRONG_KEY = "a-strong-production-key-" + "k" * 40
DATA_KEY = generate_key()
PRODUCTION_BASE_URL = "https://support.example.org"


@dataclass
class Harness:
    app: Flask
    world: World
    live: Path
    snapshot: DatabaseSnapshot
    cookies: dict[str, str | None]
    csrf: dict[str, str | None]
    values: dict[str, str]
    dirty: bool = False

    def restore(self) -> None:
        """Put the database back as the snapshot has it."""
        with self.app.app_context():
            db.engine.dispose()
        self.snapshot.restore()
        self.dirty = False

    def client(self, persona: str) -> FlaskClient:
        """A browser signed in as the persona (a new one each time, with the persona's cookie)."""
        client = self.app.test_client()
        if self.cookies.get(persona):
            client.set_cookie(self.app.config["SESSION_COOKIE_NAME"], self.cookies[persona])
        return client

    def request(self, persona: str, method: str, url: str, data: dict | None = None, csrf: bool = True):
        """One request on a fresh copy of the world (restored only when an earlier POST may have changed it)."""
        if self.dirty:
            self.restore()
        client = self.client(persona)
        if method == "GET":
            return client.get(url)
        self.dirty = True
        payload = dict(data or {})
        if csrf and self.csrf.get(persona):
            payload.setdefault("csrf_token", self.csrf[persona])
        elif csrf:
            payload.setdefault("csrf_token", anonymous_csrf(client))
        return client.post(url, data=payload)

    def url(self, rule: Rule | str, alternative: str | None = None) -> str:
        """A concrete URL of a rule, with the world's ids and tokens (the `any` part given or the first)."""
        text = rule if isinstance(rule, str) else rule.rule

        def fill(match: re.Match) -> str:
            name, converter = match["name"], match["converter"]
            if converter == "any":
                return alternative or match["args"].split(",")[0].strip()
            return self.values.get(f"{text}:{name}") or self.values.get(name) or BOGUS_TOKEN

        return _ARGUMENT.sub(fill, text)


def anonymous_csrf(client: FlaskClient) -> str:
    page = client.get("/privacy").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def alternatives(rule: Rule) -> list[str | None]:
    """The values of the rule's `any(...)` part, or [None]."""
    for match in _ARGUMENT.finditer(rule.rule):
        if match["converter"] == "any":
            return [part.strip() for part in match["args"].split(",")]
    return [None]


def route_keys(app: Flask) -> list[tuple[str, str, Rule, str | None]]:
    """(key, method, rule, alternative) for every route and method; the key is "METHOD /rule[|alternative]"."""
    keys = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for alternative in alternatives(rule):
                key = f"{method} {rule.rule}" + (f"|{alternative}" if alternative else "")
                keys.append((key, method, rule, alternative))
    return keys


def build(app: Flask, db_path: Path) -> Harness:
    """The world, two-factor for staff, every persona signed in, a notification and a proof link, snapshotted."""
    world = build_world(app)
    cookies: dict[str, str | None] = {"anonymous": None}
    csrf: dict[str, str | None] = {"anonymous": None}
    for name in PERSONAS[1:]:
        persona = world.persona(name)
        client = app.test_client()
        if name in STAFF:
            response = login_with_code(client, persona, enable_two_factor(app, persona))
        else:
            response = login(client, persona)
        assert response.status_code == 302, (name, response.location)
        csrf[name] = anonymous_csrf(client)  # first: it puts the token in the session cookie
        cookies[name] = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    with app.app_context():
        member_id = world.persona("member").id
        session_id = db.session.scalar(select(UserSession.id).where(UserSession.user_id == member_id))
        note = Notification(
            user_id=member_id, kind=NotificationKind.JOIN_ANSWER, channel=Channel.IN_APP,
            dedupe_key="security-suite", due_at=now_utc(), status="sent", payload={"answer": "accepted"},
            group_id=world.group_id, sent_at=now_utc(),
        )
        db.session.add(note)
        db.session.commit()
        proof_token = attendance.proof_token(db.session.get(AttendanceProof, world.proof_id))
        # --- consent and sharing: the member shares check-in summaries with the group's facilitators ---
        shared = consent.grant(member_id, Recipient.group_facilitators(world.group_id), Scope.CHECKIN_SUMMARIES,
                               checkins_sharing.PURPOSES[Scope.CHECKIN_SUMMARIES], now_utc())
        db.session.commit()
        values = {
            "slug": world.slug, "series_id": str(world.series_id), "occurrence_id": str(world.occurrence_id),
            "membership_id": str(world.peer_membership_id), "user_id": str(world.peer.id),
            "checkin_id": str(world.checkin_id), "proof_id": str(world.proof_id), "session_id": str(session_id),
            "notification_id": str(note.id), "filename": "css/app.css",
            "/invite/<token>:token": world.invite_token, "/proof/<token>:token": proof_token,
            "consent_id": str(shared.id),
        }
        values.update(_program_values(world))
        values.update(_measure_values(world))
        # --- measures: rhythms and suggestions: an instrument, and a suggestion of the world's group ---
        suggestion = rhythms.suggest(group=db.session.get(Group, world.group_id), code="PHQ-9",
                                     rhythm=Rhythm.MONTHLY, note=None, by_user=world.persona("facilitator").user(),
                                     now=now_utc())
        db.session.commit()
        values["suggestion_id"] = str(suggestion.id)
        # --- my people: alert rules: the member's accepted supporter and one rule for them ---
        values.update(_alert_rule_values(world))

        # --- my people: supporters: the member invited one supporter ---
        values["supporter_id"] = str(_supporter_id(world))

        # --- coaching: coaches and availability: a public coach who is none of the personas ---
        values["coach_id"] = str(_coach_id(world))
        db.engine.dispose()
    snapshot = DatabaseSnapshot(db_path)  # SQLite or PostgreSQL, whichever the tests run on
    return Harness(app=app, world=world, live=db_path, snapshot=snapshot, cookies=cookies, csrf=csrf, values=values)


def _supporter_id(world: World) -> int:
    """A supporter the member invited (their invitation is in the outbox)."""
    supporter = people.invite(world.persona("member").user(), "Sam", "sam.supporter@example.net", Relation.FRIEND,
                              now_utc())
    db.session.commit()
    return supporter.id


def _coach_id(world: World) -> int:
    """A public coach named by the admin, with one weekly window (so their page lists free times)."""
    now = now_utc()
    accounts.create_user("cole.coach@example.org", PASSWORD, "Cole C.", now)
    coach = coaches.grant("cole.coach@example.org", by=world.persona("admin").user(), now=now)
    coaches.add_window(coach, 0, time(9), time(12))
    db.session.commit()
    return coach.id


def _program_values(world: World) -> dict[str, str]:
    """A program that runs the world's group, coordinated by someone who is none of the personas, with one
    referral: the ids its routes need."""
    now = now_utc()
    admin = world.persona("admin").user()
    coordinator = accounts.create_user("cora.coordinator@example.org", PASSWORD, "Cora C.", now)
    program = programs.create_program("Harbour Clinic aftercare", by=admin, now=now)
    programs.add_coordinator(program, coordinator.email, by=admin, now=now)
    group = db.session.get(Group, world.group_id)
    programs.set_group_program(group, program, by=admin, now=now)
    referral, _token = programs.create_referral(program, by=coordinator, suggestions=[(group.id, None)], now=now)
    db.session.commit()
    return {
        "program_id": str(program.id), "referral_id": str(referral.id),
        "/admin/programs/<int:program_id>/coordinators/<int:user_id>/remove:user_id": str(coordinator.id),
        "/admin/programs/<int:program_id>/groups/<int:group_id>/remove:group_id": str(group.id),
    }


def _measure_values(world: World) -> dict[str, str]:
    """The member's own BAM result, and the instrument code the measures' routes take."""
    response, _score = scores.record(world.persona("member").user(), instruments.current("BAM"), {
        "1": 1, "2": 1, "3": 1, "4": 0, "6": 0, "8": 1, "9": 3, "10": 2, "11": 1, "12": 2, "13": 3, "14": 4,
        "15": 1, "16": 4, "17": 3,
    }, now_utc())
    db.session.commit()
    return {"response_id": str(response.id), "code": "BAM"}


def _alert_rule_values(world: World) -> dict[str, str]:
    """An accepted supporter of the member and one alert rule for them: the id the rule routes take."""
    now = now_utc()
    member = world.persona("member").user()
    supporter = Supporter(user_id=member.id, name="Sam", email="sam.supporter@example.org", relation=Relation.FRIEND,
                          address_digest=people.address_digest("sam.supporter@example.org"),
                          invited_at=now, accepted_at=now)
    db.session.add(supporter)
    db.session.flush()
    rule = supporter_alerts.create(member, supporter.id, "no_checkin", 3, now)
    db.session.commit()
    return {"rule_id": str(rule.id)}


def outcome(response) -> int | str:
    """A response as the matrix names it: "login" for a redirect to sign in, otherwise the status code."""
    if response.status_code in (301, 302, 303) and response.location.startswith("/login"):
        return "login"
    return response.status_code


class Forms(HTMLParser):
    """The POST forms of a page as a browser would submit them unchanged: action path -> [(name, value)].

    Several forms posting to one address are merged (their fields are what that address takes).
    """

    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.names: dict[str, set[str]] = defaultdict(set)  # every field, submitted or not (unchecked boxes)
        self._action: str | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def _add(self, name: str | None, value: str | None) -> None:
        if self._action and name and name != "csrf_token":
            self.forms[self._action].append((name, value or ""))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            if (a.get("method") or "get").lower() == "post":
                self._action = urlsplit(a.get("action") or self.page_url).path
            return
        if not self._action:
            return
        if tag in ("input", "select", "textarea") and a.get("name"):
            self.names[self._action].add(a["name"])
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a.get("name"), a.get("value") or "on")
            elif kind not in ("submit", "button", "image", "reset", "file"):
                self._add(a.get("name"), a.get("value"))
        elif tag == "select":
            self._select, self._select_value, self._first_option = a.get("name"), None, None
        elif tag == "option" and self._select:
            value = a.get("value") or ""
            if self._first_option is None:
                self._first_option = value
            if "selected" in a:
                self._select_value = value
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), []

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._action = None
        elif tag == "select" and self._select:
            self._add(self._select, self._select_value if self._select_value is not None else self._first_option)
            self._select = None
        elif tag == "textarea" and self._textarea:
            self._add(self._textarea, "".join(self._text).lstrip("\n"))
            self._textarea = None


def harvest_forms(harness: Harness, personas=("member", "facilitator", "admin", "anonymous")) -> dict:
    """Read every page as these personas: {(persona, action path): [(name, value), ...]} of each POST form.

    The key (None, action path) holds every field name that action's forms have, as [(name, "")].
    """
    found: dict[tuple[str | None, str], list[tuple[str, str]]] = {}
    for _key, method, rule, alternative in route_keys(harness.app):
        if method != "GET" or rule.rule.startswith("/static"):
            continue
        url = harness.url(rule, alternative)
        for persona in personas:
            response = harness.request(persona, "GET", url)
            if response.status_code == 200 and response.mimetype == "text/html":
                parser = Forms(urlsplit(url).path)
                parser.feed(response.get_data(as_text=True))
                for action, pairs in parser.forms.items():
                    found.setdefault((persona, action), pairs)
                for action, names in parser.names.items():
                    known = {name for name, _ in found.get((None, action), [])}
                    found[(None, action)] = [(name, "") for name in sorted(known | names - {"csrf_token"})]
    return found


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table, to tell whether a request changed anything at all."""
    with app.app_context():
        return {
            table.name: sorted(tuple(map(repr, row)) for row in db.session.execute(select(table)).all())
            for table in db.metadata.sorted_tables
        }


def stays_on_site(location: str) -> bool:
    """Whether a Location header keeps the browser on this site."""
    parts = urlsplit(location)
    return (
        parts.scheme in ("", "http", "https")
        and parts.netloc in ("", "localhost")
        and parts.path.startswith("/")
        and not parts.path.startswith("//")
        and "\\" not in location
        and not any(ord(ch) < 33 or ord(ch) == 127 for ch in location)
    )


def assert_in_site_shell(body: str) -> None:
    assert '<header class="site-header">' in body
    assert '<footer class="site-footer">' in body
    assert "SupportNet is not an emergency service" in body


def assert_security_headers(response) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp, csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy")
