"""The member's personal safety plan, in the established six parts, each encrypted at rest, and the short
message their "reach out" button sends."""

from __future__ import annotations
