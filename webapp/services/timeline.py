"""``sitetwin evaluate --timeline``: a whole project's weeks of captures, scored as the dashboard shows them.

In a scratch data directory and SQLite database: ingest the model; take its 4D schedule (or derive
a trade-order one, :func:`twin.asbuilt.derive_schedule`), moved by whole weeks so that every walk
lies in the past (a camera's timestamps may not lie in the future), and import it as the project's
schedule through :func:`webapp.services.schedules.import_schedule` (a CSV of the leaf tasks), so
progress and slip are the dashboard's. The truth is a seeded :func:`twin.asbuilt.as_built`
history: tasks late and early, elements built out of order, rework.

Then week by week, ``walks_per_week`` walks over storeys chosen as a site team would
(:func:`twin.walks.plan_week`: where the schedule has work this week, plus the storey walked longest
ago), each simulated at the true state of its date and sent through the upload path: the capture is
created from its manifest, its frames stored one by one, and finalising runs the job as a worker
does (``SITETWIN_JOBS=sync``: lease, detector, registration, fusion, report), with the worker's
shared detector (``SITETWIN_DETECTOR`` or the bundled weights).

After every capture the fused statuses in the database are scored against the truth on that date
(:func:`twin.timeline_score.score_snapshots`): precision, recall and F1 of "installed" (stage ≥ 1)
and stage accuracy over the elements any capture has seen so far (visible in a frame by at least the
registration's minimum share); false installs that persist (shown installed at a week's end while
truly not; element-weeks, over every tracked element); latency (days from the true installation to
the first capture after which the status shows it); flags for review and how many were right (the
element truly regressed, or the stage shown before the flag was wrong); the project's percent
complete and slip against the same formula with the true stages; coverage.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from twin.asbuilt import PlannedTask, as_built, derive_schedule, tasks_from_ifc
from twin.timeline_score import Snapshot, score_snapshots
from twin.walks import monday, plan_week, storey_activity, walk_days


def shift_tasks(tasks: Sequence[PlannedTask], days: int) -> list[PlannedTask]:
    delta = dt.timedelta(days=days)
    return [PlannedTask(t.key, t.start + delta, t.finish + delta, t.elements, t.trade, t.storey)
            for t in tasks]


def write_schedule_csv(tasks: Sequence[PlannedTask], path: Path) -> Path:
    """The tasks as a CSV schedule (``docs/schedules.md``): what a planner would import."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "planned_start", "planned_finish", "elements", "trade"])
        for t in tasks:
            writer.writerow([t.key, t.key, t.start.isoformat(), t.finish.isoformat(), ";".join(t.elements),
                             t.trade or ""])
    return path


