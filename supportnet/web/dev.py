"""Development-only pages (never registered in production): the mailbox of emails sent."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template

bp = Blueprint("dev", __name__, url_prefix="/dev")


def _folder() -> Path:
    return Path(current_app.config["DEV_MAILBOX_DIR"])


@bp.get("/mailbox")
def mailbox():
    folder = _folder()
    files = sorted(folder.glob("*.eml"), reverse=True)[:100] if folder.exists() else []
    messages = []
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        messages.append({"id": path.stem, "to": msg["To"], "subject": msg["Subject"], "date": msg["Date"]})
    return render_template("dev/mailbox.html", messages=messages)


def _load(message_id: str):
    path = _folder() / f"{message_id}.eml"
    if not message_id.replace("-", "").isalnum() or not path.is_file():
        abort(404)
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


@bp.get("/mailbox/<message_id>")
def message(message_id: str):
    msg = _load(message_id)
    body = msg.get_body(preferencelist=("plain",))
    attachments = [
        {"filename": part.get_filename() or f"attachment-{n}", "type": part.get_content_type(),
         "size": len(part.get_payload(decode=True) or b"")}
        for n, part in enumerate(msg.iter_attachments())
    ]
    return render_template(
        "dev/message.html", msg=msg, body=body.get_content() if body else "", subject=msg["Subject"],
        message_id=message_id, attachments=attachments,
    )


@bp.get("/mailbox/<message_id>/attachments/<int:index>")
def attachment(message_id: str, index: int):
    """One attachment as sent (the .ics of a reminder), to open it in a calendar app while developing."""
    parts = list(_load(message_id).iter_attachments())
    if index >= len(parts):
        abort(404)
    part = parts[index]
    filename = (part.get_filename() or f"attachment-{index}").replace('"', "")
    return Response(
        part.get_payload(decode=True) or b"", mimetype=part.get_content_type(),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
