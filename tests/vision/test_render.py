import numpy as np
import open3d as o3d
import pytest

from tests.conftest import shared_model
from twin.ifc import open_model
from twin.model import build_twin
from vision.equirect import pixel_to_direction
from vision.pose import Pose
from vision.render import Appearance, Intrinsics, RenderScene, render_equirect, render_perspective

POSE = Pose(9.0, 3.0, 1.7, yaw=0.4, pitch=0.05, roll=-0.02)


def test_frames_are_two_to_one_with_aligned_images(sample):
    _, twin, scene, state = sample
    render = render_equirect(scene, POSE, 256, state)
    assert render.rgb.shape == (128, 256, 3) and render.rgb.dtype == np.uint8
    assert render.element.shape == render.depth.shape == (128, 256)
    assert render.normal.shape == (128, 256, 3)


def test_renders_agree_with_independent_single_ray_casts(sample):
    _, twin, scene, state = sample
    width = 256
    render = render_equirect(scene, POSE, width, state)
    # An independent scene: the raw Open3D API, one mesh per built element, one ray at a time.
    raw = o3d.t.geometry.RaycastingScene()
    geometry_to_row = {}
    g = twin.geometry
    for row in np.flatnonzero((state > 0) & twin.physical_mask):
        triangles = g.triangles[g.triangle_element == row]
        if len(triangles):
            gid = raw.add_triangles(o3d.core.Tensor(g.vertices), o3d.core.Tensor(triangles.astype(np.uint32)))
            geometry_to_row[gid] = row
    rng = np.random.default_rng(0)
    for u, v in zip(rng.integers(0, width, 60), rng.integers(0, width // 2, 60), strict=True):
        direction = POSE.rotation @ pixel_to_direction(u, v, width)
        ray = o3d.core.Tensor([[POSE.x, POSE.y, POSE.z, *direction]], dtype=o3d.core.float32)
        hit = raw.cast_rays(ray)
        t = float(hit["t_hit"].numpy()[0])
        if np.isinf(t):
            assert render.element[v, u] == -1
            continue
        assert render.element[v, u] == geometry_to_row[int(hit["geometry_ids"].numpy()[0])]
        assert abs(render.depth[v, u] - t) < 1e-3


def test_an_unbuilt_element_is_seen_through(sample):
    _, twin, scene, state = sample
    full = scene.full_state()
    render = render_equirect(scene, POSE, 256, full)
    front = render.element[64, 128]
    assert front >= 0
    without = full.copy()
    without[front] = 0
    again = render_equirect(scene, POSE, 256, without)
    assert front not in again.element
    assert again.depth[64, 128] > render.depth[64, 128]


def test_stages_look_different(sample):
    _, twin, scene, _ = sample
    full = scene.full_state()
    walls = np.array([e.tracked_class == "wall" for e in twin.elements])
    looks = []
    for stage in (1, 2, 3):
        state = full.copy()
        state[walls] = stage
        render = render_equirect(scene, POSE, 256, state)
        looks.append(render.rgb[np.isin(render.element, np.flatnonzero(walls))].mean(axis=0))
    assert np.abs(looks[0] - looks[1]).max() > 10 and np.abs(looks[1] - looks[2]).max() > 10


def test_randomised_appearance_is_reproducible(sample):
    _, _, scene, state = sample
    a = render_equirect(scene, POSE, 128, state, Appearance.randomised(5)).rgb
    b = render_equirect(scene, POSE, 128, state, Appearance.randomised(5)).rgb
    c = render_equirect(scene, POSE, 128, state, Appearance.randomised(6)).rgb
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_perspective_centre_ray_matches_the_panorama_centre(sample):
    _, _, scene, state = sample
    pano = render_equirect(scene, POSE, 512, state)
    persp = render_perspective(scene, POSE, Intrinsics.from_fov(65, 65, 90.0), state)
    assert persp.element[32, 32] == pano.element[128, 256]
    assert abs(persp.depth[32, 32] - pano.depth[128, 256]) < 0.05


def test_a_real_model_renders():
    twin = build_twin(open_model(shared_model("AC20-FZK-Haus.ifc")), threads=2)
    scene = RenderScene(twin)
    render = render_equirect(scene, Pose(5.0, 5.0, 1.6), 256)
    assert (render.element >= 0).mean() > 0.5
    assert len(np.unique(render.element)) > 5


def test_a_state_of_the_wrong_length_is_refused(sample):
    _, _, scene, _ = sample
    with pytest.raises(ValueError, match="one stage per element"):
        render_equirect(scene, POSE, 64, np.zeros(3, np.int8))
