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


#: Signs development sessions only; create_app refuses it (and an empty key) outside development.
DEVELOPMENT_SECRET_KEY = "sitetwin-development-only"


class ConfigurationError(RuntimeError):
    """The app cannot start with this configuration (the message names the setting)."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults from the environment, then ``config``; bind extensions, blueprints, CLI."""
    from webapp import guards, headers, limits
    from webapp.api import bp as api_bp
    from webapp.auth import bp as auth_bp
    from webapp.auth import throttle
    from webapp.cli import register_commands
    from webapp.config import Config
    from webapp.dashboard import bp as dashboard_bp
    from webapp.extensions import compress, csrf, db, login_manager, migrate
    from webapp.health import bp as health_bp
    from webapp.secret_key import weakness

    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(Config())
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        if app.config["SITETWIN_ENV"] != "development":
            raise ConfigurationError("SECRET_KEY must be set outside development (SITETWIN_ENV="
                                     f"{app.config['SITETWIN_ENV']}); see docs/configuration.md")
        app.config["SECRET_KEY"] = DEVELOPMENT_SECRET_KEY
    elif app.config["SECRET_KEY"] == DEVELOPMENT_SECRET_KEY and app.config["SITETWIN_ENV"] != "development":
        raise ConfigurationError("SECRET_KEY is the development key; set a long random value")
    elif app.config["SITETWIN_ENV"] != "development" and (weak := weakness(app.config["SECRET_KEY"])):
        raise ConfigurationError(f"{weak} (SITETWIN_ENV={app.config['SITETWIN_ENV']}); set a long random "
                                 "value, e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'")
    Path(app.config["SITETWIN_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    from webapp import storage

    storage.init_app(app)  # SITETWIN_STORAGE_URL: the data directory or a shared bucket
    storage.resolve_detector_weights(app.config)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    compress.init_app(app)
    headers.init_app(app)  # first: a plain-HTTP request is sent to HTTPS before anything else runs
    throttle.init_app(app)
    limits.init_app(app)  # before CSRF reads any form
    guards.init_app(app)  # NUL bytes, JSON depth, ids out of range: 4xx before any view or CSRF
    csrf.init_app(app)
    csrf.exempt(api_bp)  # bearer tokens, no cookies: nothing for a forged form to ride on
    register_commands(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(dashboard_bp)
    if app.config["SITETWIN_JOBS"] == "thread" and not app.config["CELERY_BROKER_URL"] and not app.testing:
        from webapp.jobs import start_sweeper

        # A web process that processes captures itself takes up what died, its own earlier life included.
        app.before_request(lambda: start_sweeper(app))
    return app
