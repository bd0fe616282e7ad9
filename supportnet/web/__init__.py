"""The web layer: blueprints by URL area, forms, template filters, sessions and security."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

from supportnet.web import errors, filters, security, sessions


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` that matches only ids a database integer can hold: a larger one is a 404, not an overflow."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def register_web(app: Flask) -> None:
    """Register blueprints, the session loader, security headers, error pages and template helpers."""
    app.url_map.converters["int"] = BoundedIntConverter
    from supportnet.web import account, admin, auth, checkins, groups, main, meetings, rsvp

    sessions.install(app)
    security.install(app)
    errors.install(app)
    filters.install(app)
    blueprints = (main.bp, auth.bp, account.bp, admin.bp, groups.bp, meetings.bp, rsvp.bp, checkins.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    from supportnet.web import feeds  # calendar feeds and the Meeting Guide JSON

    app.register_blueprint(feeds.bp)
    from supportnet.web import notifications  # inbox, preferences, emailed links, announcements

    app.register_blueprint(notifications.bp)
    from supportnet.web import privacy  # confirm it's you, export, deletion, devices, two-factor, audit

    app.register_blueprint(privacy.bp)
    from supportnet.web import home  # the member's home and meetings by time

    app.register_blueprint(home.bp)
    if app.config["SUPPORTNET_ENV"] != "production":
        from supportnet.web import dev

        app.register_blueprint(dev.bp)
