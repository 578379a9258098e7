"""Schema management: apply Alembic migrations (``migrations/``) to the app's database."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.orm import Session

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


def analyze(session: Session, *models) -> None:
    """Refresh PostgreSQL's planner statistics of ``models``' tables after a bulk write (call it
    after the commit); nothing on SQLite.

    Autovacuum gets to a table a minute or more after a bulk write, if it runs at all: until then
    the planner believes a freshly ingested table empty. Measured on a 178,000-element ingest
    (bench/scale.py): a storey's status.json planned as a nested loop re-aggregating every task
    link per element ran over 8 minutes; with statistics, a quarter of a second."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        session.execute(text(f"ANALYZE {model.__table__.name}"))
    session.commit()