def evaluate_timeline(model_path: Path, weeks: int = 12, walks_per_week: int = 2, seed: int = 0,
                      frames: int = 8, width: int = 1024, pose_noise: tuple[float, float] = (0.3, 5.0),
                      today: dt.date | None = None, work_dir: Path | None = None,
                      progress: Callable[[int], None] | None = None,
                      collect: list | None = None) -> dict:
    """Run ``weeks`` weeks of ``walks_per_week`` walks on ``model_path`` and score them (see the
    module docstring). Returns the report (plain data, JSON-ready).

    today: the day the run pretends to be (default: the real today); the programme is moved to
    end before it. collect: a list that receives, per capture, the observations stored with their
    truth (:func:`observation_outcomes`), for calibration."""
    from sqlalchemy import select

    from twin.ifc import open_model
    from twin.progress import PlannedWork, percent_complete, rollup
    from vision.observe import MIN_VISIBLE_SHARE
    from vision.render import RenderScene
    from vision.simulate import PoseNoise, simulate_capture
    from webapp import create_app
    from webapp.db import upgrade_to_head
    from webapp.extensions import db
    from webapp.models import Capture, Element, ElementStatus, Task, TaskElement
    from webapp.services.ingest import ingest_model
    from webapp.services.schedules import current_schedule, import_schedule, project_progress
    from webapp.services.twins import current_revision, get_project, load_revision_twin
    from webapp.services.uploads import create_capture, finalise, store_frame

    started = time.perf_counter()
    today = today or dt.date.today()
    scratch = tempfile.TemporaryDirectory(prefix="sitetwin-timeline-") if work_dir is None else None
    root = Path(scratch.name if scratch else work_dir)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{root / 'timeline.sqlite3'}",
                      "SITETWIN_DATA_DIR": str(root / "data"), "SITETWIN_JOBS": "sync"})
    timing = defaultdict(float)
    snapshots: list[Snapshot] = []
    week_ends: list[Snapshot] = []
    walks_done, skipped, frames_done = [], [], 0
    try:
        with app.app_context():
            upgrade_to_head()
            session = db.session
            ingest_model(session, model_path, "timeline", root / "data")
            project = get_project(session, "timeline")
            revision = current_revision(session, project)
            twin = load_revision_twin(revision, root / "data")
            storey_of = {e.global_id: e.storey for e in twin.elements}
            tasks = tasks_from_ifc(open_model(model_path), storey_of)
            schedule_source = "ifc" if tasks else "derived"
            if not tasks:
                tasks = derive_schedule(twin, dt.date(2027, 1, 4))
            # Whole weeks, so that working days stay working days; the last walk before today.
            first_monday = monday(min(t.start for t in tasks))
            target = monday(today) - dt.timedelta(days=7 * (weeks + 1))
            tasks = shift_tasks(tasks, (target - first_monday).days)
            import_schedule(session, root / "data", "timeline",
                            write_schedule_csv(tasks, root / "schedule.csv"))
            tracked = [e.tracked_class if e.physical else None for e in twin.elements]
            history = as_built(twin.global_ids, tracked, [e.storey for e in twin.elements], tasks, seed=seed)
            rows = session.execute(select(Element.global_id, Element.tracked_class, Element.triangles,
                                          Element.physical).where(Element.revision_id == revision.id)).all()
            geometry = {gid for gid, cls, tri, physical in rows if cls and tri and physical}
            scored = np.array([i for i, e in enumerate(twin.elements)
                               if tracked[i] and e.global_id in geometry], dtype=np.int64)
            if not len(scored):
                raise ValueError(f"{model_path.name}: no tracked element with geometry to score")
            scored_ids = [twin.global_ids[i] for i in scored]
            # Every element of the revision, as the dashboard's progress takes them (assemblies too).
            db_tracked = {gid: cls for gid, cls, _, _ in rows}
            version = current_schedule(session, project.id)
            links = defaultdict(list)
            for task_id, gid in session.execute(select(TaskElement.task_id, TaskElement.global_id).join(Task)
                                                .where(Task.schedule_id == version.id)):
                links[task_id].append(gid)
            all_work = [(PlannedWork(t.planned_start, t.planned_finish), links[t.id])
                        for t in version.tasks if links.get(t.id)]
            row_of = {gid: i for i, gid in enumerate(twin.global_ids)}
            install_day = history.reach[scored, 0].copy()
            install_day[np.isin(scored, history.removals.rows)] = np.inf  # rework: latency is undefined
            walkable = [s.global_id for s in twin.storeys
                        if any(e.storey == s.global_id and e.tracked_class for e in twin.elements)]
            if not walkable:
                raise ValueError(f"{model_path.name}: no storey with tracked elements to walk")
            scene = RenderScene(twin)
            min_pixels = MIN_VISIBLE_SHARE * width * width / 2
            seen = np.zeros(len(twin.elements), dtype=bool)
            last_walked: dict[str, int] = {}
            start_monday = monday(target)
            count = 0

            def snapshot(date: dt.date, week: int, state: np.ndarray, progress_figures: bool) -> Snapshot:
                """The fused statuses in the database now, against the truth ``state`` of ``date``."""
                status = {gid: (stage, review) for gid, stage, review in session.execute(
                    select(ElementStatus.global_id, ElementStatus.stage, ElementStatus.needs_review)
                    .where(ElementStatus.project_id == project.id))}
                shown = np.array([status.get(g, (0, False))[0] for g in scored_ids], dtype=np.int64)
                flagged = np.array([bool(status.get(g, (0, False))[1]) for g in scored_ids], dtype=bool)
                snap = Snapshot(date=date, week=week, shown=shown, flagged=flagged,
                                truth=state[scored].astype(np.int64), seen=seen[scored].copy())
                if progress_figures:
                    dashboard = project_progress(session, "timeline", date)["overall"]
                    true_stages = {gid: (cls, int(state[row_of[gid]])) for gid, cls in db_tracked.items()
                                   if gid in row_of}
                    true_roll = rollup(all_work, true_stages, date)
                    snap.percent, snap.slip_days = dashboard["actual_pct"], dashboard["slip_days"]
                    snap.true_percent = round(100 * true_roll.actual, 1)
                    snap.true_slip_days = round(true_roll.slip_days, 2)
                    # The same share over the elements seen so far: perception apart from coverage.
                    seen_ids = [gid for gid in dict.fromkeys(g for _, gids in all_work for g in gids)
                                if gid in row_of and seen[row_of[gid]]]
                    shown_stages = {gid: (db_tracked.get(gid), status.get(gid, (0, False))[0])
                                    for gid in seen_ids}
                    snap.seen_percent = round(100 * percent_complete(seen_ids, shown_stages), 1)
                    snap.true_seen_percent = round(100 * percent_complete(seen_ids, true_stages), 1)
                return snap

            for week in range(weeks):
                week_start = start_monday + dt.timedelta(days=7 * week)
                activity = storey_activity(tasks, week_start, week_start + dt.timedelta(days=6))
                plan = plan_week(walkable, activity, last_walked, walks_per_week, week)
                dates = walk_days(week_start, walks_per_week)
                for j, (storey, date) in enumerate(zip(plan, dates, strict=True)):
                    count += 1
                    state = history.stages_at(date)
                    out = root / "walks" / f"w{week:02d}-{j}"
                    t0 = time.perf_counter()
                    # Where the planned storey has no floor to stand on yet, the team walks the one
                    # walked longest ago that is not walked this week instead.
                    others = sorted((s for s in walkable if s not in plan and last_walked.get(s) != week),
                                    key=lambda s: (last_walked.get(s, -10**6), walkable.index(s)))
                    for candidate in [storey, *others]:
                        try:
                            simulate_capture(
                                twin, state, candidate, out, frames=frames, seed=seed * 1000 + count,
                                width=width, pose_noise=PoseNoise(position_sigma=pose_noise[0],
                                                                  yaw_sigma_deg=pose_noise[1]),
                                start_time=dt.datetime.combine(date, dt.time(9 + j % 8), tzinfo=dt.UTC),
                                render_scene=scene, capture_id=f"timeline-w{week:02d}-{j}")
                            storey = candidate
                            break
                        except ValueError as error:  # no floor to stand on there yet
                            reason = str(error)
                    else:
                        skipped.append({"week": week, "date": date.isoformat(), "reason": reason})
                        if progress is not None:
                            progress(count)
                        continue
                    timing["simulate"] += time.perf_counter() - t0
                    last_walked[storey] = week
                    t0 = time.perf_counter()
                    capture_id = _upload_and_process(session, app.config, project.id, out,
                                                     create_capture, store_frame, finalise)
                    session.expire_all()
                    capture = session.get(Capture, capture_id)
                    if capture.state != "processed":
                        raise RuntimeError(f"capture {capture.key}: {capture.state}: {capture.error}")
                    timing["process"] += time.perf_counter() - t0
                    frames_done += len(capture.frames)
                    truth_doc = json.loads((out / "ground_truth.json").read_text())
                    for frame in truth_doc["frames"]:
                        for gid, px in frame["visible"].items():
                            if px >= min_pixels:
                                seen[row_of[gid]] = True
                    t0 = time.perf_counter()
                    snapshots.append(snapshot(date, week, state, progress_figures=False))
                    timing["score"] += time.perf_counter() - t0
                    walks_done.append({"week": week, "date": date.isoformat(), "storey": storey,
                                       "frames": len(capture.frames)})
                    if collect is not None:
                        collect.extend(observation_outcomes(session, capture, row_of, state, tracked))
                    if progress is not None:
                        progress(count)
                week_end = week_start + dt.timedelta(days=6)
                t0 = time.perf_counter()
                week_ends.append(snapshot(week_end, week, history.stages_at(week_end), progress_figures=True))
                timing["score"] += time.perf_counter() - t0
            storey_names = {s.global_id: s.name for s in twin.storeys}
            db.session.remove()
            db.engine.dispose()
    finally:
        if scratch is not None:
            scratch.cleanup()
    if not snapshots:
        raise ValueError(f"{model_path.name}: no walk could be simulated: no storey has floor underfoot with "
                         "clearance around (a model without slabs, or only services)")
    report = score_snapshots(snapshots, week_ends, install_day, history.epoch)
    for walk in walks_done:
        walk["storey"] = storey_names.get(walk["storey"], walk["storey"])
    truth_summary = {
        "tasks_late": sum(v >= 5 for v in history.slips.values()),
        "tasks_early": sum(v <= -2 for v in history.slips.values()),
        "out_of_order": int(len(history.out_of_order)), "removed": int(len(history.removals.rows)),
        "reinstalled": int(np.isfinite(history.removals.reinstalled).sum()),
    }
    return {
        "model": model_path.name, "schedule": schedule_source, "seed": seed, "weeks": weeks,
        "walks_per_week": walks_per_week, "frames_per_walk": frames, "width": width,
        "first_walk": snapshots[0].date.isoformat(), "last_walk": snapshots[-1].date.isoformat(),
        "elements": int(len(scored)), "storeys": len(walkable), "truth": truth_summary,
        "captures": len(snapshots), "frames": frames_done, "skipped_walks": skipped, "walks": walks_done,
        **report,
        "timing": {k: round(v, 1) for k, v in sorted(timing.items())},
        "seconds": round(time.perf_counter() - started, 1),
    }


