"""Simulated captures of a project: the as-built state on a date from its schedule, then a walk."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from twin.asbuilt import stage_timeline, stages_at, tasks_from_ifc
from twin.ifc import open_model
from twin.model import Twin
from vision.simulate import PoseNoise, simulate_capture
from webapp.services.twins import current_revision, get_project, load_revision_twin, revision_ifc_path


def pick_storey(twin: Twin, storey: str | None) -> str:
    """GlobalId of the storey named or identified by ``storey`` (default: the lowest with elements)."""
    if storey is None:
        used = {e.storey for e in twin.elements if e.storey}
        for record in twin.storeys:
            if record.global_id in used:
                return record.global_id
        raise ValueError("the model has no storey with elements to walk")
    for record in twin.storeys:
        if storey in (record.global_id, record.name):
            return record.global_id
    raise ValueError(f"no storey {storey!r}; the model has: {', '.join(s.name for s in twin.storeys)}")


def asbuilt_state(twin: Twin, ifc_path: Path, date: dt.date, seed: int, slip_sigma: float) -> np.ndarray:
    """(N,) true stage of every element on ``date`` from the model's own 4D schedule."""
    model = open_model(ifc_path)
    tasks = tasks_from_ifc(model, {e.global_id: e.storey for e in twin.elements})
    if not tasks:
        raise ValueError(f"{ifc_path.name}: the model has no dated tasks linked to elements to simulate from")
    timeline, epoch = stage_timeline(twin.global_ids, [e.tracked_class if e.physical else None for e in twin.elements],
                                     [e.storey for e in twin.elements], tasks, seed=seed, slip_sigma_days=slip_sigma)
    return stages_at(timeline, epoch, date)


def simulate_project_capture(session: Session, data_dir: str | os.PathLike, project_name: str, date: dt.date,
                             out_dir: Path, storey: str | None = None, frames: int = 10, seed: int = 0,
                             width: int = 2048, pose_noise: tuple[float, float] = (0.3, 5.0),
                             slip_sigma: float = 3.0, prior: str = "noisy") -> dict:
    revision = current_revision(session, get_project(session, project_name))
    twin = load_revision_twin(revision, data_dir)
    storey_id = pick_storey(twin, storey)
    # The slips are the project's (seeded by the project's revision), not the walk's: every walk of
    # the same project sees the same building on the same date.
    state = asbuilt_state(twin, revision_ifc_path(revision, data_dir), date, seed=revision.number,
                          slip_sigma=slip_sigma)
    result = simulate_capture(twin, state, storey_id, out_dir, frames=frames, seed=seed, width=width,
                              pose_noise=PoseNoise(position_sigma=pose_noise[0], yaw_sigma_deg=pose_noise[1]),
                              start_time=dt.datetime.combine(date, dt.time(9), tzinfo=dt.UTC), prior=prior)
    storey_name = next(s.name for s in twin.storeys if s.global_id == storey_id)
    return {"out": str(out_dir), "frames": result.frames, "storey": storey_name, "storey_global_id": storey_id,
            "date": date.isoformat(), "path_length_m": round(result.path_length, 2), "project": project_name,
            "revision": revision.number, "prior": prior}
