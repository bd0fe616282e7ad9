"""Configuration: safe defaults, overridden by SUPPORTNET_* environment variables, then by the caller."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

# Values that must never protect a real deployment.
INSECURE_SECRET_KEYS = frozenset({"", "dev", "change-me", "changeme", "secret"})

ENVIRONMENTS = ("production", "development", "testing")


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
        "SQLALCHEMY_DATABASE_URI": _env("DATABASE_URL")
        or f"sqlite:///{instance_path / 'supportnet.db'}",
        "BASE_URL": (_env("BASE_URL") or ("" if production else "http://127.0.0.1:5000")).rstrip("/"),
        "MAIL_URL": _env("MAIL_URL") or "",
        "MAIL_FROM": _env("MAIL_FROM") or "",
        "DEV_MAILBOX_DIR": str(instance_path / "mailbox"),
        # Sessions: the idle timeout applies to sessions without "remember me";
        # every session ends after the absolute lifetime.
        "SESSION_IDLE_MINUTES": _env_int("SESSION_IDLE_MINUTES", 120),
        "SESSION_LIFETIME_DAYS": _env_int("SESSION_LIFETIME_DAYS", 30),
        "LOGIN_FAILURE_LIMIT": _env_int("LOGIN_FAILURE_LIMIT", 10),
        "LOGIN_FAILURE_WINDOW_MINUTES": _env_int("LOGIN_FAILURE_WINDOW_MINUTES", 15),
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URL", "memory://"),
        "RATELIMIT_ENABLED": _env_bool("RATELIMIT_ENABLED", True),
        "AUTH_RATE_LIMIT": _env("AUTH_RATE_LIMIT", "30 per minute"),
        "QUICK_EXIT_URL": _env("QUICK_EXIT_URL", "https://www.google.com/search?q=weather"),
        "LOG_LEVEL": _env("LOG_LEVEL", "INFO"),
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
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
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
    if not cfg["MAIL_FROM"]:
        # A neutral sender: nothing in an inbox list should say "recovery".
        host = cfg["BASE_URL"].split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
        cfg["MAIL_FROM"] = f"Notifications <no-reply@{host}>"
    uri = cfg["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
