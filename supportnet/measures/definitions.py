"""The shape of a standard instrument: items with their published wording and answer options, and the rules
that score them. Every class is frozen: a published version is never edited in place (see `instruments`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Option:
    """One answer as printed on the form, with the value the scoring rules add up."""

    label: str
    value: int


@dataclass(frozen=True)
class Skip:
    """The form's own skip rule: this item is not asked when the item `when_item` was answered `when_value`
    (the BAM's "If 0, skip to #8"). A skipped item counts as its lowest value."""

    when_item: str
    when_value: int


@dataclass(frozen=True)
class Item:
    """One question. `label` is the number printed on the form ("9", "7A"); `text` is its wording exactly as
    published; `instruction` is an administration note printed with it, kept apart so a page may show it
    differently, and frozen with the text all the same; `heading` is a line the form prints above the item
    (the BAM's "7. ... any of the following drugs:" above 7A).

    `scored=False` items are asked but add to no subscale; `optional` items may be left unanswered (the
    functional-difficulty question, which the form asks only of someone who checked off a problem).
    `safety_from`: any answer whose value is at least this is a safety signal, shown before any score."""

    label: str
    text: str
    options: tuple[Option, ...]
    scored: bool = True
    optional: bool = False
    instruction: str = ""
    heading: str = ""
    skip: Skip | None = None
    safety_from: int | None = None

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(option.value for option in self.options)

    @property
    def is_safety_item(self) -> bool:
        return self.safety_from is not None


@dataclass(frozen=True)
class Subscale:
    """A sum of item values: the PHQ-9 total, or the BAM's Use, Risk and Protective scores."""

    name: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Band:
    """A published severity band of a subscale: `low` to `high` inclusive."""

    low: int
    high: int
    label: str


@dataclass(frozen=True)
class Scoring:
    """How answers become scores; `bands` (if any) grade the subscale named `banded`."""

    subscales: tuple[Subscale, ...]
    banded: str | None = None
    bands: tuple[Band, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Instrument:
    """One version of an instrument. `verified` is true only when every item's wording and every option was
    checked against a published source (named in `wording_source`); members may take verified versions only."""

    code: str
    version: int
    title: str
    citation: str
    licence: str
    licence_source: str
    wording_source: str
    time_frame: str
    stem: str
    items: tuple[Item, ...]
    scoring: Scoring
    verified: bool
    notes: tuple[str, ...] = field(default=())

    def item(self, label: str) -> Item:
        for item in self.items:
            if item.label == label:
                return item
        raise KeyError(label)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(item.label for item in self.items)

    def fingerprint(self) -> str:
        """A hash of everything a member reads or a score depends on: the stem, each item's text, note,
        options and rules, and the scoring. Tests freeze it per version so an edit in place is caught."""
        content = {
            "stem": self.stem,
            "time_frame": self.time_frame,
            "items": [
                {
                    "label": item.label,
                    "text": item.text,
                    "instruction": item.instruction,
                    "heading": item.heading,
                    "options": [[option.label, option.value] for option in item.options],
                    "scored": item.scored,
                    "optional": item.optional,
                    "skip": [item.skip.when_item, item.skip.when_value] if item.skip else None,
                    "safety_from": item.safety_from,
                }
                for item in self.items
            ],
            "subscales": [[subscale.name, list(subscale.items)] for subscale in self.scoring.subscales],
            "banded": self.scoring.banded,
            "bands": [[band.low, band.high, band.label] for band in self.scoring.bands],
        }
        encoded = json.dumps(content, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return hashlib.sha256(encoded).hexdigest()
