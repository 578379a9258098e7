"""Element status as the dashboard shows it: a status per element of a storey (for the floor plan
and the 3D view), one element's record, history and evidence, and a reviewer's decision.

A status is one of :data:`STATUSES`, worked out from the fused stage, the review flag, whether any
capture has seen the element, and the schedule. Unknown is not late: an element no capture has
seen (never observed, or only ever "not visible") is *unobserved*, whatever its due date; a seen
element whose task should have finished by today and is not installed is *late*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from twin import taxonomy
from webapp.models import (
    Capture,
    Element,
    ElementStatus,
    ElementStatusChange,
    Frame,
    ModelRevision,
    Observation,
    Project,
    Storey,
    Task,
    TaskElement,
)
from webapp.services import as_of, assemblies
from webapp.services.reports import project_state
from webapp.services.schedules import current_schedule
from webapp.services.seen import seen_column, status_seen

#: Status → (label, colour). Order is the legend's.
STATUSES: dict[str, tuple[str, str]] = {
    "installed": ("Installed", "#2e7d32"),
    "in_progress": ("In progress", "#f9a825"),
    "late": ("Late", "#c62828"),
    "review": ("Needs review", "#7b1fa2"),
    "not_started": ("Not started (seen absent)", "#90a4ae"),
    "unobserved": ("Not observed yet", "#e0e0e0"),
    "untracked": ("Not tracked", "#f5f5f5"),
}


class ReviewError(ValueError):
    """A reviewer's decision that cannot apply (the message says why)."""


def classify_status(
    tracked_class: str | None,
    stage: int | None,
    needs_review: bool | None,
    due: dt.date | None,
    today: dt.date,
    *,
    seen: bool | None = None,
) -> str:
    """The status of one element: ``stage`` None means no status row; ``due`` its latest task finish.

    seen: whether a capture saw it (installed or absent: ``first_seen`` set) or a reviewer decided
    its stage (:mod:`webapp.services.seen`); None infers it from ``stage`` (a status row means
    seen), for callers that only have stages. Only a seen element can be "not started" or "late"."""
    if tracked_class is None or tracked_class not in taxonomy.BY_NAME:
        return "untracked"
    if needs_review:
        return "review"
    final = taxonomy.BY_NAME[tracked_class].final_stage
    if stage is not None and stage >= final:
        return "installed"
    if not (stage is not None if seen is None else seen):
        return "unobserved"
    if due is not None and due < today:
        return "late"
    return "in_progress" if stage else "not_started"


def combine_part_statuses(statuses: list[str]) -> str:
    """An assembly's status from its tracked parts' statuses: installed when all are, needing
    review or late when any is, in progress when some part is (partly) installed, not observed
    when no part was seen, else not started."""
    if not statuses:
        return "unobserved"
    if any(s == "review" for s in statuses):
        return "review"
    if all(s == "installed" for s in statuses):
        return "installed"
    if any(s == "late" for s in statuses):
        return "late"
    if any(s in ("installed", "in_progress") for s in statuses):
        return "in_progress"
    if all(s == "unobserved" for s in statuses):
        return "unobserved"
    return "not_started"


def _due_dates(session: Session, project: Project, of=None):
    """A subquery: GlobalId → the latest planned finish of its tasks in the current schedule.

    of: a subquery of the GlobalIds wanted (a storey's), so that only their task links are
    aggregated (a storey of 8,900 elements: 0.08 s instead of 0.25 s at 155,000 links)."""
    version = current_schedule(session, project.id)
    if version is None:
        return None
    query = (
        select(TaskElement.global_id.label("global_id"), func.max(Task.planned_finish).label("due"))
        .join(Task, Task.id == TaskElement.task_id)
        .where(Task.schedule_id == version.id)
    )
    if of is not None:
        query = query.where(TaskElement.global_id.in_(of))
    return query.group_by(TaskElement.global_id).subquery()