def _upload_and_process(session, config, project_id: int, capture_dir: Path, create_capture, store_frame,
                        finalise) -> int:
    """A simulated walk through the camera's upload path: manifest, frames, finalise (which runs
    the job inline, as ``SITETWIN_JOBS=sync`` does). Returns the capture's id."""
    manifest = json.loads((capture_dir / "capture.json").read_text())
    capture, _ = create_capture(session, config, project_id, manifest)
    for index, frame in enumerate(manifest["frames"]):
        with (capture_dir / frame["file"]).open("rb") as stream:
            store_frame(config, capture, index, stream)
    finalise(session, config, capture)
    return capture.id


def observation_outcomes(session, capture, row_of: Mapping[str, int], state: np.ndarray,
                         tracked: Sequence[str | None]) -> list[tuple[str, str, float, bool]]:
    """(class, kind, confidence, whether the claim was right) of every observation of a capture:
    "installed" is right when the element is truly at stage ≥ 1, "absent" when it is at 0."""
    from sqlalchemy import select

    from webapp.models import Frame, Observation

    out = []
    for gid, kind, confidence in session.execute(
            select(Observation.global_id, Observation.kind, Observation.confidence)
            .join(Frame, Frame.id == Observation.frame_id).where(Frame.capture_id == capture.id)):
        row = row_of.get(gid)
        if row is None or tracked[row] is None or kind not in ("installed", "absent"):
            continue
        built = int(state[row]) >= 1
        out.append((tracked[row], kind, float(confidence), built if kind == "installed" else not built))
    return out
