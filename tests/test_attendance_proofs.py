"""Proof of attendance: a neutral label anyone can verify, revocation, tampering, bad values."""


from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from supportnet import attendance, clock, scheduling
from supportnet.extensions import db
from supportnet.models import (
    AttendanceProof,
    JoinPolicy,
    Visibility,
)
from tests.builders import weekly
from tests.conftest import BASE_URL, PINNED_NOW, make_persona, post
from tests.pages import browser, html, text
from tests.worlds.group_pages import add_member, occurrences_of, start_group
from tests.worlds.rsvp_pages import (
    flashes,
    page_text,
)

# --- 7. proof of attendance ---


@pytest.fixture
def attended(app, facilitator, member) -> dict:
    """Mia attended two meetings of the Quiet Harbour Circle (17 and 24 November), Nora one."""
    nora = make_persona(app, "Nora N.")
    with app.app_context():
        clock.set_frozen(PINNED_NOW - timedelta(weeks=2))
        group = start_group(facilitator, "Quiet Harbour Circle", visibility=Visibility.PRIVATE,
                            join_policy=JoinPolicy.INVITE)
        for persona in (member, nora):
            add_member(group, persona)
        series = scheduling.create_series(group, weekly(first_date=date(2026, 11, 17)), clock.now_utc())
        clock.set_frozen(PINNED_NOW)
        first, second = occurrences_of(series.id)[:2]
        for occ, people in ((first, (member, nora)), (second, (member,))):
            for persona in people:
                attendance.mark_attended(occ, persona.user(), facilitator.user(), clock.now_utc())
        db.session.commit()
        return {"group_id": group.id, "nora": nora}


def proof_facts(response) -> str:
    match = re.search(r'<dl class="meta proof">.*?</dl>', html(response), re.S)
    assert match, "the proof's facts"
    return match.group(0)


def verify_path(response) -> str:
    match = re.search(r'<strong class="verify-link">([^<]+)</strong>', html(response))
    assert match, "a verification link"
    assert match.group(1).startswith(f"{BASE_URL}/proof/")
    return match.group(1).removeprefix(BASE_URL)


def test_a_member_makes_a_proof_with_a_neutral_label_that_anyone_can_verify(
    app, attended, member, facilitator, outsider
):
    mia = browser(app, member)
    form = mia.get("/me/attendance/proofs")
    assert form.status_code == 200
    assert 'value="Mia M."' in html(form)  # the display name is suggested, and can be changed
    assert "Quiet Harbour Circle" in html(form)

    made = post(mia, "/me/attendance/proofs", {
        "shown_name": "Mia Martinez", "group": str(attended["group_id"]), "neutral_label": "Weekly support group",
    })
    assert made.status_code == 302 and re.fullmatch(r"/me/attendance/proofs/\d+", made.headers["Location"])
    proof_page = mia.get(made.headers["Location"])
    facts = proof_facts(proof_page)
    for fact in ("Mia Martinez", "Weekly support group", "2026-11-17", "2026-11-24", "26 November 2026"):
        assert fact in facts
    path = verify_path(proof_page)

    for viewer in (None, outsider, facilitator):
        verified = browser(app, viewer).get(path)
        assert verified.status_code == 200
        assert verified.headers["X-Robots-Tag"] == "noindex"
        assert verified.headers["Cache-Control"] == "no-store"
        assert proof_facts(verified) == facts  # the same facts ...
        assert "This proof is valid" in text(verified)
        main = re.search(r"<main.*?</main>", html(verified), re.S).group(0)
        # ... and nothing else: no email, no group name, nobody else, not the member's display name.
        for hidden in (
            member.email, "@example.org", "Quiet Harbour Circle", "Integration circle", member.display_name,
            attended["nora"].display_name, facilitator.display_name, "Community room", "12 Canal Street",
        ):
            assert hidden not in main, (viewer, hidden)


def test_a_proof_without_a_neutral_label_names_the_group_or_all_groups(app, attended, member):
    mia = browser(app, member)
    named = post(mia, "/me/attendance/proofs", {"shown_name": "Mia M.", "group": str(attended["group_id"])},
                 follow_redirects=True)
    assert "Quiet Harbour Circle" in proof_facts(named)
    everything = post(mia, "/me/attendance/proofs", {"shown_name": "Mia M.", "group": ""}, follow_redirects=True)
    assert "Support group meetings" in proof_facts(everything)
    listed = page_text(mia.get("/me/attendance/proofs"))
    assert "Quiet Harbour Circle · 2 dates" in listed and "Support group meetings · 2 dates" in listed


