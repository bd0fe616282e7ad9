"""Text that other people see must look like what it is.

* Bidirectional controls (U+202A to U+202E, U+2066 to U+2069) and other invisible format characters (zero-width
  spaces, word joiners, soft hyphens, byte-order marks: Unicode category Cf) let a display name or a group's
  text show something other than what it contains ("Facilitator" that reads backwards, a name that looks like
  another's). They are refused where people name themselves or describe a group. The zero-width joiner is the
  one exception, inside a word or an emoji sequence (it builds emoji such as 👩‍👧), never at an edge.
* An online meeting link is an https:// URL with a host and nothing that could break out of an attribute or a
  line (spaces, quotes, angle brackets, backslashes, control characters). It is checked when saved and again
  wherever it is emitted (pages, calendar feeds, /meeting-guide.json, emails), so a row written before the rule,
  or by other means, is left out rather than shown.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from supportnet.errors import DomainError

ZERO_WIDTH_JOINER = "\u200d"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_FORBIDDEN = frozenset(" \t\r\n\"'<>\\`")


def has_invisible(text: str) -> bool:
    """Whether the text holds a bidirectional control or another invisible format character."""
    for index, ch in enumerate(text):
        if unicodedata.category(ch) != "Cf":
            continue
        if ch == ZERO_WIDTH_JOINER and 0 < index < len(text) - 1:
            before, after = text[index - 1], text[index + 1]
            if not before.isspace() and not after.isspace() and unicodedata.category(before) != "Cf":
                continue
        return True
    return False


def has_hidden(text: str) -> bool:
    """Whether free text (a note, a message) holds an invisible format character or a control character other
    than line breaks and tabs: either would make it read differently from what was typed."""
    return has_invisible(text) or any(ord(ch) < 32 and ch not in "\n\r\t" for ch in text) or "\x7f" in text


def clean_name(raw: str | None, *, limit: int, empty: str, what: str = "name", field: str = "name") -> str:
    """A short name people read (a display name, a program, a supporter): NFC, whitespace collapsed, no control
    or invisible characters, at most `limit` characters; otherwise a DomainError a person can act on (`empty`
    when nothing usable is left; `what` names it in the other messages)."""
    name = " ".join(unicodedata.normalize("NFC", raw or "").split())
    if not name or _CONTROL.search(name):
        raise DomainError(empty, field=field)
    if has_invisible(name):
        raise DomainError(f"Remove the invisible or direction-changing characters from the {what}.", field=field)
    if len(name) > limit:
        raise DomainError(f"Keep the {what} to {limit} characters.", field=field)
    return name


def safe_meeting_url(url: str | None) -> str | None:
    """The link if it is a plain https:// URL with a host, else None."""
    url = (url or "").strip()
    if not url or len(url) > 500:
        return None
    if any(ch in _URL_FORBIDDEN or ord(ch) < 32 or ord(ch) == 127 for ch in url) or has_invisible(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme != "https" or not host:
        return None
    return url
