"""The front page, the privacy page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from sqlalchemy import text

from supportnet.extensions import db
from supportnet.web.home import render_home

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return render_home()
    return render_template("main/index.html")


@bp.get("/privacy")
def privacy():
    return render_template("main/privacy.html")


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "unavailable"
    finally:
        db.session.rollback()
    healthy = database == "ok"
    response = jsonify(status="ok" if healthy else "degraded", database=database)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if healthy else 503
