"""`make run` as a developer uses it: set up, seed, serve web and scheduler together, stop both on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def _describe(pids: set[int]) -> list[str]:
    """Each process still alive: its command, its state and where in the kernel it waits (for a failure message)."""
    described = []
    for pid in sorted(pids):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            waiting = Path(f"/proc/{pid}/wchan").read_text()
        except OSError:
            continue
        described.append(f"{pid} [{state} {waiting}] {command}")
    return described


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found |= {child} | _children(child)
    return found


@pytest.mark.slow
def test_make_run_serves_web_and_scheduler_and_ctrl_c_stops_both(tmp_path):
    if not (ROOT / ".venv" / ".deps").exists():
        pytest.skip("make run needs the virtualenv that `make test` creates")
    port = free_port()
    env = {
        **os.environ,
        "SUPPORTNET_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "SUPPORTNET_SECRET_KEY": "s" * 40,
        "SUPPORTNET_DATA_KEY": "",
        "SUPPORTNET_ENV": "development",
    }
    # A session of its own, like a terminal's foreground job: Ctrl-C goes to the whole group. A foreground job
    # takes Ctrl-C; when the tests themselves run as a background job (SIGINT ignored, which children inherit),
    # the server would ignore it too, so the child starts with the default handling as in a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    output = ""
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and health is None:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = json.load(response)
            except OSError:
                continue
        assert health == {"status": "ok", "database": "ok"}
        processes = _children(proc.pid)
        commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in processes}
        assert any(b"scheduler run" in cmd for cmd in commands.values()), commands
        assert any(b" run --host" in cmd for cmd in commands.values()), commands
        os.killpg(proc.pid, signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired as stuck:
            output = (stuck.output or b"").decode(errors="replace") if isinstance(stuck.output, bytes) else ""
            pytest.fail(f"still running 30 s after Ctrl-C: {_describe(_children(proc.pid) | {proc.pid})}\n{output}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            output += proc.communicate()[0]
    assert "Demo logins (development only):" in output
    assert "facilitator@example.org" in output
    # Links use the port it serves on, and the demo's staff sign in without two-factor (and are told so).
    assert f"Emails go to the development mailbox: http://127.0.0.1:{port}/dev/mailbox" in output
    assert "Staff sign in without two-factor here" in output
    assert "scheduler stopped" in output
    assert all(not Path(f"/proc/{pid}").exists() for pid in processes), "a process outlived Ctrl-C"
