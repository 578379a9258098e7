"""Localise the frames of a capture that carry no pose prior (:mod:`vision.localise`).

The twin they are compared with is the one *expected* on the capture date: what is believed built,
plus the elements of every task the schedule planned finished by then; with neither (a first
capture of a project without a schedule), the whole model. The storeys tried are the capture's
``storey`` where it names one, else the storeys of its frames that have a pose prior, else the
model's only storey: SiteTwin does not tell storeys apart from the frames (storeys of one design
look alike from inside, and the edges compared cannot say which is which), so a capture of a
several-storey model that names no storey is not localised. The capture's ``start`` (a point on
the floor plan, optional heading) weighs the first frame's places.

Storey layouts (the renders at every standing point) cost seconds per storey: they are kept per
(revision, storey, expected state) in this process (:data:`CACHE_SIZE` of them) and on disk under
``<data dir>/cache/layouts``, so a week's captures against one revision and plan compute them once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from vision.frame_file import FrameFileError, decode_frame
from vision.localise import (
    CONFIRMED,
    Hypothesis,
    Localisation,
    StoreyLayout,
    confirm_hypotheses,
    frame_distance,
    frame_hypotheses,
    localise_walk,
    storey_layout,
)
from vision.pose import Pose
from vision.pose_search import edge_distance
from webapp.models import ModelRevision, Task, TaskElement
from webapp.services.schedules import current_schedule

log = logging.getLogger(__name__)

#: Why frames of a capture that names no storey are not localised in a model of several storeys.
STOREY_UNKNOWN = ("the capture names no storey and the model has several, which look alike from inside: "
                  "SiteTwin does not guess one; give the capture's `storey`")
#: Storey layouts kept in this process.
CACHE_SIZE = 12
_cache: OrderedDict[tuple, StoreyLayout | None] = OrderedDict()
_cache_lock = threading.Lock()


def expected_state(session: Session, project_id: int, twin, believed: np.ndarray,
                   date: dt.date) -> np.ndarray:
    """(N,) int8 of the twin's elements: 1 where expected built on ``date`` (believed built, or in
    a task of the current schedule planned to finish by then), else 0; every element where
    nothing is expected at all."""
    expected = np.asarray(believed, bool).copy()
    version = current_schedule(session, project_id)
    if version is not None:
        planned = set(session.scalars(select(TaskElement.global_id).join(Task).where(
            Task.schedule_id == version.id, Task.planned_finish <= date)))
        expected |= np.array([gid in planned for gid in twin.global_ids], bool)
    if not expected.any():
        expected[:] = True
    return expected.astype(np.int8)


def cached_layout(twin, scene, revision: ModelRevision, expected: np.ndarray, storey: str,
                  data_dir: str | os.PathLike | None) -> StoreyLayout | None:
    """:func:`vision.localise.storey_layout`, from this process's cache, the disk cache, or computed."""
    digest = hashlib.blake2b(np.asarray(expected, bool).tobytes(), digest_size=12).hexdigest()
    key = (revision.id, revision.sha256, storey, digest)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    path = (Path(data_dir) / "cache" / "layouts" / f"{revision.sha256[:16]}-{storey}-{digest}.npz"
            if data_dir is not None else None)
    found, layout = _read_layout(path, storey) if path is not None and path.exists() else (False, None)
    if not found:
        layout = storey_layout(twin, scene, expected, storey)
        if path is not None:
            _write_layout(path, layout)
    with _cache_lock:
        _cache[key] = layout
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return layout


