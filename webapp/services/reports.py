"""The project overview's numbers, computed once per change and kept in ``progress_reports``.

:func:`webapp.services.schedules.project_progress` walks every element and task; at 150,000
elements that is seconds, too slow for a page. The report is stored with a key naming what it was
computed from (the date, the model revision, the schedule version, the last status change, the
processed captures), so a page reads one row, and the background job that processed a capture
recomputes it right away.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.models import (
    Capture,
    ElementStatusChange,
    ModelRevision,
    ProgressReport,
    Project,
    ScheduleVersion,
)


def project_state(session: Session, project: Project) -> tuple[int | None, int | None, int]:
    """(latest model revision id, latest schedule version id, last status change id) of the project:
    three index lookups that change whenever a view derived from its statuses must change."""
    revision = session.scalar(
        select(func.max(ModelRevision.id)).where(ModelRevision.project_id == project.id)
    )
    schedule = session.scalar(
        select(func.max(ScheduleVersion.id)).where(ScheduleVersion.project_id == project.id)
    )
    last_change = (
        session.scalar(
            select(func.max(ElementStatusChange.id)).where(ElementStatusChange.project_id == project.id)
        )
        or 0
    )
    return revision, schedule, last_change


def report_key(session: Session, project: Project, date: dt.date) -> str | None:
    """What the report on ``date`` depends on, or None when there is nothing to report yet."""
    revision, schedule, last_change = project_state(session, project)
    if revision is None or schedule is None:
        return None
    # A capture that saw elements only absent changes no stage but what is seen (seen_pct, "not
    # observed" tasks): the processed captures are part of the key.
    walks, last_walk = session.execute(select(func.count(), func.max(Capture.id)).where(
        Capture.project_id == project.id, Capture.state == "processed")).one()
    return f"{date.isoformat()}/r{revision}/s{schedule}/c{last_change}/w{walks}-{last_walk or 0}"


#: Reports at past dates by (database, project, report key); bounded, per process.
_PAST_REPORTS: dict[tuple, dict] = {}
_PAST_REPORTS_KEPT = 32


def progress_report(session: Session, project: Project, date: dt.date | None = None) -> dict | None:
    """The project's progress on ``date`` (default today): stored, or computed and stored.

    None when the project has no model or no schedule yet. Two processes computing at once both
    write the same numbers; the later write wins, which is harmless. A past date (statuses as
    believed then) is kept per process instead, so that it never displaces today's stored report.
    """
    from webapp.services.as_of import is_past
    from webapp.services.schedules import project_progress

    date = date or dt.date.today()
    key = report_key(session, project, date)
    if key is None:
        return None
    if is_past(date):
        kept = (str(session.get_bind().url), project.id, key)
        if kept not in _PAST_REPORTS:
            if len(_PAST_REPORTS) >= _PAST_REPORTS_KEPT:
                _PAST_REPORTS.pop(next(iter(_PAST_REPORTS)))
            _PAST_REPORTS[kept] = project_progress(session, project.name, date)
        return _PAST_REPORTS[kept]
    stored = session.get(ProgressReport, project.id)
    if stored is not None and stored.key == key:
        return stored.report
    started = time.perf_counter()
    report = project_progress(session, project.name, date)
    seconds = time.perf_counter() - started
    if stored is None:
        stored = ProgressReport(project_id=project.id)
        session.add(stored)
    stored.key, stored.report, stored.seconds = key, report, seconds
    stored.computed_at = dt.datetime.now(dt.UTC)
    try:
        session.commit()
    except IntegrityError:  # another process stored the first report of this project meanwhile
        session.rollback()
    return report
