"""Template filters and globals: local times for the viewer, the CSRF meta tag, and the quick exit."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_login import current_user

from supportnet.clock import timezone_names


def viewer_zone() -> ZoneInfo:
    """The signed-in viewer's timezone (UTC for visitors)."""
    name = getattr(current_user, "timezone", None) if current_user else None
    return ZoneInfo(name if name in timezone_names() else "UTC")


def local_time(instant: datetime | None, fmt: str = "%a %-d %b %Y, %H:%M") -> str:
    """Format an aware instant in the viewer's timezone."""
    if instant is None:
        return ""
    return instant.astimezone(viewer_zone()).strftime(fmt)


def install(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")

    @app.context_processor
    def _globals():
        return {
            "quick_exit_url": current_app.config["QUICK_EXIT_URL"],
            "dev_mode": current_app.config["SUPPORTNET_ENV"] != "production",
        }
