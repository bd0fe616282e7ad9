"""The standard instruments and their scoring: published totals and bands, the safety items, the BAM's
subscales and skips, answers refused when incomplete or invalid, and every published version frozen.

These need no database: an instrument is code plus version, and scoring is a pure function of the answers.
"""

from __future__ import annotations

import dataclasses

import pytest

from supportnet.errors import DomainError
from supportnet.measures import instruments, scoring
from supportnet.measures.definitions import Instrument

PHQ9 = instruments.get("PHQ-9", 1)
GAD7 = instruments.get("GAD-7", 1)
BAM = instruments.get("BAM", 1)

# The fingerprint of every version ever published. A version's text, options and scoring never change once
# members may have answered it: add a new version instead, and its fingerprint here.
PUBLISHED = {
    ("PHQ-9", 1): "4120a8816a19d7d23a1b188138830cc6e101b8d0dfeb5d683ce1b5f635b723df",
    ("GAD-7", 1): "2b9dcb6d4bed891f8c66b11f99c5a6bd43c786cffefa8a8f00d199e1ff21523b",
    ("BAM", 1): "de6e5a58f7da858da0d080176614372b1dbb6509c7e7c7967b088a9d4cde0747",
}


def _answers(instrument: Instrument, total: int) -> dict[str, int]:
    """Answers to the scored items adding up to `total`, filled item by item from the top."""
    answers = {}
    for label in instrument.scoring.subscales[0].items:
        value = min(total, max(instrument.item(label).values))
        answers[label] = value
        total -= value
    assert total == 0
    return answers


# --- Published scoring ---------------------------------------------------------------------------------

def test_phq9_all_items_two_is_eighteen_moderately_severe():
    result = scoring.score(PHQ9, {str(n): 2 for n in range(1, 10)})
    assert result.subscales == {"total": 18}
    assert result.band == "moderately severe"
    assert (result.code, result.version) == ("PHQ-9", 1)


@pytest.mark.parametrize(("total", "band"), [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
    (15, "moderately severe"), (19, "moderately severe"), (20, "severe"), (27, "severe"),
])
def test_phq9_bands_at_their_published_boundaries(total, band):
    result = scoring.score(PHQ9, _answers(PHQ9, total))
    assert result.subscales["total"] == total
    assert result.band == band


@pytest.mark.parametrize(("total", "band"), [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
    (15, "severe"), (21, "severe"),
])
def test_gad7_bands_at_their_published_cut_points(total, band):
    result = scoring.score(GAD7, _answers(GAD7, total))
    assert result.subscales["total"] == total
    assert result.band == band


def test_the_difficulty_question_is_asked_but_never_scored():
    answers = {str(n): 1 for n in range(1, 8)}
    without = scoring.score(GAD7, answers)
    with_it = scoring.score(GAD7, {**answers, "difficulty": 3})
    assert without.subscales == with_it.subscales == {"total": 7}
    assert not GAD7.item("difficulty").scored and not PHQ9.item("difficulty").scored


# --- Safety items --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [1, 2, 3])
def test_any_answer_above_not_at_all_to_phq9_item_9_raises_the_safety_flag(value):
    answers = {str(n): 0 for n in range(1, 10)} | {"9": value}
    result = scoring.score(PHQ9, answers)
    # A total of 1 is "minimal", yet the flag is up: the crisis resources never wait for a band.
    assert result.safety_flag
    assert result.safety_items == ("9",)
    assert result.subscales["total"] == value


def test_no_safety_flag_when_item_9_is_not_at_all_however_high_the_rest():
    result = scoring.score(PHQ9, {str(n): 3 for n in range(1, 9)} | {"9": 0})
    assert result.band == "severe"
    assert not result.safety_flag and result.safety_items == ()


def test_item_9_is_the_only_phq9_safety_item_and_gad7_has_none():
    assert [item.label for item in PHQ9.items if item.is_safety_item] == ["9"]
    assert not any(item.is_safety_item for item in GAD7.items)


# --- BAM -----------------------------------------------------------------------------------------------

