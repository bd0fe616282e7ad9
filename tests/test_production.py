"""Production serving: gunicorn with its configuration, the Procfile, trusted proxies, the database URL."""

from __future__ import annotations

import configparser
import os
import re
import runpy
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from supportnet import create_app
from supportnet.config import ConfigError, database_url
from tests.conftest import database_uri, free_port, make_app, post

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


# --- trusted proxy hops (ProxyFix) ---


def _remote_addr_seen(app, headers: dict) -> tuple[str, str]:
    """The client address and scheme the app sees for a request from 127.0.0.1 (the proxy) with these headers."""
    from flask import request

    app.add_url_rule("/_seen", "seen", lambda: f"{request.remote_addr} {request.scheme}")
    response = app.test_client().get("/_seen", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    addr, scheme = response.get_data(as_text=True).split()
    return addr, scheme


FORWARDED = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}


def test_behind_one_trusted_proxy_the_client_address_and_scheme_come_from_its_headers(tmp_path, smtp_server):
    app = make_app(tmp_path / "p.db", smtp_server[0].port, PROXY_HOPS=1)
    assert _remote_addr_seen(app, FORWARDED) == ("198.51.100.7", "https")


def test_without_a_proxy_forwarded_headers_are_ignored_as_forgeries(tmp_path, smtp_server):
    app = make_app(tmp_path / "p.db", smtp_server[0].port)
    assert app.config["PROXY_HOPS"] == 0
    assert _remote_addr_seen(app, FORWARDED) == ("127.0.0.1", "http")


def test_with_one_proxy_a_client_cannot_smuggle_in_an_address_of_its_own(tmp_path, smtp_server):
    app = make_app(tmp_path / "p.db", smtp_server[0].port, PROXY_HOPS=1)
    # The client sent "X-Forwarded-For: 10.0.0.1"; the proxy appended the address it really came from.
    addr, _ = _remote_addr_seen(app, {"X-Forwarded-For": "10.0.0.1, 198.51.100.7"})
    assert addr == "198.51.100.7"


def test_the_per_ip_limit_counts_each_client_behind_the_proxy_separately(db_path, smtp_server, frozen_clock):
    app = make_app(db_path, smtp_server[0].port, PROXY_HOPS=1, AUTH_RATE_LIMIT="2 per minute")
    client = app.test_client()

    def attempt(ip: str) -> int:
        data = {"email": "nobody@example.org", "password": "wrong guess"}
        return post(client, "/login", data, headers={"X-Forwarded-For": ip}).status_code

    assert [attempt("198.51.100.7") for _ in range(3)] == [200, 200, 429]
    # Another person behind the same proxy is not locked out by the first one's attempts.
    assert attempt("203.0.113.20") == 200


def test_proxy_hops_come_from_the_environment_and_must_not_be_negative(monkeypatch, tmp_path):
    monkeypatch.setenv("SUPPORTNET_PROXY_HOPS", "2")
    app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    assert app.config["PROXY_HOPS"] == 2
    monkeypatch.setenv("SUPPORTNET_PROXY_HOPS", "-1")
    with pytest.raises(ConfigError, match="SUPPORTNET_PROXY_HOPS"):
        create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})


# --- the database URL ---


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db:5432/sn", "postgresql+psycopg://u:p@db:5432/sn"),
        ("postgres://u:p@db/sn", "postgresql+psycopg://u:p@db/sn"),
        ("postgresql+psycopg://u@db/sn", "postgresql+psycopg://u@db/sn"),
        ("sqlite:////srv/supportnet/instance/supportnet.db", "sqlite:////srv/supportnet/instance/supportnet.db"),
    ],
)
def test_a_plain_postgresql_url_uses_psycopg_3(given, used):
    assert database_url(given) == used


def test_postgresql_connections_are_checked_before_use_and_sqlite_needs_no_check(tmp_path):
    from sqlalchemy.engine import make_url

    sqlite_app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    assert "pool_pre_ping" not in sqlite_app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    pg_app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@127.0.0.1:9/none"})
    assert pg_app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    assert make_url(pg_app.config["SQLALCHEMY_DATABASE_URI"]).get_driver_name() == "psycopg"


# --- gunicorn.conf.py, the Procfile and the systemd units ---


