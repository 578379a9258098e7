"""Read and validate a capture directory (``capture.json`` + frames): the upload format.

``docs/capture-format.md`` describes it; ``vision/capture.schema.json`` is its JSON Schema.
A frame's pose prior is optional (a real 360° camera knows gravity, not where it is in the model):
a capture may give a start point on the floor plan instead, or nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from vision.pose import Pose

SCHEMA_PATH = Path(__file__).with_name("capture.schema.json")


class CaptureError(ValueError):
    """A capture that does not follow the format. The message names the file and the frame."""


@dataclass(frozen=True)
class FrameRecord:
    """One frame of a manifest. ``pose_prior``: where the camera's tracking puts it, or None;
    ``gravity``: (pitch, roll) in radians from the camera's IMU, given with the prior or alone (None
    when not known)."""

    index: int
    file: str
    timestamp: dt.datetime
    pose_prior: Pose | None
    gravity: tuple[float, float] | None = None


@dataclass(frozen=True)
class StartPoint:
    """Where a walk starts, tapped on the floor plan: x, y in metres (twin world frame) and the
    heading the camera faces, radians like a pose's yaw (None when not given)."""

    x: float
    y: float
    yaw: float | None = None


@dataclass(frozen=True)
class CaptureManifest:
    capture_id: str
    device: str | None
    started_at: dt.datetime
    storey: str | None
    frames: list[FrameRecord]
    start: StartPoint | None = None


#: Characters refused in the manifest's text fields: C0 controls (NUL, tab, CR, LF…) and DEL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
#: Text fields of a manifest (frame or video) and their longest length, as the database stores them.
TEXT_FIELDS = {"capture_id": 200, "device": 200, "storey": 22}
#: Largest coordinate accepted without a model to compare with, metres (beyond any site's frame).
MAX_COORDINATE_M = 1e7
#: Longest error message: a manifest is never echoed back whole.
MAX_MESSAGE = 300


@dataclass(frozen=True)
class PoseBounds:
    """The box a pose's position must lie in (metres, twin world frame): the model's extent plus a margin."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]

    def contains(self, position) -> bool:
        return all(lo <= v <= hi for lo, v, hi in zip(self.low, position, self.high, strict=True))


@cache
def capture_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def parse_timestamp(text: str, where: str) -> dt.datetime:
    """An ISO-8601 time with its zone, in UTC; :class:`CaptureError` naming ``where`` otherwise."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise CaptureError(f"{where}: bad timestamp {_short(text)}") from error
    if value.tzinfo is None:
        raise CaptureError(f"{where}: timestamp {_short(text)} has no time zone")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as error:  # 0001-01-01T00:00:00+00:01 is before year 1 in UTC
        raise CaptureError(f"{where}: timestamp {_short(text)} is out of range") from error


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_text_fields(data: dict, source: str) -> None:
    """Refuse control characters (NUL, CR, LF…) in ``capture_id``, ``device`` and ``storey``, before
    the schema (whose message would echo them); lengths are the schema's."""
    for name in TEXT_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
            raise CaptureError(f"{source}: {name}: control characters (NUL, tab, line breaks) "
                               "are not allowed")


def schema_error(errors: list, source: str) -> CaptureError:
    """The first of ``errors`` (jsonschema) as a :class:`CaptureError`, cut short: never the
    whole manifest."""
    error = min(errors, key=lambda e: [str(p) for p in e.path])
    where = "/".join(str(p) for p in error.path) or "(top level)"
    message = error.message  # starts with the instance's repr: a long one is not echoed back
    if len(message) > MAX_MESSAGE:
        message = f"does not satisfy {error.validator} = {_short(error.validator_value)}"
    return CaptureError(f"{source}: {where}: {message}")


def check_pose(values: list[float], bounds: PoseBounds | None, where: str) -> Pose:
    """A pose from [x, y, z, yaw, pitch, roll]: finite, within ``MAX_COORDINATE_M`` and ``bounds``."""
    if not all(math.isfinite(v) for v in values):
        raise CaptureError(f"{where}: pose prior is not finite")
    position = values[:3]
    if any(abs(v) > MAX_COORDINATE_M for v in position):
        raise CaptureError(f"{where}: pose position {position} m is beyond {MAX_COORDINATE_M:g} m")
    if bounds is not None and not bounds.contains(position):
        low, high = ([round(v, 1) for v in corner] for corner in (bounds.low, bounds.high))
        shown = [round(v, 3) for v in position]
        raise CaptureError(f"{where}: pose position {shown} m is outside the model's extent plus margin "
                           f"({low} to {high} m)")
    return Pose(*values)


