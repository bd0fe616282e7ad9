"""Coaches: the role, the profile, who may see and book them, availability, and their free slots."""

from __future__ import annotations
