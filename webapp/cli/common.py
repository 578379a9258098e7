"""Helpers every command shares: one JSON object on stdout, errors as one line, progress on stderr."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any

import click
from flask import current_app

#: Exit status for bad input (a corrupt file, an unknown project...).
EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    """Print one line to stderr and exit with :data:`EXIT_BAD_INPUT`."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def emit(result: dict[str, Any], as_json: bool, text: str) -> None:
    """Print ``result`` as one JSON object (``--json``) or ``text`` for people."""
    if as_json:
        click.echo(json.dumps(result, sort_keys=True, default=str))
    else:
        click.echo(text)


@contextmanager
def progress_bar(total: int | None, desc: str):
    """A tqdm bar on stderr; yields a callback taking the absolute count done."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True,
              mininterval=0.5, delay=1.0, leave=False) as bar:
        def update(done: int) -> None:
            bar.update(done - bar.n)

        yield update


def ensure_database() -> None:
    """Bring the schema to the latest migration when ``SITETWIN_AUTO_MIGRATE`` is on."""
    if not current_app.config.get("SITETWIN_AUTO_MIGRATE", True):
        return
    from webapp.db import upgrade_to_head

    upgrade_to_head()


def threads() -> int | None:
    return current_app.config.get("SITETWIN_THREADS") or None
