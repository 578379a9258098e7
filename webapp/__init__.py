"""The SiteTwin service: Flask app factory, persistence, CLI. Depends on :mod:`vision` and :mod:`twin`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

#: Alembic scripts live at the top of the repository (``migrations/``).
MIGRATIONS_DIR = os.environ.get(
    "SITETWIN_MIGRATIONS_DIR", str(Path(__file__).resolve().parent.parent / "migrations")
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults from the environment, then ``config``; bind extensions and CLI."""
    from webapp.api import bp as api_bp
    from webapp.cli import register_commands
    from webapp.config import Config
    from webapp.extensions import db, migrate
    from webapp.health import bp as health_bp

    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(Config())
    if config:
        app.config.update(config)
    Path(app.config["SITETWIN_DATA_DIR"]).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    register_commands(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)
    return app
