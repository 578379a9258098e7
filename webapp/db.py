"""Schema management: apply Alembic migrations (``migrations/``) to the app's database."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade

from webapp.extensions import db


def is_at_head() -> bool:
    """True when the database is at the latest migration."""
    config = current_app.extensions["migrate"].migrate.get_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def upgrade_to_head() -> None:
    """Apply pending migrations, if any (cheap when there are none)."""
    if not is_at_head():
        upgrade()
