"""Import schedules into a project (versions kept for comparison) and compute progress from statuses."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from twin.ifc import file_sha256, open_model
from twin.progress import (
    PlannedWork,
    estimate_unseen,
    expand_assemblies,
    forecast,
    percent_complete,
    planned_series,
    rollup,
    s_curve,
    seen_share,
    task_progress,
)
from twin.quantities import task_quantities
from twin.schedule import ImportProblem, ScheduleImportError, check, read_schedule
from webapp.db import analyze
from webapp.models import (
    Element,
    ElementStatusChange,
    ScheduleVersion,
    Storey,
    Task,
    TaskElement,
)
from webapp.services import as_of
from webapp.services.assemblies import assembly_parts
from webapp.services.seen import seen_column
from webapp.services.twins import current_revision, get_project, revision_ifc_path


@dataclass
class ImportResult:
    project: str
    version: int
    format: str
    tasks: int
    linked_elements: int
    problems: list[str] = field(default_factory=list)
    unchanged: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def import_schedule(session: Session, data_dir: str | os.PathLike, project_name: str, path: str | os.PathLike,
                    lenient: bool = False, link_file: str | os.PathLike | None = None) -> ImportResult:
    """Read, link, check and store a schedule as the project's next version (one transaction).

    Raises :class:`twin.schedule.ScheduleImportError` naming every problem unless ``lenient``.
    The same file again (same SHA-256 and link file) is a no-op.
    """
    path = Path(path)
    project = get_project(session, project_name)
    revision = current_revision(session, project)
    sha256 = file_sha256(path)
    if link_file:
        sha256 = f"{sha256[:32]}{file_sha256(link_file)[:32]}"
    latest = session.scalar(select(ScheduleVersion).where(ScheduleVersion.project_id == project.id)
                            .order_by(ScheduleVersion.number.desc()).limit(1))
    if latest is not None and latest.sha256 == sha256:
        return ImportResult(project.name, latest.number, latest.source_format, len(latest.tasks),
                            sum(1 for _ in session.scalars(select(TaskElement.task_id).join(Task).where(
                                Task.schedule_id == latest.id))), unchanged=True)
    model = open_model(revision_ifc_path(revision, data_dir))
    schedule, link_problems = read_schedule(path, model=model, link_file=link_file)
    known = set(session.scalars(select(Element.global_id).where(Element.revision_id == revision.id)))
    if link_problems and not lenient:
        raise ScheduleImportError(str(path), link_problems)
    schedule, problems = check(schedule, known, lenient=lenient, source=str(path))
    problems = link_problems + problems
    try:
        version = ScheduleVersion(project_id=project.id, number=(latest.number + 1) if latest else 1,
                                  name=schedule.name, source_format=schedule.source_format, source_name=path.name,
                                  sha256=sha256, data_date=schedule.data_date,
                                  problems=[{"task": p.task, "field": p.field, "message": p.message}
                                            for p in problems])
        session.add(version)
        session.flush()
        rows = [Task(schedule_id=version.id, key=t.id, name=t.name, parent_key=t.parent,
                     planned_start=t.planned_start, planned_finish=t.planned_finish, actual_start=t.actual_start,
                     actual_finish=t.actual_finish, trade=t.trade, weight_basis=t.weight_basis,
                     predecessors=[[p.task, p.relation, p.lag_days] for p in t.predecessors])
                for t in schedule.tasks]
        session.add_all(rows)
        session.flush()
        links = [{"task_id": row.id, "global_id": gid}
                 for row, task in zip(rows, schedule.tasks, strict=True) for gid in dict.fromkeys(task.elements)]
        if links:
            session.execute(insert(TaskElement), links)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    analyze(session, Task, TaskElement)
    return ImportResult(project.name, version.number, schedule.source_format, len(rows), len(links),
                        [str(p) for p in problems])


def current_schedule(session: Session, project_id: int) -> ScheduleVersion | None:
    return session.scalar(select(ScheduleVersion).where(ScheduleVersion.project_id == project_id)
                          .order_by(ScheduleVersion.number.desc()).limit(1))


def project_progress(session: Session, project_name: str, date: dt.date | None = None) -> dict:
    """Every number of the project's current schedule on ``date`` (default today): per task, per
    storey, per trade and overall, with the S-curve over the status history and the project's
    forecast finish (or why there is none).

    A past ``date`` uses the statuses as they were believed at its end (:mod:`webapp.services.as_of`),
    not today's; ``as_of`` in the report says so (null for today or a later date)."""
    project = get_project(session, project_name)
    version = current_schedule(session, project.id)
    if version is None:
        raise ScheduleImportError(project_name, [ImportProblem(None, "schedule", "no schedule imported yet: run "
                                                               "`sitetwin schedule import FILE --project ...`")])
    date = date or dt.date.today()
    revision = current_revision(session, project)
    element_rows = session.execute(select(Element.global_id, Element.tracked_class, Storey.name)
                                   .outerjoin(Storey, Storey.id == Element.storey_id)
                                   .where(Element.revision_id == revision.id)).all()
    tracked = {gid: cls for gid, cls, _ in element_rows}
    storey_of = {gid: storey for gid, _, storey in element_rows}
    quantities = _quantities(session, revision.id, version)
    status = as_of.status_table(project.id, date)
    status_rows = session.execute(select(status.global_id, status.stage, seen_column(status), status.first_seen)
                                  .where(as_of.project_filter(status, project.id))).all()
    stage_now = {gid: stage for gid, stage, _, _ in status_rows}
    seen = {gid for gid, _, was_seen, _ in status_rows if was_seen}  # unknown is not late: see docs/progress.md
    first_seen = sorted((as_of.utc_date(first), gid) for gid, _, _, first in status_rows if first is not None)
    stages = {gid: (tracked.get(gid), stage_now.get(gid, 0)) for gid in tracked}
    links: dict[int, list[str]] = defaultdict(list)
    for task_id, gid in session.execute(select(TaskElement.task_id, TaskElement.global_id).join(Task).where(
            Task.schedule_id == version.id)):
        links[task_id].append(gid)
    parts = assembly_parts(session, revision)  # a stair counts through its flight and railing, once
    links = {task_id: list(expand_assemblies(gids, parts)) for task_id, gids in links.items()}
    tasks = [t for t in version.tasks if links.get(t.id)]
    history = _history(session, project.id, tracked, date)
    # Unknown is neither done nor late: what no capture has seen is estimated from what was seen of
    # its task, or from the plan (twin.progress.estimate_unseen; docs/progress.md).
    task_work = [(PlannedWork(t.planned_start, t.planned_finish), links[t.id]) for t in tasks]
    estimate = estimate_unseen(task_work, stages, seen, date)
    report_tasks = []
    by_storey, by_trade = defaultdict(list), defaultdict(list)
    for task in tasks:
        elements = links[task.id]
        task_history = [(day, percent_complete(elements, snapshot, quantities.get(task.id)))
                        for day, snapshot in history]
        numbers = task_progress(task.key, task.planned_start, task.planned_finish, elements, stages, date,
                                history=task_history, quantities=quantities.get(task.id), seen=seen,
                                estimate=estimate)
        storeys = {storey_of.get(g) for g in elements}
        storey = storeys.pop() if len(storeys) == 1 else None
        report_tasks.append({"id": task.key, "name": task.name, "trade": task.trade, "storey": storey,
                             "planned_start": task.planned_start.isoformat(),
                             "planned_finish": task.planned_finish.isoformat(),
                             "planned_pct": round(100 * numbers.planned, 1), "actual_pct": round(100 * numbers.actual, 1),
                             "slip_days": numbers.slip_days, "status": numbers.status, "elements": numbers.elements,
                             "seen_pct": round(100 * numbers.seen, 1),
                             "forecast_finish": numbers.forecast_finish.isoformat() if numbers.forecast_finish else None})
        work = (PlannedWork(task.planned_start, task.planned_finish), elements)
        by_storey[storey or "several storeys"].append(work)
        by_trade[task.trade or "(no trade)"].append(work)

    def group(items):
        planned, actual, slip = rollup(items, stages, date, estimate=estimate)
        elements = [g for _, e in items for g in e]
        return {"planned_pct": round(100 * planned, 1), "actual_pct": round(100 * actual, 1), "slip_days": slip,
                "seen_pct": round(100 * seen_share(elements, seen), 1),
                "seen_installed_pct": round(100 * percent_complete(elements, stages), 1)}

    all_work = [w for items in by_trade.values() for w in items]
    def seen_by(day: dt.date) -> list[str]:
        return [gid for _, gid in first_seen[:bisect.bisect_right(first_seen, (day, "\uffff"))]]

    curve = s_curve(all_work, [*history, (date, stages)], seen_by=seen_by)
    outlook = forecast([(d, a) for d, _, a in curve])
    planned_days = _weekly(min((w.start for w, _ in all_work), default=date),
                           max((w.finish for w, _ in all_work), default=date))
    planned = planned_series(all_work, planned_days)
    return {
        "project": project.name, "date": date.isoformat(), "schedule_version": version.number,
        "overall": group(all_work) if all_work else None,
        "storeys": {k: group(v) for k, v in sorted(by_storey.items(), key=lambda kv: str(kv[0]))},
        "trades": {k: group(v) for k, v in sorted(by_trade.items())},
        "tasks": report_tasks,
        "s_curve": [{"date": d.isoformat(), "planned_pct": round(100 * p, 1), "actual_pct": round(100 * a, 1)}
                    for d, p, a in curve],
        "planned_curve": [{"date": d.isoformat(), "planned_pct": round(100 * float(p), 1)}
                          for d, p in zip(planned_days, planned)],
        "as_of": date.isoformat() if as_of.is_past(date) else None,
        "forecast": {"finish": outlook.finish.isoformat() if outlook.finish else None,
                     "reason": outlook.reason},
        "coverage": _coverage(session, project, revision),
    }


