"""Email: building messages and handing them to SMTP, or to the development mailbox."""

from __future__ import annotations

import smtplib
import ssl
import sys
import time
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app, render_template


@dataclass
class Mail:
    """One email to one person."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def render(to: str, subject: str, template: str, **context) -> Mail:
    """Build a Mail from `templates/email/<template>.txt` and `.html`."""
    return Mail(
        to=to,
        subject=subject,
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )


def to_message(mail: Mail, sender: str) -> EmailMessage:
    """Turn a Mail into a MIME message with plain text and HTML parts."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False)
    domain = sender.rsplit("@", 1)[-1].rstrip(">") or "localhost"
    msg["Message-ID"] = mail.headers.pop("Message-ID", None) or make_msgid(domain=domain)
    for name, value in mail.headers.items():
        msg[name] = value
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    return msg


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    timeout: float


def parse_mail_url(url: str) -> SmtpSettings:
    """Read smtp://user:pass@host:port?starttls=1 or smtps://… into settings."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("SUPPORTNET_MAIL_URL must start with smtp:// or smtps://")
    query = parse_qs(parts.query)
    implicit_tls = parts.scheme == "smtps"
    return SmtpSettings(
        host=parts.hostname or "localhost",
        port=parts.port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=not implicit_tls and query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=float(query.get("timeout", ["20"])[0]),
    )


def send_smtp(messages: list[EmailMessage], settings: SmtpSettings) -> None:
    """Deliver messages over one SMTP connection; raises smtplib/OS errors for the caller to judge."""
    context = ssl.create_default_context()
    if settings.implicit_tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with client:
        if settings.starttls:
            client.starttls(context=context)
        if settings.username:
            client.login(settings.username, settings.password or "")
        for msg in messages:
            client.send_message(msg)


def save_to_dev_mailbox(msg: EmailMessage, folder: Path) -> Path:
    """Keep a message as an .eml file for the development mailbox page."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
    path.write_bytes(bytes(msg))
    return path


def send(mail: Mail) -> None:
    """Send one email now: over SMTP when SUPPORTNET_MAIL_URL is set, else into the dev mailbox.

    Never call this with a database transaction open that other writers wait on.
    """
    config = current_app.config
    msg = to_message(mail, config["MAIL_FROM"])
    if config["MAIL_URL"]:
        send_smtp([msg], parse_mail_url(config["MAIL_URL"]))
        return
    if config["SUPPORTNET_ENV"] == "production":
        raise RuntimeError("SUPPORTNET_MAIL_URL is not set; production cannot send email.")
    save_to_dev_mailbox(msg, Path(config["DEV_MAILBOX_DIR"]))
    # The terminal gets a pointer, not the body: bodies carry one-time links.
    print(
        f"[dev mail] {mail.subject!r} → {mail.to} (read it at {config['BASE_URL']}/dev/mailbox)",
        file=sys.stderr,
    )


def send_quietly(mail: Mail) -> bool:
    """Send, and on failure log the kind of failure (never the body or address) and return False."""
    try:
        send(mail)
    except (smtplib.SMTPException, OSError, RuntimeError) as exc:
        current_app.logger.warning("could not send an email: %s", type(exc).__name__)
        return False
    return True


def send_after_response(mail: Mail) -> None:
    """Send once the response has gone out, so the requester cannot time whether a mail was sent.

    Used where an answer must look the same whether or not an account exists (registration,
    password reset). Later, the outbox takes these over entirely.
    """
    from flask import after_this_request

    app = current_app._get_current_object()  # type: ignore[attr-defined]

    @after_this_request
    def _defer(response):
        def _send() -> None:
            with app.app_context():
                send_quietly(mail)

        response.call_on_close(_send)
        return response
