"""The security baseline every response gets, and the one rule for following `next`."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, abort, g, request
from flask_login import current_user
from werkzeug.datastructures import ImmutableMultiDict

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
    """Add the security headers to every response the app sends, and keep NUL characters out of queries."""

    # No page, search or form has a use for a NUL character, and PostgreSQL refuses it in any text parameter
    # (a server error there; SQLite stores it). A NUL in the path names nothing: 404. In the query string it is
    # dropped, as browsing stays forgiving (a search for "\0" is a search for nothing). In a form it is refused:
    # storing something other than what was typed would be worse.
    @app.before_request
    def _no_nul_characters():
        if "\x00" in request.path:
            abort(404)
        if b"%00" in request.query_string or b"\x00" in request.query_string:
            request.args = ImmutableMultiDict(
                [(key.replace("\x00", ""), value.replace("\x00", "")) for key, value in request.args.items(multi=True)]
            )
        if request.method not in ("GET", "HEAD", "OPTIONS") and any(
            "\x00" in key or "\x00" in value for key, value in request.form.items(multi=True)
        ):
            abort(400)

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
        if request.endpoint != "static" and (_signed_in() or g.get("no_store")):
            # Pages of a signed-in member must not be kept by the browser or a shared proxy.
            headers["Cache-Control"] = "no-store"
            headers.add("Vary", "Cookie")
        return response


def no_store() -> None:
    """Mark this response as not to be kept by browsers or proxies, signed in or not (a private group's name, an
    invite link's page): a shared computer's cache or a proxy must not keep who was invited where."""
    g.no_store = True


def _signed_in() -> bool:
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:
        return False
