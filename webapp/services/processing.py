"""Process a capture: localise → detect → register → observe → fuse, stored in one transaction.

Re-processing a capture that is already processed changes nothing; a crash mid-way leaves no half
capture (everything is written at the end, in one transaction); observations are unique per
(frame, element), so a retried job cannot duplicate them.

A frame without a pose prior is first localised against the twin (:mod:`webapp.services.localisation`):
the frames without one are one walk, whose places the walk's continuity decides. A frame that
cannot be localised (ambiguous, or nothing like the twin) makes no observation (never a guess)
and the capture lists it, with why, in ``stats["not_localised_frames"]``; a capture of which no
frame is localised fails with a message saying so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from twin import taxonomy
from twin.fusion import KIND_CODES, fuse_arrays
from twin.ifc import file_sha256
from vision.capture import CaptureError, read_capture
from vision.frame_file import FrameFileError, decode_frame
from vision.localise import Localisation
from vision.pose import Pose
from vision.register import RegistrationResult, register_frame
from vision.render import RenderScene
from webapp.models import Capture, ElementStatus, ElementStatusChange, Frame, Observation, Project
from webapp.services.localisation import localise_capture
from webapp.services.twins import current_revision, get_project, load_revision_twin, unknown_storey
from webapp.storage import storage_at


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
    skipped_frames: list[dict] = field(default_factory=list)
    not_localised_frames: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _store_frame(source: Path, sha256: str, data_dir: Path) -> str:
    relative = f"frames/{sha256[:2]}/{sha256}{source.suffix.lower()}"
    store = storage_at(data_dir)  # the data directory, or the bucket every host shares
    if not store.exists(relative):
        store.put_file(relative, source)
    return relative


def believed_built(session: Session, project_id: int, global_ids: list[str]) -> np.ndarray:
    """(N,) bool: elements whose fused status says built (stage ≥ 1)."""
    built = set(session.scalars(select(ElementStatus.global_id).where(
        ElementStatus.project_id == project_id, ElementStatus.stage >= 1)))
    return np.fromiter((g in built for g in global_ids), dtype=bool, count=len(global_ids))


#: Above this many GlobalIds (or frames) a query reads the whole project's rows and filters them here
#: instead of binding an IN list: PostgreSQL takes at most 65,535 bound parameters per statement.
IN_LIMIT = 5000

#: Frames read and queued for the detector ahead of the one being registered. With one, the
#: detector sat idle whenever a frame took longer to register than the next took to detect.
DETECT_AHEAD = 2


def _matching(session: Session, query, column, values: Collection) -> list:
    """Rows of ``query`` whose ``column`` is in ``values`` (the query already limited to a project);
    ``column`` must be the query's first column."""
    if len(values) <= IN_LIMIT:
        return session.execute(query.where(column.in_(values))).all() if values else []
    wanted = values if isinstance(values, (set, frozenset, dict)) else set(values)
    return [row for row in session.execute(query) if row[0] in wanted]


