"""Camera uploads: a capture is created from its manifest, frames arrive one by one (idempotent
by SHA-256, written atomically), and finalising queues it for processing.

An upload lives in ``DATA/uploads/<project>/<capture>/`` in exactly the capture format
(``capture.json`` + frames), so processing reads it like any capture directory. Its files go
through :mod:`webapp.storage` (the data directory, or a bucket that every host shares);
:func:`local_upload_dir` fetches them onto a worker's disk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vision.capture import CaptureError, CaptureManifest, PoseBounds, normalise_frame_file, parse_manifest
from vision.frame_file import FrameFileError, check_frame
from vision.video import (
    VideoManifest,
    is_mp4,
    is_video_manifest,
    parse_video_manifest,
    probe_video,
    video_to_capture,
)
from webapp.models import Capture, Element, ModelRevision, Storey
from webapp.services.messages import public_message
from webapp.services.twins import unknown_storey
from webapp.storage import LocalStorage, StorageKeyError, clean_key, storage

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class UploadError(Exception):
    """A refused upload: ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.extra = extra


def upload_dir(config: Mapping[str, Any], capture: Capture) -> Path:
    return Path(config["SITETWIN_DATA_DIR"]) / "uploads" / str(capture.project_id) / str(capture.id)


def _key(capture: Capture, name: str = "") -> str:
    """The storage key of ``name`` in the capture's upload folder (the folder itself for "")."""
    return f"uploads/{capture.project_id}/{capture.id}" + (f"/{name}" if name else "")


def _manifest(config, capture: Capture) -> dict:
    return json.loads(storage(config).get(_key(capture, "capture.json")))


def uploaded_manifest(config, capture: Capture) -> CaptureManifest:
    """The capture's frame manifest, parsed, from the storage (its frames are not fetched)."""
    return parse_manifest(_manifest(config, capture), "capture.json")


def local_upload_dir(config, capture: Capture, frames: list[int] | None = None) -> Path:
    """The capture's upload folder on this host, its files fetched from the storage first: the
    manifest and frames ``frames`` (indices; default: every file). A no-op on the data directory."""
    store = storage(config)
    if frames is None:
        return store.local_folder(_key(capture))
    names = ["capture.json"]
    names += [_manifest(config, capture)["frames"][k]["file"] for k in frames]
    return store.local_folder(_key(capture), names)


def _plausible(moment: dt.datetime, where: str) -> None:
    if not EARLIEST <= moment <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
        raise UploadError(400, f"{where}: timestamp {moment.isoformat()} is not a plausible capture time")


def _current_revision_id(session: Session, project_id: int) -> int | None:
    return session.scalar(select(ModelRevision.id).where(ModelRevision.project_id == project_id)
                          .order_by(ModelRevision.number.desc()).limit(1))


def pose_bounds(session: Session, project_id: int, margin_m: float) -> PoseBounds | None:
    """The project's current model's extent (metres, world frame) grown by ``margin_m`` on every
    side; None without a model or without geometry."""
    revision = _current_revision_id(session, project_id)
    if revision is None:
        return None
    row = session.execute(select(func.min(Element.min_x), func.min(Element.min_y), func.min(Element.min_z),
                                 func.max(Element.max_x), func.max(Element.max_y), func.max(Element.max_z))
                          .where(Element.revision_id == revision)).one()
    if any(v is None for v in row):
        return None
    low, high = (tuple(float(v) + sign * margin_m for v in corner)
                 for sign, corner in ((-1, row[:3]), (1, row[3:])))
    return PoseBounds(low, high)


def _known_storey(session: Session, project_id: int, storey: str | None) -> None:
    """Refuse (400) a manifest's ``storey`` that the project's current model does not have."""
    revision = _current_revision_id(session, project_id) if storey is not None else None
    if revision is None:
        return
    names = session.execute(select(Storey.global_id, Storey.name).where(Storey.revision_id == revision)).all()
    refusal = unknown_storey(storey, dict(names))
    if refusal is not None:
        raise UploadError(400, f"manifest: {refusal}")


