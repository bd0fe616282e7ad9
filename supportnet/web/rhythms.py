"""Rhythms of measures: a member's own rhythm per instrument, and the rhythms a group's facilitators or a
program's coordinators suggest (suggesting, withdrawing; members accept or decline)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rhythms", __name__)
