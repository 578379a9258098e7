"""``sitetwin evaluate``: the whole loop on a simulated site, compared with ground truth.

In a scratch data directory and SQLite database: ingest the model; take its own 4D schedule, or
derive a trade-order one (storey by storey: structure, envelope, partitions, MEP, ceilings,
fixtures); simulate walks at dates spread over the programme (as-built state from the schedule
with seeded slips, pose priors with noise); process them in date order with the real detector,
registration and fusion; then score the fused status after each walk against the truth, over the
elements visible in that walk: per-class precision, recall and F1 of "installed", stage accuracy,
pose error before and after refinement, and time per stage.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sqlalchemy import select

from twin.asbuilt import derive_schedule, stage_timeline, stages_at, tasks_from_ifc
from twin.ifc import open_model
from vision.capture import CaptureError
from vision.observe import MIN_VISIBLE_SHARE
from vision.pose import Pose, wrap_angle
from vision.render import RenderScene
from vision.simulate import PoseNoise, simulate_capture


def _percentile(values, q):
    return float(np.percentile(values, q)) if len(values) else None


def _ratio(num, den):
    return round(num / den, 4) if den else None


def _metrics(tp, fp, fn, stage_ok, samples):
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = round(2 * precision * recall / (precision + recall), 4) if precision and recall else (
        0.0 if precision is not None and recall is not None else None)
    return {"precision": precision, "recall": recall, "f1": f1, "stage_accuracy": _ratio(stage_ok, samples),
            "elements": samples, "tp": tp, "fp": fp, "fn": fn}


def pose_error(pose: Pose, truth: Pose) -> tuple[float, float]:
    """(horizontal position error in centimetres, absolute yaw error in degrees) of ``pose``
    against ``truth``: what the evaluation's pose figures measure."""
    return (100 * math.hypot(pose.x - truth.x, pose.y - truth.y),
            abs(math.degrees(wrap_angle(pose.yaw - truth.yaw))))