# A member's month, hand-scored with the BAM's published rules (Use = 4+5+6, Risk = 1+2+3+8+11+15,
# Protective = 9+10+12+13+14+16): fair health, some poor nights, a few drinking days, no drugs, so 7A-7G
# are skipped, regular meetings, work most days, enough income, supportive family.
BAM_MONTH = {
    "1": 3,   # Fair
    "2": 2,   # 4-8 nights
    "3": 1,   # 1-3 days
    "4": 1,   # 1-3 days
    "5": 0,   # 0 days of heavy drinking
    "6": 0,   # 0: skip to #8
    "8": 1,   # Slightly
    "9": 3,   # Considerably confident
    "10": 3,  # 9-15 days of self-help meetings
    "11": 1,  # 1-3 days
    "12": 2,  # Moderately
    "13": 4,  # 16-30 days
    "14": 4,  # Yes
    "15": 0,  # Not at all
    "16": 4,  # 16-30 days
    "17": 2,  # Moderately satisfied (not scored)
}


def test_bam_subscales_on_a_worked_example():
    result = scoring.score(BAM, BAM_MONTH)
    assert result.subscales == {"use": 1 + 0 + 0, "risk": 3 + 2 + 1 + 1 + 1 + 0, "protective": 3 + 3 + 2 + 4 + 4 + 4}
    assert result.band is None
    assert not result.safety_flag


def test_bam_items_7a_to_7g_and_17_count_in_no_subscale():
    in_subscales = {label for subscale in BAM.scoring.subscales for label in subscale.items}
    unscored = {"7A", "7B", "7C", "7D", "7E", "7F", "7G", "17"}
    assert in_subscales.isdisjoint(unscored)
    assert in_subscales | unscored == set(BAM.labels)
    heavy = scoring.score(BAM, BAM_MONTH | {"17": 4})
    assert heavy.subscales == scoring.score(BAM, BAM_MONTH).subscales


def test_bam_drug_items_are_required_once_drug_days_are_answered():
    with pytest.raises(DomainError, match="7A, 7B, 7C, 7D, 7E, 7F, 7G"):
        scoring.score(BAM, BAM_MONTH | {"6": 2})
    drugs = {label: 0 for label in ("7A", "7B", "7D", "7E", "7F", "7G")} | {"7C": 2}
    result = scoring.score(BAM, BAM_MONTH | {"6": 2} | drugs)
    assert result.subscales["use"] == 1 + 0 + 2


def test_bam_heavy_drinking_is_skipped_after_no_drinking_days():
    month = {label: value for label, value in BAM_MONTH.items() if label != "5"} | {"4": 0}
    assert scoring.score(BAM, month).subscales["use"] == 0
    # A form that sends the skipped item as its lowest answer is fine; anything else contradicts item 4.
    assert scoring.score(BAM, month | {"5": 0}).subscales["use"] == 0
    with pytest.raises(DomainError, match="Item 5 of BAM is skipped"):
        scoring.score(BAM, month | {"5": 3})


@pytest.mark.parametrize("label", ["1", "2", "3"])
def test_the_worst_answer_to_health_sleep_or_mood_raises_the_bam_danger_flag(label):
    result = scoring.score(BAM, BAM_MONTH | {label: 4})
    assert result.safety_flag
    assert result.safety_items == (label,)


def test_one_step_below_the_worst_answer_is_no_danger():
    result = scoring.score(BAM, BAM_MONTH | {"1": 3, "2": 3, "3": 3})
    assert not result.safety_flag


def test_bam_income_is_no_or_yes_scored_zero_or_four():
    assert [(o.label, o.value) for o in BAM.item("14").options] == [("No", 0), ("Yes", 4)]
    with pytest.raises(DomainError, match="Item 14"):
        scoring.score(BAM, BAM_MONTH | {"14": 2})


# --- Refused answers -----------------------------------------------------------------------------------

def test_an_unanswered_item_is_refused_with_its_number():
    answers = {str(n): 1 for n in range(1, 10)}
    del answers["4"]
    with pytest.raises(DomainError, match="item 4 is still empty") as refused:
        scoring.score(PHQ9, answers)
    assert refused.value.field == "4"


def test_several_unanswered_items_are_all_named():
    with pytest.raises(DomainError, match="items 1, 2, 3, 4, 5, 6, 7 are still empty"):
        scoring.score(GAD7, {})


@pytest.mark.parametrize("value", [4, -1, "2", 2.0, True, None])
def test_an_answer_that_is_not_one_of_the_items_options_is_refused(value):
    answers = {str(n): 1 for n in range(1, 10)} | {"3": value}
    with pytest.raises(DomainError, match="Item 3 of PHQ-9 needs one of its listed answers") as refused:
        scoring.score(PHQ9, answers)
    assert refused.value.field == "3"


def test_an_item_the_instrument_does_not_have_is_refused():
    with pytest.raises(DomainError, match="GAD-7 has no item 8"):
        scoring.score(GAD7, {str(n): 1 for n in range(1, 9)})