def check_start(data: dict | None, bounds: PoseBounds | None, where: str) -> StartPoint | None:
    """The manifest's ``start`` (schema-valid) as a :class:`StartPoint`: finite, within
    ``MAX_COORDINATE_M`` and, in x and y, within ``bounds``."""
    if data is None:
        return None
    position = data["position"]
    heading = data.get("heading_deg")
    if not all(math.isfinite(v) for v in [*position, heading or 0.0]):
        raise CaptureError(f"{where}: start is not finite")
    if any(abs(v) > MAX_COORDINATE_M for v in position):
        raise CaptureError(f"{where}: start position {position} m is beyond {MAX_COORDINATE_M:g} m")
    if bounds is not None and not all(lo <= v <= hi for lo, v, hi in zip(bounds.low[:2], position,
                                                                        bounds.high[:2], strict=True)):
        low, high = ([round(v, 1) for v in corner[:2]] for corner in (bounds.low, bounds.high))
        shown = [round(v, 3) for v in position]
        raise CaptureError(f"{where}: start position {shown} m is outside the model's extent plus margin "
                           f"({low} to {high} m)")
    return StartPoint(float(position[0]), float(position[1]),
                      None if heading is None else math.radians(heading))


def normalise_frame_file(name: str, where: str) -> str:
    """``name`` without ``.`` components (``./x.jpg`` → ``x.jpg``); an absolute path, ``..`` or an
    empty component is refused."""
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        raise CaptureError(f"{where}: a frame file must be a relative path inside the capture directory")
    parts = [p for p in parts if p != "."]
    if "" in parts or not parts:
        raise CaptureError(f"{where}: a frame file must be a relative path inside the capture directory "
                           "(no empty component)")
    return "/".join(parts)


def check_frame_files(frames: list[FrameRecord], names: list[str], source: str) -> None:
    """No two frames name the same file (``x.jpg``, ``./x.jpg``, or ``X.jpg`` on a case-insensitive
    disk), and no frame's file is also another's folder (``a.jpg`` and ``a.jpg/b.jpg``) or is in
    ``capture.json/``.
    ``names``: the files as the manifest spells them, for the message."""
    seen: dict[str, int] = {}
    for frame in frames:
        if frame.file.casefold().split("/")[0] == "capture.json":
            raise CaptureError(f"{source}: frame {frame.index} ({names[frame.index]}) is inside "
                               "capture.json, the manifest's own file")
        key = frame.file.casefold()
        if key in seen:
            raise CaptureError(f"{source}: frame {frame.index} ({names[frame.index]}) names the same file as "
                               f"frame {seen[key]} ({names[seen[key]]})")
        seen[key] = frame.index
    for frame in frames:
        parts = frame.file.casefold().split("/")
        for k in range(1, len(parts)):
            other = seen.get("/".join(parts[:k]))
            if other is not None:
                raise CaptureError(f"{source}: frame {frame.index} ({names[frame.index]}) is inside frame "
                                   f"{other}'s file ({names[other]}): a file cannot also be a folder")


def parse_manifest(data: dict, source: str = "capture.json",
                   bounds: PoseBounds | None = None) -> CaptureManifest:
    """Validate a manifest against the schema and the rules a schema cannot say (text without
    control characters, frame files that do not alias each other, finite poses and start inside
    ``bounds``)."""
    import jsonschema

    if isinstance(data, dict):
        check_text_fields(data, source)
    errors = list(jsonschema.Draft202012Validator(capture_schema()).iter_errors(data))
    if errors:
        raise schema_error(errors, source)
    frames = []
    for index, frame in enumerate(data["frames"]):
        where = f"{source}: frame {index} ({frame['file']})"
        file = normalise_frame_file(frame["file"], where)
        prior, gravity = None, None
        if "pose_prior" in frame:
            pose = frame["pose_prior"]
            values = [*pose["position"], pose["yaw"], pose.get("pitch", 0.0), pose.get("roll", 0.0)]
            prior = check_pose(values, bounds, where)
            if "pitch" in pose or "roll" in pose:
                gravity = (prior.pitch, prior.roll)
        elif "gravity" in frame:
            gravity = (float(frame["gravity"]["pitch"]), float(frame["gravity"]["roll"]))
            if not all(math.isfinite(v) for v in gravity):
                raise CaptureError(f"{where}: gravity is not finite")
        frames.append(FrameRecord(index, file, parse_timestamp(frame["timestamp"], where), prior, gravity))
    check_frame_files(frames, [frame["file"] for frame in data["frames"]], source)
    started_at = parse_timestamp(data["started_at"], source)
    start = check_start(data.get("start"), bounds, source)
    return CaptureManifest(data["capture_id"], data.get("device"), started_at, data.get("storey"), frames,
                           start)


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