def create_capture(session: Session, config, project_id: int, manifest: dict) -> tuple[Capture, bool]:
    """The capture of ``manifest`` (created, or the existing one for a retried request).

    ``manifest`` is a frame manifest (``sitetwin-capture/1``: frames follow one by one) or a video
    manifest (``sitetwin-video/1``: one 360° MP4 follows, see :func:`store_video`).

    A manifest of more than ``SITETWIN_MAX_CAPTURE_FRAMES`` frames (or pose samples) is refused
    (413) before it is validated; poses must lie within the model's extent plus
    ``SITETWIN_POSE_MARGIN_M``."""
    video = is_video_manifest(manifest)
    listed = manifest.get("track" if video else "frames")
    most = int(config.get("SITETWIN_MAX_CAPTURE_FRAMES", 20000))
    if isinstance(listed, list) and len(listed) > most:
        what = "pose samples" if video else "frames"
        raise UploadError(413, f"manifest: {len(listed)} {what}, more than the {most} a capture may have "
                               "(SITETWIN_MAX_CAPTURE_FRAMES)")
    bounds = pose_bounds(session, project_id, float(config.get("SITETWIN_POSE_MARGIN_M", 50.0)))
    try:
        parsed = (parse_video_manifest(manifest, "manifest", bounds) if video
                  else parse_manifest(manifest, "manifest", bounds))
    except CaptureError as error:
        raise UploadError(400, str(error)) from error
    if isinstance(parsed, VideoManifest):
        _plausible(parsed.started_at, "manifest: started_at")
        name = VIDEO_MANIFEST
    else:
        for frame in parsed.frames:
            _plausible(frame.timestamp, f"manifest: frame {frame.index} ({frame.file})")
        for frame in parsed.frames:  # aliases are refused by parse_manifest; this is the storage's rule
            try:
                clean_key(frame.file)
            except StorageKeyError as error:
                raise UploadError(400, f"manifest: frame {frame.index} ({frame.file!r}): "
                                       "not a plain relative file name") from error
        name = "capture.json"
    _known_storey(session, project_id, parsed.storey)
    existing = session.scalar(select(Capture).where(Capture.project_id == project_id, Capture.key == parsed.capture_id))
    if existing is not None:
        key = _key(existing, name)
        if not storage(config).exists(key) or json.loads(storage(config).get(key)) != manifest:
            raise UploadError(409, f"capture {parsed.capture_id!r} exists with another manifest")
        return existing, False
    capture = Capture(project_id=project_id, key=parsed.capture_id, device=parsed.device,
                      storey_global_id=parsed.storey, started_at=parsed.started_at, state="uploading")
    session.add(capture)
    session.flush()
    storage(config).put(_key(capture, name), json.dumps(manifest).encode())
    session.commit()
    return capture, True


#: In an upload folder: the video manifest, the video, and what probing the video found.
VIDEO_MANIFEST, VIDEO_FILE, VIDEO_PROBE = "video.json", "video.mp4", "video-probe.json"


def is_video_capture(config, capture: Capture) -> bool:
    return storage(config).exists(_key(capture, VIDEO_MANIFEST))


def _video_manifest(config, capture: Capture) -> VideoManifest:
    return parse_video_manifest(json.loads(storage(config).get(_key(capture, VIDEO_MANIFEST))))


def store_video(config, capture: Capture, stream: BinaryIO) -> tuple[str, bool, dict]:
    """Store the capture's 360° MP4; returns (sha256, whether it was already there, probe).

    The video is streamed to a temporary file (hashed on the way), checked (MP4 container, OpenCV
    decodes it, 2:1, pixel limit, frame count within ``SITETWIN_MAX_VIDEO_FRAMES`` at the
    manifest's interval) and only then moved into place: a refused or interrupted upload leaves
    nothing. Frames are taken from it when the capture is processed."""
    if not is_video_capture(config, capture):
        raise UploadError(409, f"capture {capture.id} was created from a frame manifest: upload frames, not a video")
    if capture.state != "uploading":
        raise UploadError(409, f"capture {capture.id} is {capture.state}; the video can no longer change")
    folder = upload_dir(config, capture)
    folder.mkdir(parents=True, exist_ok=True)  # this host may not have it (shared storage)
    manifest = _video_manifest(config, capture)
    digest, head = hashlib.sha256(), b""
    tmp = folder / f".{VIDEO_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with tmp.open("wb") as out:
            while chunk := stream.read(1 << 20):
                head = head or chunk[:16]
                digest.update(chunk)
                out.write(chunk)
        sha256 = digest.hexdigest()
        # The probe, written last, marks a stored video: a video without one (a crash between the two
        # writes) is replaced.
        if storage(config).exists(_key(capture, VIDEO_PROBE)):
            stored = json.loads(storage(config).get(_key(capture, VIDEO_PROBE)))
            if stored["sha256"] == sha256:
                return sha256, True, stored
            raise UploadError(409, f"capture {capture.id}: a different video was already uploaded "
                                   f"(SHA-256 {stored['sha256']})")
        if manifest.sha256 and manifest.sha256 != sha256:
            raise UploadError(400, f"video: SHA-256 {sha256} does not match the manifest's {manifest.sha256}")
        if not is_mp4(head):
            raise UploadError(415, "video: only MP4 (or QuickTime) files are accepted")
        try:
            probe = probe_video(tmp)
        except CaptureError as error:
            raise UploadError(400, f"video: {str(error).split(': ', 1)[-1]}") from error
        limit = int(config.get("SITETWIN_MAX_FRAME_PIXELS", 8192 * 4096))
        if probe.width * probe.height > limit:
            raise UploadError(413, f"video: {probe.width}×{probe.height} is more than {limit} pixels a frame")
        if probe.width != 2 * probe.height:
            raise UploadError(400, f"video: an equirectangular video must be 2:1, got {probe.width}×{probe.height}")
        frames = probe.duration_s / manifest.interval_s
        most = int(config.get("SITETWIN_MAX_VIDEO_FRAMES", 5000))
        if frames > most:
            raise UploadError(413, f"video: {probe.duration_s:.0f} s at one frame every {manifest.interval_s} s "
                                   f"is more than {most} frames")
        stored = {"sha256": sha256, "width": probe.width, "height": probe.height, "fps": probe.fps,
                  "duration_s": round(probe.duration_s, 3)}
        os.replace(tmp, folder / VIDEO_FILE)
        storage(config).put_file(_key(capture, VIDEO_FILE), folder / VIDEO_FILE)
        storage(config).put(_key(capture, VIDEO_PROBE), json.dumps(stored).encode())
        return sha256, False, stored
    finally:
        tmp.unlink(missing_ok=True)


