import re

import ifcopenshell
import ifcopenshell.guid
import pytest

from tests.ifc_factory import make_room
from twin import taxonomy
from twin.elements import extract_elements, extract_storeys


@pytest.fixture(scope="module")
def room():
    return make_room()


def by_name(records):
    return {r.name: r for r in records}


def test_every_ifc_element_becomes_a_record(room):
    records = extract_elements(room)
    assert {r.global_id for r in records} == {e.GlobalId for e in room.by_type("IfcElement")}


def test_a_record_carries_class_type_storey_materials_and_psets(room):
    wall = by_name(extract_elements(room))["South"]
    storey = room.by_type("IfcBuildingStorey")[0]
    assert wall.ifc_class == "IfcWall"
    assert wall.type_name == "WT-200"
    assert wall.storey == storey.GlobalId
    assert wall.materials == ["Brick"]
    assert wall.properties["Pset_WallCommon.IsExternal"] is True
    assert wall.properties["Pset_WallCommon.FireRating"] == "REI60"
    assert wall.tracked_class == "wall"


def test_parts_of_an_assembly_know_their_whole_and_its_storey(room):
    records = by_name(extract_elements(room))
    assert records["Flight"].assembly == records["Stair"].global_id
    assert records["Flight"].storey == records["Stair"].storey is not None


def test_predefined_type_decides_whether_a_covering_is_tracked(room):
    records = by_name(extract_elements(room))
    assert records["Ceiling"].predefined_type == "CEILING"
    assert records["Ceiling"].tracked_class == "ceiling"
    assert records["Floor"].tracked_class == "slab"


def test_storey_elevation_is_in_metres_in_a_millimetre_model(room):
    (storey,) = extract_storeys(room)
    assert storey.elevation == pytest.approx(3.0)


def test_an_ifc2x3_flow_terminal_is_classified_by_its_type():
    # Written by hand: IFC2X3 needs owner history for ifcopenshell.api, which is beside the point here.
    model = ifcopenshell.file(schema="IFC2X3")
    terminal = model.createIfcFlowTerminal(ifcopenshell.guid.new(), Name="Lamp")
    lamp_type = model.createIfcLightFixtureType(ifcopenshell.guid.new(), PredefinedType="POINTSOURCE")
    model.createIfcRelDefinesByType(ifcopenshell.guid.new(), RelatedObjects=[terminal], RelatingType=lamp_type)
    (record,) = extract_elements(model)
    assert record.tracked_class == "light_fixture"


def test_duplicate_global_ids_are_refused_by_name(room):
    model = make_room()
    walls = model.by_type("IfcWall")
    walls[1].GlobalId = walls[0].GlobalId
    with pytest.raises(ValueError, match=re.escape(walls[0].GlobalId)):
        extract_elements(model)


def test_openings_are_kept_but_not_physical():
    assert not taxonomy.is_physical(["IfcOpeningElement", "IfcFeatureElementSubtraction", "IfcFeatureElement"])
    assert taxonomy.classify(["IfcOpeningElement", "IfcFeatureElementSubtraction", "IfcFeatureElement"]) is None


def test_stage_weights_rise_to_one():
    for tracked in taxonomy.CLASSES:
        weights = [tracked.weight(stage) for stage in range(tracked.final_stage + 1)]
        assert weights[0] == 0.0
        assert weights[-1] == 1.0
        assert weights == sorted(weights)
