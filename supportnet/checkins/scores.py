"""Standard measures a member takes: recording a response (scored with its exact instrument version, answers
encrypted), the BAM's meetings-attended answer offered from recorded attendance, the member's responses and
trend points, and deleting them."""

from __future__ import annotations
