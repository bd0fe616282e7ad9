"""Outages look like outages: with the database gone, pages answer 503 with a short "we'll be back" page and
each failed request logs one line (no chained tracebacks); the site recovers by itself when the database is
back. After a 413 the server closes the connection instead of advertising keep-alive.

PostgreSQL: gunicorn with the project's gunicorn.conf.py in front of a throwaway server of its own, stopped
and started again in the middle of the test. SQLite: the app's database file disappears (a directory stands at
its path, so SQLite cannot even create an empty one) and comes back.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from supportnet.config import MAX_REQUEST_BYTES
from supportnet.extensions import db
from tests import postgres
from tests.conftest import PASSWORD, database_uri, free_port, login, make_app, make_persona, post

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
WE_WILL_BE_BACK = "We&#39;ll be back in a few minutes"


def start_gunicorn(database_url: str, log_path: Path, workers: int = 2,
                   threads: int = 2) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "SUPPORTNET_ENV": "production",
        "SUPPORTNET_SECRET_KEY": "outage-test-" + "s" * 40,
        "SUPPORTNET_DATA_KEY": Fernet.generate_key().decode(),
        "SUPPORTNET_BASE_URL": "https://support.example.org",
        "SUPPORTNET_DATABASE_URL": database_url,
        "SUPPORTNET_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "SUPPORTNET_WEB_THREADS": str(threads),
    }
    with log_path.open("w") as log:
        process = subprocess.Popen([str(GUNICORN), "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/privacy", timeout=2):
                return process, base
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer in time")


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects (like the Flask test client).

    It keeps cookies by hand: the production cookies are Secure, and this test talks plain HTTP to gunicorn.
    """

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        self.opener = urllib.request.build_opener(self._NoRedirect)

    def open(self, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data)
        if self.cookies:
            request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        try:
            response = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, value = cookie.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = value.strip()
            return response.status, dict(response.headers), response.read().decode()

    def csrf(self) -> str:
        return _CSRF.search(self.open("/privacy")[2]).group(1)

    def post(self, path: str, form: dict) -> tuple[int, dict, str]:
        return self.open(path, {"csrf_token": self.csrf(), **form})


def _pg_ctl(server: postgres.PostgresServer, *args: str) -> None:
    postgres._run([str(server.pg_bin / "pg_ctl"), *args, "-D", str(server.data_dir), "-s"], server.owner)


@pytest.mark.postgres_only
@pytest.mark.slow
def test_postgresql_stopped_under_gunicorn_pages_answer_503_with_one_log_line_each_then_recover(
    tmp_path, smtp_server
):
    from flask_migrate import upgrade

    server = postgres.start_throwaway()  # our own server: the one the other tests share must stay up
    try:
        url = server.create_database("outage")
        app = make_app(tmp_path / "unused.db", smtp_server[0].port, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            db.engine.dispose()
        member = make_persona(app, "Olive O.")
        with app.app_context():
            db.engine.dispose()
        log_path = tmp_path / "gunicorn.log"
        process, base = start_gunicorn(url, log_path)
        try:
            browser = Browser(base)
            assert browser.open("/groups")[0] == 200
            status, headers, _ = browser.post("/login", {"email": member.email, "password": PASSWORD})
            assert status == 302, status
            assert browser.open("/notifications")[0] == 200
            csrf = browser.csrf()  # the form a member has on screen when the database goes away

            _pg_ctl(server, "stop", "-m", "fast")
            before = log_path.stat().st_size
            status, headers, page = browser.open("/notifications")
            assert status == 503 and WE_WILL_BE_BACK in page, (status, page[:500])
            assert headers.get("Retry-After") == "30"
            status, _, page = browser.open("/notifications/read", {"csrf_token": csrf})  # a form sent meanwhile
            assert status == 503 and "it was not saved" in page
            # Under load: 40 more requests from 8 clients at once.
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda _n: Browser(base).open("/groups")[0], range(40)))
            assert statuses == [503] * 40
            # gunicorn writes the access line after the response: wait until all 42 are in, then check the rest.
            deadline = time.time() + 15
            while log_path.read_text()[before:].count('" 503 ') < 42 and time.time() < deadline:
                time.sleep(0.05)
            outage_log = log_path.read_text()[before:]
            assert "Traceback" not in outage_log, outage_log[:3000]
            lines = outage_log.splitlines()
            errors = [line for line in lines if "database unavailable, answered 503" in line]
            assert len(errors) == 42, outage_log[:3000]
            others = [line for line in lines if line not in errors and '" 503 ' not in line]
            assert others == [], others  # nothing but one error line and one access line per request
            assert len(outage_log.encode()) < 42 * 500, len(outage_log.encode())

            # The database comes back: the same gunicorn serves again, and the member is still signed in.
            _pg_ctl(server, "start", "-w", "-t", "60", "-l", str(server.data_dir.parent / "server.log"),
                    "-o", f"-p {server.port}")
            deadline = time.time() + 30
            while browser.open("/groups")[0] != 200 and time.time() < deadline:
                time.sleep(0.2)
            assert browser.open("/notifications")[0] == 200  # signed in still (else a redirect to sign in)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        assert process.returncode == 0
    finally:
        server.stop()


