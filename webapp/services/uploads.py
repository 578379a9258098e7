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
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from vision.capture import CaptureError, parse_manifest
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


def create_capture(session: Session, config, project_id: int, manifest: dict) -> tuple[Capture, bool]:
    """The capture of ``manifest`` (created, or the existing one for a retried request)."""
    try:
        parsed = parse_manifest(manifest, "manifest")
    except CaptureError as error:
        raise UploadError(400, str(error)) from error
    now = dt.datetime.now(dt.UTC)
    for frame in parsed.frames:
        if not EARLIEST <= frame.timestamp <= now + dt.timedelta(days=1):
            raise UploadError(400, f"manifest: frame {frame.index} ({frame.file}): timestamp "
                                   f"{frame.timestamp.isoformat()} is not a plausible capture time")
    files = [f.file for f in parsed.frames]
    if len(set(files)) != len(files):
        raise UploadError(400, "manifest: two frames name the same file")
    existing = session.scalar(select(Capture).where(Capture.project_id == project_id, Capture.key == parsed.capture_id))
    if existing is not None:
        if _manifest(config, existing) != manifest:
            raise UploadError(409, f"capture {parsed.capture_id!r} exists with another manifest")
        return existing, False
    capture = Capture(project_id=project_id, key=parsed.capture_id, device=parsed.device,
                      storey_global_id=parsed.storey, started_at=parsed.started_at, state="uploading")
    session.add(capture)
    session.flush()
    _atomic_write(upload_dir(config, capture) / "capture.json", json.dumps(manifest).encode())
    session.commit()
    return capture, True


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


def received(config, capture: Capture) -> list[int]:
    manifest = _manifest(config, capture)
    root = upload_dir(config, capture)
    return [i for i, f in enumerate(manifest["frames"]) if (root / f["file"]).is_file()]


def capture_status(config, capture: Capture) -> dict:
    """The API's view of a capture. One processed from a directory (``sitetwin process``) has no
    upload folder: its frames are the stored ones."""
    if (upload_dir(config, capture) / "capture.json").is_file():
        expected = len(_manifest(config, capture)["frames"])
        got = set(received(config, capture))
    else:
        expected = len(capture.frames)
        got = set(range(expected))
    return {"id": capture.id, "capture_id": capture.key, "state": capture.state, "progress": capture.progress,
            "frames_expected": expected, "frames_received": len(got),
            "missing": [i for i in range(expected) if i not in got], "error": capture.error,
            "stats": capture.stats or {}}


def finalise(session: Session, config, capture: Capture) -> None:
    """All frames in: queue the capture for processing (again, for a failed one)."""
    if capture.state in ("queued", "processing", "processed"):
        return
    missing = [i for i in range(len(_manifest(config, capture)["frames"])) if i not in set(received(config, capture))]
    if missing:
        raise UploadError(409, f"{len(missing)} frame(s) not uploaded yet", missing=missing)
    capture.state, capture.error = "queued", None
    session.commit()
    from webapp.jobs import enqueue_capture

    enqueue_capture(capture.id)
