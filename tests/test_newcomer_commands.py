"""The two commands for a newcomer: `make run PORT=…` links to the port it serves on and lets the demo's staff
sign in without two-factor (saying so next to the logins), and `flask --help` with no environment explains
itself instead of printing a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from supportnet.extensions import db
from supportnet.models import User
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parent.parent
PRINT_ENV = "printenv SUPPORTNET_BASE_URL SUPPORTNET_REQUIRE_2FA_FOR_STAFF #"


def make_run_environment(**env) -> list[str]:
    """What `make run` hands its commands, with the flask commands replaced by printing the variables."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    base = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTNET_")}
    # -o deps: take the virtualenv as it is (this test installs nothing).
    args = [f"{name}={value}" for name, value in env.pop("args", {}).items()]
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "-o", "deps", "run", f"FLASK={PRINT_ENV}", *args],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60, check=True,
    )
    return result.stdout.split()


def test_make_run_links_to_the_port_it_serves_on_and_staff_skip_two_factor():
    out = make_run_environment(args={"PORT": "5123"})
    assert out[:2] == ["http://127.0.0.1:5123", "0"]
    assert "http://127.0.0.1:5000" not in out


def test_make_run_keeps_what_the_environment_says():
    out = make_run_environment(SUPPORTNET_BASE_URL="https://dev.example.org", SUPPORTNET_REQUIRE_2FA_FOR_STAFF="1")
    assert out[:2] == ["https://dev.example.org", "1"]


def test_seed_demo_prints_the_mailbox_on_the_base_url_and_says_staff_skip_two_factor(db_path, smtp_server):
    app = make_app(db_path, smtp_server[0].port, BASE_URL="http://127.0.0.1:5123", MAIL_URL="",
                   REQUIRE_2FA_FOR_STAFF=False)
    out = app.test_cli_runner().invoke(args=["seed-demo"]).output
    assert "Staff sign in without two-factor here" in out
    assert "Emails go to the development mailbox: http://127.0.0.1:5123/dev/mailbox" in out
    strict = make_app(db_path, smtp_server[0].port, REQUIRE_2FA_FOR_STAFF=True)
    out = strict.test_cli_runner().invoke(args=["seed-demo"]).output
    assert "(asked to set up two-factor at first sign-in)" in out
    assert "without two-factor" not in out
    with app.app_context():
        assert db.session.scalar(db.select(User).where(User.email == "admin@example.org"))


def test_flask_help_without_any_environment_gives_a_hint_not_a_traceback(tmp_path):
    executable = Path(sys.executable).parent / "flask"
    result = subprocess.run(
        [str(executable), "--app", "supportnet", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "Hint: to try SupportNet locally, run `make run`" in output
    assert "Commands:" in output and "routes" in output
