"""A referral link from the person's side: the suggested meetings, signing up or in, the first RSVP."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("referrals", __name__)
