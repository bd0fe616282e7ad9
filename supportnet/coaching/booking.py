"""Booking a coach's slot, cancelling and moving it, and the session's notes. Booking locks the coach's row
first, so two members booking the same slot, or a coach changing availability while someone books, can never
produce overlapping sessions."""

from __future__ import annotations
