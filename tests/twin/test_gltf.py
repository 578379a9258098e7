"""A storey as GLB: a valid glTF 2.0 container, one node per element named by GlobalId, the twin's
triangles exactly (in glTF's y-up frame), and a real reader (open3d/assimp) accepts it."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import shared_model
from tests.ifc_factory import make_room
from twin.elements import ElementRecord
from twin.geometry import Geometry, element_aabbs
from twin.gltf import Z_UP_TO_Y_UP, storey_glb, storey_rows
from twin.ifc import open_model
from twin.model import Twin, build_twin

COMPONENT_DTYPES = {5123: np.uint16, 5125: np.uint32, 5126: np.float32}
TYPE_WIDTH = {"SCALAR": 1, "VEC3": 3}


def parse_glb(data: bytes) -> tuple[dict, bytes]:
    """The JSON document and BIN chunk of a GLB, checking the container as the spec defines it."""
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF"
    assert version == 2
    assert length == len(data)
    json_length, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON"
    assert json_length % 4 == 0
    document = json.loads(data[20:20 + json_length])
    offset = 20 + json_length
    binary = b""
    if offset < len(data):
        bin_length, bin_type = struct.unpack_from("<I4s", data, offset)
        assert bin_type == b"BIN\0"
        assert bin_length % 4 == 0
        assert offset + 8 + bin_length == len(data)
        binary = data[offset + 8:offset + 8 + bin_length]
        assert bin_length >= document["buffers"][0]["byteLength"] > bin_length - 4
    return document, binary


def read_accessor(document: dict, binary: bytes, index: int) -> np.ndarray:
    accessor = document["accessors"][index]
    view = document["bufferViews"][accessor["bufferView"]]
    dtype = np.dtype(COMPONENT_DTYPES[accessor["componentType"]])
    start = view["byteOffset"] + accessor["byteOffset"]
    width = TYPE_WIDTH[accessor["type"]]
    assert start % dtype.itemsize == 0, "accessor must be aligned to its component size"
    assert accessor["byteOffset"] + accessor["count"] * width * dtype.itemsize <= view["byteLength"]
    values = np.frombuffer(binary, dtype, accessor["count"] * width, start)
    return values.reshape(-1, width) if width > 1 else values


def node_triangles(document: dict, binary: bytes) -> dict[str, np.ndarray]:
    """GlobalId -> (t, 3, 3) triangle corners in the glTF frame, checking each accessor on the way."""
    out = {}
    for node in document["nodes"]:
        (primitive,) = document["meshes"][node["mesh"]]["primitives"]
        assert primitive.get("mode", 4) == 4
        position_index = primitive["attributes"]["POSITION"]
        positions = read_accessor(document, binary, position_index)
        indices = read_accessor(document, binary, primitive["indices"])
        accessor = document["accessors"][position_index]
        # JSON numbers stand for float32 values here (glTF spec, accessor.min/max).
        np.testing.assert_array_equal(np.float32(accessor["min"]), positions.min(axis=0))
        np.testing.assert_array_equal(np.float32(accessor["max"]), positions.max(axis=0))
        assert indices.max() < len(positions)
        assert len(np.unique(indices)) == len(positions), "every vertex of an element is used"
        out[node["name"]] = positions[indices.reshape(-1, 3)]
    return out


def world_triangles(twin: Twin, row: int) -> np.ndarray:
    g = twin.geometry
    return g.vertices[g.triangles[g.triangle_element == row]]


def canonical(corners: np.ndarray) -> np.ndarray:
    """Triangles as a sorted array, so that two meshes compare whatever their triangle order."""
    flat = corners.reshape(len(corners), 9)
    return flat[np.lexsort(flat.T[::-1])]


def assert_storey_matches_twin(twin: Twin, rows: np.ndarray, data: bytes) -> dict:
    document, binary = parse_glb(data)
    triangles = node_triangles(document, binary)
    assert [n["name"] for n in document["nodes"]] == [twin.elements[r].global_id for r in rows]
    assert document["scenes"][document["scene"]]["nodes"] == list(range(len(rows)))
    for row in rows:
        expected = world_triangles(twin, row) @ Z_UP_TO_Y_UP.T
        np.testing.assert_array_equal(canonical(triangles[twin.elements[row].global_id]), canonical(expected))
    return document


@pytest.fixture(scope="module")
def room():
    return build_twin(make_room(), threads=1)


def test_the_room_storey_has_a_node_per_element_with_its_triangles(room):
    rows = storey_rows(room, room.storeys[0].global_id)
    assert len(rows) == sum(e.physical for e in room.elements) - 1  # the stair assembly has no shape
    assert_storey_matches_twin(room, rows, storey_glb(room, rows))


def test_world_up_becomes_gltf_up(room):
    floor = next(i for i, e in enumerate(room.elements) if e.name == "Floor")
    document, _ = parse_glb(storey_glb(room, np.array([floor])))
    (accessor,) = [a for a in document["accessors"] if a["type"] == "VEC3"]
    xmin, ymin, zmin, xmax, ymax, zmax = room.geometry.aabb[floor]
    np.testing.assert_allclose(accessor["min"], [xmin, zmin, -ymax], atol=1e-6)
    np.testing.assert_allclose(accessor["max"], [xmax, zmax, -ymin], atol=1e-6)


def test_nodes_follow_the_order_of_rows(room):
    rows = storey_rows(room, room.storeys[0].global_id)[::-1].copy()
    assert_storey_matches_twin(room, rows, storey_glb(room, rows))


def test_an_empty_storey_is_a_valid_file_without_a_buffer(room):
    document, binary = parse_glb(storey_glb(room, np.array([], dtype=np.int64)))
    assert binary == b""
    assert document["scenes"] == [{}]
    assert "buffers" not in document


def test_rows_without_triangles_get_no_node(room):
    stair = next(i for i, e in enumerate(room.elements) if e.name == "Stair")
    floor = next(i for i, e in enumerate(room.elements) if e.name == "Floor")
    document, _ = parse_glb(storey_glb(room, np.array([stair, floor])))
    assert [n["name"] for n in document["nodes"]] == [room.elements[floor].global_id]


@pytest.mark.parametrize("rows", [[0, 0], [[0, 1]], [99], [-1], [0.5]])
def test_bad_rows_are_refused(room, rows):
    with pytest.raises(ValueError):
        storey_glb(room, np.array(rows))


def test_the_input_geometry_is_not_modified(room):
    before = {k: getattr(room.geometry, k).copy() for k in ("vertices", "triangles", "triangle_element")}
    storey_glb(room, storey_rows(room, room.storeys[0].global_id))
    for name, array in before.items():
        np.testing.assert_array_equal(getattr(room.geometry, name), array)


def test_open3d_reads_the_file(room, tmp_path):
    import open3d as o3d

    rows = storey_rows(room, room.storeys[0].global_id)
    path = tmp_path / "storey.glb"
    path.write_bytes(storey_glb(room, rows))
    mesh = o3d.io.read_triangle_mesh(str(path))
    corners = np.concatenate([world_triangles(room, r) for r in rows]) @ Z_UP_TO_Y_UP.T
    assert len(mesh.triangles) == len(corners)
    bounds = np.asarray(mesh.vertices)
    np.testing.assert_allclose(bounds.min(axis=0), corners.reshape(-1, 3).min(axis=0), atol=1e-5)
    np.testing.assert_allclose(bounds.max(axis=0), corners.reshape(-1, 3).max(axis=0), atol=1e-5)


def synthetic_twin(rng: np.random.Generator, n_elements: int, n_vertices: int, n_triangles: int) -> Twin:
    """Random triangles over a shared vertex pool (so elements share world vertices), random owners."""
    vertices = rng.uniform(-50, 50, (n_vertices, 3)).astype(np.float32)
    triangles = rng.integers(0, n_vertices, (n_triangles, 3)).astype(np.int32)
    owner = rng.integers(0, n_elements, n_triangles).astype(np.int32)
    elements = [ElementRecord(global_id=f"E{i:05d}", ifc_class="IfcWall", predefined_type=None, name=None,
                              type_name=None, storey="S", materials=[], properties={}, assembly=None,
                              tracked_class="wall", physical=True) for i in range(n_elements)]
    aabb = element_aabbs(vertices, triangles, owner, n_elements)
    geometry = Geometry(vertices, triangles, owner, aabb, np.isfinite(aabb[:, 0]))
    return Twin("IFC4", elements, [], geometry)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_elements=st.integers(1, 12), n_triangles=st.integers(0, 60))
def test_any_selection_of_random_meshes_round_trips(seed, n_elements, n_triangles):
    rng = np.random.default_rng(seed)
    twin = synthetic_twin(rng, n_elements, 40, n_triangles)
    chosen = rng.permutation(n_elements)[:rng.integers(0, n_elements + 1)]
    rows = chosen[twin.geometry.has_triangles[chosen]]
    data = storey_glb(twin, chosen)
    if len(rows):
        assert_storey_matches_twin(twin, rows, data)
    else:
        assert "nodes" not in parse_glb(data)[0]


@pytest.mark.parametrize(("n_vertices", "component_type"), [(65_535, 5123), (65_536, 5125)])
def test_indices_are_32_bit_once_an_element_needs_index_65535(n_vertices, component_type):
    """65,535 is the primitive-restart value of 16-bit indices, which glTF forbids as an index."""
    rng = np.random.default_rng(3)
    twin = synthetic_twin(rng, 1, n_vertices, 0)
    ring = np.arange(n_vertices)
    g = twin.geometry
    g.triangles = np.stack([ring, np.roll(ring, 1), np.roll(ring, 2)], axis=1).astype(np.int32)
    g.triangle_element = np.zeros(n_vertices, np.int32)
    g.aabb = element_aabbs(g.vertices, g.triangles, g.triangle_element, 1)
    document = assert_storey_matches_twin(twin, np.array([0]), storey_glb(twin, np.array([0])))
    assert {a["componentType"] for a in document["accessors"] if a["type"] == "SCALAR"} == {component_type}


@pytest.fixture(scope="module")
def haus():
    return build_twin(open_model(shared_model("AC20-FZK-Haus.ifc")), threads=2)


def test_every_storey_of_a_real_model_round_trips(haus):
    placed = set()
    for storey in haus.storeys:
        rows = storey_rows(haus, storey.global_id)
        assert_storey_matches_twin(haus, rows, storey_glb(haus, rows))
        placed.update(rows.tolist())
    drawable = np.flatnonzero(haus.physical_mask & haus.geometry.has_triangles)
    on_a_storey = {i for i in drawable if haus.elements[i].storey is not None}
    assert placed == on_a_storey
    assert len(placed) > 50


@pytest.mark.slow
def test_a_generated_building_round_trips_storey_by_storey(tmp_path):
    from twin.generate import generate_building

    path = tmp_path / "sample.ifc"
    generate_building(path, storeys=2, bays=(3, 2), seed=5)
    twin = build_twin(open_model(path), threads=2)
    total = 0
    for storey in twin.storeys:
        rows = storey_rows(twin, storey.global_id)
        assert_storey_matches_twin(twin, rows, storey_glb(twin, rows))
        total += len(rows)
    assert total == int((twin.physical_mask & twin.geometry.has_triangles).sum())
