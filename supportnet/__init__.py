"""SupportNet: aftercare groups, meetings, reminders and private check-ins for people in recovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

# Not `from supportnet.extensions import db`: that would shadow the supportnet.db module,
# which migrations import by its dotted name.
from supportnet import extensions, logs
from supportnet.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def _explain_on_the_command_line(exc: ConfigError) -> None:
    """Under the `flask` command, turn a configuration error into a message and a hint, not a traceback."""
    import click

    if click.get_current_context(silent=True) is None:
        return  # a WSGI server: let it fail loudly
    from flask.cli import NoAppException

    raise NoAppException(
        f"{exc}\nHint: to try SupportNet locally, run `make run`, or set SUPPORTNET_ENV=development; SupportNet's "
        "own commands (db, seed-demo, users, scheduler, checkins) are listed once the app can start."
    ) from exc


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app: configuration, extensions, blueprints, error pages and commands."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    try:
        app.config.update(load_config(Path(app.instance_path), config))
    except ConfigError as exc:
        _explain_on_the_command_line(exc)
        raise
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    # Query parameters can be check-in notes or emails: never put them in exception messages or logs.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("hide_parameters", True)
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A server restart or a firewall's idle timeout closes pooled connections; test each before use.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("pool_pre_ping", True)
    if app.config["PROXY_HOPS"]:
        # Behind N trusted proxies the client's address and scheme come from their X-Forwarded-* headers
        # (the per-IP limiter and Secure cookies depend on them); without a proxy such headers are forgeries.
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    logs.configure(app.config["LOG_LEVEL"])
    if app.config["TESTING"]:
        from supportnet.passwords import use_cheap_hashing_for_tests

        use_cheap_hashing_for_tests()

    extensions.db.init_app(app)
    from supportnet import feed_versions

    feed_versions.install()  # every write to what a calendar feed shows moves its version, on every process
    extensions.migrate.init_app(app, extensions.db, directory=str(ROOT / "migrations"), render_as_batch=True)
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)

    from supportnet.web import register_web

    register_web(app)

    from supportnet.cli import register_commands

    register_commands(app)
    return app
