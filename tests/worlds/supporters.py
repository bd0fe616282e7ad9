"""Building blocks of the supporters' tests: a member inviting through their page, the invitation sent by the
dispatcher to a real SMTP server, its links, and the rows as the database holds them."""

from __future__ import annotations

from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from supportnet.extensions import db
from supportnet.models import Notification, Supporter
from supportnet.notifications import dispatch
from tests.conftest import Mailbox, post

SAM = "sam.supporter@example.net"


def invite(client: FlaskClient, name: str = "Sam", email: str = SAM, relation: str = "friend"):
    """The member fills in "Ask someone" on their people page."""
    return post(client, "/me/people", {"name": name, "email": email, "relation": relation})


def send_due(app: Flask) -> None:
    with app.app_context():
        dispatch.tick()


def invitation(app: Flask, mailbox: Mailbox, address: str = SAM) -> EmailMessage:
    """The one invitation the dispatcher sent to that address."""
    send_due(app)
    (message,) = mailbox.to(address)
    return message


def supporter_rows(app: Flask, user_id: int | None = None) -> list[Supporter]:
    with app.app_context():
        query = select(Supporter).order_by(Supporter.id)
        if user_id is not None:
            query = query.where(Supporter.user_id == user_id)
        rows = list(db.session.scalars(query))
        for row in rows:
            db.session.expunge(row)
        return rows


def notification_rows(app: Flask, **where) -> list[Notification]:
    with app.app_context():
        query = select(Notification).order_by(Notification.id)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        rows = list(db.session.scalars(query))
        for row in rows:
            db.session.expunge(row)
        return rows


def raw_supporter_table(app: Flask) -> str:
    """Every value of the supporter and notification tables as the database stores them (no decryption)."""
    with app.app_context():
        supporters = db.session.execute(text("SELECT * FROM supporter")).all()
        notifications = db.session.execute(text("SELECT * FROM notification")).all()
        return " ".join(str(tuple(row)) for row in [*supporters, *notifications])
