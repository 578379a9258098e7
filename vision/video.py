"""A walk recorded as one 360° MP4 → a capture directory: frames every ``interval_s`` seconds,
each with its pose interpolated from the camera's pose track, when it has one.

The video manifest (``vision/video.schema.json``, ``docs/capture-format.md``) gives the walk's
start time and the track: poses (metres and radians, the twin's world frame) at times in seconds
from the video's first frame. A frame taken at time t gets the pose interpolated between the two
track samples around t: linear in position, along the shortest arc in each angle. Frames before
the first sample or after the last one have no pose and are skipped (never extrapolated). A video
without a track (most 360° cameras know gravity, not where they are in the model) gives every
frame, without a pose prior; its ``start`` on the floor plan, if any, goes to the capture.
Decoding is OpenCV's (``cv2.VideoCapture``); frames are read in order, never seeked, so a file
whose index is damaged still yields what it holds.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from vision.capture import (
    CaptureError,
    PoseBounds,
    StartPoint,
    capture_schema,
    check_pose,
    check_start,
    check_text_fields,
    parse_timestamp,
    schema_error,
)
from vision.pose import Pose

VIDEO_SCHEMA_PATH = Path(__file__).with_name("video.schema.json")
#: ISO base media (MP4, QuickTime): bytes 4–8 of the file are the first box's type, ``ftyp``.
MP4_BRAND_OFFSET = 4


@dataclass(frozen=True)
class TrackSample:
    t: float
    pose: Pose


@dataclass(frozen=True)
class VideoManifest:
    capture_id: str
    device: str | None
    started_at: dt.datetime
    storey: str | None
    interval_s: float
    sha256: str | None
    track: list[TrackSample]  # empty: the camera gave no pose track
    start: StartPoint | None = None


@dataclass(frozen=True)
class VideoProbe:
    """What a quick look at a video says: size in pixels, frames per second, duration in seconds."""

    width: int
    height: int
    fps: float
    duration_s: float


@cache
def video_schema() -> dict:
    return json.loads(VIDEO_SCHEMA_PATH.read_text())


def is_video_manifest(data: object) -> bool:
    return isinstance(data, dict) and data.get("format") == "sitetwin-video/1"


def parse_video_manifest(data: dict, source: str = "manifest",
                         bounds: PoseBounds | None = None) -> VideoManifest:
    """Validate a video manifest (schema, text without control characters, finite poses inside
    ``bounds``, increasing track times). Without a ``track`` the manifest's track is empty."""
    import jsonschema
    from referencing import Registry, Resource

    capture = capture_schema()
    registry = Registry().with_resources([(capture["$id"], Resource.from_contents(capture))])
    validator = jsonschema.Draft202012Validator(video_schema(), registry=registry)
    if isinstance(data, dict):
        check_text_fields(data, source)
    errors = list(validator.iter_errors(data))
    if errors:
        raise schema_error(errors, source)
    track = []
    for index, sample in enumerate(data.get("track", [])):
        pose = sample["pose"]
        values = [*pose["position"], pose["yaw"], pose.get("pitch", 0.0), pose.get("roll", 0.0)]
        if not math.isfinite(sample["t"]):
            raise CaptureError(f"{source}: track/{index}: t is not finite")
        pose = check_pose(values, bounds, f"{source}: track/{index}")
        if track and sample["t"] <= track[-1].t:
            raise CaptureError(
                f"{source}: track/{index}: t = {sample['t']} s does not follow {track[-1].t} s"
            )
        track.append(TrackSample(float(sample["t"]), pose))
    return VideoManifest(
        data["capture_id"],
        data.get("device"),
        parse_timestamp(data["started_at"], source),
        data.get("storey"),
        float(data["interval_s"]),
        data.get("sha256"),
        track,
        check_start(data.get("start"), bounds, source),
    )


def pose_at(track: list[TrackSample], t: float) -> Pose | None:
    """The pose at ``t`` seconds, interpolated between the samples around it; None outside the track."""
    times = [s.t for s in track]
    if not times[0] <= t <= times[-1]:
        return None
    k = max(int(np.searchsorted(times, t, side="right")) - 1, 0)
    if k >= len(track) - 1:
        return track[-1].pose
    a, b = track[k], track[k + 1]
    w = (t - a.t) / (b.t - a.t)
    pa, pb = np.array(a.pose.as_list()), np.array(b.pose.as_list())
    delta = pb - pa
    delta[3:] = (delta[3:] + math.pi) % (2 * math.pi) - math.pi  # angles: the shortest way round
    return Pose(*(pa + w * delta))


def is_mp4(head: bytes) -> bool:
    """Whether the first bytes are an ISO base media file (MP4/MOV: an ``ftyp`` box first)."""
    return len(head) >= 12 and head[MP4_BRAND_OFFSET : MP4_BRAND_OFFSET + 4] == b"ftyp"


