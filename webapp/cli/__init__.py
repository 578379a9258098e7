"""The ``sitetwin`` command: a Flask CLI group (``flask --app webapp ...`` works the same).

Commands are thin: they parse options, call a service or library function and print its result.
With ``--json`` a command prints exactly one JSON object on stdout; progress and logs go to stderr.
Bad input exits with status 2 and one line on stderr naming the file and the problem.
"""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup

from webapp.cli.accounts import token_group, user_group
from webapp.cli.alerts import alerts_group, scheduler_command
from webapp.cli.captures import (
    evaluate_command,
    process_command,
    simulate_capture_command,
    train_detector_command,
    worker_command,
)
from webapp.cli.common import EXIT_BAD_INPUT, emit, fail
from webapp.cli.models import generate_building_command, ingest_command
from webapp.cli.schedules import progress_command, schedule_group
from webapp.cli.serve import serve_command

COMMANDS = [ingest_command, generate_building_command, simulate_capture_command, train_detector_command,
            process_command, evaluate_command, schedule_group, progress_command, alerts_group, scheduler_command,
            user_group, token_group, worker_command, serve_command]


def register_commands(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app() -> Flask:
    from webapp import create_app

    return create_app()


main = FlaskGroup(
    name="sitetwin",
    create_app=_create_app,
    help="SiteTwin: construction-site digital twin and progress tracker.",
)

__all__ = ["EXIT_BAD_INPUT", "emit", "fail", "main", "register_commands"]
