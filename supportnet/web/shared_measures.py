"""What a group's facilitators and a program's coordinators see of the measures members share with them."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("shared_measures", __name__)