def extract_video_frames(config, capture: Capture) -> None:
    """Turn an uploaded video into the capture's frames and ``capture.json`` (once; all or nothing)."""
    store = storage(config)
    if store.exists(_key(capture, "capture.json")):
        return
    folder = store.local_folder(_key(capture), [VIDEO_MANIFEST, VIDEO_FILE])
    manifest = _video_manifest(config, capture)
    most = int(config.get("SITETWIN_MAX_VIDEO_FRAMES", 5000))
    if isinstance(store, LocalStorage):  # straight into the upload folder
        video_to_capture(folder / VIDEO_FILE, manifest, folder, max_frames=most)
        return
    # Shared storage: frames into the bucket first, the manifest last (it marks the frames taken,
    # on every host); nothing reaches this host's cache before the bucket has it.
    with tempfile.TemporaryDirectory(dir=store.root, prefix=".video-") as staging:
        written = video_to_capture(folder / VIDEO_FILE, manifest, Path(staging) / "capture", max_frames=most)
        for frame in written["frames"]:
            store.put_file(_key(capture, frame["file"]), Path(staging) / "capture" / frame["file"])
        store.put_file(_key(capture, "capture.json"), Path(staging) / "capture" / "capture.json")


MAX_ID = 2**31 - 1  # database integer keys: a larger id names nothing (and would overflow PostgreSQL)


def project_capture(session: Session, project_id: int, capture_id: int) -> Capture:
    capture = session.get(Capture, capture_id) if 0 < capture_id <= MAX_ID else None
    if capture is None or capture.project_id != project_id:  # another project's: 404 too (no enumeration)
        raise UploadError(404, f"no capture {capture_id}")
    return capture


def _check_image(data: bytes, config, where: str) -> tuple[int, int]:
    """(width, height) of a frame decoded in full (:mod:`vision.frame_file`); the size is checked
    from the header first, so a decompression bomb is refused before any pixel is decoded."""
    try:
        info = check_frame(data, int(config.get("SITETWIN_MAX_FRAME_PIXELS", 8192 * 4096)))
    except FrameFileError as error:
        raise UploadError(error.status, f"{where}: {error}") from error
    return info.width, info.height


def _readable(path: Path, config) -> bool:
    try:
        check_frame(path.read_bytes(), int(config.get("SITETWIN_MAX_FRAME_PIXELS", 8192 * 4096)))
    except (OSError, FrameFileError):
        return False
    return True


def store_frame(config, capture: Capture, index: int, stream: BinaryIO) -> tuple[str, bool]:
    """Store frame ``index``; returns (sha256, whether it was already there). Retrying is safe.

    The frame is decoded in full first: a damaged one is refused (400) and nothing is stored, so
    the right one can follow. A stored frame that no longer decodes (damaged on disk, or stored
    before frames were decoded at upload) may be replaced, also once its capture has failed."""
    if capture.state not in ("uploading", "failed"):
        raise UploadError(409, f"capture {capture.id} is {capture.state}; frames can no longer be added")
    if is_video_capture(config, capture):
        raise UploadError(409, f"capture {capture.id} was created from a video manifest: upload the video")
    entries = frame_entries(config, capture)
    if not 0 <= index < len(entries):
        raise UploadError(404, f"the manifest has no frame {index}")
    name, file, expected = entries[index]
    data = stream.read()
    digest = hashlib.sha256(data).hexdigest()
    where = f"frame {index} ({name})"
    if expected and expected != digest:
        raise UploadError(400, f"{where}: SHA-256 {digest} does not match the manifest's {expected}")
    store, key = storage(config), _key(capture, file)
    if store.exists(key):
        existing = hashlib.sha256(store.get(key)).hexdigest()
        if existing == digest:
            return digest, True
        if _readable(store.local(key), config):
            raise UploadError(409, f"{where}: already uploaded with other content (SHA-256 {existing})")
    elif capture.state != "uploading":
        raise UploadError(409, f"capture {capture.id} is {capture.state}; frames can no longer be added")
    _check_image(data, config, where)
    try:
        store.put(key, data)
    except (NotADirectoryError, IsADirectoryError, FileExistsError) as error:  # the manifest refuses these
        raise UploadError(409, f"{where}: its path is taken by another file or folder") from error
    return digest, False