def test_an_unknown_instrument_or_version_is_refused():
    with pytest.raises(DomainError, match="There is no measure PHQ-9 version 2"):
        instruments.get("PHQ-9", 2)
    with pytest.raises(DomainError, match="There is no measure BARC-10"):
        instruments.current("BARC-10")


# --- Versions are never edited in place ----------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(instruments.INSTRUMENTS))
def test_a_published_version_is_never_edited_in_place(key):
    instrument = instruments.INSTRUMENTS[key]
    assert key in PUBLISHED, (
        f"{key[0]} version {key[1]} is new: add its fingerprint {instrument.fingerprint()} to PUBLISHED."
    )
    assert instrument.fingerprint() == PUBLISHED[key], (
        f"The wording, options or scoring of {key[0]} version {key[1]} changed. Members' stored answers name "
        "this version, so it must stay as it was: restore it, and add the change as a new version "
        f"({key[0]} version {key[1] + 1}) in supportnet/measures/published.py and the registry."
    )


def test_every_frozen_version_is_still_in_the_registry():
    assert set(PUBLISHED) <= set(instruments.INSTRUMENTS), "A published version must never leave the registry."


def test_a_changed_word_changes_the_fingerprint():
    item = PHQ9.items[0]
    edited = dataclasses.replace(PHQ9, items=(dataclasses.replace(item, text=item.text + "."), *PHQ9.items[1:]))
    assert edited.fingerprint() != PHQ9.fingerprint()
    option = dataclasses.replace(item.options[1], value=2)
    rescored = dataclasses.replace(
        PHQ9, items=(dataclasses.replace(item, options=(item.options[0], option, *item.options[2:])), *PHQ9.items[1:])
    )
    assert rescored.fingerprint() != PHQ9.fingerprint()


def test_instruments_and_the_registry_are_read_only():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PHQ9.items[0].text = "Edited"  # type: ignore[misc]
    with pytest.raises(TypeError):
        instruments.INSTRUMENTS[("PHQ-9", 1)] = GAD7  # type: ignore[index]


# --- Registry integrity --------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(instruments.INSTRUMENTS))
def test_registry_entries_are_consistent(key):
    instrument = instruments.INSTRUMENTS[key]
    assert (instrument.code, instrument.version) == key
    assert instrument.version >= 1
    assert instrument.citation and instrument.licence and instrument.licence_source and instrument.wording_source
    labels = instrument.labels
    assert len(labels) == len(set(labels)), "item labels are unique"
    for item in instrument.items:
        assert item.text.strip() == item.text and item.text
        assert len(item.options) >= 2
        values = item.values
        assert len(values) == len(set(values)), f"{key} item {item.label}: option values are unique"
        assert len({option.label for option in item.options}) == len(item.options)
        assert all(isinstance(value, int) and 0 <= value <= 4 for value in values)
        if item.safety_from is not None:
            assert min(values) < item.safety_from <= max(values)
        if item.skip is not None:
            assert labels.index(item.skip.when_item) < labels.index(item.label)
            assert item.skip.when_value in instrument.item(item.skip.when_item).values
    scored = [label for subscale in instrument.scoring.subscales for label in subscale.items]
    assert scored, "every instrument scores something"
    for label in scored:
        assert instrument.item(label).scored and not instrument.item(label).optional
    assert instrument.scoring.source


BANDED = [key for key in sorted(instruments.INSTRUMENTS) if instruments.INSTRUMENTS[key].scoring.bands]


@pytest.mark.parametrize("key", BANDED)
def test_bands_cover_every_possible_total_once(key):
    instrument = instruments.INSTRUMENTS[key]
    subscale = next(s for s in instrument.scoring.subscales if s.name == instrument.scoring.banded)
    highest = sum(max(instrument.item(label).values) for label in subscale.items)
    covered = [total for band in instrument.scoring.bands for total in range(band.low, band.high + 1)]
    assert covered == list(range(highest + 1))


def test_codes_and_versions_are_unique_and_members_take_the_newest_verified():
    assert len(instruments.INSTRUMENTS) == len(set(instruments.INSTRUMENTS))
    offered = instruments.takeable()
    assert [i.code for i in offered] == ["PHQ-9", "GAD-7", "BAM"]
    assert all(i.verified for i in offered)


def test_barc10_is_left_out_until_its_licence_permits_reproduction():
    assert not any(code == "BARC-10" for code, _ in instruments.INSTRUMENTS)
