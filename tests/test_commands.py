"""The commands operators and developers type: users, seed-demo, scheduler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from supportnet.crypto import generate_key
from supportnet.extensions import db
from supportnet.models import Coach, SiteRole, User
from tests.conftest import database_uri, login, make_app, make_persona

ROOT = Path(__file__).resolve().parent.parent


def test_users_create_makes_a_confirmed_facilitator(app, runner):
    result = runner.invoke(args=["users", "create", "Fran@Example.org", "--password", "quiet morning tide",
                                 "--name", "Fran F.", "--facilitator"])
    assert result.exit_code == 0, result.output
    assert "Created facilitator account fran@example.org" in result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "fran@example.org"))
        assert user.role == SiteRole.FACILITATOR
        assert user.email_confirmed_at is not None


def test_users_create_explains_bad_input_without_a_traceback(app, runner):
    weak = runner.invoke(args=["users", "create", "a@example.org", "--password", "password"])
    assert weak.exit_code != 0
    assert "common passwords" in weak.output
    make_persona(app, "Taken T.")
    taken = runner.invoke(args=["users", "create", "takent@example.org", "--password", "quiet morning tide"])
    assert "already exists" in taken.output
    assert "Traceback" not in weak.output + taken.output


def test_seed_demo_is_idempotent_and_prints_logins(app, runner, client):
    first = runner.invoke(args=["seed-demo"])
    second = runner.invoke(args=["seed-demo"])
    assert first.exit_code == second.exit_code == 0
    assert "facilitator@example.org" in first.output
    coordinator_line = next(line for line in first.output.splitlines() if "coordinator@example.org" in line)
    assert coordinator_line.split()[0] == "coordinator", "the login list says what the account is for"
    with app.app_context():
        # The admin, the facilitator, two members, the demo program's coordinator and a coach; the second run adds
        # no one (and no second coach profile).
        assert db.session.scalar(select(func.count()).select_from(User)) == 6
        assert db.session.scalar(select(func.count()).select_from(Coach)) == 1
    coach_line = next(line for line in first.output.splitlines() if "coach@example.org" in line)
    assert coach_line.split()[0] == "coach"
    from supportnet.demo import DEMO_USERS

    _role, email, _name, _tz, password = DEMO_USERS[1]
    response = login(client, type("P", (), {"email": email, "password": password})())
    assert response.status_code == 302


def test_seed_demo_refuses_to_run_in_production(tmp_path, smtp_server):
    app = make_app(tmp_path / "prod.db", smtp_server[0].port, ENV="production", SECRET_KEY="k" * 40,
                   DATA_KEY=generate_key())
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "refuses to run in production" in result.output


def test_scheduler_tick_runs_one_pass_and_exits(app, runner):
    result = runner.invoke(args=["scheduler", "tick"])
    assert result.exit_code == 0, result.output
    assert "scheduler pass done" in result.output


def test_scheduler_run_stops_cleanly_on_sigterm(tmp_path, db_path):
    env = {**os.environ, "SUPPORTNET_ENV": "development", "SUPPORTNET_DATABASE_URL": database_uri(db_path),
           "SUPPORTNET_SECRET_KEY": "s" * 40}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "supportnet", "scheduler", "run"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        output = ""
        while "scheduler started" not in output and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output += line
        assert "scheduler started" in output, output
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output + rest
    assert "scheduler stopped" in rest
