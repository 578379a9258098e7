"""The storey floor plan: sections at the cut, outlines below and above, SVG paths in the documented frame."""

import collections
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import shared_model
from twin.elements import ElementRecord, StoreyRecord
from twin.geometry import Geometry, element_aabbs
from twin.ifc import open_model
from twin.model import Twin, build_twin
from twin.plan import (
    COLLINEAR,
    QUANTUM,
    _grouped_convex_hulls,
    plan_svg_paths,
    storey_plan,
    svg_viewbox,
    to_svg,
)

# Corner k of a box is (x[k >> 2 & 1], y[k >> 1 & 1], z[k & 1]); 12 outward triangles.
BOX_FACES = np.array([(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
                      (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)])


def box(lo, hi, yaw=0.0):
    """(8, 3) corners and (12, 3) triangles of a box, turned by ``yaw`` radians about z through the origin."""
    corners = np.array([[(lo[0], hi[0])[k >> 2 & 1], (lo[1], hi[1])[k >> 1 & 1], (lo[2], hi[2])[k & 1]]
                        for k in range(8)], float)
    c, s = np.cos(yaw), np.sin(yaw)
    corners[:, :2] = corners[:, :2] @ np.array([[c, s], [-s, c]])
    return corners, BOX_FACES


def make_twin(parts, storeys=(("S0", 0.0),)):
    """A twin by hand. parts: (name, storey, physical, [(vertices, triangles), ...]) per element."""
    blocks, faces, owners = [], [], []
    offset = 0
    for row, (_, _, _, meshes) in enumerate(parts):
        for vertices, triangles in meshes:
            blocks.append(vertices)
            faces.append(triangles + offset)
            owners += [row] * len(triangles)
            offset += len(vertices)
    vertices = np.concatenate(blocks).astype(np.float32)
    triangles = np.concatenate(faces).astype(np.int32)
    owner = np.asarray(owners, np.int32)
    geometry = Geometry(vertices, triangles, owner, element_aabbs(vertices, triangles, owner, len(parts)),
                        np.ones(len(parts), bool))
    elements = [ElementRecord(name, "IfcBuildingElementProxy", None, name, None, storey, [], {}, None, None,
                              physical) for name, storey, physical, _ in parts]
    return Twin("IFC4", elements, [StoreyRecord(gid, gid, z) for gid, z in storeys], geometry)


def polygon_of(plan, global_id):
    return plan.polygons[plan.global_ids.index(global_id)]


def kind_of(plan, global_id):
    return str(plan.kind[plan.global_ids.index(global_id)])


@pytest.fixture(scope="module")
def room():
    return make_twin([
        ("WALL", "S0", True, [box((0, 0, 0), (5, 0.2, 3))]),
        ("SLAB", "S0", True, [box((-1, -1, -0.2), (6, 4, 0))]),
        ("TABLE", "S0", True, [box((1, 1, 0), (2, 3, 0.75))]),
        ("CEILING", "S0", True, [box((0, 0, 2.5), (5, 4, 2.52))]),
        ("OPENING", "S0", False, [box((1, -0.1, 0), (2, 0.3, 2))]),
        ("UPSTAIRS", "S1", True, [box((0, 0, 3.2), (5, 0.2, 6))]),
    ], storeys=(("S0", 0.0), ("S1", 3.2)))


def test_a_wall_crossing_the_cut_is_drawn_as_its_section(room):
    plan = storey_plan(room, "S0")
    assert kind_of(plan, "WALL") == "cut"
    wall = polygon_of(plan, "WALL")
    np.testing.assert_allclose(wall.min(0), [0, 0], atol=QUANTUM)
    np.testing.assert_allclose(wall.max(0), [5, 0.2], atol=QUANTUM)
    assert plan.area[plan.global_ids.index("WALL")] == pytest.approx(1.0, abs=1e-3)


def test_a_slab_and_a_table_below_the_cut_are_drawn_as_outlines_larger_first(room):
    plan = storey_plan(room, "S0")
    assert kind_of(plan, "SLAB") == kind_of(plan, "TABLE") == "below"
    assert plan.area[plan.global_ids.index("SLAB")] == pytest.approx(35.0, abs=1e-3)
    assert plan.area[plan.global_ids.index("TABLE")] == pytest.approx(2.0, abs=1e-3)
    assert plan.global_ids.index("SLAB") < plan.global_ids.index("TABLE") < plan.global_ids.index("WALL")


def test_a_ceiling_above_the_cut_is_flagged_above_and_drawn_last(room):
    plan = storey_plan(room, "S0")
    assert kind_of(plan, "CEILING") == "above"
    assert plan.above.tolist() == [k == "above" for k in plan.kind]
    assert plan.global_ids[-1] == "CEILING"


def test_openings_and_other_storeys_are_left_out(room):
    plan = storey_plan(room, "S0")
    assert sorted(plan.global_ids) == ["CEILING", "SLAB", "TABLE", "WALL"]
    assert [room.elements[r].global_id for r in plan.rows] == plan.global_ids
    np.testing.assert_allclose(plan.bounds, [-1, -1, 6, 4], atol=QUANTUM)


def test_the_cut_is_at_the_storey_elevation_plus_the_cut_height(room):
    upstairs = storey_plan(room, "S1")
    assert upstairs.cut_z == pytest.approx(4.2)
    assert upstairs.global_ids == ["UPSTAIRS"] and upstairs.kind.tolist() == ["cut"]
    high = storey_plan(room, "S0", cut_height=2.51)
    assert kind_of(high, "CEILING") == "cut" and kind_of(high, "WALL") == "cut"
    low = storey_plan(room, "S0", cut_height=0.5)
    assert kind_of(low, "TABLE") == "cut"
    with pytest.raises(KeyError, match="NOPE"):
        storey_plan(room, "NOPE")


def test_a_turned_wall_keeps_its_section_area_and_lies_inside_its_box():
    yaw = np.radians(30)
    twin = make_twin([("WALL", "S0", True, [box((0, 0, 0), (4, 0.25, 3), yaw=yaw)])])
    plan = storey_plan(twin, "S0", cut_height=1.3)
    assert plan.area[0] == pytest.approx(1.0, abs=1e-3)
    assert len(plan.polygons[0]) == 4
    aabb = twin.geometry.aabb[0]
    assert (plan.points >= aabb[:2] - QUANTUM).all() and (plan.points <= aabb[3:5] + QUANTUM).all()


def test_an_element_with_no_triangle_across_the_cut_falls_back_to_its_outline():
    plates = [box((0, 0, 0), (1, 1, 0.1)), box((0, 0, 2), (2, 1, 2.1))]  # one each side of the plane
    plan = storey_plan(make_twin([("SHELF", "S0", True, plates)]), "S0")
    assert plan.kind.tolist() == ["below"]
    assert plan.area[0] == pytest.approx(2.0, abs=1e-3)


def test_an_empty_storey_gives_an_empty_plan():
    wall = ("WALL", "S0", True, [box((0, 0, 0), (5, 0.2, 3))])
    twin = make_twin([wall], storeys=(("S0", 0.0), ("S1", 3.2)))
    plan = storey_plan(twin, "S1")
    assert len(plan) == 0 and plan.polygons == []
    assert np.isnan(plan.bounds).all()
    assert plan_svg_paths(plan) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-50, 50), st.integers(-50, 50)),
                min_size=1, max_size=60))
