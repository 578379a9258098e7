"""The sample-building generator: valid IFC4, a schedule that installs each element once, reproducible."""

import collections
import datetime as dt

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.element as ifc_element
import ifcopenshell.util.placement as ifc_placement
import ifcopenshell.validate
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.generate import generate_building
from twin.generate.layout import STOREY_HEIGHT, TRADES, plan_building
from twin.taxonomy import is_physical


@pytest.fixture(scope="module")
def building(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "two-storeys.ifc"
    result = generate_building(path, storeys=2, bays=(3, 2), mep=True, seed=7)
    return result, ifcopenshell.open(str(path))


def physical_elements(model):
    return [e for e in model.by_type("IfcElement") if not e.is_a("IfcFeatureElement") and not e.is_a("IfcVirtualElement")]


def test_the_file_passes_ifcopenshell_validate(building):
    _, model = building
    logger = ifcopenshell.validate.json_logger()
    ifcopenshell.validate.validate(model, logger)
    assert logger.statements == []


def test_it_has_every_kind_of_element_a_site_tracks(building):
    result, model = building
    for ifc_class in ("IfcSlab", "IfcColumn", "IfcBeam", "IfcWall", "IfcDoor", "IfcWindow", "IfcStair",
                      "IfcStairFlight", "IfcRailing", "IfcCovering", "IfcPipeSegment", "IfcDuctSegment",
                      "IfcCableCarrierSegment", "IfcLightFixture", "IfcOutlet"):
        assert model.by_type(ifc_class), ifc_class
    assert len(model.by_type("IfcBuildingStorey")) == 2
    assert {w.PredefinedType for w in model.by_type("IfcWall")} == {"SOLIDWALL", "PARTITIONING"}
    assert result.element_count == len(physical_elements(model))


def test_every_physical_element_is_installed_by_exactly_one_task(building):
    _, model = building
    links = collections.Counter()
    for rel in model.by_type("IfcRelAssignsToProcess"):
        assert rel.RelatingProcess.is_a("IfcTask")
        for product in rel.RelatedObjects:
            links[product.GlobalId] += 1
    for element in physical_elements(model):
        assert links[element.GlobalId] == 1, element


def test_tasks_are_nested_timed_and_sequenced(building):
    _, model = building
    assert model.by_type("IfcWorkSchedule")[0].PredefinedType == "PLANNED"
    tasks = model.by_type("IfcTask")
    assert all(t.TaskTime and t.TaskTime.ScheduleStart and t.TaskTime.ScheduleFinish for t in tasks)
    leaf = [t for t in tasks if not t.IsNestedBy]
    assert len(leaf) == 2 * 7
    for rel in model.by_type("IfcRelSequence"):
        assert rel.RelatingProcess.TaskTime.ScheduleFinish < rel.RelatedProcess.TaskTime.ScheduleStart


def test_tasks_run_on_working_days_for_their_duration(building):
    _, model = building
    for task in model.by_type("IfcTask"):
        start = dt.datetime.fromisoformat(task.TaskTime.ScheduleStart).date()
        finish = dt.datetime.fromisoformat(task.TaskTime.ScheduleFinish).date()
        assert start.weekday() < 5 and finish.weekday() < 5, task
        working = sum((start + dt.timedelta(days=k)).weekday() < 5 for k in range((finish - start).days + 1))
        assert task.TaskTime.ScheduleDuration == f"P{working}D", task


def test_trades_follow_site_order_on_every_storey(building):
    _, model = building
    for summary in model.by_type("IfcTask"):
        leaves = [t for rel in summary.IsNestedBy for t in rel.RelatedObjects if not t.IsNestedBy]
        if not leaves:
            continue
        assert [t.ObjectType for t in leaves] == list(TRADES)
        for before, after in zip(leaves, leaves[1:], strict=False):
            assert [r.RelatingProcess for r in after.IsSuccessorFrom] == [before]


def test_every_physical_element_has_a_shape_types_and_a_storey(building):
    _, model = building
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    iterator = ifcopenshell.geom.iterator(settings, model, 1, include=model.by_type("IfcElement"))
    shaped = set()
    assert iterator.initialize()
    while True:
        shaped.add(iterator.get().guid)
        if not iterator.next():
            break
    for element in physical_elements(model):
        if element.is_a("IfcStair"):  # an aggregate: its flight and railing carry the geometry
            assert ifc_element.get_parts(element)
            continue
        assert element.GlobalId in shaped, element
        assert ifc_element.get_container(element, ifc_class="IfcBuildingStorey") or ifc_element.get_aggregate(element)
    walls = model.by_type("IfcWall")
    assert all(ifc_element.get_type(w) is not None and ifc_element.get_materials(w) for w in walls)


def test_every_partition_has_a_door(building):
    _, model = building
    for wall in model.by_type("IfcWall"):
        fillers = [f.RelatedBuildingElement.is_a() for o in wall.HasOpenings for f in o.RelatedOpeningElement.HasFillings]
        assert fillers, wall
        if wall.PredefinedType == "PARTITIONING":
            assert fillers == ["IfcDoor"]


def world_bounds(element):
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    verts = np.array(ifcopenshell.geom.create_shape(settings, element).geometry.verts).reshape(-1, 3)
    return verts.min(axis=0), verts.max(axis=0)


def test_every_room_is_a_space_with_a_door_in_its_walls(building):
    _, model = building
    spaces = model.by_type("IfcSpace")
    assert len(spaces) == 2 * 3 * 2
    doors = []
    for door in model.by_type("IfcDoor"):
        matrix = ifc_placement.get_local_placement(door.ObjectPlacement)
        doors.append((matrix @ np.array([door.OverallWidth / 2, 0.0, 0.0, 1.0]))[:3])
    doors = np.array(doors)
    for space in spaces:
        assert ifc_element.get_aggregate(space).is_a("IfcBuildingStorey")
        lo, hi = world_bounds(space)
        # A door centre lies on the wall axis: within half a wall (plus slack) outside the room's floor.
        near = np.all((doors >= lo - [0.2, 0.2, 0.01]) & (doors <= hi + [0.2, 0.2, 0.0]), axis=1)
        inside = np.all((doors[:, :2] > lo[:2] + 0.01) & (doors[:, :2] < hi[:2] - 0.01), axis=1)
        assert np.any(near & ~inside), space.Name


def test_the_stair_rises_through_a_well_in_the_slab_above(building):
    _, model = building
    flight_lo, flight_hi = world_bounds(model.by_type("IfcStairFlight")[0])
    upper = next(s for s in model.by_type("IfcSlab") if s.Name == "Floor slab L1")
    voids = [rel.RelatedOpeningElement for rel in upper.HasOpenings]
    assert len(voids) == 1 and not voids[0].HasFillings
    well_lo, well_hi = world_bounds(voids[0])
    assert np.all(well_lo[:2] <= flight_lo[:2] + 0.01) and np.all(well_hi[:2] >= flight_hi[:2] - 0.01)
    assert flight_hi[2] == pytest.approx(upper.ContainedInStructure[0].RelatingStructure.Elevation)


def test_walls_and_slabs_have_layer_sets_and_members_profile_sets(building):
    _, model = building
    for wall in model.by_type("IfcWall") + model.by_type("IfcSlab"):
        usage = ifc_element.get_material(wall, should_skip_usage=False)
        assert usage.is_a("IfcMaterialLayerSetUsage"), wall
        type_set = ifc_element.get_material(ifc_element.get_type(wall))
        assert usage.ForLayerSet == type_set
        thickness = sum(layer.LayerThickness for layer in type_set.MaterialLayers)
        lo, hi = world_bounds(wall)
        extent = hi[2] - lo[2] if wall.is_a("IfcSlab") else min(hi[:2] - lo[:2])
        assert thickness == pytest.approx(extent, abs=1e-6), wall
    for member in model.by_type("IfcColumn") + model.by_type("IfcBeam"):
        assert ifc_element.get_material(member, should_skip_usage=False).is_a("IfcMaterialProfileSetUsage")


def test_a_steel_frame_puts_i_sections_where_the_concrete_frame_has_rectangles(tmp_path):
    """Same grid, same elements; columns and beams are HEA/IPE I-sections, beams up to the slab."""
    models = {}
    for structure in ("concrete", "steel"):
        result = generate_building(tmp_path / f"{structure}.ifc", storeys=1, bays=(2, 2), seed=5,
                                   structure=structure)
        models[structure] = (result, ifcopenshell.open(str(result.path)))
    (concrete, concrete_model), (steel, steel_model) = models["concrete"], models["steel"]
    assert steel.elements == concrete.elements
    logger = ifcopenshell.validate.json_logger()
    ifcopenshell.validate.validate(steel_model, logger)
    assert logger.statements == []
    for member in steel_model.by_type("IfcColumn") + steel_model.by_type("IfcBeam"):
        profile_set = ifc_element.get_material(ifc_element.get_type(member))
        assert profile_set.MaterialProfiles[0].Profile.is_a("IfcIShapeProfileDef"), member
        assert profile_set.MaterialProfiles[0].Material.Name == "Steel S355"
    for beam in steel_model.by_type("IfcBeam"):
        lo, hi = world_bounds(beam)
        assert hi[2] - lo[2] == pytest.approx(0.4, abs=1e-6)  # IPE 400, depth up
        assert hi[2] == pytest.approx(STOREY_HEIGHT - 0.2, abs=1e-6)  # top at the slab's soffit
        assert min(hi[:2] - lo[:2]) == pytest.approx(0.18, abs=1e-6)
    with pytest.raises(ValueError, match="structure"):
        plan_building(structure="timber")


def test_a_gable_roof_is_an_attic_of_sloping_rafters_under_two_decks(tmp_path):
    flat = generate_building(tmp_path / "flat.ifc", storeys=1, bays=(2, 2), seed=5, mep=False)
    result = generate_building(tmp_path / "gable.ifc", storeys=1, bays=(2, 2), seed=5, mep=False,
                               roof="gable")
    model = ifcopenshell.open(str(result.path))
    logger = ifcopenshell.validate.json_logger()
    ifcopenshell.validate.validate(model, logger)
    assert logger.statements == []
    assert [s.Name for s in model.by_type("IfcBuildingStorey")] == ["Level 0", "Level 1"]
    attic = model.by_type("IfcBuildingStorey")[1]
    rafters = [b for b in model.by_type("IfcBeam") if b.Name.startswith("Rafter")]
    assert len(rafters) >= 2 * 10 and result.elements["IfcBeam"] == flat.elements["IfcBeam"] + len(rafters)
    for rafter in rafters[:4]:
        assert ifc_element.get_container(rafter) == attic
        lo, hi = world_bounds(rafter)
        pitch = np.radians(35)  # the 0.2 m section, tilted, adds 0.2 cos to the height and 0.2 sin to the run
        rise, run = hi[2] - lo[2] - 0.2 * np.cos(pitch), hi[1] - lo[1] - 0.2 * np.sin(pitch)
        assert rise / run == pytest.approx(np.tan(pitch), rel=1e-4)
        assert lo[2] == pytest.approx(STOREY_HEIGHT, abs=1e-6)  # from the eaves on the attic floor
    decks = [s for s in model.by_type("IfcSlab") if s.PredefinedType == "ROOF"]
    assert len(decks) == 2
    links = collections.Counter(p.GlobalId for rel in model.by_type("IfcRelAssignsToProcess")
                                for p in rel.RelatedObjects)
    assert all(links[e.GlobalId] == 1 for e in physical_elements(model))
    with pytest.raises(ValueError, match="roof"):
        plan_building(roof="mansard")


def test_a_seed_reproduces_the_file_and_another_seed_does_not(tmp_path):
    a, b, c = (tmp_path / name for name in ("a.ifc", "b.ifc", "c.ifc"))
    generate_building(a, storeys=1, seed=3)
    generate_building(tmp_path / "other.ifc", storeys=2, seed=9)  # other files must not disturb the next
    generate_building(b, storeys=1, seed=3)
    generate_building(c, storeys=1, seed=4)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_one_storey_is_about_a_hundred_elements(tmp_path):
    result = generate_building(tmp_path / "one.ifc", storeys=1, bays=(3, 2), mep=True)
    assert 80 <= result.element_count <= 150


def test_without_mep_there_are_no_services(tmp_path):
    result = generate_building(tmp_path / "nomep.ifc", storeys=1, mep=False)
    assert not {"IfcPipeSegment", "IfcDuctSegment", "IfcLightFixture"} & set(result.elements)


def test_openings_are_not_physical_but_walls_are():
    assert not is_physical(["IfcOpeningElement", "IfcFeatureElementSubtraction", "IfcFeatureElement"])
    assert is_physical(["IfcWall", "IfcBuildingElement", "IfcElement"])


# Plan maths, for any building shape -------------------------------------------------------------

buildings = st.tuples(st.integers(1, 3), st.tuples(st.integers(1, 4), st.integers(1, 4)), st.booleans(),
                      st.integers(0, 10_000))


def wall_segments(plan, storey):
    """(a, b) world xy end points of each wall's axis on a storey, and the xy centre of each door."""
    segments, doors = [], []
    for part in plan.parts:
        if part.ifc_class != "IfcWall" or part.storey != storey:
            continue
        direction = np.array([np.cos(part.angle), np.sin(part.angle)])
        a = np.array(part.origin[:2])
        segments.append((a, a + direction * part.size[0]))
        doors += [a + direction * o.x for o in part.openings if o.filler == "IfcDoor"]
    return segments, doors


def on_edge(point, room, tol=1e-6):
    x, y = point
    on_x = min(abs(x - room.x0), abs(x - room.x1)) < tol and room.y0 - tol <= y <= room.y1 + tol
    on_y = min(abs(y - room.y0), abs(y - room.y1)) < tol and room.x0 - tol <= x <= room.x1 + tol
    return on_x or on_y


@settings(max_examples=40, deadline=None)
@given(buildings)
def test_walls_enclose_every_room_and_doors_connect_them_all(shape):
    storeys, bays, mep, seed = shape
    plan = plan_building(storeys, bays, mep, seed)
    assert len(plan.rooms) == storeys * bays[0] * bays[1]
    for storey in range(storeys):
        segments, doors = wall_segments(plan, storey)
        rooms = [r for r in plan.rooms if r.storey == storey]
        for room in rooms:
            corners = [(room.x0, room.y0), (room.x1, room.y0), (room.x1, room.y1), (room.x0, room.y1)]
            for c, d in zip(corners, corners[1:] + corners[:1], strict=True):
                ends = [{tuple(np.round(a, 6)), tuple(np.round(b, 6))} for a, b in segments]
                assert {c, d} in ends, room
        # Rooms sharing a door are connected; the ground floor also connects to the outside (-1).
        links = {k: set() for k in range(-1, len(rooms))}
        for door in doors:
            sides = [k for k, room in enumerate(rooms) if on_edge(door, room)]
            assert len(sides) in (1, 2)
            if len(sides) == 1:
                sides.append(-1)
            links[sides[0]].add(sides[1])
            links[sides[1]].add(sides[0])
        reached, frontier = set(), [0]
        while frontier:
            k = frontier.pop()
            if k not in reached:
                reached.add(k)
                frontier += links[k]
        expected = set(range(len(rooms))) | ({-1} if storey == 0 else set())
        assert reached == expected, (storey, reached)
        assert any(r.stair for r in rooms) == (storeys > 1)


@settings(max_examples=40, deadline=None)
@given(buildings)
def test_every_room_has_free_floor_to_walk_on(shape):
    storeys, bays, mep, seed = shape
    plan = plan_building(storeys, bays, mep, seed)
    boxes = np.array([[*lo, *hi] for lo, hi in (p.bounds() for p in plan.parts if p.ifc_class != "IfcStair")])
    for room in plan.rooms:
        cx, cy, floor = (room.x0 + room.x1) / 2, (room.y0 + room.y1) / 2, room.storey * STOREY_HEIGHT
        # A 1 m square at the room's centre, clear from just above the floor to 2 m (a standing camera).
        probe = np.array([cx - 0.5, cy - 0.5, floor + 0.05, cx + 0.5, cy + 0.5, floor + 2.0])
        overlaps = np.all((boxes[:, :3] < probe[3:]) & (boxes[:, 3:] > probe[:3]), axis=1)
        assert not overlaps.any(), [plan.parts[k].name for k in np.flatnonzero(overlaps)]


@settings(max_examples=40, deadline=None)
@given(buildings)
def test_every_part_stays_inside_the_building_and_its_storey(shape):
    storeys, bays, mep, seed = shape
    plan = plan_building(storeys, bays, mep, seed)
    width, depth = plan.xs[-1], plan.ys[-1]
    for part in plan.parts:
        (x0, y0, z0), (x1, y1, z1) = part.bounds()
        assert -0.21 <= x0 and x1 <= width + 0.21 and -0.21 <= y0 and y1 <= depth + 0.21, part.name
        floor = part.storey * STOREY_HEIGHT
        top = floor + 2 * STOREY_HEIGHT if part.profile == "flight" else floor + STOREY_HEIGHT
        assert floor - 0.2 - 1e-9 <= z0 and z1 <= top + 1e-9, part.name
    assert not mep or {"IfcPipeSegment", "IfcDuctSegment", "IfcCableCarrierSegment"} <= {
        p.ifc_class for p in plan.parts}
