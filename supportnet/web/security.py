"""The security baseline every response gets, and the one rule for following `next`."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from flask_login import current_user

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def safe_next(target: str | None, default: str = "/") -> str:
    """Return `target` only if it is a path on this site; anything else gives `default`.

    Browsers treat backslashes like slashes and ignore tabs and newlines, so `/\\evil.com` and
    `/\\t/evil.com` are protocol-relative URLs in disguise: all of those are refused, not repaired.
    """
    if not target or len(target) > 2000:
        return default
    if any(ch in target for ch in "\\\t\r\n") or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def install(app: Flask) -> None:
    """Add the security headers to every response the app sends."""

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        # same-origin: other sites never learn which page of a recovery service someone came from.
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if request.endpoint != "static" and _signed_in():
            # Pages of a signed-in member must not be kept by the browser or a shared proxy.
            headers["Cache-Control"] = "no-store"
            headers.add("Vary", "Cookie")
        return response


def _signed_in() -> bool:
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:
        return False
