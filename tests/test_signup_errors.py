"""Sign-up reports every problem at once: the form's own checks and the account rules (email, password,
display name) together, so a person fixes everything in one go."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from supportnet.extensions import db
from supportnet.models import User
from tests.conftest import post
from tests.pages import html

COMMON = "That password is on a list of common passwords. Choose something less guessable."


def errors(response) -> list[str]:
    return [e.strip() for e in re.findall(r'class="[^"]*error[^"]*"[^>]*>([^<]+)<', html(response)) if e.strip()]


def accounts(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def test_every_problem_is_reported_in_one_submit(app, client):
    response = post(client, "/register", {
        "email": "not an email", "password": "password", "display_name": "   ", "timezone": "Europe/London",
    })
    assert errors(response) == [
        "Enter a valid email address.", COMMON, "Enter a display name.",
        "We can only create an account with your consent.",
    ]
    assert accounts(app) == 0


def test_account_rules_are_reported_together_when_the_form_itself_is_fine(app, client):
    response = post(client, "/register", {
        "email": "someone@invalid", "password": "password", "display_name": "Sam",
        "timezone": "Europe/London", "consent": "y",
    })
    assert errors(response) == ["Enter a valid email address.", COMMON]
    assert accounts(app) == 0


def test_a_good_sign_up_still_works(app, client):
    response = post(client, "/register", {
        "email": "sam@example.org", "password": "a long and quiet river", "display_name": "Sam",
        "timezone": "Europe/London", "consent": "y",
    })
    assert response.status_code == 302
    assert accounts(app) == 1