def probe_video(path: str | os.PathLike) -> VideoProbe:
    """Open the video and decode its first frame. Raises :class:`CaptureError` naming the file."""
    import cv2

    video = cv2.VideoCapture(str(path))
    try:
        ok, frame = video.read() if video.isOpened() else (False, None)
        if not ok or frame is None:
            raise CaptureError(f"{Path(path).name}: OpenCV cannot decode a frame of this video")
        fps = float(video.get(cv2.CAP_PROP_FPS) or 0.0)
        count = float(video.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
    finally:
        video.release()
    if not math.isfinite(fps) or fps <= 0:
        raise CaptureError(f"{Path(path).name}: the video does not say its frame rate")
    height, width = frame.shape[:2]
    return VideoProbe(width, height, fps, count / fps if count > 0 else 0.0)


def sample_frames(path: str | os.PathLike, interval_s: float) -> Iterator[tuple[float, np.ndarray]]:
    """(t seconds, RGB frame) every ``interval_s`` seconds, decoding the video in order."""
    import cv2

    video = cv2.VideoCapture(str(path))
    try:
        fps = float(video.get(cv2.CAP_PROP_FPS) or 0.0)
        index, next_t = 0, 0.0
        while video.grab():
            t = index / fps
            index += 1
            if t + 0.5 / fps < next_t:
                continue
            ok, frame = video.retrieve()
            if not ok:
                break
            next_t += interval_s
            yield t, frame[..., ::-1]
    finally:
        video.release()


def video_to_capture(
    video_path: str | os.PathLike,
    manifest: VideoManifest,
    out_dir: str | os.PathLike,
    max_frames: int = 5000,
    jpeg_quality: int = 92,
) -> dict:
    """Write ``out_dir/capture.json`` and ``out_dir/frames/*.jpg`` for the video (a capture directory).

    All or nothing: everything is written to a temporary folder beside ``out_dir`` and moved in at
    the end, ``capture.json`` last. Returns the capture manifest written. Raises
    :class:`CaptureError` when no frame falls within the pose track or there are too many. Without
    a pose track, every frame is written without a pose prior."""
    import cv2

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".video-", dir=out_dir.parent))
    try:
        (staging / "frames").mkdir()
        frames = []
        for t, rgb in sample_frames(video_path, manifest.interval_s):
            pose = pose_at(manifest.track, t) if manifest.track else None
            if manifest.track and pose is None:
                continue
            if len(frames) >= max_frames:
                raise CaptureError(
                    f"{Path(video_path).name}: more than {max_frames} frames at one every "
                    f"{manifest.interval_s} s; send a shorter walk or a longer interval"
                )
            name = f"frames/{len(frames):06d}.jpg"
            if not cv2.imwrite(
                str(staging / name),
                np.ascontiguousarray(rgb[..., ::-1]),
                [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality],
            ):
                raise CaptureError(f"{Path(video_path).name}: could not write frame at {t:.1f} s")
            frame = {"file": name, "timestamp": (manifest.started_at + dt.timedelta(seconds=t)).isoformat()}
            if pose is not None:
                frame["pose_prior"] = {
                    "position": [pose.x, pose.y, pose.z],
                    "yaw": pose.yaw,
                    "pitch": pose.pitch,
                    "roll": pose.roll,
                }
            frames.append(frame)
        if not frames and manifest.track:
            raise CaptureError(
                f"{Path(video_path).name}: no frame falls within the pose track "
                f"({manifest.track[0].t}–{manifest.track[-1].t} s)"
            )
        if not frames:
            raise CaptureError(f"{Path(video_path).name}: no frame could be taken from the video")
        capture = {
            "format": "sitetwin-capture/1",
            "capture_id": manifest.capture_id,
            "started_at": manifest.started_at.isoformat(),
            "frames": frames,
        }
        if manifest.device:
            capture["device"] = manifest.device
        if manifest.storey:
            capture["storey"] = manifest.storey
        if manifest.start is not None:
            capture["start"] = {"position": [manifest.start.x, manifest.start.y]}
            if manifest.start.yaw is not None:
                capture["start"]["heading_deg"] = math.degrees(manifest.start.yaw)
        (staging / "capture.json").write_text(json.dumps(capture, indent=1))
        target_frames = out_dir / "frames"
        if target_frames.exists():
            shutil.rmtree(target_frames)
        os.replace(staging / "frames", target_frames)
        os.replace(staging / "capture.json", out_dir / "capture.json")
        return capture
    finally:
        shutil.rmtree(staging, ignore_errors=True)


__all__ = [
    "VIDEO_SCHEMA_PATH",
    "TrackSample",
    "VideoManifest",
    "VideoProbe",
    "is_mp4",
    "is_video_manifest",
    "parse_video_manifest",
    "pose_at",
    "probe_video",
    "sample_frames",
    "video_to_capture",
]