def refuse(session: Session, project_id: int, global_ids: set[str], final_stages: dict[str, int],
           capture_id: int | None, at: dt.datetime | None = None) -> int:
    """Fuse all observations of ``global_ids`` in the project and store statuses; returns changes.

    ``at``: when the change happened on site (the capture's time), recorded in the history. The fit
    is :func:`twin.fusion.fuse_arrays` (the reference :func:`twin.fusion.fuse`, vectorised); rows are
    read as plain tuples and written in bulk, so a whole project's million observations re-fuse in
    seconds. A status that goes to a lower stage is always flagged for review (on the status and
    in the history row), and stays flagged until a reviewer decides or the element is seen back at
    the highest stage its history recorded."""
    ids = sorted(global_ids)
    index = {g: k for k, g in enumerate(ids)}
    rows = _matching(session, select(Observation.global_id, Observation.frame_id, Observation.kind, Observation.stage,
                                     Observation.confidence).where(Observation.project_id == project_id),
                     Observation.global_id, index)
    if rows:
        gid, frame, kind, stage, confidence = zip(*rows, strict=True)
    else:
        gid = frame = kind = stage = confidence = ()
    frame = np.array(frame, dtype=np.int64)
    frame_ids = np.unique(frame)
    taken = dict(_matching(session, select(Frame.id, Frame.taken_at).join(Capture, Capture.id == Frame.capture_id)
                           .where(Capture.project_id == project_id), Frame.id, frame_ids.tolist()))
    frame_times = np.array([_naive_utc(taken[f]) for f in frame_ids.tolist()], dtype="datetime64[us]")
    current = {row.global_id: row for row in _matching(
        session, select(ElementStatus.global_id, ElementStatus.id, ElementStatus.stage, ElementStatus.needs_review,
                        ElementStatus.reviewed_stage).where(ElementStatus.project_id == project_id),
        ElementStatus.global_id, index)}
    fused = fuse_arrays(
        np.array([index[g] for g in gid], dtype=np.int64), frame,
        frame_times[np.searchsorted(frame_ids, frame)] if len(frame) else np.zeros(0, dtype="datetime64[us]"),
        np.array([KIND_CODES[k] for k in kind], dtype=np.int64), np.array(stage, dtype=np.int64),
        np.array(confidence, dtype=float), np.array([final_stages[g] for g in ids], dtype=np.int64),
        np.array([current[g].reviewed_stage if g in current and current[g].reviewed_stage is not None else -1
                  for g in ids], dtype=np.int64))
    now = dt.datetime.now(dt.UTC)
    changed_at = at or now
    peaks = _peak_stages(session, project_id, [ids[e] for e, flag, reviewed in zip(
        fused.element.tolist(), fused.needs_review.tolist(), fused.reviewed.tolist(), strict=True)
        if not flag and not reviewed and ids[e] in current and current[ids[e]].needs_review])
    inserts, updates, history = [], [], []
    for k, element in enumerate(fused.element.tolist()):
        gid_k = ids[element]
        stage_k, needs_review = int(fused.stage[k]), bool(fused.needs_review[k])
        row = current.get(gid_k)
        if row is not None and not fused.reviewed[k]:
            # A status never goes back without a review: a drop is flagged, and stays flagged
            # until a reviewer decides or the element is seen back at the stage it had reached.
            needs_review = (needs_review or stage_k < row.stage
                            or (row.needs_review and stage_k < peaks.get(gid_k, 0)))
        values = {"stage": stage_k, "probability": float(fused.probability[k]),
                  "first_seen": _aware(fused.first_seen[k]), "last_seen": _aware(fused.last_seen[k]),
                  "reached_at": [_aware(t).isoformat() for t in fused.reached_at[k] if not np.isnat(t)],
                  "needs_review": needs_review, "updated_at": now}
        if row is None:
            inserts.append({"project_id": project_id, "global_id": gid_k, **values})
            previous, changed = 0, True
        else:
            updates.append({"id": row.id, **values})
            previous, changed = row.stage, row.stage != stage_k or row.needs_review != needs_review
        # Every change of stage or of the review flag (a flag cleared included) is history, so the
        # statuses believed on a past date (webapp.services.as_of) can be read back from it.
        if changed and (row is not None or stage_k != previous or needs_review):
            history.append({"project_id": project_id, "global_id": gid_k, "stage": stage_k, "previous_stage": previous,
                            "probability": values["probability"], "needs_review": needs_review,
                            "capture_id": capture_id, "changed_at": changed_at})
    for statement, parameters in ((insert(ElementStatus), inserts), (update(ElementStatus), updates),
                                  (insert(ElementStatusChange), history)):
        if parameters:
            session.execute(statement, parameters)
    return len(history)


