"""Read and validate a capture directory (``capture.json`` + frames): the upload format.

``docs/capture-format.md`` describes it; ``vision/capture.schema.json`` is its JSON Schema.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from vision.pose import Pose

SCHEMA_PATH = Path(__file__).with_name("capture.schema.json")


class CaptureError(ValueError):
    """A capture that does not follow the format. The message names the file and the frame."""


@dataclass(frozen=True)
class FrameRecord:
    index: int
    file: str
    timestamp: dt.datetime
    pose_prior: Pose


@dataclass(frozen=True)
class CaptureManifest:
    capture_id: str
    device: str | None
    started_at: dt.datetime
    storey: str | None
    frames: list[FrameRecord]


@cache
def capture_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def parse_timestamp(text: str, where: str) -> dt.datetime:
    """An ISO-8601 time with its zone, in UTC; :class:`CaptureError` naming ``where`` otherwise."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise CaptureError(f"{where}: bad timestamp {text!r}") from error
    if value.tzinfo is None:
        raise CaptureError(f"{where}: timestamp {text!r} has no time zone")
    return value.astimezone(dt.UTC)


def parse_manifest(data: dict, source: str = "capture.json") -> CaptureManifest:
    """Validate a manifest against the schema and the rules a schema cannot say (finite poses)."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(capture_schema()).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        error = errors[0]
        where = "/".join(str(p) for p in error.path) or "(top level)"
        raise CaptureError(f"{source}: {where}: {error.message}")
    frames = []
    for index, frame in enumerate(data["frames"]):
        where = f"{source}: frame {index} ({frame['file']})"
        parts = frame["file"].split("/")
        if frame["file"].startswith("/") or ".." in parts or "" in parts:
            raise CaptureError(f"{where}: a frame file must be a relative path inside the capture directory")
        pose = frame["pose_prior"]
        values = [*pose["position"], pose["yaw"], pose.get("pitch", 0.0), pose.get("roll", 0.0)]
        if not all(math.isfinite(v) for v in values):
            raise CaptureError(f"{where}: pose prior is not finite")
        frames.append(FrameRecord(index, frame["file"], parse_timestamp(frame["timestamp"], where), Pose(*values)))
    return CaptureManifest(data["capture_id"], data.get("device"), parse_timestamp(data["started_at"], source),
                           data.get("storey"), frames)


def read_capture(directory: str | Path) -> CaptureManifest:
    """Read ``directory/capture.json`` and check every frame file exists."""
    directory = Path(directory)
    manifest_path = directory / "capture.json"
    try:
        data = json.loads(manifest_path.read_text())
    except FileNotFoundError as error:
        raise CaptureError(f"{manifest_path}: no capture.json in the capture directory") from error
    except json.JSONDecodeError as error:
        raise CaptureError(f"{manifest_path}: not JSON ({error})") from error
    manifest = parse_manifest(data, str(manifest_path))
    for frame in manifest.frames:
        if not (directory / frame.file).is_file():
            raise CaptureError(f"{manifest_path}: frame {frame.index}: missing file {frame.file}")
    return manifest
