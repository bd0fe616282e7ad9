"""One-to-one sessions: coach profiles and availability, booking, a member's and a coach's sessions."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("coaching", __name__)