def _coverage(session: Session, project, revision) -> list[dict]:
    """Per storey, lowest first: its elements with geometry, how many any capture has seen, that
    share in percent, and when it was last walked (ISO 8601 or None)."""
    from webapp.services.elements import storey_coverage  # elements imports this module

    coverage = storey_coverage(session, project, revision)
    return [{"storey": storey.name, "elements": c["elements"], "seen": c["seen"],
             "seen_pct": None if c["coverage"] is None else round(100 * c["coverage"], 1),
             "last_walked": c["last_walked"].isoformat() if c["last_walked"] else None}
            for storey in revision.storeys if (c := coverage.get(storey.id))]


def _weekly(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every 7th day from the day before ``first`` to ``last`` (inclusive), for the planned curve."""
    start = first - dt.timedelta(days=1)
    weeks = (last - start).days // 7 + 1
    days = [start + dt.timedelta(days=7 * k) for k in range(weeks)]
    return days if days[-1] == last else [*days, last]


def _quantities(session: Session, revision_id: int, version: ScheduleVersion) -> dict[int, dict[str, float]]:
    """Per quantity-weighted task (area, volume, length): GlobalId → quantity of its elements and
    of the parts of the assemblies it names (which count in its place)."""
    weighted = {t.id: t.weight_basis for t in version.tasks if t.weight_basis and t.weight_basis != "count"}
    if not weighted:
        return {}
    rows = session.execute(select(TaskElement.task_id, Element.global_id, Element.properties, Element.min_x,
                                  Element.min_y, Element.min_z, Element.max_x, Element.max_y, Element.max_z)
                           .join(Element, ((Element.global_id == TaskElement.global_id)
                                           | (Element.assembly_global_id == TaskElement.global_id))
                                 & (Element.revision_id == revision_id))
                           .where(TaskElement.task_id.in_(weighted))).all()
    per_task: dict[int, dict] = defaultdict(dict)
    for task_id, gid, properties, *box in rows:
        per_task[task_id][gid] = (properties, box)
    return {task_id: task_quantities(elements, weighted[task_id]) for task_id, elements in per_task.items()}


def _history(session: Session, project_id: int, tracked: dict[str, str | None], until: dt.date
             ) -> list[tuple[dt.date, dict]]:
    """Element stages at the end of each day with a status change, up to ``until`` (exclusive).

    A change is dated by the capture that caused it (``changed_at`` is the capture's time)."""
    changes = session.execute(select(ElementStatusChange.changed_at, ElementStatusChange.global_id,
                                     ElementStatusChange.stage)
                              .where(ElementStatusChange.project_id == project_id)
                              .order_by(ElementStatusChange.changed_at, ElementStatusChange.id)).all()
    snapshots, current = [], {}
    for day, day_changes in itertools.groupby(changes, key=lambda c: c.changed_at.date()):
        if day >= until:
            break
        for _, gid, stage in day_changes:
            current[gid] = (tracked.get(gid), stage)
        snapshots.append((day, dict(current)))
    return snapshots
