"""Mass assignment: fields a form does not have change nothing, whatever their names promise.

For every POST route, a persona the authorization matrix lets through submits the form exactly as the page
shows it (or a valid one given here), once as it is and once with extra fields such as `role`, `user_id`,
`capacity`, `group_id` and `is_admin`, each time on a fresh copy of the same world. The database must end up
the same both times, and the answer too.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from supportnet.extensions import db
from tests.access_policy import who_gets_in
from tests.security_harness import Harness, build, harvest_forms, route_keys
from tests.worlds.data_controls import World

# Columns whose values are random on every run (tokens, salted hashes, secrets, codes): compared as "set or not".
RANDOM_COLUMNS = {
    "token_hash", "password_hash", "invite_token_hash", "calendar_token_hash", "secret", "code_hash", "code",
    "nonce", "link_nonce",  # random per row, for signed links
}
# Sign-up and reset emails wait in the outbox under a random key, their link encrypted (a random IV).
RANDOM_ACCOUNT_EMAIL_COLUMNS = {"dedupe_key", "payload"}
# A member's "reach out" waits in the outbox with its message encrypted (a random IV).
ENCRYPTED_PAYLOAD_KINDS = {"reach_out"}


def _is_random(table: str, row, name: str) -> bool:
    if name in RANDOM_COLUMNS:
        return True
    if table == "notification" and row["kind"] in ENCRYPTED_PAYLOAD_KINDS and name == "payload":
        return True
    return table == "notification" and row["kind"] == "account" and name in RANDOM_ACCOUNT_EMAIL_COLUMNS


def extras(world: World) -> dict[str, str]:
    other = world.persona("outsider").id
    return {
        "role": "admin", "user_id": str(other), "id": "1", "is_admin": "1", "admin": "1", "capacity": "1",
        "group_id": "999", "status": "active", "email": "attacker@example.org", "password_hash": "x",
        "email_confirmed_at": "2020-01-01", "created_at": "2020-01-01T00:00:00", "checkin_sharing": "notes",
        "going_count": "99", "waitlist_count": "99", "series_id": "1", "occurrence_id": "1", "membership_id": "1",
        "display_name": "Hijacked Name", "timezone": "Asia/Tokyo", "archived_at": "2020-01-01",
        "visibility": "public", "join_policy": "open", "recovery_date": "2000-01-01", "calendar_all_meetings": "y",
        "reauthenticated_at": "2030-01-01", "confirmed_at": "2020-01-01", "checkin_retention_months": "3",
        "shares_recovery_date": "y", "share_note": "y", "marked_by_id": str(other), "actor_id": str(other),
        # What a consent row holds: no form sets any of it but the member's own choice on the sharing page.
        "subject_id": str(other), "scope": "recovery_date", "audience": "group_facilitators", "revoked_at": "",
        "expires_at": "2099-01-01", "purpose": "Hijacked purpose", "consent_id": "1",
    }


def valid_forms(world: World) -> dict[str, dict]:
    """Valid forms for routes whose page shows an empty form (creating things)."""
    return {
        "POST /register": {"email": "newcomer@example.org", "password": "a brand new passphrase",
                           "display_name": "New C.", "timezone": "Europe/London", "consent": "y"},
        "POST /groups/new": {"name": "A new circle", "kind": "meetup", "visibility": "public", "join_policy": "open",
                             "timezone": "Europe/London", "venue": "Library"},
        "POST /groups/<slug>/meetings/new": {
            "title": "Friday check-in", "first_date": "2026-12-04", "start_time": "18:00", "duration_minutes": "60",
            "timezone": "Europe/London", "frequency": "weekly", "interval": "1", "weekdays": "4", "ends": "never",
            "venue": "Library", "online_visibility": "members", "nth": "1", "weekday": "0", "month_day": "1",
        },
        "POST /me/checkins/new": {"mood": "3", "craving": "2", "day": "2026-11-26", "note": "a quiet day"},
        "POST /me/attendance/proofs": {"shown_name": "Mia Member", "group": "", "neutral_label": "Meetings"},
        "POST /groups/<slug>/announce": {"subject": "Tuesday", "body": "See you on Tuesday.", "nonce": "n" * 16},
        "POST /account/delete": {"confirm": "DELETE"},
        "POST /me/checkins/delete-all": {"confirm": "delete"},
        "POST /account/profile": {"display_name": "Mia M.", "timezone": "Europe/London"},
        "POST /meetings/<int:occurrence_id>/check-in": {"code": "ABCD"},
        "POST /account/data/retention": {"months": "6"},
    }


def snapshot(harness: Harness) -> dict:
    with harness.app.app_context():
        result = {}
        for table in db.metadata.sorted_tables:
            rows = []
            for row in db.session.execute(select(table)).mappings():
                rows.append(tuple(
                    (name, (value is not None) if _is_random(table.name, row, name) else repr(value))
                    for name, value in row.items()
                ))
            result[table.name] = sorted(rows)
        db.session.remove()
        return result


@pytest.fixture
def app_config() -> dict:
    return {"REQUIRE_2FA_FOR_STAFF": True}


@pytest.fixture
def harness(app, db_path) -> Harness:
    return build(app, db_path)


def test_extra_fields_change_nothing_on_any_route(harness: Harness):
    forms = harvest_forms(harness)
    harness.restore()
    valid = valid_forms(harness.world)
    stray = extras(harness.world)
    checked = changed_something = 0
    for key, method, rule, alternative in route_keys(harness.app):
        if method != "POST":
            continue
        persona = who_gets_in(key)
        url = harness.url(rule, alternative)
        base = dict(forms.get((persona, url.split("?")[0]), []))
        base.update(valid.get(key, {}))
        fields = {name for name, _ in forms.get((None, url), [])} | set(base)
        extra = {name: value for name, value in stray.items() if name not in fields}
        before = snapshot(harness)
        plain = harness.request(persona, "POST", url, base)
        after_plain = snapshot(harness)
        with_extras = harness.request(persona, "POST", url, {**base, **extra})
        after_extras = snapshot(harness)
        assert with_extras.status_code == plain.status_code, (key, plain.status_code, with_extras.status_code)
        assert after_extras == after_plain, (key, persona, sorted(extra))
        checked += 1
        changed_something += after_plain != before
    # The valid forms really did things (else the comparison would prove nothing).
    assert checked > 40 and changed_something >= 30, (checked, changed_something)
