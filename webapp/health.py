"""``GET /healthz``: the process is up and the database answers (for load balancers and compose)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from webapp.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as error:  # report, don't crash: this is what the check is for
        return jsonify(status="error", database=str(error).splitlines()[0]), 503
    return jsonify(status="ok", database="ok")
