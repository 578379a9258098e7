"""Camera uploads: a capture is created from its manifest, frames arrive one by one (idempotent
by SHA-256, written atomically), and finalising queues it for processing.

An upload lives in ``DATA/uploads/<project>/<capture>/`` in exactly the capture format
(``capture.json`` + frames), so processing reads it like any capture directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from vision.capture import CaptureError, parse_manifest
from vision.video import (
    VideoManifest,
    is_mp4,
    is_video_manifest,
    parse_video_manifest,
    probe_video,
    video_to_capture,
)
from webapp.models import Capture

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class UploadError(Exception):
    """A refused upload: ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.extra = extra


def upload_dir(config: Mapping[str, Any], capture: Capture) -> Path:
    return Path(config["SITETWIN_DATA_DIR"]) / "uploads" / str(capture.project_id) / str(capture.id)


def _manifest(config, capture: Capture) -> dict:
    return json.loads((upload_dir(config, capture) / "capture.json").read_text())


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _plausible(moment: dt.datetime, where: str) -> None:
    if not EARLIEST <= moment <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
        raise UploadError(400, f"{where}: timestamp {moment.isoformat()} is not a plausible capture time")


def create_capture(session: Session, config, project_id: int, manifest: dict) -> tuple[Capture, bool]:
    """The capture of ``manifest`` (created, or the existing one for a retried request).

    ``manifest`` is a frame manifest (``sitetwin-capture/1``: frames follow one by one) or a video
    manifest (``sitetwin-video/1``: one 360° MP4 follows, see :func:`store_video`)."""
    try:
        parsed = parse_video_manifest(manifest) if is_video_manifest(manifest) else parse_manifest(manifest, "manifest")
    except CaptureError as error:
        raise UploadError(400, str(error)) from error
    if isinstance(parsed, VideoManifest):
        _plausible(parsed.started_at, "manifest: started_at")
        name = VIDEO_MANIFEST
    else:
        for frame in parsed.frames:
            _plausible(frame.timestamp, f"manifest: frame {frame.index} ({frame.file})")
        files = [f.file for f in parsed.frames]
        if len(set(files)) != len(files):
            raise UploadError(400, "manifest: two frames name the same file")
        name = "capture.json"
    existing = session.scalar(select(Capture).where(Capture.project_id == project_id, Capture.key == parsed.capture_id))
    if existing is not None:
        stored = upload_dir(config, existing) / name
        if not stored.is_file() or json.loads(stored.read_text()) != manifest:
            raise UploadError(409, f"capture {parsed.capture_id!r} exists with another manifest")
        return existing, False
    capture = Capture(project_id=project_id, key=parsed.capture_id, device=parsed.device,
                      storey_global_id=parsed.storey, started_at=parsed.started_at, state="uploading")
    session.add(capture)
    session.flush()
    _atomic_write(upload_dir(config, capture) / name, json.dumps(manifest).encode())
    session.commit()
    return capture, True


#: In an upload folder: the video manifest, the video, and what probing the video found.
VIDEO_MANIFEST, VIDEO_FILE, VIDEO_PROBE = "video.json", "video.mp4", "video-probe.json"


def is_video_capture(config, capture: Capture) -> bool:
    return (upload_dir(config, capture) / VIDEO_MANIFEST).is_file()


def _video_manifest(folder: Path) -> VideoManifest:
    return parse_video_manifest(json.loads((folder / VIDEO_MANIFEST).read_text()))


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
    manifest = _video_manifest(folder)
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
        if (folder / VIDEO_PROBE).is_file():
            stored = json.loads((folder / VIDEO_PROBE).read_text())
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
        _atomic_write(folder / VIDEO_PROBE, json.dumps(stored).encode())
        return sha256, False, stored
    finally:
        tmp.unlink(missing_ok=True)


def extract_video_frames(config, capture: Capture) -> None:
    """Turn an uploaded video into the capture's frames and ``capture.json`` (once; all or nothing)."""
    folder = upload_dir(config, capture)
    if (folder / "capture.json").is_file():
        return
    manifest = _video_manifest(folder)
    video_to_capture(folder / VIDEO_FILE, manifest, folder,
                     max_frames=int(config.get("SITETWIN_MAX_VIDEO_FRAMES", 5000)))


