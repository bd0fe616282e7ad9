"""Programs: admins create programs and name coordinators; coordinators make referrals, print their cards,
follow them, and read the program's outcomes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("programs", __name__)


# Admin: programs, coordinators, the groups a program runs.


# Referrals and their cards.


# Follow-up and outcomes.