def element_statuses(
    session: Session,
    project: Project,
    revision: ModelRevision,
    storey_id: int | None = None,
    today: dt.date | None = None,
    only: list[str] | None = None,
) -> dict[str, str]:
    """GlobalId → status for the revision's physical elements with geometry (of one storey when given).

    One SQL query over elements ⟕ status ⟕ due date; the classification is a loop over its rows
    (about 15,000 per storey of a 150,000-element building). A past ``today`` reads the statuses
    as believed at the end of that day (:func:`webapp.services.as_of.status_table`)."""
    today = today or dt.date.today()
    status = as_of.status_table(project.id, today)
    storey_elements = None
    if storey_id is not None:
        storey_elements = select(Element.global_id).where(Element.revision_id == revision.id,
                                                          Element.storey_id == storey_id)
    due = _due_dates(session, project, storey_elements)
    columns = [
        Element.global_id,
        Element.tracked_class,
        status.stage,
        status.needs_review,
        due.c.due if due is not None else sa.null(),
        seen_column(status),
    ]
    query = (
        select(*columns)
        .outerjoin(
            status,
            and_(as_of.project_filter(status, project.id), status.global_id == Element.global_id),
        )
        .where(Element.revision_id == revision.id, Element.physical, Element.triangles > 0)
    )
    if due is not None:
        query = query.outerjoin(due, due.c.global_id == Element.global_id)
    if storey_id is not None:
        query = query.where(Element.storey_id == storey_id)
    if only is not None:
        query = query.where(Element.global_id.in_(only))
    return {
        gid: classify_status(cls, stage, review, finish, today, seen=bool(seen))
        for gid, cls, stage, review, finish, seen in session.execute(query)
    }


def assembly_statuses(
    session: Session,
    project: Project,
    revision: ModelRevision,
    today: dt.date | None = None,
    only: list[str] | None = None,
) -> dict[str, str]:
    """GlobalId → status of the revision's assemblies without geometry of their own (an IfcStair):
    :func:`combine_part_statuses` of their tracked parts' statuses, each part due by the later of
    its own tasks' and the assembly's. An assembly without tracked parts is "unobserved" (or
    "untracked" when its own class is). One query for the parts, one for the due dates. A past
    ``today`` reads the parts' statuses as believed then, as :func:`element_statuses` does."""
    today = today or dt.date.today()
    wholes = assemblies.shapeless_assemblies(revision)
    if only is not None:
        wholes = wholes.where(Element.global_id.in_(only))
    own = dict(session.execute(select(Element.global_id, Element.tracked_class).where(
        Element.revision_id == revision.id, Element.global_id.in_(wholes))).all())
    if not own:
        return {}
    parts = assemblies.tracked_parts_query(revision).where(Element.assembly_global_id.in_(wholes))
    members = select(Element.global_id).where(Element.revision_id == revision.id, sa.or_(
        Element.global_id.in_(wholes), Element.assembly_global_id.in_(wholes)))
    due_query = _due_dates(session, project, members)
    due = {} if due_query is None else dict(
        session.execute(select(due_query.c.global_id, due_query.c.due)).all())
    status = as_of.status_table(project.id, today)
    rows = session.execute(
        parts.add_columns(Element.tracked_class, status.stage, status.needs_review, seen_column(status))
        .outerjoin(status, and_(as_of.project_filter(status, project.id), status.global_id == Element.global_id)))
    by_whole: dict[str, list[str]] = {gid: [] for gid in own}
    for whole, part, cls, stage, review, seen in rows:
        dates = [d for d in (due.get(part), due.get(whole)) if d is not None]
        by_whole[whole].append(
            classify_status(cls, stage, review, max(dates, default=None), today, seen=bool(seen)))
    return {gid: combine_part_statuses(parts_status) if parts_status or own[gid] in taxonomy.BY_NAME
            else "untracked" for gid, parts_status in by_whole.items()}


def statuses_of(
    session: Session, project: Project, global_ids: list[str], today: dt.date | None = None
) -> dict[str, str]:
    """GlobalId → status for a few elements of the current revision (a page of a task's elements),
    an assembly without geometry's from its parts (:func:`assembly_statuses`)."""
    from webapp.services.twins import current_revision

    if not global_ids:
        return {}
    revision = current_revision(session, project)
    return {**element_statuses(session, project, revision, today=today, only=global_ids),
            **assembly_statuses(session, project, revision, today=today, only=global_ids)}


