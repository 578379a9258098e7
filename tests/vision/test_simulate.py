import json

import jsonschema
import numpy as np
import pytest

from vision.capture import capture_schema, read_capture
from vision.equirect import world_rays
from vision.pose import Pose
from vision.simulate import CLEARANCE, PoseNoise, simulate_capture


@pytest.fixture(scope="module")
def capture(sample, tmp_path_factory):
    _, twin, scene, state = sample
    out = tmp_path_factory.mktemp("cap") / "walk"
    result = simulate_capture(twin, state, twin.storeys[0].global_id, out, frames=6, seed=4, width=256,
                              render_scene=scene)
    return out, result


def test_the_capture_follows_its_schema_and_reads_back(capture):
    out, result = capture
    data = json.loads((out / "capture.json").read_text())
    jsonschema.validate(data, capture_schema())
    manifest = read_capture(out)
    assert len(manifest.frames) == result.frames == 6


def test_frames_are_two_to_one_jpegs(capture):
    import cv2

    out, _ = capture
    for path in sorted((out / "frames").glob("*.jpg")):
        image = cv2.imread(str(path))
        assert image.shape[1] == 2 * image.shape[0]


def test_ground_truth_visible_pixels_match_the_id_image(capture, sample):
    from vision.render import Appearance, render_equirect

    _, twin, scene, state = sample
    out, _ = capture
    truth = json.loads((out / "ground_truth.json").read_text())
    rows = {gid: i for i, gid in enumerate(twin.global_ids)}
    for frame in truth["frames"][:3]:
        render = render_equirect(scene, Pose.from_dict(frame["pose"]), 256, state, Appearance())
        for gid, pixels in frame["visible"].items():
            assert (render.element == rows[gid]).sum() == pixels
        assert sum(frame["visible"].values()) == (render.element >= 0).sum()


def test_the_walk_keeps_clear_of_built_surfaces_at_helmet_height(capture, sample):
    _, twin, scene, state = sample
    _, result = capture
    built = scene.scene(state)
    elevation = twin.storeys[0].elevation
    for pose in result.true_poses:
        assert 1.5 <= pose.z - elevation <= 2.0
        origin, directions = world_rays(Pose(pose.x, pose.y, pose.z), 32)
        horizontal = directions[8]  # the horizon row
        assert built.cast(np.broadcast_to(origin, horizontal.shape), horizontal).distance.min() >= CLEARANCE * 0.9
    for a, b in zip(result.true_poses, result.true_poses[1:], strict=False):
        step = np.hypot(b.x - a.x, b.y - a.y)
        assert 0.3 < step <= 2.5
        direction = np.array([[b.x - a.x, b.y - a.y, 0.0]]) / step
        origin = np.array([[a.x, a.y, elevation + 1.0]])
        assert built.cast(origin, direction).distance[0] > step  # nothing built between frames


def test_pose_priors_carry_the_configured_error(sample, tmp_path):
    _, twin, scene, state = sample
    result = simulate_capture(twin, state, twin.storeys[0].global_id, tmp_path / "noisy", frames=40, seed=9,
                              width=64, render_scene=scene, pose_noise=PoseNoise(position_sigma=0.3, drift=0.5))
    errors = [np.hypot(p.x - t.x, p.y - t.y) for p, t in zip(result.prior_poses, result.true_poses, strict=True)]
    assert 0.15 < np.sqrt(np.mean(np.square(errors)) / 2) < 0.6


def test_a_camera_without_tracking_gives_gravity_and_at_most_the_storey_and_a_start(sample, tmp_path):
    _, twin, scene, state = sample
    storey = twin.storeys[0].global_id
    written = {}
    for prior in ("noisy", "start", "none"):
        result = simulate_capture(twin, state, storey, tmp_path / prior, frames=3, seed=5, width=64,
                                  render_scene=scene, prior=prior)
        written[prior] = json.loads((tmp_path / prior / "capture.json").read_text())
        assert read_capture(tmp_path / prior).frames  # valid for the reader either way
    assert all("pose_prior" in f and "gravity" not in f for f in written["noisy"]["frames"])
    for prior in ("start", "none"):
        frames = written[prior]["frames"]
        assert all("pose_prior" not in f for f in frames)
        # the IMU's gravity: the true tilt give or take its σ (1°)
        for f, truth in zip(frames, result.true_poses, strict=True):
            assert abs(f["gravity"]["pitch"] - truth.pitch) < np.radians(5)
    assert written["start"]["storey"] == storey and "storey" not in written["none"]
    first = result.true_poses[0]
    assert np.hypot(*(np.array(written["start"]["start"]["position"]) - [first.x, first.y])) < 1.5
    assert "start" not in written["none"] and "start" not in written["noisy"]
    with pytest.raises(ValueError, match="prior must be one of"):
        simulate_capture(twin, state, storey, tmp_path / "bad", frames=1, width=64, render_scene=scene,
                         prior="gps")


def test_a_seed_reproduces_a_capture_exactly(sample, tmp_path):
    _, twin, scene, state = sample
    for name in ("a", "b"):
        simulate_capture(twin, state, twin.storeys[0].global_id, tmp_path / name, frames=3, seed=21, width=128,
                         render_scene=scene)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_one_stands_on_slabs_and_floor_coverings_not_on_ceilings(sample):
    from vision.simulate import storey_extent, floors, free_points

    _, twin, scene, _ = sample
    mask = floors(twin)
    assert all(m == e.ifc_class.startswith("IfcSlab") for e, m in zip(twin.elements, mask, strict=True))
    assert not mask[[i for i, e in enumerate(twin.elements) if e.tracked_class == "ceiling"]].any()
    lo, hi, elevation = storey_extent(twin, twin.storeys[0].global_id)
    full = scene.scene(None)
    standing = free_points(full, lo, hi, elevation, mask)
    anything = np.ones_like(mask)  # any surface near the elevation, as before the floor rule
    assert len(standing) and len(standing) == len(free_points(full, lo, hi, elevation, anything))
    assert len(free_points(full, lo, hi, elevation, np.zeros_like(mask))) == 0  # nothing to stand on
