"""gunicorn for real and a tiny browser, for tests and benchmarks that go through HTTP like people do.

Only the standard library talks HTTP here: one keep-alive connection per browser, its cookies, and the CSRF
token of the last page it read. gunicorn runs `wsgi:app` from the project root with the project's own
gunicorn.conf.py, so what is tested is what production runs.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
HTTP_TIMEOUT = 30.0
_CSRF = re.compile(rb'name="csrf-token" content="([^"]+)"')


class Browser:
    """One person's browser: a keep-alive HTTP/1.1 connection to 127.0.0.1, its cookies and its feed ETags."""

    def __init__(self, port: int, timeout: float = HTTP_TIMEOUT) -> None:
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}
        self.etags: dict[str, str] = {}
        self.csrf = ""
        self.reconnects = 0  # keep-alive connections the server had closed, opened again

    def connect(self) -> None:
        """Open the connection now (a storm connects beforehand, so that only the request goes out at once)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.connect()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, form: dict | list | None = None, headers: dict | None = None):
        """Send one request on the kept-alive connection; return (status, headers, body)."""
        body = urlencode(form).encode() if form is not None else None
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=sent)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # a keep-alive connection the server closed (max_requests, keepalive): once more
                self.reconnects += 1
                if attempt:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        if response.will_close:
            self.close()
        return response.status, response.headers, data

    def read(self, path: str) -> bytes:
        """GET a page as a person would, keeping its CSRF token for the next form."""
        status, _, page = self.request("GET", path)
        if status != 200:
            raise AssertionError(f"GET {path} answered {status}")
        found = _CSRF.search(page)
        if found:
            self.csrf = found.group(1).decode()
        return page

    def send(self, path: str, form: dict | None = None):
        """POST a form with the CSRF token of the last page read."""
        return self.request("POST", path, {**(form or {}), "csrf_token": self.csrf})

    def sign_in(self, email: str, password: str) -> None:
        self.read("/login")
        status, headers, _ = self.send("/login", {"email": email, "password": password})
        if status != 302 or headers["Location"].startswith("/login"):
            raise AssertionError(f"sign-in of {email} answered {status}")
        self.read("/me/meetings")


def production_env(database_url: str, port: int, **settings: str) -> dict[str, str]:
    """The environment of a production gunicorn on 127.0.0.1:port: this process's, less any SUPPORTNET_ setting,
    plus fresh secrets, the database and `settings` (names without the SUPPORTNET_ prefix, except WEB_CONCURRENCY).

    Every client of a test or benchmark comes from 127.0.0.1, so the per-IP limiter is off: it would stop the
    sign-ins, not the load.
    """
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORTNET_", "WEB_CONCURRENCY"))}
    env.update({
        "SUPPORTNET_ENV": "production",
        "SUPPORTNET_DATABASE_URL": database_url,
        "SUPPORTNET_SECRET_KEY": secrets.token_urlsafe(32),
        "SUPPORTNET_DATA_KEY": Fernet.generate_key().decode(),
        "SUPPORTNET_BASE_URL": f"http://127.0.0.1:{port}",
        "SUPPORTNET_BIND": f"127.0.0.1:{port}",
        "SUPPORTNET_RATELIMIT_ENABLED": "false",
    })
    for name, value in settings.items():
        env[name if name == "WEB_CONCURRENCY" else f"SUPPORTNET_{name}"] = value
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """gunicorn serving wsgi:app with gunicorn.conf.py from the project root, its output in log_path."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log_path.open("w") as log:
        return subprocess.Popen([str(gunicorn), "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def wait_until_up(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s")


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class _FormReader(HTMLParser):
    """The values a browser would send for the first form with `action` on a page."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.done = False
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        a = {k: (v or "") for k, v in attrs}
        # A form without an action posts back to the page it is on, which is how the caller names it.
        if tag == "form" and not self.done and a.get("action", "").split("?")[0] in ("", self.action):
            self.inside = True
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.values.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "image", "file"):
                self.values.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a and not self._select_chosen:
                self.values.append((self._select, value))
                self._select_chosen = True
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            if not self._select_chosen and self._select_first is not None:
                self.values.append((self._select, self._select_first))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.values.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None
        elif tag == "form" and self.inside:
            self.inside, self.done = False, True


def form_values(page: bytes, action: str) -> list[tuple[str, str]]:
    """What submitting the form posting to `action` would send unchanged, as (name, value) pairs.

    A form without an action attribute counts as posting to `action`: pass the page's own path for those.
    """
    reader = _FormReader(action)
    reader.feed(page.decode())
    if not reader.done:
        raise AssertionError(f"no form posting to {action}")
    return reader.values