def test_a_revoked_proof_link_answers_404_and_only_its_member_can_revoke_it(app, attended, member):
    mia = browser(app, member)
    made = post(mia, "/me/attendance/proofs", {"shown_name": "Mia M.", "group": "", "neutral_label": "Meetings"})
    proof_url = made.headers["Location"]
    path = verify_path(mia.get(proof_url))
    assert browser(app).get(path).status_code == 200

    nora = browser(app, attended["nora"])
    assert nora.get(proof_url).status_code == 404
    assert post(nora, f"{proof_url}/revoke").status_code == 404
    assert browser(app).get(path).status_code == 200

    revoked = post(mia, f"{proof_url}/revoke", follow_redirects=True)
    assert "The proof is revoked: its verification link no longer works." in flashes(revoked)
    assert "Revoked" in text(revoked)
    assert browser(app).get(path).status_code == 404
    page = mia.get(proof_url)
    assert "This proof was revoked." in text(page) and "verify-link" not in html(page)
    assert post(mia, f"{proof_url}/revoke").status_code == 302  # revoking twice is harmless
    assert browser(app).get(path).status_code == 404


def test_a_tampered_or_forged_proof_token_answers_404(app, attended, member):
    mia = browser(app, member)
    made = post(mia, "/me/attendance/proofs", {"shown_name": "Mia M.", "group": ""})
    path = verify_path(mia.get(made.headers["Location"]))
    token = path.removeprefix("/proof/")
    payload, signature = token.rsplit(".", 1)
    with app.app_context():
        proof_id = db.session.scalar(select(AttendanceProof.id))
    forged = [
        # One character of the signature, then of the payload: the first, since a last base64 character partly
        # holds padding bits, where a change can decode to the very same bytes.
        f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}",
        f"{'A' if payload[0] != 'A' else 'B'}{payload[1:]}.{signature}",
        URLSafeSerializer("not-the-secret", salt=attendance.PROOF_SALT).dumps(proof_id),
        URLSafeSerializer(app.config["SECRET_KEY"], salt="another-salt").dumps(proof_id),
        URLSafeSerializer(app.config["SECRET_KEY"], salt=attendance.PROOF_SALT).dumps(proof_id + 1),
        URLSafeSerializer(app.config["SECRET_KEY"], salt=attendance.PROOF_SALT).dumps(str(proof_id)),
        URLSafeSerializer(app.config["SECRET_KEY"], salt=attendance.PROOF_SALT).dumps(True),
        payload, "x", "x" * 5000, "%00", "..%2F..%2Fetc%2Fpasswd",
    ]
    client = browser(app)
    assert client.get(path).status_code == 200
    for bad in forged:
        assert client.get(f"/proof/{bad}").status_code == 404, bad


def test_a_proof_needs_attendance_and_sensible_values(app, attended, member, outsider):
    otto = browser(app, outsider)
    nothing = post(otto, "/me/attendance/proofs", {"shown_name": "Otto", "group": ""})
    assert nothing.status_code == 400
    assert "There is no attendance to show yet." in text(nothing)

    mia = browser(app, member)
    group = str(attended["group_id"])
    for data, message in (
        ({"shown_name": "", "group": group}, "Enter the name the proof should show."),
        ({"shown_name": "   ", "group": group}, "Enter the name the proof should show."),
        ({"shown_name": "x" * 61, "group": group}, "Field cannot be longer than 60 characters."),
        ({"shown_name": "Mia", "group": group, "neutral_label": "x" * 121}, "120"),
        ({"shown_name": "Mia", "group": "999999"}, "Not a valid choice"),
        ({"shown_name": "Mia", "group": "abc"}, "Not a valid choice"),
        ({"shown_name": "Mia", "group": "99999999999999999999999"}, "Not a valid choice"),
    ):
        response = post(mia, "/me/attendance/proofs", data)
        assert response.status_code == 400, data
        assert message in text(response), (data, text(response)[-400:])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AttendanceProof)) == 0
