"""Talking to the app like a browser: a signed-in client, and the text, errors and forms of what it shows."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from tests.conftest import Persona, login


def html(response) -> str:
    return response.get_data(as_text=True)


def text(response) -> str:
    """The page as text (tags removed, whitespace folded), for phrases that span markup."""
    return " ".join(re.sub(r"<[^>]+>", " ", html(response)).split())


def browser(app: Flask, persona: Persona | None = None) -> FlaskClient:
    """A new browser (its own cookies), signed in as the persona unless it is None."""
    client = app.test_client()
    if persona is not None:
        assert login(client, persona).status_code == 302
    return client


def redirects_to_login(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def flashes(response) -> str:
    found = re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html(response), re.S)
    return " ".join(" ".join(found).split())


def field_error(response, field: str) -> str:
    """The error text shown under a form field ('' when none)."""
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html(response), re.S)
    return " ".join(match.group(1).split()) if match else ""


def top_errors(response) -> str:
    match = re.search(r'<div class="form-errors" role="alert">(.*?)</div>', html(response), re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()) if match else ""


class FormReader(HTMLParser):
    """The fields of the first POST form with a submit button in <main>, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._done = False
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self._done:
            return
        if tag == "form" and a.get("method") == "post" and "action" not in a:
            self._in_form = True
        elif not self._in_form:
            return
        elif tag == "input" and a.get("type") not in ("submit",):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data):
        if self._textarea:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, self._text.removeprefix("\r").removeprefix("\n")))
            self._textarea = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True


def form_as_shown(response) -> MultiDict:
    reader = FormReader()
    reader.feed(html(response))
    return MultiDict(reader.fields)
