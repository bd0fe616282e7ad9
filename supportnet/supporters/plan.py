"""The member's personal safety plan, in the established six parts, each encrypted at rest, and the short
message their "reach out" button sends.

The six parts follow the Safety Planning Intervention (Stanley & Brown, 2012): the order matters, from what the
member can do alone to whom they call. The prompts are our own plain words (see docs/safety-plan.md). The
reach-out message shares the row but belongs to "reach out": nothing here writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import SafetyPlan, User
from supportnet.textsafety import has_invisible

MAX_PART_LENGTH = 2000


@dataclass(frozen=True)
class Part:
    """One step of the plan: its column, its heading, and a one-line hint in our own words."""

    key: str
    title: str
    hint: str


PARTS: tuple[Part, ...] = (
    Part("warning_signs", "1. My warning signs",
         "Thoughts, feelings, situations or habits that tell me a hard time may be starting."),
    Part("coping_strategies", "2. Things I can do on my own",
         "What helps me get through a difficult moment without needing anyone else."),
    Part("distractions", "3. People and places that take my mind off things",
         "Who I can spend time with, and where I can go so I am not alone with it."),
    Part("people_to_ask", "4. People I can ask for help",
         "Names and numbers of people I can tell that I am struggling."),
    Part("professionals", "5. Professionals and crisis lines",
         "My doctor, counsellor or sponsor line, and the crisis numbers I can call day and night."),
    Part("safer_environment", "6. Making my surroundings safer",
         "What I can remove, lock away or avoid so that a bad moment is less dangerous."),
)
PART_KEYS = tuple(part.key for part in PARTS)


class PlanError(DomainError):
    """A part of the plan that cannot be saved as typed."""


def plan_of(user: User) -> SafetyPlan | None:
    """The member's plan, or None if they never wrote one."""
    return db.session.get(SafetyPlan, user.id)


def parts_of(user: User) -> dict[str, str]:
    """The six parts as text, in order ("" for a part not written)."""
    plan = plan_of(user)
    return {key: (str(getattr(plan, key) or "") if plan else "") for key in PART_KEYS}


def is_empty(user: User) -> bool:
    """Whether the member has written nothing in any of the six parts."""
    return not any(parts_of(user).values())


def _clean(key: str, value: str | None) -> str | None:
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return None
    if len(text) > MAX_PART_LENGTH:
        raise PlanError(f"Keep this part to {MAX_PART_LENGTH} characters.", field=key)
    # Newlines are how a list is written here; other control and invisible characters are not text.
    if has_invisible(text) or any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in text):
        raise PlanError("This part contains invisible or control characters; remove them and save again.",
                        field=key)
    return text


def save(user: User, parts: Mapping[str, str | None], now: datetime) -> SafetyPlan:
    """Save the parts given (each optional; an empty one is cleared); parts not given stay as they were."""
    cleaned = {key: _clean(key, parts[key]) for key in PART_KEYS if key in parts}
    plan = plan_of(user)
    if plan is None:
        plan = SafetyPlan(user_id=user.id)
        db.session.add(plan)
    for key, value in cleaned.items():
        setattr(plan, key, value)
    plan.updated_at = now
    db.session.flush()
    return plan


def clear(user: User) -> None:
    """Empty the six parts; the row stays only while it still holds the member's reach-out message."""
    plan = plan_of(user)
    if plan is None:
        return
    if plan.reach_out_message:
        for key in PART_KEYS:
            setattr(plan, key, None)
    else:
        db.session.delete(plan)
    db.session.flush()


def crisis_suggestion(resources: Sequence[Mapping[str, str]]) -> str:
    """The deployment's crisis resources as step 5's starting text, one per line, for the member to keep or edit."""
    lines = []
    for resource in resources:
        bits = [resource.get("name", "")]
        if resource.get("phone"):
            bits.append(resource["phone"])
        if resource.get("url"):
            bits.append(resource["url"])
        line = ": ".join(bit for bit in (bits[0], " · ".join(bits[1:])) if bit)
        if line:
            lines.append(line)
    return "\n".join(lines)[:MAX_PART_LENGTH]


def export(user: User) -> dict | None:
    """The plan as plain values for the member's export: the six parts and the reach-out message."""
    plan = plan_of(user)
    if plan is None:
        return None
    record: dict = {key: (str(getattr(plan, key)) if getattr(plan, key) else None) for key in PART_KEYS}
    record["reach_out_message"] = str(plan.reach_out_message) if plan.reach_out_message else None
    record["updated_at"] = plan.updated_at.isoformat() if plan.updated_at else None
    return record


def as_text(user: User) -> str:
    """The plan as a readable text file, the six parts in order."""
    parts = parts_of(user)
    out = ["My safety plan", ""]
    for part in PARTS:
        out += [part.title, parts[part.key] or "(not written)", ""]
    plan = plan_of(user)
    if plan is not None and plan.reach_out_message:
        out += ["My reach-out message", str(plan.reach_out_message), ""]
    return "\n".join(out).replace("\n", "\r\n")
