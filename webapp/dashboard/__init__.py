"""The site manager's pages: projects, overview, floor plans, the 3D twin, elements, captures,
alerts and settings. Signed-in users only; each page checks the user's role on its project."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from webapp.dashboard import routes, settings  # noqa: E402,F401  (register the views on bp)
