"""Every kind of consent names the code that reads under it, and that code asks the consent ledger.

The ledger is only a promise if nothing reads shared data around it: a reader that kept its own copy of "who
shares what" would go on showing a member's data after they revoked. `consent.READERS` is the one list of what
depends on each scope; this test keeps it complete and true.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from supportnet import consent
from supportnet.models import Scope

# Modules that read the ledger for others: asking them is asking the ledger.
LEDGER = ("supportnet.consent", "supportnet.checkins.sharing", "supportnet.followup")


def test_every_scope_lists_what_reads_under_it():
    assert set(consent.READERS) == set(Scope), "a scope nobody declared a reader for (or a reader of no scope)"
    assert all(consent.READERS[scope] for scope in Scope)


@pytest.mark.parametrize("module_name", sorted({m for readers in consent.READERS.values() for m in readers}))
def test_each_reader_asks_the_ledger(module_name):
    module = importlib.import_module(module_name)
    asked = {value.__name__ for value in vars(module).values() if inspect.ismodule(value)} & set(LEDGER)
    asked |= {value.__module__ for value in vars(module).values()
              if inspect.isfunction(value) and value.__module__ in LEDGER}
    assert asked - {module_name}, f"{module_name} is listed as reading under a consent but never asks the ledger"
