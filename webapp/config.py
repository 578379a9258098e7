"""Configuration from environment variables, with embedded defaults that work on a laptop.

Every setting is documented in ``docs/configuration.md``. Tests pass their own mapping to
:func:`webapp.create_app`, which overrides these.
"""

from __future__ import annotations

import os
from pathlib import Path


def _data_dir() -> Path:
    return Path(os.environ.get("SITETWIN_DATA_DIR", "instance")).resolve()


class Config:
    """Read once per app; values are plain attributes Flask copies into ``app.config``."""

    def __init__(self) -> None:
        data_dir = _data_dir()
        self.SITETWIN_DATA_DIR = str(data_dir)
        self.SQLALCHEMY_DATABASE_URI = os.environ.get(
            "DATABASE_URL", f"sqlite:///{data_dir / 'sitetwin.sqlite3'}"
        )
        self.SECRET_KEY = os.environ.get("SECRET_KEY", "dev")
        self.SITETWIN_ENV = os.environ.get("SITETWIN_ENV", "development")
        # Tessellation threads (ifcopenshell.geom.iterator); 0 = every core.
        self.SITETWIN_THREADS = int(os.environ.get("SITETWIN_THREADS", "0"))
        # Apply pending migrations before a CLI command touches the database.
        self.SITETWIN_AUTO_MIGRATE = os.environ.get("SITETWIN_AUTO_MIGRATE", "1") not in {"0", "false", "no"}
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
