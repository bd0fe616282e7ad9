"""The web layer: blueprints by URL area, forms, template filters, sessions and security."""

from __future__ import annotations

from flask import Flask

from supportnet.web import errors, filters, security, sessions


def register_web(app: Flask) -> None:
    """Register blueprints, the session loader, security headers, error pages and template helpers."""
    from supportnet.web import account, admin, auth, checkins, groups, main, meetings, rsvp

    sessions.install(app)
    security.install(app)
    errors.install(app)
    filters.install(app)
    blueprints = (main.bp, auth.bp, account.bp, admin.bp, groups.bp, meetings.bp, rsvp.bp, checkins.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    if app.config["SUPPORTNET_ENV"] != "production":
        from supportnet.web import dev

        app.register_blueprint(dev.bp)