@lru_cache(maxsize=64)
def _frame_entries(manifest_path: str, mtime_ns: int, size: int) -> tuple[tuple[str, str, str | None], ...]:
    """(file as the manifest spells it, normalised, SHA-256 or None) of each frame of a stored
    manifest; cached per file version (a manifest is written once), so neither a status poll nor a
    frame upload of a 20,000-frame capture parses megabytes of JSON."""
    frames = json.loads(Path(manifest_path).read_text())["frames"]
    return tuple((f["file"], normalise_frame_file(f["file"], f"frame {k}"), f.get("sha256"))
                 for k, f in enumerate(frames))


def frame_entries(config, capture: Capture) -> tuple[tuple[str, str, str | None], ...]:
    path = storage(config).local(_key(capture, "capture.json"))  # fetched once into this host's cache
    stat = path.stat()
    return _frame_entries(str(path), stat.st_mtime_ns, stat.st_size)


def frame_files(config, capture: Capture) -> list[str]:
    """The frame files of an uploaded capture's manifest, normalised (``./x.jpg`` → ``x.jpg``)."""
    return [file for _, file, _ in frame_entries(config, capture)]


def missing_frames(config, capture: Capture) -> tuple[int, list[int]]:
    """(frames the manifest lists, indices of those not uploaded yet): one listing of the storage,
    not a look-up per frame."""
    files = frame_files(config, capture)
    stored = set(storage(config).list(_key(capture)))
    return len(files), [i for i, f in enumerate(files) if _key(capture, f) not in stored]


def capture_status(config, capture: Capture) -> dict:
    """The API's view of a capture. One processed from a directory (``sitetwin process``) has no
    upload folder: its frames are the stored ones. A video capture says whether its video is in.

    Cheap to poll: a capture past uploading had every frame at finalise, so its folder is not
    listed again; the manifest's frame list is cached (:func:`frame_files`)."""
    store = storage(config)
    video = None
    if is_video_capture(config, capture):
        probe = _key(capture, VIDEO_PROBE)
        video = json.loads(store.get(probe)) if store.exists(probe) else None
        video = {"received": video is not None, **(video or {})}
    if not store.exists(_key(capture, "capture.json")):
        expected, missing = len(capture.frames), []
    elif capture.state in ("queued", "processing", "processed"):
        expected, missing = len(frame_files(config, capture)), []
    else:
        expected, missing = missing_frames(config, capture)
    roots = [str(upload_dir(config, capture)), str(config["SITETWIN_DATA_DIR"])]
    error = public_message(capture.error, roots) if capture.error else None
    return {"id": capture.id, "capture_id": capture.key, "state": capture.state, "progress": capture.progress,
            "frames_expected": expected, "frames_received": expected - len(missing),
            "missing": missing, "error": error,
            "stats": capture.stats or {}, **({"video": video} if video is not None else {})}


def finalise(session: Session, config, capture: Capture) -> None:
    """All frames (or the video) in: queue the capture for processing (again, for a failed one).

    A capture in processing whose worker's lease expired (the worker died) is queued again; one
    whose worker is alive is left alone."""
    if capture.state == "processing":
        from webapp.jobs import enqueue_capture
        from webapp.leases import requeue_expired

        if requeue_expired(session.get_bind(), int(config["SITETWIN_MAX_ATTEMPTS"]), capture.id):
            enqueue_capture(capture.id)
        session.refresh(capture)
        return
    if capture.state in ("queued", "processed"):
        return
    if is_video_capture(config, capture):
        if not storage(config).exists(_key(capture, VIDEO_PROBE)):
            raise UploadError(409, "the video is not uploaded yet")
    else:
        _, missing = missing_frames(config, capture)
        if missing:
            raise UploadError(409, f"{len(missing)} frame(s) not uploaded yet", missing=missing)
    capture.state, capture.error, capture.attempts = "queued", None, 0
    session.commit()
    from webapp.jobs import enqueue_capture

    enqueue_capture(capture.id)