@pytest.mark.sqlite_only("makes the SQLite file disappear; the PostgreSQL pass stops a server")
def test_sqlite_file_gone_pages_and_forms_answer_503_logging_one_line_each_then_recover(
    app, client, member, db_path, caplog
):
    assert login(client, member).status_code == 302
    assert client.get("/notifications").status_code == 200
    token_page = client.get("/privacy").get_data(as_text=True)
    csrf = _CSRF.search(token_page).group(1)

    moved = Path(db_path).with_name("moved-away")
    moved.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db_path}{suffix}").exists():
            shutil.move(f"{db_path}{suffix}", moved / f"db{suffix}")
    Path(db_path).mkdir()  # SQLite can neither open nor create a database here
    with app.app_context():
        db.engine.dispose()  # the pooled connections still hold the old file open; a restart would not
    caplog.clear()
    caplog.set_level(logging.INFO)
    try:
        responses = [client.get("/notifications"), client.get("/groups"),
                     client.post("/notifications/read", data={"csrf_token": csrf})]
        for response in responses:
            assert response.status_code == 503
            assert WE_WILL_BE_BACK in response.get_data(as_text=True)
            assert response.headers["Retry-After"] == "30"
        records = [r for r in caplog.records if r.name.startswith("supportnet")]
        assert [r.getMessage().split(":")[0] for r in records] == ["database unavailable, answered 503"] * 3
        assert all(r.exc_info is None for r in records)
        assert "unable to open database file" in records[0].getMessage()
    finally:
        Path(db_path).rmdir()
        for suffix in ("", "-wal", "-shm"):
            if (moved / f"db{suffix}").exists():
                shutil.move(moved / f"db{suffix}", f"{db_path}{suffix}")
    assert client.get("/notifications").status_code == 200  # back, still signed in
    assert post(client, "/notifications/read").status_code in (200, 302, 303)


def test_a_bug_is_still_a_500_with_its_traceback(app, client, caplog):
    """Only an unreachable database is a 503: other errors keep their traceback in the log."""

    @app.get("/_boom")
    def _boom():
        raise RuntimeError("a bug")

    response = client.get("/_boom")
    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.name.startswith("supportnet")]
    assert record.exc_info is not None


# --- 413: the connection is closed, not kept alive ---


def _oversized_post(port: int, *, wait_for_close: bool) -> tuple[str, dict[str, list[str]], bytes, bool]:
    """POST a form body larger than the limit, as a browser does (all of it, while reading the answer)."""
    size = MAX_REQUEST_BYTES + 1024 * 1024
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)

    def send_body() -> None:
        try:
            sock.sendall(b"POST /login HTTP/1.1\r\nHost: localhost\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         + f"Content-Length: {size}\r\n\r\n".encode())
            for _ in range(size // 65536 + 1):
                sock.sendall(b"a" * min(65536, size))
        except OSError:
            pass  # the server may stop reading once it has answered: that is the point

    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        name, value = line.split(":", 1)
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    length = int(headers["content-length"][0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the response was cut short"
        body += chunk
    closed = False
    if wait_for_close:
        try:
            closed = sock.recv(65536) == b""  # the server's FIN, after the whole answer
        except ConnectionResetError:
            closed = False
    sock.close()
    sender.join(15)
    return status, headers, body, closed


@pytest.mark.slow
def test_after_a_413_gunicorn_closes_the_connection_instead_of_keeping_it_alive(db_path, tmp_path):
    process, base = start_gunicorn(database_uri(db_path), tmp_path / "gunicorn.log", workers=1)
    try:
        status, headers, body, closed = _oversized_post(int(base.rsplit(":", 1)[1]), wait_for_close=True)
        assert status.startswith("HTTP/1.1 413"), status
        assert headers["connection"] == ["close"], headers
        assert b"That was too large" in body
        assert closed  # a clean close (FIN) after the whole answer, not keep-alive, not a reset
        # A normal request on a new connection is served as before, kept alive as before.
        with urllib.request.urlopen(f"{base}/privacy", timeout=10) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def test_after_a_413_the_dev_server_says_close(app):
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, headers, body, _closed = _oversized_post(server.port, wait_for_close=False)
    finally:
        server.shutdown()
    assert status.startswith("HTTP/1.1 413"), status
    assert headers["connection"] == ["close"], headers
    assert b"That was too large" in body


def test_a_scheduler_pass_without_its_database_logs_one_line(tmp_path, smtp_server, caplog):
    from supportnet import scheduler

    (tmp_path / "gone.db").mkdir()  # SQLite can neither open nor create a database here
    app = make_app(tmp_path / "gone.db", smtp_server[0].port)
    caplog.set_level(logging.INFO)
    for job in (scheduler.plan_pass, scheduler.dispatch_pass, scheduler.retention_pass):
        scheduler._safely(job, app)()
    records = [r for r in caplog.records if r.name == "supportnet.scheduler"]
    assert [r.getMessage().split(":")[0] for r in records] == [
        "scheduler job plan_pass", "scheduler job dispatch_pass", "scheduler job retention_pass"]
    assert all("database unavailable" in r.getMessage() and r.exc_info is None for r in records)


def test_a_lease_too_short_for_the_smtp_timeout_is_warned_about(tmp_path, smtp_server, caplog):
    from supportnet import scheduler

    app = make_app(tmp_path / "x.db", smtp_server[0].port, NOTIFY_LEASE_SECONDS=30,
                   MAIL_URL=f"smtp://127.0.0.1:{smtp_server[0].port}?timeout=20")
    scheduler._check_lease(app)
    assert "is short for an SMTP timeout of 20.0 s" in caplog.text
    caplog.clear()
    scheduler._check_lease(make_app(tmp_path / "x.db", smtp_server[0].port))  # the defaults: 300 s and 20 s
    assert caplog.text == ""