def evaluate_model(model_path: Path, detector, walks: int = 3, frames: int = 8, seed: int = 0,
                   pose_noise: tuple[float, float] = (0.3, 5.0), width: int = 1024, refine: bool = True,
                   work_dir: Path | None = None, progress=None, prior: str = "noisy") -> dict:
    """Run the loop on ``model_path`` and score it (see the module docstring). Returns the report.

    prior: what the simulated camera knows of where it is (:func:`vision.simulate.simulate_capture`);
    other than ``noisy``, the report's ``localisation`` says how its frames were localised."""
    from webapp import create_app
    from webapp.db import upgrade_to_head
    from webapp.extensions import db
    from webapp.models import ElementStatus
    from webapp.services.ingest import ingest_model
    from webapp.services.processing import process_capture
    from webapp.services.schedules import import_schedule
    from webapp.services.timeline import write_schedule_csv
    from webapp.services.twins import current_revision, get_project, load_revision_twin

    started = time.perf_counter()
    scratch = tempfile.TemporaryDirectory(prefix="sitetwin-evaluate-") if work_dir is None else None
    root = Path(scratch.name if scratch else work_dir)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{root / 'evaluate.sqlite3'}",
                      "SITETWIN_DATA_DIR": str(root / "data")})
    try:
        with app.app_context():
            upgrade_to_head()
            session = db.session
            ingest_model(session, model_path, "evaluate", root / "data")
            revision = current_revision(session, get_project(session, "evaluate"))
            twin = load_revision_twin(revision, root / "data")
            model = open_model(model_path)
            tasks = tasks_from_ifc(model, {e.global_id: e.storey for e in twin.elements})
            schedule_source = "ifc" if tasks else "derived"
            if not tasks:
                tasks = derive_schedule(twin, dt.date(2027, 1, 4))
            del model
            # The project's schedule, as a site has one (localisation expects what it plans built).
            import_schedule(session, root / "data", "evaluate", write_schedule_csv(tasks, root / "schedule.csv"))
            tracked = [e.tracked_class if e.physical else None for e in twin.elements]
            timeline, epoch = stage_timeline(twin.global_ids, tracked, [e.storey for e in twin.elements], tasks,
                                             seed=seed, slip_sigma_days=2.0)
            span = (max(t.finish for t in tasks) - epoch).days + 1
            scene = RenderScene(twin)
            walkable = [s.global_id for s in twin.storeys
                        if any(e.storey == s.global_id and e.tracked_class for e in twin.elements)]
            if not walkable:
                raise ValueError(f"{model_path.name}: no storey with tracked elements to walk")
            counts = defaultdict(lambda: [0, 0, 0, 0, 0])  # tp, fp, fn, stage_ok, samples
            pose_prior_cm, pose_cm, pose_prior_deg, pose_deg = [], [], [], []
            localised = defaultdict(list)  # without a prior: frames tried, storeys right, errors
            timing = defaultdict(float)
            frames_done = 0
            simulate_seconds = 0.0
            for k in range(walks):
                date = epoch + dt.timedelta(days=int(span * (k + 1) / (walks + 1)))
                state = stages_at(timeline, epoch, date)
                storey = walkable[k % len(walkable)]
                out = root / f"walk-{k}"
                t0 = time.perf_counter()
                try:
                    result = simulate_capture(
                        twin, state, storey, out, frames=frames, seed=seed * 1000 + k, width=width,
                        pose_noise=PoseNoise(position_sigma=pose_noise[0], yaw_sigma_deg=pose_noise[1]),
                        start_time=dt.datetime.combine(date, dt.time(9), tzinfo=dt.UTC), render_scene=scene,
                        capture_id=f"evaluate-{k}", prior=prior)
                except ValueError:  # nothing walkable on that storey yet: try the next date
                    continue
                simulate_seconds += time.perf_counter() - t0
                try:
                    processed = process_capture(session, root / "data", "evaluate", out, detector, refine=refine,
                                                localise=prior != "noisy")
                except CaptureError:
                    if prior == "noisy":
                        raise
                    processed = None  # no frame of the walk localised: it counts as such
                localised["tried"].append(result.frames)
                if processed is None:
                    continue
                localised["timed"].append(result.frames)
                frames_done += processed.frames
                for stage_name, seconds in processed.timing.items():
                    timing[stage_name] += seconds * processed.frames
                for entry in processed.poses:
                    truth_pose = result.true_poses[entry["frame"]]
                    refined_cm, refined_deg = pose_error(Pose.from_list(entry["pose"]), truth_pose)
                    pose_cm.append(refined_cm)
                    pose_deg.append(refined_deg)
                    if entry["prior"] is not None:
                        prior_cm, prior_deg = pose_error(Pose.from_list(entry["prior"]), truth_pose)
                        pose_prior_cm.append(prior_cm)
                        pose_prior_deg.append(prior_deg)
                    if "localisation" in entry:
                        localised["storey_right"].append(entry["localisation"]["storey"] == storey)
                        localised["cm"].append(refined_cm)
                        localised["deg"].append(refined_deg)
                truth = json.loads((out / "ground_truth.json").read_text())
                min_pixels = MIN_VISIBLE_SHARE * width * width / 2
                visible = {gid for frame in truth["frames"] for gid, px in frame["visible"].items() if px >= min_pixels}
                fused = dict(session.execute(select(ElementStatus.global_id, ElementStatus.stage).where(
                    ElementStatus.project_id == revision.project_id)).all())
                for row, element in enumerate(twin.elements):
                    if element.global_id not in visible or tracked[row] is None:
                        continue
                    true_stage, predicted = int(state[row]), int(fused.get(element.global_id, 0))
                    c = counts[tracked[row]]
                    c[0] += true_stage >= 1 and predicted >= 1
                    c[1] += true_stage == 0 and predicted >= 1
                    c[2] += true_stage >= 1 and predicted == 0
                    c[3] += true_stage == predicted
                    c[4] += 1
                if progress is not None:
                    progress(k + 1)
            db.session.remove()
            db.engine.dispose()
    finally:
        if scratch is not None:
            scratch.cleanup()
    if frames_done == 0 and not localised["tried"]:
        raise ValueError(f"{model_path.name}: no walk could be simulated: no storey has floor underfoot with "
                         "clearance around (a model without slabs, or only services)")
    totals = np.sum([v for v in counts.values()], axis=0) if counts else np.zeros(5, int)
    localisation = None
    if prior != "noisy":
        tried = sum(localised["tried"])
        localisation = {
            "prior": prior, "frames": tried, "localised": len(localised["cm"]),
            "localised_share": _ratio(len(localised["cm"]), tried),
            "wrong_storey": int(sum(not right for right in localised["storey_right"])),
            "median_cm": _round(_percentile(localised["cm"], 50)), "p90_cm": _round(_percentile(localised["cm"], 90)),
            "median_deg": _round(_percentile(localised["deg"], 50)),
            "p90_deg": _round(_percentile(localised["deg"], 90)),
            # over the captures processed (one none of whose frames is localised fails untimed)
            "seconds_per_frame": _round(timing["localise"] / max(sum(localised["timed"]), 1), 3),
            "layout_seconds": _round(timing["localise_layouts"], 1),
        }
    per_class = {cls: {**_metrics(*v), "samples": v[4]} for cls, v in sorted(counts.items())}
    return {
        "model": model_path.name,
        "schedule": schedule_source,
        "walks": walks,
        "frames": frames_done,
        "overall": _metrics(*[int(x) for x in totals]),
        "per_class": per_class,
        "pose": {
            "prior_median_cm": _round(_percentile(pose_prior_cm, 50)),
            "prior_median_deg": _round(_percentile(pose_prior_deg, 50)),
            "median_cm": _round(_percentile(pose_cm, 50)), "p90_cm": _round(_percentile(pose_cm, 90)),
            "median_deg": _round(_percentile(pose_deg, 50)), "p90_deg": _round(_percentile(pose_deg, 90)),
        },
        **({"localisation": localisation} if localisation else {}),
        "timing": {**{k: round(v / max(frames_done, 1), 3) for k, v in sorted(timing.items())},
                   "simulate": round(simulate_seconds / max(frames_done, 1), 3)},
        "fps": round(frames_done / max(sum(timing.values()), 1e-9), 3),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _round(value, digits=2):
    return None if value is None else round(value, digits)
