"""Email: building messages and handing them to SMTP, or to the development mailbox.

Two ways to send:

* the notification dispatcher (supportnet/notifications/dispatch.py) opens one `Transport` per batch and sends every
  message of the batch over that one SMTP connection, judging each failure with `SendError.temporary`;
* sign-up confirmations and password resets are outbox rows too (notifications.hooks.account_email), sent right
  after the response and retried by the scheduler; the few emails to an address that is not the account's own
  (an email change's confirmation) go out one at a time with `send`, or `send_after_response` where the answer
  must not reveal whether an account exists.

Neither ever runs with a database transaction open: SMTP can take seconds, and other writers would wait.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import re
import smtplib
import ssl
import sys
import time
import uuid
from dataclasses import dataclass, field
from email import encoders
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from flask import after_this_request, current_app, render_template


@dataclass
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Mail:
    """One email to one person."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)


def render(to: str, subject: str, template: str, **context) -> Mail:
    """Build a Mail from `templates/email/<template>.txt` and `.html`."""
    return Mail(
        to=to,
        subject=subject,
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )


def sender_domain(sender: str) -> str:
    """The domain of a sender like "Notifications <no-reply@example.org>" (for Message-IDs)."""
    return envelope_address(sender).rpartition("@")[2] or "localhost"


class _SmtpPolicy(Compat32):
    """compat32 with CRLF line ends, that writes a plain one-line header as it is.

    compat32 builds a Header object for every header it writes and folds it word by word, which for the outbox's
    thousands of messages cost more than the SMTP exchange; a header that is ASCII, on one line, with single
    spaces and within the line limit comes out of that unchanged, so it is written directly.
    """

    def fold_binary(self, name, value):
        if (isinstance(value, str) and value.isascii() and len(name) + len(value) + 2 <= self.max_line_length
                and _PLAIN_HEADER.fullmatch(value)):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


# Printable ASCII words separated by single spaces: what the folding above would leave as it is.
_PLAIN_HEADER = re.compile(r"[!-~]+(?: [!-~]+)*")
# SMTP wants CRLF line ends (smtplib only fixes them in str messages, not bytes); headers are not folded
# below SMTP's own limit, so a long List-Unsubscribe link stays on one line.
_SMTP_POLICY = _SmtpPolicy(linesep="\r\n", max_line_length=998)
# Bodies as quoted-printable UTF-8: readable in a raw message, safe for any server.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


def _boundary() -> str:
    # A random boundary chosen here spares the generator its search of the whole text for a free one.
    return f"=_{uuid.uuid4().hex}"