def _gunicorn_settings(monkeypatch, **env) -> dict:
    for name in ("WEB_CONCURRENCY", "SUPPORTNET_WEB_THREADS", "SUPPORTNET_BIND", "PORT", "SUPPORTNET_WEB_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_runs_threaded_workers_with_timeouts_on_localhost_by_default(monkeypatch):
    settings = _gunicorn_settings(monkeypatch)
    assert settings["bind"] == "127.0.0.1:8000"
    assert settings["worker_class"] == "gthread"
    assert settings["workers"] >= 2 and settings["threads"] >= 2
    assert 0 < settings["graceful_timeout"] <= settings["timeout"] <= 60
    assert settings["preload_app"] is False
    assert settings["control_socket_disable"] is True


def test_gunicorn_settings_follow_the_environment(monkeypatch):
    settings = _gunicorn_settings(monkeypatch, WEB_CONCURRENCY="4", SUPPORTNET_WEB_THREADS="8", PORT="5050")
    assert (settings["workers"], settings["threads"], settings["bind"]) == (4, 8, "0.0.0.0:5050")
    assert _gunicorn_settings(monkeypatch, SUPPORTNET_BIND="10.1.2.3:8000")["bind"] == "10.1.2.3:8000"


def test_the_access_log_format_has_no_referrer_user_agent_or_query_string(monkeypatch):
    fmt = _gunicorn_settings(monkeypatch)["access_log_format"]
    for atom in ("%(f)s", "%(a)s", "%(r)s", "%(q)s", "{referer}i", "{user-agent}i"):
        assert atom not in fmt


def test_the_procfile_runs_gunicorn_and_the_scheduler(tmp_path):
    entries = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert entries["web"].split() == ["gunicorn", "wsgi:app"]
    assert entries["scheduler"].split() == ["flask", "--app", "supportnet", "scheduler", "run"]
    app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    assert "run" in app.cli.commands["scheduler"].commands


@pytest.mark.parametrize(
    ("unit", "command"),
    [
        ("supportnet-web.service", ".venv/bin/gunicorn wsgi:app"),
        ("supportnet-scheduler.service", ".venv/bin/flask --app supportnet scheduler run"),
    ],
)
def test_the_example_systemd_units_start_the_right_commands(unit, command):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(ROOT / "deploy" / unit)
    service = parser["Service"]
    assert service["ExecStart"].endswith(command)
    assert service["EnvironmentFile"] == "/etc/supportnet/supportnet.env"
    assert service["User"] == "supportnet"
    assert parser["Install"]["WantedBy"] == "multi-user.target"


# --- gunicorn for real ---


def _wait_until_up(url: str, process: subprocess.Popen, deadline: float) -> None:
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer in time")


@pytest.mark.slow
def test_gunicorn_serves_the_app_behind_a_proxy_and_its_access_log_keeps_secrets_out(db_path, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "SUPPORTNET_ENV": "production",
        "SUPPORTNET_SECRET_KEY": "s" * 48,
        "SUPPORTNET_DATA_KEY": Fernet.generate_key().decode(),
        "SUPPORTNET_BASE_URL": "https://support.example.org",
        "SUPPORTNET_DATABASE_URL": database_uri(db_path),
        "SUPPORTNET_BIND": f"127.0.0.1:{port}",
        "SUPPORTNET_PROXY_HOPS": "1",
        "WEB_CONCURRENCY": "2",
        "SUPPORTNET_WEB_THREADS": "2",
    }
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(GUNICORN), "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/healthz", process, time.time() + 60)
        secret = "SECRETTOKENabc123"
        request = urllib.request.Request(
            f"{base}/account/reset/{secret}?next=/groups/a-private-search",
            headers={
                "X-Forwarded-For": "198.51.100.7",
                "X-Forwarded-Proto": "https",
                "Referer": "https://support.example.org/calendar/REFERRERSECRET.ics",
                "User-Agent": "Probe/1.0 (someone's phone)",
            },
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:  # an unknown token answers an error page; that is fine here
            assert exc.code < 500
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
    text = log_path.read_text()
    lines = [line for line in text.splitlines() if "/account/reset/" in line]
    assert lines, text
    assert re.search(r'^198\.51\.100\.7 \[.+\] "GET /account/reset/\[redacted\] HTTP/1\.1" \d{3} ', lines[0]), lines
    for leak in (secret, "REFERRERSECRET", "a-private-search", "Probe/1.0"):
        assert leak not in text
    assert "gthread" in text or "Booting worker" in text


# --- where the per-IP limiter counts ---


def test_the_per_ip_limiter_counts_in_memory_unless_told_otherwise(monkeypatch, tmp_path):
    from supportnet.extensions import limiter

    monkeypatch.delenv("SUPPORTNET_RATELIMIT_STORAGE_URL", raising=False)
    app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    with app.app_context():
        assert type(limiter.storage).__name__ == "MemoryStorage"


def test_a_shared_limiter_store_is_named_by_url_and_a_missing_client_library_stops_the_start(monkeypatch, tmp_path):
    import importlib.util

    from limits.errors import ConfigurationError

    if importlib.util.find_spec("redis") is not None:
        pytest.skip("the redis client is installed here")
    monkeypatch.setenv("SUPPORTNET_RATELIMIT_STORAGE_URL", "redis://127.0.0.1:1/0")
    # Better at start than silently counting per process: the operator asked for a shared store.
    with pytest.raises(ConfigurationError, match="redis"):
        create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