def test_grouped_hulls_are_convex_contain_their_points_and_use_only_them(points):
    group = np.array([p[0] for p in points])
    xy = np.array([p[1:] for p in points], float) * 0.01  # a centimetre grid: collinear points are common
    groups, hull, offsets = _grouped_convex_hulls(group, xy)
    assert groups.tolist() == sorted(set(group.tolist()))
    for g, start, end in zip(groups, offsets[:-1], offsets[1:], strict=True):
        mine = np.round(xy[group == g] / QUANTUM).astype(np.int64)
        poly = np.round(hull[start:end] / QUANTUM).astype(np.int64)
        assert {tuple(p) for p in poly} <= {tuple(p) for p in mine}
        assert len({tuple(p) for p in poly}) == len(poly)
        if len(poly) < 3:
            # All the group's points lie on the segment (or point) the hull is.
            a, b = poly[0], poly[-1]
            cross = (b[0] - a[0]) * (mine[:, 1] - a[1]) - (b[1] - a[1]) * (mine[:, 0] - a[0])
            assert (cross == 0).all()
            continue
        edges = np.roll(poly, -1, axis=0) - poly
        turn = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
        assert (turn > 0).all()  # strictly convex, counter-clockwise
        rel = mine[None, :, :] - poly[:, None, :]  # (edges, points, 2)
        inside = edges[:, None, 0] * rel[:, :, 1] - edges[:, None, 1] * rel[:, :, 0]
        # Inside or on every edge, up to the 0.2 mm that near-collinear vertices may be dropped by.
        length = np.hypot(edges[:, 0], edges[:, 1])[:, None]
        assert (inside >= -COLLINEAR * length * 2).all()


def path_vertices(d):
    """The absolute vertices of a path made of M, h, v, l and Z commands (what plan_svg_paths writes)."""
    vertices, at = [], np.zeros(2)
    for command, args in re.findall(r"([MhvlZ])([^MhvlZ]*)", d):
        numbers = [float(v) for v in args.split()]
        if command == "M":
            at = np.array(numbers)
        elif command == "h":
            at = at + [numbers[0], 0]
        elif command == "v":
            at = at + [0, numbers[0]]
        elif command == "l":
            at = at + numbers
        else:
            continue
        vertices.append(at)
    return np.array(vertices)


