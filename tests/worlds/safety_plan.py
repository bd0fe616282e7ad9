"""A member with a written safety plan, a second member, the deployment's crisis line, and the helpers the
safety-plan tests share (the plan as a browser fills it in, raw column reads, the SQLite file's bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text as sql

from supportnet.extensions import db
from tests.conftest import Persona, login, make_persona

CRISIS_NAME = "Program on-call line"
CRISIS_PHONE = "+44 20 7946 0000"
CRISIS_RESOURCES = [{"name": CRISIS_NAME, "phone": CRISIS_PHONE}]

# One sentinel per part: each must be found where it belongs and nowhere it must not be.
PLAN = {
    "warning_signs": "sentinel-warning: skipping meals and not answering the phone",
    "coping_strategies": "sentinel-coping: a cold shower\na walk round the park",
    "distractions": "sentinel-distraction: the library café on Mill Road",
    "people_to_ask": "sentinel-people: Sam 07700 900123",
    "professionals": "sentinel-professional: Dr Okafor 020 7946 0001",
    "safer_environment": "sentinel-environment: leave the car keys with Sam",
}
PLAN_COLUMNS = tuple(PLAN)


@dataclass
class World:
    member: Persona
    second: Persona


def build_world(app: Flask) -> World:
    return World(member=make_persona(app, "Mia M."), second=make_persona(app, "Noor N."))


def signed_in(app: Flask, persona: Persona) -> FlaskClient:
    client = app.test_client()
    assert login(client, persona).status_code == 302
    return client


def raw_plan(app: Flask, user_id: int) -> dict | None:
    """The stored row as the database holds it (ciphertext), or None."""
    columns = ", ".join((*PLAN_COLUMNS, "reach_out_message"))
    with app.app_context():
        row = db.session.execute(
            sql(f"SELECT {columns} FROM safety_plan WHERE user_id = :id"), {"id": user_id}  # noqa: S608
        ).mappings().first()
        return dict(row) if row else None


def sqlite_bytes(db_path: Path) -> bytes:
    wal = Path(f"{db_path}-wal")
    return Path(db_path).read_bytes() + (wal.read_bytes() if wal.exists() else b"")
