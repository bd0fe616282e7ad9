"""SupportNet: aftercare groups, meetings, reminders and private check-ins for people in recovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

# Not `from supportnet.extensions import db`: that would shadow the supportnet.db module,
# which migrations import by its dotted name.
from supportnet import extensions, logs
from supportnet.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app: configuration, extensions, blueprints, error pages and commands."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(load_config(Path(app.instance_path), config))
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    # Query parameters can be check-in notes or emails: never put them in exception messages or logs.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("hide_parameters", True)
    logs.configure(app.config["LOG_LEVEL"])
    if app.config["TESTING"]:
        from supportnet.passwords import use_cheap_hashing_for_tests

        use_cheap_hashing_for_tests()

    extensions.db.init_app(app)
    extensions.migrate.init_app(app, extensions.db, directory=str(ROOT / "migrations"), render_as_batch=True)
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)

    from supportnet.web import register_web

    register_web(app)

    from supportnet.cli import register_commands

    register_commands(app)
    return app
