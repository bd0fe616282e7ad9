"""WSGI entry point for bench/rsvp.py only: the real app, plus a baseline route that inserts one row with no checks.

Never used by the real app (`wsgi.py`): bench/rsvp.py starts gunicorn with `--pythonpath bench rsvp_wsgi:app`
on a throwaway database that has the scratch table `bench_baseline`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import request
from sqlalchemy import text

from supportnet import clock, create_app
from supportnet.extensions import csrf, db

app = create_app()


@app.post("/bench/baseline-insert")
@csrf.exempt
def baseline_insert():
    """One INSERT and its commit, through the same stack (gunicorn, Flask, SQLAlchemy, BEGIN IMMEDIATE): no
    sign-in, no CSRF, no rule, no template."""
    db.session.execute(
        text("INSERT INTO bench_baseline (occurrence_id, user_id, created_at) VALUES (:occ, :user, :at)"),
        {
            "occ": request.form.get("occurrence_id", type=int),
            "user": request.form.get("user_id", type=int),
            "at": clock.now_utc().isoformat(),
        },
    )
    db.session.commit()
    return "", 204
