"""The one place that reads the clock, and the IANA time zones the app accepts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, available_timezones

_frozen: datetime | None = None


def now_utc() -> datetime:
    """Return the current instant as an aware UTC datetime (pinned while a test freezes it)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC)


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Pin now_utc() to `at` inside the block (tests and benchmarks)."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("frozen() needs an aware datetime")
    previous, _frozen = _frozen, at.astimezone(UTC)
    try:
        yield
    finally:
        _frozen = previous


def set_frozen(at: datetime | None) -> None:
    """Pin (or with None, release) now_utc() until told otherwise."""
    global _frozen
    _frozen = at.astimezone(UTC) if at is not None else None


_ZONES: frozenset[str] | None = None


def timezone_names() -> frozenset[str]:
    """Every IANA zone name this machine knows (tzdata ships with the app)."""
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(name for name in available_timezones() if "/" in name or name == "UTC")
    return _ZONES


def zone(name: str) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name, raising ValueError for anything unknown."""
    if name not in timezone_names():
        raise ValueError(f"Unknown timezone {name!r}.")
    return ZoneInfo(name)
