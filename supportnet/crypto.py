"""Encryption at rest for what members write: check-in notes and their own tag texts.

The deployment key (SUPPORTNET_DATA_KEY) is one or more Fernet keys separated by commas, newest first.
The newest key encrypts; every listed key decrypts, so a key can be rotated without downtime: put the new
key in front, run `flask --app supportnet checkins rotate-key`, then drop the old key.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import MetaData, Text, select, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.schema import Column
from sqlalchemy.types import TypeDecorator

DEV_KEY_FILE = "data_key"


class DataKeyError(ValueError):
    """The configured data key cannot be used; the message says why without showing the key."""


class SecretText(str):
    """Decrypted text. Prints like any string but never shows its content in a repr.

    SQLAlchemy logs result rows with repr() when its engine logger is at DEBUG, and exceptions and debuggers
    show reprs too: none of those may carry a check-in note into a log.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'[encrypted text]'"


def generate_key() -> str:
    """A new random Fernet key, as text."""
    return Fernet.generate_key().decode()


def split_keys(raw: str | None) -> list[str]:
    """The keys of a SUPPORTNET_DATA_KEY value, newest first."""
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def parse_keys(raw: str | None) -> MultiFernet:
    """Build the cipher from a comma-separated key list (newest first), or raise DataKeyError."""
    keys = split_keys(raw)
    if not keys:
        raise DataKeyError("no key given")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError) as exc:
            # Never echo the value: it is a secret even when it is malformed.
            raise DataKeyError(
                f"key number {position} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from exc
    return MultiFernet(fernets)


def dev_key(instance_path: Path) -> str:
    """The development key kept under instance/, created on first use (never used in production)."""
    path = instance_path / DEV_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    path.write_text(key)
    path.chmod(0o600)
    return key


def uses_dev_key(config, instance_path: Path) -> bool:
    """Whether the app's key setting is the development key file's content."""
    path = instance_path / DEV_KEY_FILE
    return path.exists() and split_keys(path.read_text()) == split_keys(config.get("DATA_KEY"))


def prepend_dev_key(instance_path: Path) -> str:
    """Put a new key in front of the development key file and return the file's new key list."""
    path = instance_path / DEV_KEY_FILE
    keys = ",".join([generate_key(), *split_keys(path.read_text())])
    path.write_text(keys)
    return keys


def keep_only_newest_dev_key(instance_path: Path) -> None:
    """After a rotation, forget every development key but the newest."""
    path = instance_path / DEV_KEY_FILE
    path.write_text(split_keys(path.read_text())[0])


def ephemeral_key() -> str:
    """A throw-away key for a test app (held in memory only): its database is a copy nothing else reads."""
    return generate_key()


def cipher() -> MultiFernet:
    """The current app's cipher, built once per distinct key setting."""
    raw = current_app.config["DATA_KEY"]
    cache = current_app.extensions.setdefault("supportnet.crypto", {})
    if cache.get("raw") != raw:
        cache["raw"], cache["cipher"] = raw, parse_keys(raw)
    return cache["cipher"]


def encrypt(text: str) -> str:
    """Encrypt text with the newest key."""
    return cipher().encrypt(text.encode()).decode()


def decrypt(token: str) -> SecretText:
    """Decrypt a token made with any configured key."""
    try:
        return SecretText(cipher().decrypt(token.encode()).decode())
    except InvalidToken as exc:
        raise DataKeyError(
            "Stored check-in text cannot be decrypted with SUPPORTNET_DATA_KEY: was a key removed before "
            "`flask --app supportnet checkins rotate-key` ran?"
        ) from exc


class EncryptedText(TypeDecorator[str]):
    """Text stored as a Fernet token: plaintext in Python, ciphertext in the database row."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        if value is None:
            return None
        return encrypt(str(value))

    def process_result_value(self, value: str | None, dialect) -> str | None:
        if value is None:
            return None
        return decrypt(value)


def rotate_column(session: Session, column: Column, primary_key: Column) -> int:
    """Re-encrypt every value of an EncryptedText column with the newest key; returns how many rows changed."""
    current = cipher()
    raw = type_coerce(column, Text)
    rows = session.execute(select(primary_key, raw).where(column.is_not(None))).all()
    for row_id, token in rows:
        try:
            fresh = current.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise DataKeyError(
                f"a value in {column.table.name}.{column.name} (id {row_id}) cannot be decrypted with any "
                "configured key; add the key it was written with to SUPPORTNET_DATA_KEY"
            ) from exc
        # type_coerce to plain Text: the new token goes in as it is, not encrypted a second time.
        session.execute(
            update(column.table).where(primary_key == row_id).values({column.name: type_coerce(fresh, Text)})
        )
    return len(rows)


def rotate_all(session: Session, metadata: MetaData) -> int:
    """Re-encrypt every EncryptedText column of every table (check-in notes, own tags, measure answers, referral
    names, notes and links, and whatever is added later) with the newest key; returns how many values were
    rewritten."""
    count = 0
    for table in metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1:
            continue
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                count += rotate_column(session, column, keys[0])
    return count