def status_counts(statuses: Mapping[str, str]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for status in statuses.values():
        counts[status] += 1
    return counts


#: storey_summaries by (database, revision id, its IFC's hash): a revision's storeys and elements
#: never change after ingest, and counting them is the overview's and plan page's dearest query
#: (~0.1 s at 178,000 elements, bench/scale.py). Bounded; per process.
_SUMMARIES: dict[tuple[str, int, str], list[dict]] = {}
_SUMMARIES_KEPT = 64


def storey_status_key(session: Session, project: Project, revision: ModelRevision, storey,
                      date: dt.date | None = None) -> tuple:
    """What a storey's statuses depend on: the day (lateness), the date viewed (None: today), the
    project's state (revision, schedule version, last status change:
    :func:`webapp.services.reports.project_state`) and its processed captures (their frames are drawn)."""
    captures = session.execute(select(func.count(), func.max(Capture.id)).where(
        Capture.project_id == project.id, Capture.state == "processed")).one()
    return (str(session.get_bind().url), project.id, revision.id, storey.id, dt.date.today().isoformat(),
            date.isoformat() if date else None, *project_state(session, project), tuple(captures))


def storey_summaries(session: Session, revision: ModelRevision) -> list[dict]:
    """Per storey of the revision: id, name, elevation and how many elements have geometry."""
    key = (str(session.get_bind().url), revision.id, revision.sha256)
    if key not in _SUMMARIES:
        if len(_SUMMARIES) >= _SUMMARIES_KEPT:
            _SUMMARIES.pop(next(iter(_SUMMARIES)))
        _SUMMARIES[key] = _count_storeys(session, revision)
    return [dict(summary) for summary in _SUMMARIES[key]]


def _count_storeys(session: Session, revision: ModelRevision) -> list[dict]:
    rows = session.execute(
        select(Storey.id, Storey.name, Storey.elevation, Storey.global_id, func.count(Element.id))
        .outerjoin(Element, and_(Element.storey_id == Storey.id, Element.triangles > 0, Element.physical))
        .where(Storey.revision_id == revision.id)
        .group_by(Storey.id)
        .order_by(Storey.elevation)
    ).all()
    return [{"id": i, "name": n, "elevation": e, "global_id": g, "elements": c} for i, n, e, g, c in rows]


#: storey_coverage by what it depends on (see :func:`storey_status_key`); bounded, per process.
_COVERAGE: dict[tuple, dict[int, dict]] = {}
_COVERAGE_KEPT = 64


def storey_coverage(session: Session, project: Project, revision: ModelRevision) -> dict[int, dict]:
    """Per storey id of the revision: ``elements`` (physical, with geometry), ``seen`` (how many of
    them any capture saw, installed or absent), ``coverage`` (seen / elements, a share in [0, 1],
    None without elements) and ``last_walked`` (aware UTC datetime or None).

    Last walked: the latest of the processed captures walked on that storey (``Capture.storey``)
    and the latest frame that saw one of its elements (captures without a storey count too). One
    grouped query over elements ⟕ statuses and one over captures; kept per process under the
    project's state and its processed captures."""
    captures = session.execute(select(func.count(), func.max(Capture.id)).where(
        Capture.project_id == project.id, Capture.state == "processed")).one()
    key = (str(session.get_bind().url), project.id, revision.id, *project_state(session, project),
           tuple(captures))
    if key not in _COVERAGE:
        if len(_COVERAGE) >= _COVERAGE_KEPT:
            _COVERAGE.pop(next(iter(_COVERAGE)))
        _COVERAGE[key] = _count_coverage(session, project, revision)
    return {k: dict(v) for k, v in _COVERAGE[key].items()}


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored time as aware UTC (SQLite gives naive UTC, PostgreSQL aware)."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _count_coverage(session: Session, project: Project, revision: ModelRevision) -> dict[int, dict]:
    rows = session.execute(
        select(Storey.id, Storey.global_id, func.count(Element.id), func.count(ElementStatus.first_seen),
               func.max(ElementStatus.last_seen))
        .outerjoin(Element, and_(Element.storey_id == Storey.id, Element.revision_id == revision.id,
                                 Element.triangles > 0, Element.physical))
        .outerjoin(ElementStatus, and_(ElementStatus.project_id == project.id,
                                       ElementStatus.global_id == Element.global_id))
        .where(Storey.revision_id == revision.id)
        .group_by(Storey.id, Storey.global_id)
    ).all()
    walked = {gid: _utc(at) for gid, at in session.execute(
        select(Capture.storey_global_id, func.max(Capture.started_at))
        .where(Capture.project_id == project.id, Capture.state == "processed",
               Capture.storey_global_id.is_not(None))
        .group_by(Capture.storey_global_id))}
    out = {}
    for storey_id, storey_gid, elements, seen, last_seen in rows:
        times = [t for t in (walked.get(storey_gid), _utc(last_seen)) if t is not None]
        out[storey_id] = {"elements": elements, "seen": seen,
                          "coverage": seen / elements if elements else None,
                          "last_walked": max(times, default=None)}
    return out


def with_coverage(storeys: list[dict], coverage: Mapping[int, dict]) -> list[dict]:
    """:func:`storey_summaries` rows with each storey's ``seen``, ``coverage`` and ``last_walked``."""
    empty = {"seen": 0, "coverage": None, "last_walked": None}
    return [{**s, **{k: coverage.get(s["id"], empty)[k] for k in empty}} for s in storeys]


def element_detail(
    session: Session, project: Project, revision: ModelRevision, global_id: str, today: dt.date | None = None
) -> dict | None:
    """Everything the element page shows, or None when the revision has no such element."""
    element = session.scalar(
        select(Element).where(Element.revision_id == revision.id, Element.global_id == global_id)
    )
    if element is None:
        return None
    today = today or dt.date.today()
    status = session.scalar(
        select(ElementStatus).where(
            ElementStatus.project_id == project.id, ElementStatus.global_id == global_id
        )
    )
    history = session.scalars(
        select(ElementStatusChange)
        .where(ElementStatusChange.project_id == project.id, ElementStatusChange.global_id == global_id)
        .order_by(ElementStatusChange.changed_at.desc(), ElementStatusChange.id.desc())
        .limit(100)
    ).all()
    version = current_schedule(session, project.id)
    tasks = (
        []
        if version is None
        else session.scalars(
            select(Task)
            .join(TaskElement, TaskElement.task_id == Task.id)
            .where(Task.schedule_id == version.id, TaskElement.global_id == global_id)
            .order_by(Task.planned_start)
        ).all()
    )
    # Both sides, newest first: what saw it installed (the evidence behind a status), then what saw
    # it absent, so a reviewer of a status the belief moved back from sees each.
    evidence = [
        row
        for kind in ("installed", "absent")
        for row in session.execute(
            select(Observation, Frame, Capture.key)
            .join(Frame, Frame.id == Observation.frame_id)
            .join(Capture, Capture.id == Frame.capture_id)
            .where(
                Observation.project_id == project.id,
                Observation.global_id == global_id,
                Observation.kind == kind,
            )
            .order_by(Frame.taken_at.desc(), Observation.confidence.desc())
            .limit(6)
        ).all()
    ]
    not_visible = session.scalar(
        select(func.count())
        .select_from(Observation)
        .where(
            Observation.project_id == project.id,
            Observation.global_id == global_id,
            Observation.kind == "not_visible",
        )
    )
    storey = session.get(Storey, element.storey_id) if element.storey_id else None
    tracked = taxonomy.BY_NAME.get(element.tracked_class or "")
    due = max((t.planned_finish for t in tasks), default=None)
    return {
        "element": element,
        "storey": storey,
        "status_row": status,
        "history": history,
        "tasks": tasks,
        "evidence": evidence,
        "not_visible": not_visible,
        "tracked": tracked,
        "stages": [(k, tracked.stage_name(k)) for k in range(tracked.final_stage + 1)] if tracked else [],
        "status": assembly_statuses(session, project, revision, today, [global_id]).get(global_id)
        or classify_status(
            element.tracked_class,
            status.stage if status else None,
            status.needs_review if status else None,
            due,
            today,
            seen=status_seen(status),
        ),
    }


def review_element(
    session: Session, project: Project, revision: ModelRevision, global_id: str, stage: int, reviewer: str
) -> ElementStatus:
    """A reviewer sets the element's stage (confirming the fused one, or correcting it).

    The decision wins over later fusion (:func:`twin.fusion.fuse_element`'s ``reviewed_stage``)
    and clears the review flag; it is recorded in the history with the reviewer's name."""
    element = session.scalar(
        select(Element).where(Element.revision_id == revision.id, Element.global_id == global_id)
    )
    if element is None:
        raise ReviewError(f"no element {global_id} in revision {revision.number}")
    tracked = taxonomy.BY_NAME.get(element.tracked_class or "")
    if tracked is None:
        raise ReviewError(f"element {global_id} ({element.ifc_class}) is not a tracked class")
    if not 0 <= stage <= tracked.final_stage:
        raise ReviewError(f"stage {stage} is not a stage of a {tracked.name} (0–{tracked.final_stage})")
    now = dt.datetime.now(dt.UTC)
    row = session.scalar(
        select(ElementStatus).where(
            ElementStatus.project_id == project.id, ElementStatus.global_id == global_id
        )
    )
    if row is None:
        row = ElementStatus(
            project_id=project.id, global_id=global_id, stage=0, probability=0.5, reached_at=[]
        )
        session.add(row)
    previous = row.stage or 0
    row.stage, row.reviewed_stage, row.needs_review, row.probability = stage, stage, False, 1.0
    row.updated_at = now
    session.add(
        ElementStatusChange(
            project_id=project.id,
            global_id=global_id,
            stage=stage,
            previous_stage=previous,
            probability=1.0,
            needs_review=False,
            reviewer=reviewer[:200],
            changed_at=now,
        )
    )
    session.commit()
    return row
