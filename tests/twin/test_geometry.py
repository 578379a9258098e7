import numpy as np
import pytest

from tests.ifc_factory import make_room
from twin.model import build_twin, load_twin, save_twin


@pytest.fixture(scope="module")
def twin():
    return build_twin(make_room(unit="MILLIMETRE"), threads=2)


def row(twin, name):
    return next(i for i, e in enumerate(twin.elements) if e.name == name)


def test_a_millimetre_model_comes_out_in_metres(twin):
    np.testing.assert_allclose(twin.geometry.aabb[row(twin, "South")], [0, 0, 3, 6, 0.2, 5.7], atol=1e-4)


def test_an_assembly_without_its_own_shape_is_kept_as_a_record(twin):
    stair = row(twin, "Stair")
    assert not twin.geometry.shaped[stair]
    assert np.isnan(twin.geometry.aabb[stair]).all()
    assert twin.geometry.shaped[row(twin, "Flight")]


def test_triangles_belong_to_their_element(twin):
    g = twin.geometry
    for i in np.flatnonzero(g.shaped):
        corners = g.vertices[g.triangles[g.triangle_element == i]].reshape(-1, 3)
        np.testing.assert_allclose(corners.min(0), g.aabb[i, :3], atol=1e-5)
        np.testing.assert_allclose(corners.max(0), g.aabb[i, 3:], atol=1e-5)


def test_a_ray_hit_maps_back_to_the_element(twin):
    scene = twin.scene()
    # From the room's centre at 4 m towards -y: the south wall's inner face is at y = 0.2.
    hits = scene.cast(np.array([[3.0, 2.0, 4.0]]), np.array([[0.0, -1.0, 0.0]]))
    assert hits.element[0] == row(twin, "South")
    assert hits.distance[0] == pytest.approx(1.8, abs=1e-4)
    np.testing.assert_allclose(np.abs(hits.normal[0]), [0, 1, 0], atol=1e-5)


def test_an_element_left_out_of_the_scene_is_seen_through(twin):
    mask = np.ones(len(twin.elements), bool)
    mask[row(twin, "South")] = False
    hits = twin.scene(mask).cast(np.array([[3.0, 2.0, 4.0]]), np.array([[0.0, -1.0, 0.0]]))
    assert hits.element[0] == -1
    assert np.isinf(hits.distance[0])


def test_the_cache_round_trips(twin, tmp_path):
    loaded = load_twin(save_twin(twin, tmp_path / "twin.npz"))
    assert loaded.elements == twin.elements
    assert loaded.storeys == twin.storeys
    for name in ("vertices", "triangles", "triangle_element", "aabb", "shaped"):
        np.testing.assert_array_equal(getattr(loaded.geometry, name), getattr(twin.geometry, name))
    assert not list(tmp_path.glob("*.tmp"))
