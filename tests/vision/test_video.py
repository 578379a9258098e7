"""360° MP4 → capture directory: frames at the interval, poses interpolated from the track."""

from __future__ import annotations

import datetime as dt
import json
import math

import cv2
import numpy as np
import pytest

from vision.capture import CaptureError, read_capture
from vision.video import is_mp4, parse_video_manifest, pose_at, probe_video, video_to_capture

FPS = 10


def write_mp4(path, seconds: float, width: int = 256) -> None:
    """A 2:1 video whose frame k is a flat grey of level 8·k (so a frame tells its own index)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, width // 2))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for k in range(round(seconds * FPS)):
        writer.write(np.full((width // 2, width, 3), 8 * k, np.uint8))
    writer.release()


def manifest(track, interval=1.0, **extra):
    return {
        "format": "sitetwin-video/1",
        "capture_id": "walk-1",
        "started_at": "2026-11-20T09:00:00Z",
        "interval_s": interval,
        "track": track,
        **extra,
    }


def sample(t, x, yaw=0.0):
    return {"t": t, "pose": {"position": [x, 2.0, 1.7], "yaw": yaw}}


def test_poses_are_interpolated_linearly_and_angles_the_short_way_round():
    parsed = parse_video_manifest(manifest([sample(0, 0.0, 3.0), sample(2, 4.0, -3.0)]))
    middle = pose_at(parsed.track, 1.0)
    assert middle.x == pytest.approx(2.0) and middle.y == pytest.approx(2.0)
    # from 3.0 to -3.0 rad the short way crosses ±π (0.28 rad), not 0 (6 rad)
    assert abs(math.remainder(middle.yaw - math.pi, 2 * math.pi)) < 0.01
    assert pose_at(parsed.track, 2.5) is None and pose_at(parsed.track, -0.1) is None


def test_a_track_out_of_order_or_not_finite_is_refused():
    with pytest.raises(CaptureError, match="does not follow"):
        parse_video_manifest(manifest([sample(1, 0.0), sample(1, 1.0)]))
    with pytest.raises(CaptureError, match="track/0"):
        parse_video_manifest(manifest([{"t": 0, "pose": {"position": [0, 0, 1.7], "yaw": 9}}]))


def test_frames_are_taken_at_the_interval_with_their_interpolated_pose(tmp_path):
    video = tmp_path / "walk.mp4"
    write_mp4(video, seconds=3.0)
    assert is_mp4(video.read_bytes()[:16]) and not is_mp4(b"\xff\xd8\xff\xe0" + bytes(12))
    probe = probe_video(video)
    assert (probe.width, probe.height, probe.fps) == (256, 128, FPS) and probe.duration_s == pytest.approx(
        3.0
    )
    parsed = parse_video_manifest(manifest([sample(0.5, 0.0), sample(2.5, 2.0)], interval=0.5))
    out = tmp_path / "capture"
    written = video_to_capture(video, parsed, out)
    times = [0.5, 1.0, 1.5, 2.0, 2.5]  # 0.0 is before the track starts, 3.0 past the end of the video
    start = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    assert [
        (dt.datetime.fromisoformat(f["timestamp"]) - start).total_seconds() for f in written["frames"]
    ] == times
    assert [f["pose_prior"]["position"][0] for f in written["frames"]] == pytest.approx(
        [t - 0.5 for t in times]
    )
    capture = read_capture(out)  # a regular capture directory
    for frame, t in zip(capture.frames, times, strict=True):
        image = cv2.imread(str(out / frame.file))
        assert image.shape == (128, 256, 3)
        assert abs(int(image.mean()) - 8 * round(t * FPS)) <= 3  # the frame shown at t, not another
    assert json.loads((out / "capture.json").read_text())["capture_id"] == "walk-1"


def test_a_video_without_a_track_gives_every_frame_without_a_pose_prior_and_keeps_its_start(tmp_path):
    video = tmp_path / "walk.mp4"
    write_mp4(video, seconds=2.0)
    body = manifest([], interval=0.5, start={"position": [1.5, 2.5], "heading_deg": 45.0})
    del body["track"]
    parsed = parse_video_manifest(body)
    assert parsed.track == [] and parsed.start.yaw == pytest.approx(math.pi / 4)
    written = video_to_capture(video, parsed, tmp_path / "capture")
    assert len(written["frames"]) == 4  # 0.0, 0.5, 1.0, 1.5 s: no track to leave any out
    assert all("pose_prior" not in f for f in written["frames"])
    capture = read_capture(tmp_path / "capture")
    assert [f.pose_prior for f in capture.frames] == [None] * 4
    assert (capture.start.x, capture.start.y) == (1.5, 2.5)
    assert capture.start.yaw == pytest.approx(math.pi / 4)


def test_a_video_outside_the_track_writes_nothing(tmp_path):
    video = tmp_path / "walk.mp4"
    write_mp4(video, seconds=1.0)
    parsed = parse_video_manifest(manifest([sample(5.0, 0.0), sample(6.0, 1.0)]))
    with pytest.raises(CaptureError, match="no frame falls within the pose track"):
        video_to_capture(video, parsed, tmp_path / "capture")
    assert not (tmp_path / "capture" / "capture.json").exists()
    assert not list(tmp_path.glob(".video-*"))


def test_a_file_that_is_not_a_video_is_named(tmp_path):
    bogus = tmp_path / "walk.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(100))
    with pytest.raises(CaptureError, match="walk.mp4: OpenCV cannot decode"):
        probe_video(bogus)
