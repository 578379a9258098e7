"""The camera upload API under ``/api/v1`` (token auth), described by ``/api/v1/openapi.json``."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from webapp.api import routes  # noqa: E402,F401  (registers the views on bp)
