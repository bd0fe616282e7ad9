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
    # Imported when the app is built, as Flask apps do, so that importing supportnet.web stays cheap.
    from supportnet.web import (
        account,  # settings: password, email, the private calendar feed
        admin,  # site roles and the site's audit log
        auth,  # sign-up, sign-in with two-factor, password reset
        checkins,  # a member's check-ins, sharing, and a group's support page
        coaching,  # one-to-one sessions: coaches, availability, booking
        dev,  # the outgoing mail of a development server (never registered in production)
        feeds,  # calendar feeds and the Meeting Guide JSON
        groups,  # the directory, group pages, joining and members
        home,  # the member's home and meetings by time
        main,  # the front page, the privacy page, the health check
        measures,  # a member's standard measures: taking one, results, trends
        meetings,  # schedules, one-off changes, the meeting page
        notifications,  # inbox, preferences, emailed links, announcements
        privacy,  # confirm it's you, export, deletion, devices, two-factor, audit
        programs,  # programs and coordinators, referrals and their cards, follow-up and outcomes
        referrals,  # a referral link from the person's side: first meeting, sign-up, consent
        rhythms,  # rhythms of measures: a member's own, and those groups and programs suggest
        rsvp,  # answers, the waitlist, standing answers, rosters, attendance and its proofs
        shared_measures,  # what facilitators and coordinators see of the measures members share
        supporters,  # a member's own people: supporters, "reach out", the safety plan, alerts
    )

    sessions.install(app)
    security.install(app)
    errors.install(app)
    filters.install(app)
    for blueprint in (main.bp, auth.bp, account.bp, admin.bp, groups.bp, meetings.bp, rsvp.bp, checkins.bp,
                      feeds.bp, notifications.bp, privacy.bp, home.bp, programs.bp, referrals.bp, measures.bp,
                      rhythms.bp, shared_measures.bp, supporters.bp, coaching.bp):
        app.register_blueprint(blueprint)
    if app.config["SUPPORTNET_ENV"] != "production":
        app.register_blueprint(dev.bp)
