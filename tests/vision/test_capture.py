"""The frame manifest (capture.json): pose priors optional, a start point or gravity instead."""

from __future__ import annotations

import math

import pytest

from vision.capture import CaptureError, PoseBounds, parse_manifest


def manifest(frames=2, **fields):
    return {"format": "sitetwin-capture/1", "capture_id": "walk-1", "started_at": "2026-01-05T09:00:00Z",
            "frames": [{"file": f"frames/{k:06d}.jpg", "timestamp": f"2026-01-05T09:00:{k:02d}Z"}
                       for k in range(frames)], **fields}


def test_a_manifest_with_pose_priors_parses_as_before():
    body = manifest()
    body["frames"][0]["pose_prior"] = {"position": [1.0, 2.0, 1.7], "yaw": 0.1, "pitch": -0.02, "roll": 0.01}
    body["frames"][1]["pose_prior"] = {"position": [2.0, 2.0, 1.7], "yaw": 0.2}
    parsed = parse_manifest(body)
    first, second = parsed.frames
    assert first.pose_prior.as_list() == pytest.approx([1.0, 2.0, 1.7, 0.1, -0.02, 0.01])
    assert first.gravity == pytest.approx((-0.02, 0.01))
    assert second.pose_prior.as_list() == pytest.approx([2.0, 2.0, 1.7, 0.2, 0.0, 0.0])
    assert second.gravity is None  # a prior without pitch and roll says nothing of gravity
    assert parsed.start is None


def test_a_manifest_without_poses_validates_with_a_start_and_gravity():
    body = manifest(start={"position": [3.5, -1.25], "heading_deg": 90})
    body["frames"][1]["gravity"] = {"pitch": 0.05, "roll": -0.03}
    parsed = parse_manifest(body, bounds=PoseBounds((-10.0, -10.0, -1.0), (10.0, 10.0, 5.0)))
    assert [f.pose_prior for f in parsed.frames] == [None, None]
    assert parsed.frames[0].gravity is None and parsed.frames[1].gravity == pytest.approx((0.05, -0.03))
    assert (parsed.start.x, parsed.start.y) == (3.5, -1.25)
    assert parsed.start.yaw == pytest.approx(math.pi / 2)
    assert parse_manifest(manifest(start={"position": [0.0, 0.0]})).start.yaw is None


def test_a_start_outside_the_model_or_a_frame_with_a_prior_and_gravity_is_refused():
    bounds = PoseBounds((-10.0, -10.0, -1.0), (10.0, 10.0, 5.0))
    with pytest.raises(CaptureError, match="start position .* outside the model's extent"):
        parse_manifest(manifest(start={"position": [30.0, 0.0]}), bounds=bounds)
    with pytest.raises(CaptureError, match="start"):
        parse_manifest(manifest(start={"position": [1.0, 2.0, 3.0]}))
    body = manifest()
    body["frames"][0].update(pose_prior={"position": [1.0, 2.0, 1.7], "yaw": 0.1},
                             gravity={"pitch": 0.0, "roll": 0.0})
    with pytest.raises(CaptureError, match="frames/0"):
        parse_manifest(body)
