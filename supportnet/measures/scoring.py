"""Scoring a member's answers to one instrument version: every required item answered with one of its
options, skipped items as the form skips them, then subscale sums, the published severity band and the
safety flag. Incomplete or invalid answers are refused with a message a person can act on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from supportnet.errors import DomainError
from supportnet.measures.definitions import Instrument, Item


@dataclass(frozen=True)
class Score:
    """What a response yields. `safety_flag` is true when any safety item was answered at or above its
    threshold (`safety_items` says which), and a page shows the crisis resources before any score."""

    code: str
    version: int
    subscales: Mapping[str, int]
    band: str | None
    safety_flag: bool
    safety_items: tuple[str, ...]


def is_skipped(item: Item, answers: Mapping[str, int]) -> bool:
    """Whether the form's own skip rule leaves this item out, given the answers so far."""
    return item.skip is not None and answers.get(item.skip.when_item) == item.skip.when_value


def _checked(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, int]:
    unknown = sorted(set(answers) - set(instrument.labels))
    if unknown:
        raise DomainError(f"{instrument.code} has no item {', '.join(unknown)}.")
    values: dict[str, int] = {}
    for item in instrument.items:
        if item.label not in answers:
            continue
        value = answers[item.label]
        # bool is an int in Python; True is never a published answer.
        if isinstance(value, bool) or not isinstance(value, int) or value not in item.values:
            raise DomainError(f"Item {item.label} of {instrument.code} needs one of its listed answers.",
                              field=item.label)
        values[item.label] = value
    missing = []
    for item in instrument.items:
        if is_skipped(item, values):
            # A skipped item may come back from a form as its lowest answer, never as anything else.
            if values.get(item.label, min(item.values)) != min(item.values):
                raise DomainError(
                    f"Item {item.label} of {instrument.code} is skipped after that answer to item "
                    f"{item.skip.when_item}: leave it empty.", field=item.label)
            values[item.label] = min(item.values)
        elif item.label not in values and not item.optional:
            missing.append(item.label)
    if missing:
        raise DomainError(f"Please answer every question of {instrument.code}: "
                          f"item{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                          f"{'are' if len(missing) > 1 else 'is'} still empty.", field=missing[0])
    return values


def band_of(instrument: Instrument, subscales: Mapping[str, int]) -> str | None:
    """The published severity band of the banded subscale's score (None for an instrument without bands, or a
    score missing from `subscales`): the same rule for a fresh score and for scores stored long ago."""
    banded = instrument.scoring.banded
    if banded is None or banded not in subscales:
        return None
    total = subscales[banded]
    return next((b.label for b in instrument.scoring.bands if b.low <= total <= b.high), None)


def score(instrument: Instrument, answers: Mapping[str, object]) -> Score:
    """Score complete answers (item label -> option value) to this exact instrument version."""
    values = _checked(instrument, answers)
    subscales = {
        subscale.name: sum(values[label] for label in subscale.items)
        for subscale in instrument.scoring.subscales
    }
    band = band_of(instrument, subscales)
    safety_items = tuple(
        item.label for item in instrument.items
        if item.safety_from is not None and values.get(item.label, -1) >= item.safety_from
    )
    return Score(
        code=instrument.code,
        version=instrument.version,
        subscales=subscales,
        band=band,
        safety_flag=bool(safety_items),
        safety_items=safety_items,
    )
