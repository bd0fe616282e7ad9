"""Logging set-up. One-time tokens travel in URLs, so request lines are redacted before anyone logs them."""

from __future__ import annotations

import logging
import re

# Paths whose last segment is a secret: emailed links and private calendar feeds.
# (notifications/stop and notifications/cant-make-it: the signed links in notification emails; r: a referral's
# one-time link, also when it rides in a sign-in page's `next`; supporter: a supporter's accept and stop links.)
_TOKEN_PATH = re.compile(
    r"(/(?:account/(?:confirm|reset|email|not-me)|calendar|invite|proof|r|supporter|notifications/(?:stop|stop-sharing|cant-make-it))/)[^\s/?\"']+"
)

# A referral's link percent-encoded inside another address's query (`?next=%2Fr%2F<token>`).
_ENCODED_REFERRAL = re.compile(r"(%2Fr%2F)[^\s&\"'%/?]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace secret URL segments with [redacted]."""
    return _ENCODED_REFERRAL.sub(r"\1[redacted]", _TOKEN_PATH.sub(r"\1[redacted]", text))


class RedactTokens(logging.Filter):
    """A filter that rewrites a record's message with its secrets removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactTokens()


def configure(level: str) -> None:
    """Send app logs to stderr and make sure request logs (werkzeug, gunicorn) are redacted."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    logging.getLogger("supportnet").setLevel(level)
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
