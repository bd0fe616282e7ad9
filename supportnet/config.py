"""Configuration: safe defaults, overridden by SUPPORTNET_* environment variables, then by the caller."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from supportnet import crypto

# Values that must never protect a real deployment.
INSECURE_SECRET_KEYS = frozenset({"", "dev", "change-me", "changeme", "secret"})

ENVIRONMENTS = ("production", "development", "testing")
# The largest request body the app reads (Flask's MAX_CONTENT_LENGTH); gunicorn.conf.py closes the connection
# after answering a larger one with 413.
MAX_REQUEST_BYTES = 2 * 1024 * 1024

# Shown after a check-in with the lowest mood or a request for support. Deployments set their own
# (local numbers, their program's on-call line) with SUPPORTNET_CRISIS_RESOURCES, a JSON list like this one.
DEFAULT_CRISIS_RESOURCES: list[dict[str, str]] = [
    {
        "name": "Emergency services",
        "text": "If you are in danger or might hurt yourself, call your local emergency number now "
        "(for example 112 in Europe, 911 in North America, 999 in the UK).",
    },
    {
        "name": "A crisis line",
        "text": "Many countries have a free, confidential helpline that answers day and night. "
        "Find Helpline lists them by country.",
        "url": "https://findahelpline.com",
    },
    {
        "name": "Someone you trust",
        "text": "Your sponsor, a friend, family, or your treatment team: you don't have to wait for the next meeting.",
    },
]
CRISIS_RESOURCE_KEYS = frozenset({"name", "text", "phone", "url"})


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says what to set."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"SUPPORTNET_{name}", default)


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"SUPPORTNET_{name} must be a whole number, not {raw!r}.") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_crisis_resources() -> list[dict[str, str]]:
    raw = _env("CRISIS_RESOURCES")
    if raw is None or raw.strip() == "":
        return DEFAULT_CRISIS_RESOURCES
    try:
        resources = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"SUPPORTNET_CRISIS_RESOURCES is not valid JSON: {exc}.") from exc
    return check_crisis_resources(resources)


def check_crisis_resources(resources: Any) -> list[dict[str, str]]:
    """Return the crisis resources if each is an object with a name and only text, phone and url besides."""
    problem = "SUPPORTNET_CRISIS_RESOURCES must be a JSON list of objects with a \"name\" and optional \"text\", " \
        "\"phone\" and \"url\" strings."
    if not isinstance(resources, list) or not resources:
        raise ConfigError(problem)
    for item in resources:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not item["name"].strip()
            or not set(item) <= CRISIS_RESOURCE_KEYS
            or not all(isinstance(value, str) for value in item.values())
        ):
            raise ConfigError(problem)
        if item.get("url") and not item["url"].startswith(("https://", "http://", "tel:")):
            raise ConfigError("SUPPORTNET_CRISIS_RESOURCES: a \"url\" must start with https://, http:// or tel:.")
    return resources


def database_url(url: str) -> str:
    """The SQLAlchemy URL to use: a bare postgres:// or postgresql:// URL means the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _dev_secret_key(instance_path: Path) -> str:
    # Development keeps one random key under instance/ so sessions survive a restart
    # without anybody ever typing (or committing) a key.
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_config(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the app's configuration from defaults, the environment and explicit overrides."""
    overrides = dict(overrides or {})
    env = overrides.pop("ENV", None) or _env("ENV", "production")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"SUPPORTNET_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    production = env == "production"

    cfg: dict[str, Any] = {
        "SUPPORTNET_ENV": env,
        "TESTING": env == "testing",
        "SECRET_KEY": _env("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": database_url(_env("DATABASE_URL") or f"sqlite:///{instance_path / 'supportnet.db'}"),
        "BASE_URL": (_env("BASE_URL") or ("" if production else "http://127.0.0.1:5000")).rstrip("/"),
        "MAIL_URL": _env("MAIL_URL") or "",
        "MAIL_FROM": _env("MAIL_FROM") or "",
        "DEV_MAILBOX_DIR": str(instance_path / "mailbox"),
        # Sessions: the idle timeout applies to sessions without "remember me";
        # every session ends after the absolute lifetime.
        "SESSION_IDLE_MINUTES": _env_int("SESSION_IDLE_MINUTES", 120),
        "SESSION_LIFETIME_DAYS": _env_int("SESSION_LIFETIME_DAYS", 30),
        # How stale a session's "last seen" may grow before a request writes it again.
        "SESSION_TOUCH_SECONDS": _env_int("SESSION_TOUCH_SECONDS", 60),
        "LOGIN_FAILURE_LIMIT": _env_int("LOGIN_FAILURE_LIMIT", 10),
        "LOGIN_FAILURE_WINDOW_MINUTES": _env_int("LOGIN_FAILURE_WINDOW_MINUTES", 15),
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URL", "memory://"),
        "RATELIMIT_ENABLED": _env_bool("RATELIMIT_ENABLED", True),
        "AUTH_RATE_LIMIT": _env("AUTH_RATE_LIMIT", "30 per minute"),
        "QUICK_EXIT_URL": _env("QUICK_EXIT_URL", "https://www.google.com/search?q=weather"),
        "LOG_LEVEL": _env("LOG_LEVEL", "INFO"),
        # How many reverse proxies in front of the app set X-Forwarded-For/-Proto (0: trust no such header).
        "PROXY_HOPS": _env_int("PROXY_HOPS", 0),
        # Encrypts check-in notes and members' own tags; comma-separated Fernet keys, newest first.
        "DATA_KEY": _env("DATA_KEY") or "",
        "CRISIS_RESOURCES": _env_crisis_resources(),
        # Notifications and the scheduler process (the README's configuration table explains each).
        "SCHEDULER_DISPATCH_SECONDS": _env_int("SCHEDULER_DISPATCH_SECONDS", 30),
        "SCHEDULER_PLAN_SECONDS": _env_int("SCHEDULER_PLAN_SECONDS", 300),
        "NOTIFY_BATCH_SIZE": _env_int("NOTIFY_BATCH_SIZE", 100),
        "NOTIFY_LEASE_SECONDS": _env_int("NOTIFY_LEASE_SECONDS", 300),
        "NOTIFY_MAX_ATTEMPTS": _env_int("NOTIFY_MAX_ATTEMPTS", 8),
        "NOTIFY_RETRY_BASE_SECONDS": _env_int("NOTIFY_RETRY_BASE_SECONDS", 60),
        "NOTIFY_RETRY_MAX_SECONDS": _env_int("NOTIFY_RETRY_MAX_SECONDS", 3600),
        "NOTIFY_RETENTION_DAYS": _env_int("NOTIFY_RETENTION_DAYS", 90),
        "NOTIFY_DIGEST_HOUR": _env_int("NOTIFY_DIGEST_HOUR", 18),
        # Data controls (the README's configuration table explains each). Two-factor is required of
        # facilitators and admins; the test environment alone defaults to off, so that other features' tests can
        # sign staff in with a password (tests of two-factor turn it on).
        "REQUIRE_2FA_FOR_STAFF": _env_bool("REQUIRE_2FA_FOR_STAFF", env != "testing"),
        "REAUTH_MINUTES": _env_int("REAUTH_MINUTES", 10),
        "AUDIT_RETENTION_MONTHS": _env_int("AUDIT_RETENTION_MONTHS", 24),
        # Cookies: HttpOnly and SameSite=Lax everywhere, Secure whenever we are in production.
        "SESSION_COOKIE_NAME": "supportnet_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_NAME": "supportnet_remember",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session that holds it
        "MAX_CONTENT_LENGTH": MAX_REQUEST_BYTES,
        "DEBUG": False,
    }
    cfg["REMEMBER_COOKIE_DURATION"] = cfg["SESSION_LIFETIME_DAYS"] * 86400
    cfg.update(overrides)
    _finish(cfg, instance_path)
    return cfg


def _finish(cfg: dict[str, Any], instance_path: Path) -> None:
    production = cfg["SUPPORTNET_ENV"] == "production"
    if production:
        key = cfg.get("SECRET_KEY") or ""
        if key.strip().lower() in INSECURE_SECRET_KEYS or len(key) < 32:
            raise ConfigError(
                "SUPPORTNET_SECRET_KEY is missing or too weak. Set it to a random value of at least "
                "32 characters, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        if not cfg["BASE_URL"]:
            raise ConfigError("SUPPORTNET_BASE_URL must be set in production (e.g. https://support.example.org).")
        cfg["DEBUG"] = False
    elif not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _dev_secret_key(instance_path)
    _finish_data_key(cfg, instance_path, production)
    if cfg["PROXY_HOPS"] < 0:
        raise ConfigError("SUPPORTNET_PROXY_HOPS must be 0 (no proxy) or the number of proxies in front of the app.")
    if not cfg["MAIL_FROM"]:
        # A neutral sender: nothing in an inbox list should say "recovery".
        host = cfg["BASE_URL"].split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
        cfg["MAIL_FROM"] = f"Notifications <no-reply@{host}>"
    uri = cfg["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def _finish_data_key(cfg: dict[str, Any], instance_path: Path, production: bool) -> None:
    if not crypto.split_keys(cfg.get("DATA_KEY")):
        if production:
            raise ConfigError(
                "SUPPORTNET_DATA_KEY is missing. It encrypts check-in notes; without it SupportNet will not start. "
                "Create one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'` and keep it safe: notes cannot be read without it."
            )
        # Tests get a fresh key per app, held in memory; development keeps one under instance/.
        testing = cfg["SUPPORTNET_ENV"] == "testing"
        cfg["DATA_KEY"] = crypto.ephemeral_key() if testing else crypto.dev_key(instance_path)
    try:
        crypto.parse_keys(cfg["DATA_KEY"])
    except crypto.DataKeyError as exc:
        raise ConfigError(f"SUPPORTNET_DATA_KEY cannot be used: {exc}.") from exc
    cfg["CRISIS_RESOURCES"] = check_crisis_resources(cfg["CRISIS_RESOURCES"])
