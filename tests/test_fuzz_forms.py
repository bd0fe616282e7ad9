"""Fuzzing every form (hypothesis): whatever a browser could post, no route answers 500, and a refused form
stores nothing.

Each POST route is posted to by a persona the authorization matrix lets through, with a valid CSRF token and
random values for the fields its page really shows (read from the rendered forms), plus stray fields. Each
example runs on a fresh copy of the same world. "Refused" is what the app says: 400, 409, 429, a 303 redirect
(this app's "no, and here is why"), or the form shown again with 200 where success would redirect.
Examples are few per route and derandomized, so the suite stays fast and CI deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from supportnet.extensions import db
from tests.access_policy import who_gets_in
from tests.security_harness import Harness, build, harvest_forms, outcome, route_keys

EXAMPLES = 5
REFUSED = {303, 400, 409, 422, 429}
# Routes whose success is a page (200) rather than a redirect: something new shown once, or a download.
SUCCESS_IS_A_PAGE = {
    "POST /groups/<slug>/invite",
    "POST /account/calendar-address",
    "POST /account/data/export",
    "POST /account/two-factor/recovery-codes",
    "POST /account/two-factor/confirm",
}
# Tables a refused request may legitimately write: failed sign-ins and codes feed the throttle.
THROTTLE_TABLES = {"login_failure"}
# The order in which personas are tried as the one to fuzz a route with: the least powerful that gets in.
STRAY_FIELDS = ["role", "user_id", "id", "is_admin", "status", "group_id", "capacity"]

NASTY = [
    "", " ", "0", "-1", "1", "2", "5", "11", "99999999999999999999999999", "-99999999999", "1e9", "NaN", "inf",
    "2026-12-01", "2026-02-30", "0000-00-00", "9999-12-31", "19:00", "25:61", "y", "on", "none", "all",
    "summaries", "notes", "facilitator", "admin", "member", "UTC", "Not/AZone", "Europe/London", "<script>x</script>",
    "' OR 1=1 --", "../../etc/passwd", "\x00", "a\x00b", "\u202e", "x" * 6000, "own:1", "own:999", "stress",
    "DELETE", "https://example.org", "javascript:alert(1)", "weekly", "monthly_day", "after", "on", "never",
]
values = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.lists(st.sampled_from(["0", "1", "6", "7", "-1", "x", "stress", "own:1"]), min_size=1, max_size=3),
)


def harvest_fields(harness: Harness) -> dict[str, set[str]]:
    """The fields of every form the pages show, by the address each form posts to."""
    fields: dict[str, set[str]] = defaultdict(set)
    for (_persona, action), pairs in harvest_forms(harness).items():  # (None, action) has every field
        fields[action] |= {name for name, _value in pairs}
    return fields


def snapshot(harness: Harness) -> dict:
    with harness.app.app_context():
        result = {
            table.name: sorted(tuple(map(repr, row)) for row in db.session.execute(select(table)).all())
            for table in db.metadata.sorted_tables
            if table.name not in THROTTLE_TABLES
        }
        db.session.remove()
        return result


def fuzz(harness: Harness, key: str, url: str, persona: str, form, before: dict):
    """A hypothesis test posting random forms to one route."""

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=form)
    def post_anything(data):
        response = harness.request(persona, "POST", url, data)
        status = response.status_code
        assert status < 500, (key, persona, data, status)
        refused = status in REFUSED or (status == 200 and key not in SUCCESS_IS_A_PAGE and outcome(response) == 200)
        if refused and key not in ("POST /login", "POST /login/two-factor"):
            assert snapshot(harness) == before, (key, persona, data, status)

    return post_anything


@pytest.fixture
def app_config() -> dict:
    return {"REQUIRE_2FA_FOR_STAFF": True}


@pytest.fixture
def harness(app, db_path) -> Harness:
    return build(app, db_path)


def test_no_form_answers_500_or_stores_refused_input(harness: Harness):
    fields = harvest_fields(harness)
    harness.restore()
    before = snapshot(harness)
    posts = [(key, rule, alt) for key, method, rule, alt in route_keys(harness.app) if method == "POST"]
    assert len(posts) > 40
    covered_with_fields = 0
    for key, rule, alternative in posts:
        url = harness.url(rule, alternative)
        persona = who_gets_in(key)
        names = sorted(fields.get(urlsplit(url).path, set()))
        covered_with_fields += bool(names)
        form = st.fixed_dictionaries({}, optional={name: values for name in [*names, *STRAY_FIELDS]})
        fuzz(harness, key, url, persona, form, before)()
    # The harvest found the fields of most forms (buttons that post nothing else have none).
    assert covered_with_fields >= 25, covered_with_fields
