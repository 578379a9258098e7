"""Dashboard views: parse the request, call a service, render. Numbers come from services."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from flask import Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, func, select

from webapp.auth.access import can, project_view
from webapp.dashboard import bp, charts
from webapp.dashboard.files import storey_glb_file, storey_plan_file
from webapp.extensions import db
from webapp.models import (
    Alert,
    Capture,
    Element,
    ElementStatus,
    Frame,
    Membership,
    ModelRevision,
    Observation,
    ProgressReport,
    Project,
    ScheduleVersion,
    Storey,
    Task,
    TaskElement,
)
from webapp.services import as_of
from webapp.services import elements as element_service
from webapp.services.evidence import evidence_jpeg
from webapp.services.reports import progress_report
from webapp.services.schedules import current_schedule
from webapp.services.twins import NotFound, current_revision
from webapp.services.uploads import capture_status
from webapp.storage import storage

PAGE_SIZE = 50


def paginate(query, scalars: bool = False) -> dict:
    """One page (``?page=N``, from 1) of ``query``: ``rows``, ``page``, ``pages``, ``total``.

    ``page`` is clamped to 1..pages: a page number past the end (``?page=99999999999999999999``)
    shows the last page rather than overflowing the database's OFFSET."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    run = db.session.scalars if scalars else db.session.execute
    rows = run(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return {"rows": rows, "page": page, "pages": pages, "total": total}


@bp.app_context_processor
def inject_helpers():
    return {"can": lambda needed: can(getattr(g, "role", None), needed), "STATUSES": element_service.STATUSES,
            "view_date": getattr(g, "view_date", None), "today": dt.date.today()}


def view_date() -> dt.date | None:
    """The page's ``?date=YYYY-MM-DD``: None for none or today (the current statuses), a past date
    for the statuses as believed then (kept in ``g.view_date`` for the date picker and the links).
    400 for a date that does not parse or lies in the future."""
    raw = request.args.get("date", "").strip()
    if not raw:
        return None
    try:
        date = dt.date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        date = None
    if date is None:
        abort(400, description=f"date {raw[:40]!r} is not a date (YYYY-MM-DD)")
    if date > dt.date.today():
        abort(400, description=f"date {date.isoformat()} is in the future: statuses exist up to today")
    if date == dt.date.today():
        return None
    g.view_date = date
    return date


@bp.get("/")
def index():
    return redirect(url_for("dashboard.projects"))


@bp.get("/projects")
@login_required
def projects():
    rows = db.session.execute(
        select(Project, Membership.role, ProgressReport.report)
        .join(Membership, and_(Membership.project_id == Project.id, Membership.user_id == current_user.id))
        .outerjoin(ProgressReport, ProgressReport.project_id == Project.id)
        .order_by(Project.name)
    ).all()
    return render_template("dashboard/projects.html", rows=rows)


def _revision_or_none(project: Project) -> ModelRevision | None:
    try:
        return current_revision(db.session, project)
    except NotFound:
        return None


@bp.get("/projects/<int:project_id>")
@project_view()
def overview(project_id: int):
    project = g.project
    date = view_date()
    revision = _revision_or_none(project)
    report = progress_report(db.session, project, date)
    slipping = sorted(
        (t for t in (report or {}).get("tasks", []) if t["status"] == "behind"), key=lambda t: -t["slip_days"]
    )
    captures = db.session.scalars(
        select(Capture).where(Capture.project_id == project_id).order_by(Capture.started_at.desc()).limit(8)
    ).all()
    alerts = db.session.scalars(
        select(Alert)
        .where(Alert.project_id == project_id, Alert.state == "open")
        .order_by(Alert.opened_at.desc())
        .limit(10)
    ).all()
    storeys = element_service.storey_summaries(db.session, revision) if revision else []
    if revision:
        storeys = element_service.with_coverage(
            storeys, element_service.storey_coverage(db.session, project, revision))
    schedule = current_schedule(db.session, project_id)
    to_review = as_of.review_count(db.session, project_id, date)
    return render_template(
        "dashboard/overview.html",
        project=project,
        revision=revision,
        report=report,
        chart=charts.s_curve_svg(report) if report else None,
        slipping=slipping[:20],
        slipping_total=len(slipping),
        captures=captures,
        alerts=alerts,
        storeys=storeys,
        schedule=schedule,
        to_review=to_review,
    )


def _storey(project: Project, storey_id: int) -> tuple[ModelRevision, Storey]:
    """The storey of the project's current revision (404 for another project's or an old revision's)."""
    revision = _revision_or_none(project)
    storey = db.session.get(Storey, storey_id) if 0 < storey_id < 2**31 else None
    if revision is None or storey is None or storey.revision_id != revision.id:
        abort(404)
    return revision, storey


def _storey_page(template: str, storey_id: int) -> str:
    """A page about one storey of the current revision, with the other storeys to switch to."""
    view_date()
    revision, storey = _storey(g.project, storey_id)
    storeys = element_service.with_coverage(element_service.storey_summaries(db.session, revision),
                                            element_service.storey_coverage(db.session, g.project, revision))
    current = next(s for s in storeys if s["id"] == storey.id)
    return render_template(template, project=g.project, storey=storey, storeys=storeys, coverage=current)


@bp.get("/projects/<int:project_id>/storeys/<int:storey_id>/plan")
@project_view()
def plan(project_id: int, storey_id: int):
    return _storey_page("dashboard/plan.html", storey_id)


@bp.get("/projects/<int:project_id>/storeys/<int:storey_id>/plan.svg")
@project_view()
def plan_svg(project_id: int, storey_id: int):
    revision, storey = _storey(g.project, storey_id)
    path = storey_plan_file(current_app.config, revision, storey)
    return _cached_file(path, "image/svg+xml")


@bp.get("/projects/<int:project_id>/storeys/<int:storey_id>/model.glb")
@project_view()
def storey_glb(project_id: int, storey_id: int):
    revision, storey = _storey(g.project, storey_id)
    return _cached_file(storey_glb_file(current_app.config, revision, storey), "model/gltf-binary")


def _revalidated(body: bytes, mimetype: str, etag: str) -> Response:
    """``body`` with an ETag; the browser revalidates it on every use (304 when unchanged)."""
    response = Response(body, mimetype=mimetype)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


def _cached_file(path: Path, mimetype: str) -> Response:
    """A derived file that never changes for its revision."""
    stat = path.stat()
    return _revalidated(path.read_bytes(), mimetype, f"{path.name}-{stat.st_size}-{int(stat.st_mtime)}")


@bp.get("/projects/<int:project_id>/storeys/<int:storey_id>/status.json")
@project_view()
def storey_status(project_id: int, storey_id: int):
    """Element statuses of a storey and where frames were taken, for the plan and the 3D view.

    The body only changes with a status change, a capture, a schedule or a day: it is kept per
    process under a key naming those (a few cheap index lookups), so a plan viewed by many is
    computed once, and the browser revalidates it by ETag."""
    date = view_date()
    revision, storey = _storey(g.project, storey_id)
    key = element_service.storey_status_key(db.session, g.project, revision, storey, date)
    body = _STATUS_BODIES.get(key)
    if body is None:
        body = json.dumps(_storey_status_body(project_id, revision, storey, date),
                          separators=(",", ":")).encode()
        if len(_STATUS_BODIES) >= _STATUS_BODIES_KEPT:
            _STATUS_BODIES.pop(next(iter(_STATUS_BODIES)))
        _STATUS_BODIES[key] = body
    return _revalidated(body, "application/json", hashlib.sha256(repr(key).encode()).hexdigest()[:32])


#: status.json bodies by key (see storey_status); bounded, per process.
_STATUS_BODIES: dict[tuple, bytes] = {}
_STATUS_BODIES_KEPT = 64


def _storey_status_body(project_id: int, revision: ModelRevision, storey: Storey,
                        date: dt.date | None) -> dict:
    """Statuses (as believed at the end of ``date`` when given) and the frames taken by then."""
    statuses = element_service.element_statuses(db.session, g.project, revision, storey.id, today=date)
    taken_by = [] if date is None else [Frame.taken_at < as_of.end_of_day(date)]
    frames = db.session.execute(
        select(Frame.id, Frame.capture_id, Frame.index, Frame.pose, Capture.key)
        .join(Capture, Capture.id == Frame.capture_id)
        .where(
            Capture.project_id == project_id,
            Capture.storey_global_id == storey.global_id,
            Capture.state == "processed",
            *taken_by,
        )
        .order_by(Capture.started_at.desc(), Frame.index)
        .limit(2000)
    ).all()
    return {
        "as_of": date.isoformat() if date else None,
        "colors": {k: c for k, (_, c) in element_service.STATUSES.items()},
        "labels": {k: label for k, (label, _) in element_service.STATUSES.items()},
        "elements": statuses,
        "counts": element_service.status_counts(statuses),
        "coverage": _coverage_json(element_service.storey_coverage(db.session, g.project, revision)
                                   .get(storey.id)),
        "frames": [
            {"id": fid, "capture": key, "capture_id": cid, "index": index, "x": pose[0], "y": pose[1]}
            for fid, cid, index, pose, key in frames
            if pose
        ],
    }


def _coverage_json(coverage: dict | None) -> dict | None:
    """A storey's coverage (:func:`element_service.storey_coverage`) as JSON: last walked in ISO 8601."""
    if coverage is None:
        return None
    walked = coverage["last_walked"]
    return {**coverage, "last_walked": walked.isoformat() if walked else None}


@bp.get("/projects/<int:project_id>/storeys/<int:storey_id>/3d")
@project_view()
def model3d(project_id: int, storey_id: int):
    return _storey_page("dashboard/model3d.html", storey_id)


@bp.get("/projects/<int:project_id>/elements/<global_id>")
@project_view()
def element(project_id: int, global_id: str):
    revision = _revision_or_none(g.project)
    detail = element_service.element_detail(db.session, g.project, revision, global_id) if revision else None
    if detail is None:
        abort(404)
    return render_template("dashboard/element.html", project=g.project, revision=revision, **detail)


@bp.post("/projects/<int:project_id>/elements/<global_id>/review")
@project_view("manager")
def review(project_id: int, global_id: str):
    revision = _revision_or_none(g.project)
    if revision is None:
        abort(404)
    try:
        stage = int(request.form.get("stage", ""))
        element_service.review_element(
            db.session, g.project, revision, global_id, stage, current_user.name or current_user.email
        )
    except (ValueError, element_service.ReviewError) as error:
        flash(f"Not saved: {error}", "error")
        return redirect(url_for("dashboard.element", project_id=project_id, global_id=global_id)), 303
    flash("Review saved: this stage now stands until a reviewer changes it.", "info")
    return redirect(url_for("dashboard.element", project_id=project_id, global_id=global_id), 303)


@bp.get("/projects/<int:project_id>/observations/<int:observation_id>/evidence.jpg")
@project_view()
def evidence(project_id: int, observation_id: int):
    observation = db.session.get(Observation, observation_id) if observation_id < 2**31 else None
    if observation is None or observation.project_id != project_id:
        abort(404)
    frame = db.session.get(Frame, observation.frame_id)
    try:  # fetched from the shared storage when this host has no copy
        path = storage(current_app.config).local(frame.file)
    except FileNotFoundError:
        abort(404)
    response = Response(evidence_jpeg(path, observation.region), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.get("/projects/<int:project_id>/captures")
@project_view()
def captures(project_id: int):
    query = (
        select(Capture, func.count(Frame.id))
        .outerjoin(Frame, Frame.capture_id == Capture.id)
        .where(Capture.project_id == project_id)
        .group_by(Capture.id)
        .order_by(Capture.created_at.desc(), Capture.id.desc())
    )
    return render_template("dashboard/captures.html", project=g.project, **paginate(query))


@bp.get("/projects/<int:project_id>/captures.json")
@project_view()
def captures_json(project_id: int):
    """Processing progress of the project's unfinished and latest captures (the captures page polls it)."""
    rows = db.session.scalars(
        select(Capture)
        .where(Capture.project_id == project_id)
        .order_by(Capture.created_at.desc(), Capture.id.desc())
        .limit(PAGE_SIZE)
    ).all()
    return jsonify({"captures": [capture_status(current_app.config, capture) for capture in rows]})


@bp.get("/projects/<int:project_id>/alerts")
@project_view()
def alerts(project_id: int):
    state = request.args.get("state") if request.args.get("state") in ("open", "resolved") else None
    query = select(Alert).where(Alert.project_id == project_id)
    if state:
        query = query.where(Alert.state == state)
    query = query.order_by(Alert.opened_at.desc(), Alert.id.desc())
    page = paginate(query, scalars=True)
    return render_template("dashboard/alerts.html", project=g.project, state=state, **page)


@bp.get("/projects/<int:project_id>/schedule")
@project_view()
def schedule(project_id: int):
    """Every task with its progress (the overview shows only the slipping ones)."""
    report = progress_report(db.session, g.project, view_date()) or {"tasks": []}
    status = request.args.get("status")
    tasks = [t for t in report["tasks"] if not status or t["status"] == status]
    versions = db.session.scalars(
        select(ScheduleVersion)
        .where(ScheduleVersion.project_id == project_id)
        .order_by(ScheduleVersion.number.desc())
    ).all()
    return render_template(
        "dashboard/schedule.html",
        project=g.project,
        tasks=tasks,
        status=status,
        versions=versions,
        report=report,
        chart=charts.s_curve_svg(report) if report.get("s_curve") else None,
    )


@bp.get("/projects/<int:project_id>/tasks/<path:task_key>")
@project_view()
def task(project_id: int, task_key: str):
    """One task: progress, slip, forecast, and its elements with their status (alert links land here)."""
    version = current_schedule(db.session, project_id)
    found = version and db.session.scalar(
        select(Task).where(Task.schedule_id == version.id, Task.key == task_key)
    )
    if not found:
        abort(404)
    date = view_date()
    report = progress_report(db.session, g.project, date) or {"tasks": []}
    numbers = next((t for t in report["tasks"] if t["id"] == task_key), None)
    revision = _revision_or_none(g.project)
    members = select(TaskElement.global_id).where(TaskElement.task_id == found.id)
    page = paginate(
        select(Element.global_id, Element.name, Element.ifc_class, Element.tracked_class)
        .where(Element.revision_id == (revision.id if revision else -1), Element.global_id.in_(members))
        .order_by(Element.global_id)
    )
    statuses = element_service.statuses_of(db.session, g.project, [r.global_id for r in page["rows"]],
                                           today=date)
    return render_template(
        "dashboard/task.html", project=g.project, task=found, numbers=numbers, statuses=statuses, **page
    )


@bp.get("/projects/<int:project_id>/review")
@project_view()
def review_queue(project_id: int):
    """Elements whose later frames contradict their stage: a reviewer confirms or corrects each."""
    revision = _revision_or_none(g.project)
    query = (
        select(ElementStatus, Element.name, Element.ifc_class, Storey.name.label("storey"))
        .join(Element, and_(Element.global_id == ElementStatus.global_id,
                            Element.revision_id == (revision.id if revision else -1)))
        .outerjoin(Storey, Storey.id == Element.storey_id)
        .where(ElementStatus.project_id == project_id, ElementStatus.needs_review)
        .order_by(ElementStatus.updated_at.desc(), ElementStatus.id)
    )
    return render_template("dashboard/review.html", project=g.project, **paginate(query))
