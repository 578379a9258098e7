"""Shared fixtures: the real IFC models in ../shared, a database per test (SQLite and PostgreSQL),
and the Flask app / CLI runner built on it (flaskr's conftest, with both backends)."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IFC_DIR = SHARED / "ifc"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@localhost/test")
# CI sets this so that a PostgreSQL server that is down fails the run instead of skipping.
REQUIRE_POSTGRES = os.environ.get("SITETWIN_REQUIRE_POSTGRES") == "1"


def shared_models() -> list[Path]:
    return sorted(IFC_DIR.glob("*.ifc")) if IFC_DIR.is_dir() else []


def shared_model(name: str) -> Path:
    path = IFC_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the real IFC models live in ../shared/ifc beside the repository")
    return path


@pytest.fixture(scope="session")
def postgres_admin():
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        engine.dispose()
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required (SITETWIN_REQUIRE_POSTGRES=1): {error}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is not reachable")
    yield engine
    engine.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def fresh_database(request, kind: str, directory: Path):
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'test.sqlite3'}"
        return
    admin = request.getfixturevalue("postgres_admin")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    with fresh_database(request, request.param, tmp_path) as url:
        yield url


def make_app(database_url: str, data_dir: Path, **config):
    """The app on ``database_url`` with its schema migrated to head (tests' configuration)."""
    from webapp import create_app
    from webapp.db import upgrade_to_head

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SITETWIN_DATA_DIR": str(data_dir),
                      **config})
    with app.app_context():
        upgrade_to_head()
    return app


def dispose(app) -> None:
    from webapp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(database_url, tmp_path):
    app = make_app(database_url, tmp_path / "data")
    yield app
    dispose(app)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db_session(app):
    from webapp.extensions import db

    with app.app_context():
        yield db.session


def table_dump(session) -> dict[str, list[tuple]]:
    """Every row of every table, for 'the database is exactly as before' assertions."""
    from webapp.models import Base

    session.expire_all()
    return {
        table.name: sorted(map(tuple, session.execute(sa.select(table)).all()), key=repr)
        for table in Base.metadata.sorted_tables
    }


# Browser tests drive Debian's chromium through Playwright (nothing downloads a browser). CI sets
# SITETWIN_REQUIRE_BROWSER=1 so that a missing chromium fails the run instead of skipping.
REQUIRE_BROWSER = os.environ.get("SITETWIN_REQUIRE_BROWSER") == "1"


def chromium() -> str:
    import shutil

    path = os.environ.get("SITETWIN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if REQUIRE_BROWSER:
            pytest.fail("no Chromium (SITETWIN_REQUIRE_BROWSER=1): apt-get install chromium")
        pytest.skip("no Chromium: apt-get install chromium, or set SITETWIN_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=[
            "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox",
            "--disable-background-networking", "--disable-component-update"])
        yield browser
        browser.close()
