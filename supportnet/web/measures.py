"""A member's standard measures: the list, taking one, the result (crisis resources first when an answer calls
for them), the trend with its table, deleting a response."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("measures", __name__)