MAX_ID = 2**31 - 1  # database integer keys: a larger id names nothing (and would overflow PostgreSQL)


def project_capture(session: Session, project_id: int, capture_id: int) -> Capture:
    capture = session.get(Capture, capture_id) if 0 < capture_id <= MAX_ID else None
    if capture is None:
        raise UploadError(404, f"no capture {capture_id}")
    if capture.project_id != project_id:
        raise UploadError(403, f"capture {capture_id} belongs to another project")
    return capture


def _check_image(data: bytes, config, where: str) -> tuple[int, int]:
    if not (data.startswith(JPEG_MAGIC) or data.startswith(PNG_MAGIC)):
        raise UploadError(415, f"{where}: only JPEG or PNG frames are accepted")
    limit = int(config.get("SITETWIN_MAX_FRAME_PIXELS", 8192 * 4096))
    import io

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > limit:
                    raise UploadError(413, f"{where}: {width}×{height} is more than {limit} pixels")
                image.verify()
        except UploadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UploadError(413, f"{where}: too many pixels ({exc})") from exc
        except Exception as exc:  # Pillow raises many types for corrupt data
            raise UploadError(400, f"{where}: not a readable image ({exc})") from exc
    if width != 2 * height:
        raise UploadError(400, f"{where}: an equirectangular frame must be 2:1, got {width}×{height}")
    return width, height


def store_frame(config, capture: Capture, index: int, stream: BinaryIO) -> tuple[str, bool]:
    """Store frame ``index``; returns (sha256, whether it was already there). Retrying is safe."""
    if capture.state not in ("uploading",):
        raise UploadError(409, f"capture {capture.id} is {capture.state}; frames can no longer be added")
    if is_video_capture(config, capture):
        raise UploadError(409, f"capture {capture.id} was created from a video manifest: upload the video")
    manifest = _manifest(config, capture)
    if not 0 <= index < len(manifest["frames"]):
        raise UploadError(404, f"the manifest has no frame {index}")
    entry = manifest["frames"][index]
    data = stream.read()
    digest = hashlib.sha256(data).hexdigest()
    where = f"frame {index} ({entry['file']})"
    if entry.get("sha256") and entry["sha256"] != digest:
        raise UploadError(400, f"{where}: SHA-256 {digest} does not match the manifest's {entry['sha256']}")
    target = upload_dir(config, capture) / entry["file"]
    if target.exists():
        existing = hashlib.sha256(target.read_bytes()).hexdigest()
        if existing == digest:
            return digest, True
        raise UploadError(409, f"{where}: already uploaded with other content (SHA-256 {existing})")
    _check_image(data, config, where)
    _atomic_write(target, data)
    return digest, False


def missing_frames(config, capture: Capture) -> tuple[int, list[int]]:
    """(frames the manifest lists, indices of those not uploaded yet), from one read of the manifest."""
    frames = _manifest(config, capture)["frames"]
    root = upload_dir(config, capture)
    return len(frames), [i for i, f in enumerate(frames) if not (root / f["file"]).is_file()]


def capture_status(config, capture: Capture) -> dict:
    """The API's view of a capture. One processed from a directory (``sitetwin process``) has no
    upload folder: its frames are the stored ones. A video capture says whether its video is in."""
    folder = upload_dir(config, capture)
    video = None
    if is_video_capture(config, capture):
        video = json.loads((folder / VIDEO_PROBE).read_text()) if (folder / VIDEO_PROBE).is_file() else None
        video = {"received": video is not None, **(video or {})}
    if (folder / "capture.json").is_file():
        expected, missing = missing_frames(config, capture)
    else:
        expected, missing = len(capture.frames), []
    return {"id": capture.id, "capture_id": capture.key, "state": capture.state, "progress": capture.progress,
            "frames_expected": expected, "frames_received": expected - len(missing),
            "missing": missing, "error": capture.error,
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
        if not (upload_dir(config, capture) / VIDEO_PROBE).is_file():
            raise UploadError(409, "the video is not uploaded yet")
    else:
        _, missing = missing_frames(config, capture)
        if missing:
            raise UploadError(409, f"{len(missing)} frame(s) not uploaded yet", missing=missing)
    capture.state, capture.error, capture.attempts = "queued", None, 0
    session.commit()
    from webapp.jobs import enqueue_capture

    enqueue_capture(capture.id)