def _peak_stages(session: Session, project_id: int, global_ids: list[str]) -> dict[str, int]:
    """GlobalId → the highest stage its status history has recorded (before or after a change)."""
    if not global_ids:
        return {}
    query = (select(ElementStatusChange.global_id, func.max(ElementStatusChange.previous_stage),
                    func.max(ElementStatusChange.stage))
             .where(ElementStatusChange.project_id == project_id).group_by(ElementStatusChange.global_id))
    return {gid: max(before, after) for gid, before, after in
            _matching(session, query, ElementStatusChange.global_id, set(global_ids))}


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    """A stored time as naive UTC (SQLite gives naive UTC, PostgreSQL aware)."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(moment: np.datetime64) -> dt.datetime | None:
    return None if np.isnat(moment) else moment.astype("datetime64[us]").item().replace(tzinfo=dt.UTC)


#: No pixel limit of our own when processing (frames were checked at upload; Pillow's bomb guard stays).
PROCESS_MAX_PIXELS = 2**62
#: Why a frame without a pose prior was not localised when no localisation was run for it.
NO_PRIOR = "no pose prior, and localisation without one is off (SITETWIN_LOCALISE)"


@dataclass
class RegisteredFrame:
    """One frame's result: what :func:`register_frames` computes and :func:`process_capture` stores.

    ``skipped``: why a frame that cannot be read was left out (then ``result`` is None); the
    capture is processed without it and reports it. ``not_localised``: why a frame that was read
    has no pose (then ``result`` is None too): it makes no observation. Plain data
    (:meth:`to_dict`), so chunks of a capture can be registered by other workers."""

    index: int
    sha256: str
    shape: tuple[int, int]
    result: RegistrationResult | None
    timing: dict[str, float]
    skipped: str | None = None
    not_localised: str | None = None

    def to_dict(self) -> dict:
        return {"index": self.index, "sha256": self.sha256, "shape": list(self.shape),
                "result": self.result.to_dict() if self.result is not None else None, "timing": self.timing,
                "skipped": self.skipped, "not_localised": self.not_localised}

    @classmethod
    def from_dict(cls, data: dict) -> RegisteredFrame:
        result = RegistrationResult.from_dict(data["result"]) if data.get("result") is not None else None
        return cls(data["index"], data["sha256"], tuple(data["shape"]), result, data["timing"],
                   data.get("skipped"), data.get("not_localised"))


def capture_context(session: Session, data_dir: str | os.PathLike, project: Project):
    """(revision, twin, scene, believed-built mask) that frames of the project's captures register against."""
    revision = current_revision(session, project)
    twin = load_revision_twin(revision, data_dir)
    return revision, twin, RenderScene(twin), believed_built(session, project.id, twin.global_ids)


def register_frames(twin, scene, believed: np.ndarray, capture_dir: str | os.PathLike, manifest, indices,
                    detector, refine: bool = True, progress: Callable[[int], None] | None = None,
                    localised: Mapping[int, Localisation] | None = None) -> list[RegisteredFrame]:
    """Read, detect and register the frames ``indices`` of a capture (any subset: a chunk).

    A pipeline of two stages: while one frame is registered (ray casting and NumPy), the next
    ``DETECT_AHEAD`` are read and sent to the detector on a second thread. With a
    :class:`vision.detector_process.DetectorProcess` the two run on two cores; with a detector in
    this process they mostly take turns, as ray casts and ultralytics both hold the GIL.

    A frame that cannot be read or decoded in full (:mod:`vision.frame_file`) is not registered:
    its :class:`RegisteredFrame` says why in ``skipped``, and the others go on. A frame without a
    pose prior registers from where ``localised`` (:func:`webapp.services.localisation.localise_capture`)
    puts it; one it could not localise is read but neither detected nor registered: ``not_localised``
    says why.
    """
    localised = localised or {}

    def prior_of(k: int) -> Pose | None:
        found = localised.get(k)
        return manifest.frames[k].pose_prior or (found.pose if found is not None else None)

    def not_localised(k: int) -> str:
        found = localised.get(k)
        return found.reason if found is not None and found.reason else NO_PRIOR

    from vision.detect import detect_frame

    capture_dir = Path(capture_dir)
    detect = detector.detect if hasattr(detector, "detect") else (lambda image: detect_frame(image, detector))

    def read_and_detect(k: int):
        t0 = time.perf_counter()
        path = capture_dir / manifest.frames[k].file
        try:
            data = path.read_bytes()  # read once: hashed and decoded from the same bytes
        except OSError:
            return "", None, None, {"read": time.perf_counter() - t0}, "the file cannot be read"
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            image = decode_frame(data, PROCESS_MAX_PIXELS)  # RGB, every byte decoded
        except FrameFileError as error:
            return sha256, None, None, {"read": time.perf_counter() - t0}, str(error)
        if prior_of(k) is None:  # not localised: no detection is needed
            return sha256, image, None, {"read": time.perf_counter() - t0}, None
        t1 = time.perf_counter()
        detections = detect(image)
        return sha256, image, detections, {"read": t1 - t0, "detect": time.perf_counter() - t1}, None

    out = []
    indices = list(indices)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitetwin-detect") as pool:
        # Frames queued ahead (DETECT_AHEAD): the detector never waits on a frame slow to register.
        upcoming = deque(pool.submit(read_and_detect, k) for k in indices[:DETECT_AHEAD])
        for done, k in enumerate(indices, start=1):
            sha256, image, detections, timing, skipped = upcoming.popleft().result()
            if done + DETECT_AHEAD - 1 < len(indices):
                upcoming.append(pool.submit(read_and_detect, indices[done + DETECT_AHEAD - 1]))
            if skipped is not None:
                out.append(RegisteredFrame(k, sha256, (0, 0), None, timing, skipped))
                if progress is not None:
                    progress(done)
                continue
            if prior_of(k) is None:
                out.append(RegisteredFrame(k, sha256, image.shape[:2], None, timing,
                                           not_localised=not_localised(k)))
                if progress is not None:
                    progress(done)
                continue
            t0 = time.perf_counter()
            result = register_frame(twin, scene, image, prior_of(k), believed, detections,
                                    refine=refine, reliability=getattr(detector, "reliability", None),
                                    localised=manifest.frames[k].pose_prior is None)
            timing["register"] = time.perf_counter() - t0
            if k in localised:
                found = localised[k]
                result.localisation = {"storey": found.storey, "score": round(found.score, 3),
                                       "margin": round(found.margin, 2)}
            out.append(RegisteredFrame(k, sha256, image.shape[:2], result, timing))
            if progress is not None:
                progress(done)
    return out


