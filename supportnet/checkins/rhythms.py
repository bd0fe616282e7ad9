"""How often a member takes a measure: their own rhythm (weekly, every 2 weeks, monthly) at their local time,
the due days it gives, what is due or overdue, and the rhythms a group's facilitators or a program's
coordinators suggest, which members accept or decline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from supportnet.models import User


@dataclass(frozen=True)
class Overview:
    """The member's rhythms, what is due now, and the suggestions waiting for an answer: the measures page and
    the home read this."""

    rhythms: list = field(default_factory=list)
    due: list = field(default_factory=list)
    suggestions: list = field(default_factory=list)


def overview(user: User, now: datetime) -> Overview:
    """Everything about the member's rhythms the measures page shows."""
    return Overview()
