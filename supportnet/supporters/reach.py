""""Reach out": the member's message, chosen in advance, sent by email through the outbox to the supporters
they choose (neutral subject, no group or recovery words), and what was sent, shown to the member."""

from __future__ import annotations