def process_capture(session: Session, data_dir: str | os.PathLike, project_name: str, capture_dir: str | os.PathLike,
                    detector, refine: bool = True, progress: Callable[[int], None] | None = None,
                    registered: list[RegisteredFrame] | None = None,
                    before_store: Callable[[Session], None] | None = None,
                    localise: bool = False) -> ProcessResult:
    """Process the capture in ``capture_dir`` for ``project_name`` (see the module docstring).

    detector: a :class:`vision.detect.Detector`, or any object with ``detect(image) -> list[Detection]``.
    registered: the frames already registered elsewhere (chunks on other workers), in any order;
    the rest are registered here. Raises :class:`vision.capture.CaptureError` for a malformed
    capture (or one of which no frame can be read), before anything is written; a frame that
    cannot be read is left out and listed in the capture's ``stats["skipped_frames"]``, a frame not
    localised likewise in ``stats["not_localised_frames"]``; a capture of which no frame is both
    read and localised raises :class:`vision.capture.CaptureError`.
    before_store: called in the storing transaction before anything is written (a worker's
    lease check, :func:`webapp.leases.store_guard`); what it raises aborts the store.
    localise: localise the frames without a pose prior (``SITETWIN_LOCALISE``); otherwise they are
    reported not localised.
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
        stats = existing.stats or {}
        skipped = {s["index"] for key in ("skipped_frames", "not_localised_frames") for s in stats.get(key, [])}
        if stored != [h for k, h in enumerate(hashes) if k not in skipped]:
            raise CaptureError(f"{capture_dir}: capture {manifest.capture_id!r} was already processed with "
                               "other frames; give a new capture a new capture_id")
        return ProcessResult(project.name, manifest.capture_id, len(stored), unchanged=True,
                             seconds=round(time.perf_counter() - started, 3))
    revision, twin, scene, believed = capture_context(session, data_dir, project)
    refusal = unknown_storey(manifest.storey, {s.global_id: s.name for s in twin.storeys})
    if refusal is not None:
        raise CaptureError(f"{capture_dir}: {refusal}")
    done = {r.index: r for r in registered or ()}
    if any(done[k].sha256 != hashes[k] for k in done if k < len(hashes)) or any(k >= len(hashes) for k in done):
        raise CaptureError(f"{capture_dir}: registered frames do not match the capture's files")
    missing = [k for k in range(len(manifest.frames)) if k not in done]
    t_localise = time.perf_counter()
    without_prior = [k for k in missing if manifest.frames[k].pose_prior is None] if localise else []
    localised, layout_seconds = localise_capture(session, project.id, revision, twin, scene, believed,
                                                 capture_dir, manifest, without_prior, data_dir, PROCESS_MAX_PIXELS)
    localise_seconds = time.perf_counter() - t_localise
    for frame in register_frames(twin, scene, believed, capture_dir, manifest, missing, detector, refine,
                                 progress, localised):
        done[frame.index] = frame
    timing = Counter()
    for frame in done.values():
        timing.update(frame.timing)
    if localised:
        timing.update({"localise_layouts": layout_seconds, "localise": localise_seconds - layout_seconds})
    skipped_frames = [{"index": k, "file": manifest.frames[k].file, "reason": done[k].skipped}
                      for k in sorted(done) if done[k].skipped is not None]
    not_localised = [{"index": k, "file": manifest.frames[k].file, "reason": done[k].not_localised}
                     for k in sorted(done) if done[k].not_localised is not None]
    registered = [(manifest.frames[k], done[k].sha256, done[k].shape, done[k].result) for k in sorted(done)
                  if done[k].result is not None]
    if not registered and not not_localised:
        first = skipped_frames[0]
        raise CaptureError(f"no frame of capture {manifest.capture_id!r} can be read (frame {first['index']} "
                           f"({first['file']}): {first['reason']})")
    if not registered:
        unread = f"; {len(skipped_frames)} cannot be read" if skipped_frames else ""
        raise CaptureError(f"no frame of capture {manifest.capture_id!r} is localised: {len(not_localised)} "
                           f"frames not localised ({not_localised[0]['reason']}){unread}")

    t4 = time.perf_counter()
    try:
        if before_store is not None:
            before_store(session)
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
        rows = [Frame(capture_id=capture.id, index=frame.index, sha256=sha256, taken_at=frame.timestamp,
                      file=_store_frame(capture_dir / frame.file, sha256, data_dir), width=shape[1], height=shape[0],
                      pose_prior=frame.pose_prior.as_list() if frame.pose_prior is not None else None,
                      pose=result.pose.as_list(),
                      registration={"score": result.score, "prior_score": result.prior_score,
                                    **({"localisation": result.localisation} if result.localisation else {})})
                for frame, sha256, shape, result in registered]
        session.add_all(rows)
        session.flush()  # frame ids for the observations
        # Observations in bulk (one executemany, not an ORM object each): a frame has one per element
        # that could have been seen, hundreds, and as objects they cost a tenth of the processing time.
        counts = Counter()
        touched: set[str] = set()
        observation_rows = []
        for row, (_, _, _, result) in zip(rows, registered, strict=True):
            for obs in result.observations:
                gid = twin.elements[obs.row].global_id
                counts[obs.kind] += 1
                if obs.kind != "not_visible":
                    touched.add(gid)
                observation_rows.append({
                    "project_id": project.id, "frame_id": row.id, "global_id": gid, "kind": obs.kind,
                    "stage": obs.stage, "confidence": obs.confidence, "visible_pixels": obs.visible_pixels,
                    "region": list(obs.region) if obs.region else None})
        if observation_rows:
            session.execute(insert(Observation), observation_rows)
        final_stages = {e.global_id: taxonomy.BY_NAME[e.tracked_class].final_stage
                        for e in twin.elements if e.tracked_class}
        changes = refuse(session, project.id, touched, final_stages, capture.id, manifest.started_at) if touched else 0
        timing["fuse"] += time.perf_counter() - t4
        capture.state, capture.progress, capture.error = "processed", 1.0, None
        frames = len(registered) or 1
        capture.stats = {"timing_per_frame": {k: round(v / frames, 3) for k, v in timing.items()},
                         "observations": dict(counts), "status_changes": changes,
                         **({"skipped_frames": skipped_frames} if skipped_frames else {}),
                         **({"not_localised_frames": not_localised} if not_localised else {})}
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ProcessResult(
        project.name, manifest.capture_id, len(registered), observations=dict(counts), status_changes=changes,
        seconds=round(time.perf_counter() - started, 2),
        timing={k: round(v / max(len(registered), 1), 3) for k, v in timing.items()},
        poses=[{"frame": f.index, "prior": f.pose_prior.as_list() if f.pose_prior is not None else None,
                "pose": r.pose.as_list(), **({"localisation": r.localisation} if r.localisation else {})}
               for f, _, _, r in registered],
        skipped_frames=skipped_frames,
        not_localised_frames=not_localised,
    )