def test_svg_paths_use_the_documented_y_flipped_mapping(room):
    plan = storey_plan(room, "S0")
    paths = plan_svg_paths(plan, precision=3)
    assert len(paths) == len(plan)
    for d, polygon in zip(paths, plan.polygons, strict=True):
        assert d.startswith("M") and d.endswith("Z") and "\n" not in d
        np.testing.assert_allclose(path_vertices(d), to_svg(polygon, plan.bounds), atol=6e-4)
    assert paths[plan.global_ids.index("WALL")] == "M1.000 4.000h5.000v-0.200h-5.000Z"
    # The slab's south-west corner (world -1, -1) is the bottom-left of the picture: x 0, y = height.
    np.testing.assert_allclose(to_svg(np.array([-1.0, -1.0]), plan.bounds), [0, 5])
    np.testing.assert_allclose(to_svg(np.array([[6.0, 4.0]]), plan.bounds), [[7, 0]])
    assert svg_viewbox(plan.bounds, margin=0.5) == "-0.5 -0.5 8 6"


def test_svg_steps_add_up_without_drift_on_a_turned_wall():
    twin = make_twin([("WALL", "S0", True, [box((10, 0, 0), (14, 0.25, 3), yaw=np.radians(17))])])
    plan = storey_plan(twin, "S0")
    (d,) = plan_svg_paths(plan, precision=2)
    assert "l" in d
    np.testing.assert_allclose(path_vertices(d), np.round(to_svg(plan.points, plan.bounds), 2), atol=1e-9)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from twin.generate import generate_building

    path = tmp_path_factory.mktemp("plan") / "building.ifc"
    generate_building(path, storeys=2, bays=(3, 2), mep=True, seed=5)
    return build_twin(open_model(path), threads=2)


def test_a_generated_storey_is_cut_like_a_plan(generated):
    storey = generated.storeys[1]
    plan = storey_plan(generated, storey.global_id)
    kinds = collections.defaultdict(set)
    for row, kind in zip(plan.rows, plan.kind, strict=True):
        kinds[generated.elements[row].ifc_class].add(str(kind))
    assert kinds["IfcWall"] == {"cut"} and kinds["IfcColumn"] == {"cut"} and kinds["IfcDoor"] == {"cut"}
    slabs = {generated.elements[row].predefined_type: str(kind)
             for row, kind in zip(plan.rows, plan.kind, strict=True)
             if generated.elements[row].ifc_class == "IfcSlab"}
    assert slabs == {"FLOOR": "below", "ROOF": "above"}  # the top storey holds the roof over it
    assert kinds["IfcBeam"] == {"above"} and kinds["IfcCovering"] == {"above"}
    on_storey = [i for i, e in enumerate(generated.elements)
                 if e.physical and e.storey == storey.global_id and generated.geometry.has_triangles[i]]
    assert sorted(plan.rows.tolist()) == on_storey
    # Walls and columns stand on the grid, axis-aligned: their section spans their box in plan.
    for row, polygon in zip(plan.rows, plan.polygons, strict=True):
        if generated.elements[row].ifc_class in ("IfcWall", "IfcColumn"):
            aabb = generated.geometry.aabb[row]
            np.testing.assert_allclose(polygon.min(0), aabb[:2], atol=1e-3)
            np.testing.assert_allclose(polygon.max(0), aabb[3:5], atol=1e-3)


def test_frames_and_footprints_share_the_svg_frame(generated):
    plan = storey_plan(generated, generated.storeys[0].global_id)
    width, height = plan.bounds[2] - plan.bounds[0], plan.bounds[3] - plan.bounds[1]
    svg = to_svg(plan.points, plan.bounds)
    assert svg.min() >= -1e-9 and svg[:, 0].max() <= width + 1e-9 and svg[:, 1].max() <= height + 1e-9
    north = to_svg(np.array([[plan.bounds[0], plan.bounds[3]]]), plan.bounds)
    assert north.tolist() == [[0.0, 0.0]]  # north-west corner at the top left


def test_every_ground_floor_wall_of_the_fzk_house_is_cut_inside_its_box():
    twin = build_twin(open_model(shared_model("AC20-FZK-Haus.ifc")), threads=2)
    ground = min(twin.storeys, key=lambda s: abs(s.elevation))
    walls = [i for i, e in enumerate(twin.elements)
             if e.storey == ground.global_id and e.ifc_class.startswith("IfcWall") and e.physical]
    assert len(walls) >= 4
    plan = storey_plan(twin, ground.global_id)
    polygons = dict(zip(plan.rows.tolist(), plan.polygons, strict=True))
    for row in walls:
        assert plan.kind[plan.rows.tolist().index(row)] == "cut", twin.elements[row].global_id
        polygon, aabb = polygons[row], twin.geometry.aabb[row]
        assert len(polygon) >= 3 and plan.area[plan.rows.tolist().index(row)] > 0.01
        assert (polygon >= aabb[:2] - QUANTUM).all() and (polygon <= aabb[3:5] + QUANTUM).all()
