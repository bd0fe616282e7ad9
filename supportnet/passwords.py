"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

import gzip
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from supportnet.errors import DomainError

MIN_LENGTH = 8
MAX_LENGTH = 256  # long passphrases are welcome; the cap only stops hashing megabytes

# argon2-cffi's defaults follow RFC 9106's recommended low-memory Argon2id profile.
_hasher = PasswordHasher()


def use_cheap_hashing_for_tests() -> None:
    """Switch to the cheapest Argon2id parameters; only the test configuration calls this."""
    global _hasher
    _hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    dummy_hash.cache_clear()


class WeakPassword(DomainError):
    field = "password"


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of about 20,000 common passwords (from Django, BSD licence)."""
    data = files("supportnet.data").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines() if line.strip())


def check_policy(password: str) -> None:
    """Raise WeakPassword unless the password is long enough and not a common one (no composition rules)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    if password.lower().strip() in common_passwords():
        raise WeakPassword("That password is on a list of common passwords. Choose something less guessable.")


def hash_password(password: str) -> str:
    """Hash a password with Argon2id; the whole password counts (no truncation)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Return whether the password matches the stored hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Return whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


@cache
def dummy_hash() -> str:
    """A hash to verify against when the account does not exist, so both cases take as long."""
    return _hasher.hash("not a real password, only for timing")
