"""Process a capture: detect → register → observe → fuse, stored in one transaction.

Re-processing a capture that is already processed changes nothing; a crash mid-way leaves no half
capture (everything is written at the end, in one transaction); observations are unique per
(frame, element), so a retried job cannot duplicate them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from twin import taxonomy
from twin.fusion import Observation as FusionObservation
from twin.fusion import fuse
from twin.ifc import file_sha256
from vision.capture import CaptureError, read_capture
from vision.register import RegistrationResult, register_frame
from vision.render import RenderScene
from webapp.models import Capture, ElementStatus, ElementStatusChange, Frame, Observation
from webapp.services.twins import current_revision, get_project, load_revision_twin


@dataclass
class ProcessResult:
    """What ``sitetwin process --json`` prints."""

    project: str
    capture: str
    frames: int
    unchanged: bool = False
    observations: dict[str, int] = field(default_factory=dict)
    status_changes: int = 0
    seconds: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)
    poses: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _store_frame(source: Path, sha256: str, data_dir: Path) -> str:
    relative = f"frames/{sha256[:2]}/{sha256}{source.suffix.lower()}"
    target = data_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return relative


def believed_built(session: Session, project_id: int, global_ids: list[str]) -> np.ndarray:
    """(N,) bool: elements whose fused status says built (stage ≥ 1)."""
    built = set(session.scalars(select(ElementStatus.global_id).where(
        ElementStatus.project_id == project_id, ElementStatus.stage >= 1)))
    return np.fromiter((g in built for g in global_ids), dtype=bool, count=len(global_ids))


def refuse(session: Session, project_id: int, global_ids: set[str], final_stages: dict[str, int],
           capture_id: int | None, at: dt.datetime | None = None) -> int:
    """Fuse all observations of ``global_ids`` in the project and store statuses; returns changes.

    ``at``: when the change happened on site (the capture's time), recorded in the history."""
    rows = session.execute(
        select(Observation.global_id, Frame.id, Frame.taken_at, Observation.kind, Observation.stage,
               Observation.confidence, Observation.region)
        .join(Frame, Frame.id == Observation.frame_id)
        .where(Observation.project_id == project_id, Observation.global_id.in_(global_ids))
    ).all()
    observations = [FusionObservation(g, str(fid), at if at.tzinfo else at.replace(tzinfo=dt.UTC), kind, stage,
                                      confidence, tuple(region) if region else None)
                    for g, fid, at, kind, stage, confidence, region in rows]
    current = {s.global_id: s for s in session.scalars(select(ElementStatus).where(
        ElementStatus.project_id == project_id, ElementStatus.global_id.in_(global_ids)))}
    reviewed = {g: s.reviewed_stage for g, s in current.items() if s.reviewed_stage is not None}
    fused = fuse(observations, {g: final_stages[g] for g in global_ids}, reviewed)
    changes = 0
    for gid, status in fused.items():
        row = current.get(gid)
        if row is None:
            row = ElementStatus(project_id=project_id, global_id=gid, stage=0, probability=0.5)
            session.add(row)
        previous = row.stage if row.id is not None else 0
        changed = row.id is None or row.stage != status.stage or row.needs_review != status.needs_review
        row.stage, row.probability = status.stage, status.probability
        row.first_seen, row.last_seen = status.first_seen, status.last_seen
        row.reached_at = [t.isoformat() for t in status.reached_at]
        row.needs_review = status.needs_review
        row.updated_at = dt.datetime.now(dt.UTC)
        if changed and (status.stage != previous or status.needs_review):
            session.add(ElementStatusChange(project_id=project_id, global_id=gid, stage=status.stage,
                                            previous_stage=previous, probability=status.probability,
                                            needs_review=status.needs_review, capture_id=capture_id,
                                            changed_at=at or dt.datetime.now(dt.UTC)))
            changes += 1
    return changes


@dataclass
class RegisteredFrame:
    """One frame's result: what :func:`register_frames` computes and :func:`process_capture` stores.

    Plain data (:meth:`to_dict`), so chunks of a capture can be registered by other workers."""

    index: int
    sha256: str
    shape: tuple[int, int]
    result: RegistrationResult
    timing: dict[str, float]

    def to_dict(self) -> dict:
        return {"index": self.index, "sha256": self.sha256, "shape": list(self.shape),
                "result": self.result.to_dict(), "timing": self.timing}

    @classmethod
    def from_dict(cls, data: dict) -> RegisteredFrame:
        return cls(data["index"], data["sha256"], tuple(data["shape"]), RegistrationResult.from_dict(data["result"]),
                   data["timing"])


def capture_context(session: Session, data_dir: str | os.PathLike, project_name: str):
    """(project, revision, twin, scene, believed-built mask) that frames of a capture register against."""
    project = get_project(session, project_name)
    revision = current_revision(session, project)
    twin = load_revision_twin(revision, data_dir)
    return project, revision, twin, RenderScene(twin), believed_built(session, project.id, twin.global_ids)


def register_frames(twin, scene, believed: np.ndarray, capture_dir: str | os.PathLike, manifest, indices,
                    detector, refine: bool = True, progress: Callable[[int], None] | None = None
                    ) -> list[RegisteredFrame]:
    """Read, detect and register the frames ``indices`` of a capture (any subset: a chunk)."""
    from vision.detect import detect_frame

    capture_dir = Path(capture_dir)
    detect = detector.detect if hasattr(detector, "detect") else (lambda image: detect_frame(image, detector))
    out = []
    for done, k in enumerate(indices, start=1):
        frame = manifest.frames[k]
        t0 = time.perf_counter()
        path = capture_dir / frame.file
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or image.shape[1] != 2 * image.shape[0]:
            raise CaptureError(f"{path}: frame {k} is not a readable 2:1 panorama")
        image = image[..., ::-1]
        t1 = time.perf_counter()
        detections = detect(image)
        t2 = time.perf_counter()
        result = register_frame(twin, scene, image, frame.pose_prior, believed, detections, refine=refine,
                                reliability=getattr(detector, "reliability", None))
        t3 = time.perf_counter()
        out.append(RegisteredFrame(k, file_sha256(path), image.shape[:2], result,
                                   {"read": t1 - t0, "detect": t2 - t1, "register": t3 - t2}))
        if progress is not None:
            progress(done)
    return out


def process_capture(session: Session, data_dir: str | os.PathLike, project_name: str, capture_dir: str | os.PathLike,
                    detector, refine: bool = True, progress: Callable[[int], None] | None = None,
                    registered: list[RegisteredFrame] | None = None) -> ProcessResult:
    """Process the capture in ``capture_dir`` for ``project_name`` (see the module docstring).

    detector: a :class:`vision.detect.Detector`, or any object with ``detect(image) -> list[Detection]``.
    registered: the frames already registered elsewhere (chunks on other workers), in any order;
    the rest are registered here. Raises :class:`vision.capture.CaptureError` for a malformed
    capture, before anything is written.
    """
    started = time.perf_counter()
    data_dir = Path(data_dir)
    capture_dir = Path(capture_dir)
    manifest = read_capture(capture_dir)
    project = get_project(session, project_name)
    hashes = [file_sha256(capture_dir / f.file) for f in manifest.frames]
    existing = session.scalar(select(Capture).where(Capture.project_id == project.id,
                                                    Capture.key == manifest.capture_id))
    if existing is not None and existing.state == "processed":
        stored = [f.sha256 for f in existing.frames]
        if stored != hashes:
            raise CaptureError(f"{capture_dir}: capture {manifest.capture_id!r} was already processed with "
                               "other frames; give a new capture a new capture_id")
        return ProcessResult(project.name, manifest.capture_id, len(stored), unchanged=True,
                             seconds=round(time.perf_counter() - started, 3))
    project, revision, twin, scene, believed = capture_context(session, data_dir, project_name)
    done = {r.index: r for r in registered or ()}
    if any(done[k].sha256 != hashes[k] for k in done if k < len(hashes)) or any(k >= len(hashes) for k in done):
        raise CaptureError(f"{capture_dir}: registered frames do not match the capture's files")
    missing = [k for k in range(len(manifest.frames)) if k not in done]
    for frame in register_frames(twin, scene, believed, capture_dir, manifest, missing, detector, refine,
                                 progress):
        done[frame.index] = frame
    timing = Counter()
    for frame in done.values():
        timing.update(frame.timing)
    registered = [(manifest.frames[k], done[k].sha256, done[k].shape, done[k].result) for k in sorted(done)]

    t4 = time.perf_counter()
    try:
        if existing is not None:  # a capture left queued or failed: start it again from scratch
            session.execute(delete(Frame).where(Frame.capture_id == existing.id))
            capture = existing
        else:
            capture = Capture(project_id=project.id, key=manifest.capture_id)
            session.add(capture)
        capture.revision_id = revision.id
        capture.device = manifest.device
        capture.storey_global_id = manifest.storey
        capture.started_at = manifest.started_at
        session.flush()
        counts = Counter()
        touched: set[str] = set()
        observation_rows = []
        for frame, sha256, shape, result in registered:
            row = Frame(capture_id=capture.id, index=frame.index, file=_store_frame(capture_dir / frame.file, sha256,
                                                                                    data_dir),
                        sha256=sha256, taken_at=frame.timestamp, width=shape[1], height=shape[0],
                        pose_prior=frame.pose_prior.as_list(), pose=result.pose.as_list(),
                        registration={"score": result.score, "prior_score": result.prior_score})
            session.add(row)
            session.flush()
            for obs in result.observations:
                gid = twin.elements[obs.row].global_id
                counts[obs.kind] += 1
                if obs.kind != "not_visible":
                    touched.add(gid)
                observation_rows.append(Observation(
                    project_id=project.id, frame_id=row.id, global_id=gid, kind=obs.kind, stage=obs.stage,
                    confidence=obs.confidence, visible_pixels=obs.visible_pixels,
                    region=list(obs.region) if obs.region else None))
        session.add_all(observation_rows)
        session.flush()
        final_stages = {e.global_id: taxonomy.BY_NAME[e.tracked_class].final_stage
                        for e in twin.elements if e.tracked_class}
        changes = refuse(session, project.id, touched, final_stages, capture.id, manifest.started_at) if touched else 0
        timing["fuse"] += time.perf_counter() - t4
        capture.state, capture.progress, capture.error = "processed", 1.0, None
        frames = len(registered) or 1
        capture.stats = {"timing_per_frame": {k: round(v / frames, 3) for k, v in timing.items()},
                         "observations": dict(counts), "status_changes": changes}
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ProcessResult(
        project.name, manifest.capture_id, len(registered), observations=dict(counts), status_changes=changes,
        seconds=round(time.perf_counter() - started, 2),
        timing={k: round(v / max(len(registered), 1), 3) for k, v in timing.items()},
        poses=[{"frame": f.index, "prior": f.pose_prior.as_list(), "pose": r.pose.as_list()} for f, _, _, r in registered],
    )

