"""The authorization matrix: every route of the app, for every persona, answers as this table says.

The table (MATRIX in tests/access_policy.py) is the app's access policy in one place. A route that is not in it
fails the test: adding a route means adding one line there, with what each persona gets. Each request runs against
a fresh copy of the same world (tests/security_harness.py): a private, invite-only group run by `facilitator`,
with `member` in it; `other_facilitator` runs another group; staff sign in with two-factor, as production requires.

POSTs carry a valid CSRF token and, where given in DATA, a valid form; otherwise an empty one, which is enough
to tell "may not" (403/404/sign in) from "may, but the form is empty" (400, or a redirect with a message).
Ids in URLs are the member's own things (their check-in, proof, session, notification) or the group's.
"""

from __future__ import annotations

import pytest

from tests.access_policy import MATRIX
from tests.security_harness import Harness, build, outcome, route_keys
from tests.worlds.data_controls import PERSONAS

# Valid forms, where an empty one would not reach the action.
DATA: dict[str, dict] = {}


@pytest.fixture
def app_config() -> dict:
    return {"REQUIRE_2FA_FOR_STAFF": True}


@pytest.fixture
def harness(app, db_path) -> Harness:
    return build(app, db_path)


def test_every_route_is_in_the_matrix(app):
    keys = {key for key, *_ in route_keys(app)}
    missing = sorted(keys - set(MATRIX))
    assert not missing, "add these routes to MATRIX in tests/access_policy.py:\n" + "\n".join(missing)
    assert not set(MATRIX) - keys, f"routes that no longer exist: {sorted(set(MATRIX) - keys)}"
    assert all(len(row) == len(PERSONAS) for row in MATRIX.values())


def test_every_route_answers_every_persona_as_the_matrix_says(harness: Harness):
    wrong = []
    for key, method, rule, alternative in route_keys(harness.app):
        expected = MATRIX.get(key)
        if expected is None:
            continue  # reported by test_every_route_is_in_the_matrix
        url = harness.url(rule, alternative)
        for persona, want in zip(PERSONAS, expected, strict=True):
            got = outcome(harness.request(persona, method, url, DATA.get(key)))
            if got != want:
                wrong.append(f"{key:90} {persona:18} expected {want}, got {got}")
    assert not wrong, "\n" + "\n".join(wrong)


def test_no_route_takes_put_patch_or_delete(app):
    for rule in app.url_map.iter_rules():
        assert not (rule.methods or set()) & {"PUT", "PATCH", "DELETE"}, rule.rule
