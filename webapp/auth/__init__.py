"""Sign-in for people (Flask-Login sessions) and the per-project role checks the dashboard uses."""

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from webapp.auth import routes  # noqa: E402,F401  (registers the views on bp)