def _header(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


# A bare address ("member@example.org"), which parseaddr would return as it is, at a fraction of the cost.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_BARE_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def envelope_address(value: str) -> str:
    """The address part of a header value ("Name <a@b>" -> "a@b")."""
    return value if _BARE_ADDRESS.fullmatch(value) else _parsed(value)[1]


@functools.lru_cache(maxsize=64)
def _parsed(value: str) -> tuple[str, str]:
    # Named addresses are mostly the sender's: the same few values over and over.
    return parseaddr(value)


def _address(value: str) -> str:
    if _BARE_ADDRESS.fullmatch(value):
        return value
    name, address = _parsed(value)
    return formataddr((name, address), charset="utf-8") if name else address or value


def to_message(mail: Mail, sender: str) -> Message:
    """Turn a Mail into a MIME message with plain text and HTML parts (and attachments, if any).

    Built with the email package's classic MIME classes: the outbox builds thousands of these in a row, and
    they are several times faster than EmailMessage's header objects for the same bytes.
    """
    text = MIMEText(mail.text, "plain", _UTF8)
    body: Message = text
    if mail.html:
        body = MIMEMultipart("alternative", boundary=_boundary())
        body.attach(text)
        body.attach(MIMEText(mail.html, "html", _UTF8))
    msg = body
    if mail.attachments:
        msg = MIMEMultipart("mixed", boundary=_boundary())
        msg.attach(body)
        for item in mail.attachments:
            part = MIMEBase(item.maintype, item.subtype, **item.params)
            part.set_payload(item.content)
            encoders.encode_base64(part)
            part.add_header("Content-Disposition", "attachment", filename=item.filename)
            msg.attach(part)
    msg["From"] = _address(sender)
    msg["To"] = _address(mail.to)
    msg["Subject"] = _header(mail.subject)
    msg["Date"] = formatdate(localtime=False)
    headers = dict(mail.headers)
    msg["Message-ID"] = headers.pop("Message-ID", None) or make_msgid(domain=sender_domain(sender))
    for name, value in headers.items():
        msg[name] = _header(value)
    msg.policy = _SMTP_POLICY
    return msg


@dataclass
class RawMessage:
    """A message already in its SMTP bytes: sent and saved like a `Message` (`msg["From"]`, `as_bytes()`)."""

    headers: dict[str, str]
    data: bytes

    def __getitem__(self, name: str) -> str | None:
        return self.headers.get(name)

    def as_bytes(self) -> bytes:
        return self.data

    def __bytes__(self) -> bytes:
        return self.data


_NEWLINES = re.compile(r"\r\n|\r|\n")
_TOKEN = re.compile(r"[A-Za-z0-9._-]+")


def to_raw(mail: Mail, sender: str) -> Message | RawMessage:
    """The message `to_message` builds, already in the bytes it would write, built directly where every header is
    plain ASCII on one line (the outbox's notices); anything else goes through the email package.

    The email package builds a tree of parts, encodes each body and then walks the tree again to write it; for
    the outbox's thousands of messages in a row that cost about as much as handing them to the server.
    """
    headers = {"From": _address(sender), "To": _address(mail.to), "Subject": mail.subject,
               "Date": formatdate(localtime=False)}
    extra = dict(mail.headers)
    headers["Message-ID"] = extra.pop("Message-ID", None) or make_msgid(domain=sender_domain(sender))
    headers.update(extra)
    plain = all(isinstance(v, str) and len(k) + len(v) + 2 <= 998 and _PLAIN_HEADER.fullmatch(v)
                for k, v in headers.items())
    if not plain or not all(_TOKEN.fullmatch(a.filename) and all(_TOKEN.fullmatch(v) for v in a.params.values())
                            for a in mail.attachments):
        return to_message(mail, sender)
    body = _text_part("plain", mail.text)
    if mail.html:
        body = _multipart("alternative", [body, _text_part("html", mail.html)])
    if mail.attachments:
        body = _multipart("mixed", [body, *(_attachment(a) for a in mail.attachments)])
    head, _, rest = body.partition("\r\n\r\n")
    top = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return RawMessage(headers, f"{head}\r\n{top}\r\n{rest}".encode("ascii"))


def _text_part(subtype: str, text: str) -> str:
    # What MIMEText(text, subtype, _UTF8) writes: quoted-printable UTF-8, CRLF line ends.
    encoded = _UTF8.body_encode(text.encode("utf-8")) if text else ""
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
            f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{_NEWLINES.sub(chr(13) + chr(10), encoded)}")


def _multipart(subtype: str, parts: list[str]) -> str:
    boundary = _boundary()
    inner = f"\r\n--{boundary}\r\n".join(parts)
    return (f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\nMIME-Version: 1.0\r\n\r\n'
            f"--{boundary}\r\n{inner}\r\n--{boundary}--\r\n")


def _attachment(item: Attachment) -> str:
    params = "".join(f'; {name}="{value}"' for name, value in item.params.items())
    encoded = base64.encodebytes(item.content).decode("ascii")  # as email.encoders.encode_base64
    return (f"Content-Type: {item.maintype}/{item.subtype}{params}\r\nMIME-Version: 1.0\r\n"
            f"Content-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="{item.filename}"\r\n\r\n'
            f"{_NEWLINES.sub(chr(13) + chr(10), encoded)}")


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


# --- failures ---

_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")
MAX_REASON = 300


def clean_reason(text: str) -> str:
    """A failure reason fit to store: no email addresses (servers like to quote them), one line, short."""
    text = " ".join(_ADDRESS.sub("[address]", text).split())
    return text[:MAX_REASON]


class SendError(Exception):
    """Sending failed. `temporary`: worth retrying later (4xx, network); `connection`: the connection is gone."""

    def __init__(self, reason: str, *, temporary: bool, connection: bool = False, code: int | None = None):
        super().__init__(reason)
        self.reason = clean_reason(reason)
        self.temporary = temporary
        self.connection = connection
        self.code = code


def _reply_text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def classify(exc: BaseException) -> SendError:
    """Judge an smtplib or network failure of one message: 4xx and network trouble are temporary, 5xx not."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # One recipient per message here: its answer is the message's fate.
        code, reply = next(iter(exc.recipients.values()), (451, b"recipient refused"))
        return SendError(f"SMTP {code}: {_reply_text(reply)}", temporary=code < 500, code=code)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SendError(f"connection lost: {exc}", temporary=True, connection=True)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return SendError(f"SMTP {code}: {_reply_text(exc.smtp_error)}", temporary=not 500 <= code < 600, code=code)
    if isinstance(exc, (OSError, smtplib.SMTPException)):
        return SendError(f"{type(exc).__name__}: {exc}", temporary=True, connection=True)
    return SendError(type(exc).__name__, temporary=True, connection=True)


# --- transports ---


class Transport(Protocol):
    def send(self, msg: Message) -> None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """One SMTP connection, opened on the first message and reused for the rest (one per batch)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        # Loading the system's certificates takes tens of milliseconds: only for a connection that uses TLS.
        context = ssl.create_default_context() if s.implicit_tls or s.starttls else None
        try:
            if s.implicit_tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.starttls:
                client.starttls(context=context)
            if s.username:
                client.login(s.username, s.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            # Whatever the code, a connection that can't be set up (server down, TLS or login trouble) is
            # the operator's to fix, not the message's fault: retry later.
            raise SendError(f"cannot connect to the mail server: {type(exc).__name__}: {exc}",
                            temporary=True, connection=True) from exc
        return client

    def send(self, msg: Message | RawMessage) -> None:
        """Hand one message to the server; returns once it accepted it, raises SendError otherwise."""
        if self._client is None:
            self._client = self._open()
        sender, recipient = envelope_address(str(msg["From"])), envelope_address(str(msg["To"]))
        try:
            self._client.sendmail(sender, [recipient], msg.as_bytes())
        except (OSError, smtplib.SMTPException) as exc:
            error = classify(exc)
            if error.connection:
                self._drop()
            raise error from exc

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(OSError):
                client.close()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


class DevMailbox:
    """Development without a mail server: each message becomes an .eml file shown on /dev/mailbox."""

    def __init__(self, folder: Path, base_url: str) -> None:
        self.folder = folder
        self.base_url = base_url

    def send(self, msg: Message) -> None:
        save_to_dev_mailbox(msg, self.folder)
        # The terminal gets a pointer, not the body (bodies carry one-time links) nor the recipient (terminal
        # output ends up in logs and screen shares, and an address is a person's identity).
        print(f"[dev mail] {msg['Subject']!r} (read it at {self.base_url}/dev/mailbox)", file=sys.stderr)

    def close(self) -> None:
        pass


def open_transport(config) -> Transport:
    """The transport the configuration asks for; raises SendError when production has no mail server."""
    if config["MAIL_URL"]:
        return SmtpTransport(parse_mail_url(config["MAIL_URL"]))
    if config["SUPPORTNET_ENV"] == "production":
        raise SendError("SUPPORTNET_MAIL_URL is not set", temporary=True, connection=True)
    return DevMailbox(Path(config["DEV_MAILBOX_DIR"]), config["BASE_URL"])


def save_to_dev_mailbox(msg: Message, folder: Path) -> Path:
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
    if not config["MAIL_URL"] and config["SUPPORTNET_ENV"] == "production":
        raise RuntimeError("SUPPORTNET_MAIL_URL is not set; production cannot send email.")
    transport = open_transport(config)
    try:
        transport.send(msg)
    finally:
        transport.close()


def send_quietly(mail: Mail) -> bool:
    """Send, and on failure log the kind of failure (never the body or address) and return False."""
    try:
        send(mail)
    except (SendError, smtplib.SMTPException, OSError, RuntimeError) as exc:
        current_app.logger.warning("could not send an email: %s", type(exc).__name__)
        return False
    return True


def send_after_response(mail: Mail) -> None:
    """Send once the response has gone out, so the requester cannot time whether a mail was sent.

    Used where an answer must look the same whether or not an account exists and the message cannot wait in the
    outbox (it goes to an address that is not yet the account's, like an email change's confirmation).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    @after_this_request
    def _defer(response):
        def _send() -> None:
            with app.app_context():
                send_quietly(mail)

        response.call_on_close(_send)
        return response
