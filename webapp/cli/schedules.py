"""Commands about schedules and progress."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.cli.common import emit, ensure_database, fail


@click.group("schedule")
def schedule_group() -> None:
    """Schedules: import from IFC 4D, MS Project XML, Primavera P6 XER or CSV."""


@schedule_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--project", "project_name", required=True)
@click.option("--links", "link_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV task_id,elements linking tasks to GlobalIds or selectors.")
@click.option("--lenient", is_flag=True, help="Import what is sound and list the rest.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def schedule_import_command(path: Path, project_name: str, link_file, lenient: bool, as_json: bool) -> None:
    """Import a schedule as the project's next version (the old one is kept)."""
    from twin.ifc import IfcReadError
    from twin.schedule import ScheduleImportError
    from webapp.extensions import db
    from webapp.services.schedules import import_schedule
    from webapp.services.twins import NotFound

    ensure_database()
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        result = import_schedule(db.session, current_app.config["SITETWIN_DATA_DIR"], project_name, path,
                                 lenient=lenient, link_file=link_file)
    except (ScheduleImportError, IfcReadError, NotFound, ValueError) as error:
        fail(str(error))
    text = (f"{path.name}: unchanged, schedule version {result.version}" if result.unchanged else
            f"{path.name}: schedule version {result.version} ({result.format}), {result.tasks} tasks, "
            f"{result.linked_elements} element links" + (f"; skipped: {'; '.join(result.problems)}"
                                                        if result.problems else ""))
    emit(result.as_dict(), as_json, text)


@click.command("progress")
@click.option("--project", "project_name", required=True)
@click.option("--date", "date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Status date (default today); a past date uses the statuses as believed on that date.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def progress_command(project_name: str, date, as_json: bool) -> None:
    """Percent complete, planned percent, slip and forecast per task, storey, trade and project.

    With a past ``--date``, the statuses are those believed at the end of that day (from the status
    history), not today's."""
    from twin.schedule import ScheduleImportError
    from webapp.extensions import db
    from webapp.services.schedules import project_progress
    from webapp.services.twins import NotFound

    ensure_database()
    try:
        report = project_progress(db.session, project_name, date.date() if date else None)
    except (ScheduleImportError, NotFound) as error:
        fail(str(error))
    overall = report["overall"] or {}
    outlook = report["forecast"]
    believed = " (statuses as believed on that date)" if report["as_of"] else ""
    seen = overall.get("seen_pct")
    estimated = (f" (estimated: {overall.get('seen_installed_pct')} % seen installed, {seen} % of elements seen)"
                 if seen is not None and seen < 100 else "")
    lines = [f"{report['project']} on {report['date']}{believed}: {overall.get('actual_pct')} % done{estimated}, "
             f"{overall.get('planned_pct')} % planned, slip {overall.get('slip_days')} days, "
             f"forecast finish {outlook['finish'] or outlook['reason']}"]
    lines += [f"  {t['name']}: {t['actual_pct']} % of {t['planned_pct']} %, slip {t['slip_days']} d, "
              f"{t['status']}, {t['seen_pct']} % seen, forecast {t['forecast_finish']}" for t in report["tasks"]]
    emit(report, as_json, "\n".join(lines))
