"""Development-only pages (never registered in production): the mailbox of emails sent."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template

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


@bp.get("/mailbox/<message_id>")
def message(message_id: str):
    path = _folder() / f"{message_id}.eml"
    if not message_id.replace("-", "").isalnum() or not path.is_file():
        abort(404)
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = msg.get_body(preferencelist=("plain",))
    return render_template(
        "dev/message.html", msg=msg, body=body.get_content() if body else "", subject=msg["Subject"]
    )