def _write_layout(path: Path, layout: StoreyLayout | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    with open(partial, "wb") as out:
        if layout is None:  # nowhere to stand: remembered too
            np.savez(out, none=np.array(True))
        else:
            np.savez(out, elevation=layout.elevation, height=layout.height, points=layout.points,
                     spectra=layout.spectra, boundary=layout.boundary, offsets=layout.offsets)
    partial.replace(path)  # atomic: a reader never sees half a file


def _read_layout(path: Path, storey: str) -> tuple[bool, StoreyLayout | None]:
    """(whether ``path`` held a layout, the layout: None for a storey with nowhere to stand)."""
    try:
        with np.load(path) as data:
            if "none" in data:
                return True, None
            return True, StoreyLayout(storey, float(data["elevation"]), float(data["height"]), data["points"],
                                      data["spectra"], data["boundary"], data["offsets"])
    except (OSError, ValueError, KeyError) as error:  # a damaged cache file is recomputed
        log.warning("layout cache %s unreadable (%s): recomputing", path, error)
        path.unlink(missing_ok=True)
        return False, None


def localise_capture(session: Session, project_id: int, revision: ModelRevision, twin, scene,
                     believed: np.ndarray, capture_dir: str | os.PathLike, manifest, indices: Collection[int],
                     data_dir: str | os.PathLike | None = None, max_pixels: int = 2**62,
                     progress: Callable[[int], None] | None = None) -> tuple[dict[int, Localisation], float]:
    """Localise the frames ``indices`` of the capture (those without a pose prior), as one walk
    with the capture's other frames: a frame with a pose prior is a fixed point of the walk (a
    camera whose tracking dropped out for a while is found between the frames that have one).

    Returns (frame index → :class:`vision.localise.Localisation`, seconds spent on the layouts).
    A frame that cannot be read is left out (registration reports it)."""
    capture_dir = Path(capture_dir)
    wanted = set(indices)
    if not wanted:
        return {}, 0.0
    t0 = time.perf_counter()
    elevations = [(s.elevation, s.global_id) for s in twin.storeys]
    anchored = {_storey_at(elevations, f.pose_prior.z) for f in manifest.frames if f.pose_prior is not None}
    storeys = ([manifest.storey] if manifest.storey else sorted(anchored - {None})
               or [s.global_id for s in twin.storeys if any(e.storey == s.global_id for e in twin.elements)])
    if len(storeys) > 1:
        return {k: Localisation(None, None, 0.0, 0.0, STOREY_UNKNOWN) for k in wanted}, 0.0
    expected = expected_state(session, project_id, twin, believed, manifest.started_at.date())
    try:
        layout = cached_layout(twin, scene, revision, expected, storeys[0], data_dir) if storeys else None
    except ValueError:  # a storey without elements to bound it: nowhere to stand
        layout = None
    layout_seconds = time.perf_counter() - t0
    if layout is None:
        reason = ("the storey named by the capture has nowhere to stand in the state expected on its date"
                  if manifest.storey
                  else "no storey of the model has anywhere to stand in the state expected on its date")
        return {k: Localisation(None, None, 0.0, 0.0, reason) for k in wanted}, layout_seconds
    storey = layout.storey
    built = scene.scene(expected)
    first = manifest.frames[0].timestamp
    seconds_of = [(frame.timestamp - first).total_seconds() for frame in manifest.frames]
    between = _between_priors(manifest, wanted, seconds_of)
    read, hypotheses, seconds = [], [], []
    for k, frame in enumerate(manifest.frames):
        if k not in wanted:
            if frame.pose_prior is not None:  # a fixed point of the walk
                hypotheses.append([Hypothesis(storey, frame.pose_prior, 0.0)])
                seconds.append(seconds_of[k])
                read.append(k)
            continue
        try:
            image = decode_frame((capture_dir / frame.file).read_bytes(), max_pixels)
        except (OSError, FrameFileError):
            continue
        read.append(k)
        found = frame_hypotheses(frame_distance(image), [layout], built, frame.gravity)
        # Between frames with a pose prior, where a steady walk puts it is a place to confirm too.
        seeds = [Hypothesis(storey, between[k][0], 0.0)] if k in between else []
        hypotheses.append(confirm_hypotheses([*seeds, *found], edge_distance(image), built,
                                             CONFIRMED + len(seeds)))
        seconds.append(seconds_of[k])
        if progress is not None:
            progress(len(hypotheses))
    start = (manifest.storey, manifest.start) if manifest.start is not None or manifest.storey else None
    near = [(between[k][0].x, between[k][0].y, between[k][1]) if k in between else None for k in read]
    results = localise_walk(hypotheses, seconds, start, near)
    return {k: found for k, found in zip(read, results, strict=True) if k in wanted}, layout_seconds


def _storey_at(elevations: list[tuple[float, str]], z: float) -> str | None:
    """The storey whose floor is the highest at or below ``z`` minus a helmet's height (metres)."""
    below = [(elevation, gid) for elevation, gid in elevations if elevation <= z - 1.0]
    return max(below)[1] if below else (min(elevations)[1] if elevations else None)


def _between_priors(manifest, wanted: Collection[int], seconds: list[float]) -> dict[int, tuple[Pose, float]]:
    """For each frame of ``wanted`` between two frames with a pose prior: where walking at a
    steady pace between them puts it (position and heading interpolated; pitch and roll its
    gravity's where given) and how far off that may be (metres: 0.3 plus 0.25 a second to the
    nearer of them)."""
    anchors = [(seconds[k], f.pose_prior) for k, f in enumerate(manifest.frames)
               if k not in wanted and f.pose_prior is not None]
    out: dict[int, tuple[Pose, float]] = {}
    for k in wanted:
        t = seconds[k]
        before = [(s, p) for s, p in anchors if s <= t]
        after = [(s, p) for s, p in anchors if s >= t]
        if not before or not after:
            continue
        (t0, a), (t1, b) = before[-1], after[0]
        share = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
        pitch, roll = manifest.frames[k].gravity or (a.pitch + share * (b.pitch - a.pitch),
                                                     a.roll + share * (b.roll - a.roll))
        pose = Pose(a.x + share * (b.x - a.x), a.y + share * (b.y - a.y), a.z + share * (b.z - a.z),
                    a.yaw + share * math.remainder(b.yaw - a.yaw, math.tau), pitch, roll)
        out[k] = (pose, 0.3 + 0.25 * min(t - t0, t1 - t))
    return out
