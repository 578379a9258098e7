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


def box_mesh(lo, hi, inverted=False, open_top=False):
    """Corners (T, 3, 3) of an axis-aligned box wound outwards (or inwards), optionally without its top."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    v = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]], np.float32)
    faces = [(0, 2, 1), (0, 3, 2), (4, 5, 6), (4, 6, 7), (0, 1, 5), (0, 5, 4),
             (1, 2, 6), (1, 6, 5), (2, 3, 7), (2, 7, 6), (3, 0, 4), (3, 4, 7)]
    if open_top:
        faces = [f for f in faces if f not in ((4, 5, 6), (4, 6, 7))]
    t = np.array(faces)
    return v[t[:, ::-1] if inverted else t]


def geometry_of(*meshes):
    from twin.geometry import Geometry

    corners = np.concatenate(meshes)
    owners = np.concatenate([np.full(len(m), k, np.int32) for k, m in enumerate(meshes)])
    aabb = np.array([np.concatenate([m.reshape(-1, 3).min(0), m.reshape(-1, 3).max(0)]) for m in meshes])
    triangles = np.arange(3 * len(corners), dtype=np.int32).reshape(-1, 3)
    return Geometry(corners.reshape(-1, 3), triangles, owners, aabb, np.ones(len(meshes), bool))


def test_closed_outward_shells_are_told_from_open_and_inward_ones():
    from twin.scene import closed_outward

    meshes = [box_mesh((0, 0, 0), (1, 1, 1)), box_mesh((2, 0, 0), (3, 1, 1), inverted=True),
              box_mesh((4, 0, 0), (5, 1, 1), open_top=True),
              # one element of two shells, the second wound inwards: only the first is closed outward
              np.concatenate([box_mesh((6, 0, 0), (7, 1, 1)),
                              box_mesh((6.2, 0.2, 1.5), (6.8, 0.8, 2), inverted=True)])]
    geometry = geometry_of(*meshes)
    closed = closed_outward(geometry.vertices[geometry.triangles], geometry.triangle_element)
    per_element = [closed[geometry.triangle_element == k] for k in range(len(meshes))]
    assert per_element[0].all()
    assert not per_element[1].any() and not per_element[2].any()
    assert per_element[3][:12].all() and not per_element[3][12:].any()


def test_a_ray_meets_a_closed_solid_once_in_the_scene_facing_its_origin():
    from twin.scene import ElementScene

    geometry = geometry_of(box_mesh((2, -1, -1), (3, 1, 1)),
                           box_mesh((5, -1, -1), (6, 1, 1), open_top=True))
    origin, ahead = np.array([0.0, 0.0, 0.0], np.float32), np.array([1.0, 0.0, 0.0], np.float32)
    both_sides, facing = ElementScene(geometry), ElementScene(geometry).facing(origin)

    def walk(scene):
        met, start = [], origin
        while True:
            hits = scene.cast(start[None], ahead[None])
            if hits.element[0] < 0:
                return met
            met.append((int(hits.element[0]), round(float(start[0] + hits.distance[0]), 4)))
            start = start + ahead * (hits.distance[0] + 1e-3)

    # both faces of each solid, entering and leaving; facing: the closed one only where it is entered
    assert walk(both_sides) == [(0, 2.0), (0, 3.0), (1, 5.0), (1, 6.0)]
    assert walk(facing) == [(0, 2.0), (1, 5.0), (1, 6.0)]
