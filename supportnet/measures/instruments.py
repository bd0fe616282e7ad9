"""The registry of instruments by (code, version). It only grows: a wording, option or scoring change is a
new version added beside the old one, so a stored response is always read with the text it answered.
tests/test_measure_instruments.py freezes a fingerprint of every version to keep that true."""

from __future__ import annotations

from types import MappingProxyType

from supportnet.errors import DomainError
from supportnet.measures.definitions import Instrument
from supportnet.measures.published import BAM_V1, GAD7_V1, PHQ9_V1

# BARC-10 is not here: its publication gives no licence to reproduce the items (docs/measures.md).
INSTRUMENTS: MappingProxyType[tuple[str, int], Instrument] = MappingProxyType({
    (instrument.code, instrument.version): instrument
    for instrument in (PHQ9_V1, GAD7_V1, BAM_V1)
})


def get(code: str, version: int) -> Instrument:
    """The instrument a stored response names; an unknown pair is a clear error, never a guess."""
    try:
        return INSTRUMENTS[(code, version)]
    except KeyError:
        raise DomainError(f"There is no measure {code} version {version}.") from None


def current(code: str) -> Instrument:
    """The newest verified version of an instrument: the one a member is offered today."""
    versions = [i for (c, _), i in INSTRUMENTS.items() if c == code and i.verified]
    if not versions:
        raise DomainError(f"There is no measure {code} that members can take.")
    return max(versions, key=lambda instrument: instrument.version)


def takeable() -> tuple[Instrument, ...]:
    """The newest verified version of each instrument, in registry order."""
    verified_codes = dict.fromkeys(code for (code, _), instrument in INSTRUMENTS.items() if instrument.verified)
    return tuple(current(code) for code in verified_codes)
