"""Tiny IFC models built in memory with ``ifcopenshell.api``, for unit tests (IfcOpenShell's bootstrap style)."""

from __future__ import annotations

import ifcopenshell
import ifcopenshell.api
import ifcopenshell.guid
import numpy as np


def _placement(x: float, y: float, z: float) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 3] = (x, y, z)
    return matrix


def make_room(schema: str = "IFC4", unit: str = "MILLIMETRE") -> ifcopenshell.file:
    """One storey at 3 m (in ``unit``) with a 6 × 4 m room: slab, four walls (one with a type,
    material layers and a pset), a ceiling covering, and a stair assembly whose parts carry the
    geometry. Dimensions are given in metres and scaled to ``unit``."""
    k = {"MILLIMETRE": 1000.0, "METRE": 1.0}[unit]
    model = ifcopenshell.api.run("project.create_file", version=schema)
    project = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcProject", name="Test")
    prefix = "MILLI" if unit == "MILLIMETRE" else None
    length = ifcopenshell.api.run("unit.add_si_unit", model, unit_type="LENGTHUNIT", prefix=prefix)
    ifcopenshell.api.run("unit.assign_unit", model, units=[length])
    context = ifcopenshell.api.run("context.add_context", model, context_type="Model")
    body = ifcopenshell.api.run("context.add_context", model, context_type="Model", context_identifier="Body",
                                target_view="MODEL_VIEW", parent=context)
    site = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcSite", name="Site")
    building = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcBuilding", name="Building")
    storey = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcBuildingStorey", name="Level 1")
    ifcopenshell.api.run("aggregate.assign_object", model, products=[site], relating_object=project)
    ifcopenshell.api.run("aggregate.assign_object", model, products=[building], relating_object=site)
    ifcopenshell.api.run("aggregate.assign_object", model, products=[storey], relating_object=building)
    ifcopenshell.api.run("geometry.edit_object_placement", model, product=storey, matrix=_placement(0, 0, 3))
    storey.Elevation = 3 * k  # a raw attribute: in the file's unit

    def place(element, x, y, z, representation):
        ifcopenshell.api.run("geometry.edit_object_placement", model, product=element, matrix=_placement(x, y, z))
        ifcopenshell.api.run("geometry.assign_representation", model, product=element, representation=representation)
        return element

    def box(ifc_class, name, x, y, z, dx, dy, dz, predefined_type=None):
        element = ifcopenshell.api.run("root.create_entity", model, ifc_class=ifc_class, name=name,
                                       predefined_type=predefined_type)
        rep = ifcopenshell.api.run("geometry.add_slab_representation", model, context=body, depth=dz,
                                   polyline=[(0, 0), (dx, 0), (dx, dy), (0, dy)])
        return place(element, x, y, z, rep)

    wall_type = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcWallType", name="WT-200")
    layers = ifcopenshell.api.run("material.add_material_set", model, name="WT-200", set_type="IfcMaterialLayerSet")
    brick = ifcopenshell.api.run("material.add_material", model, name="Brick")
    layer = ifcopenshell.api.run("material.add_layer", model, layer_set=layers, material=brick)
    layer.LayerThickness = 0.2 * k  # raw attribute
    ifcopenshell.api.run("material.assign_material", model, products=[wall_type], material=layers)

    slab = box("IfcSlab", "Floor", 0, 0, 2.8, 6, 4, 0.2, "FLOOR")
    walls = [
        box("IfcWall", "South", 0, 0, 3, 6, 0.2, 2.7),
        box("IfcWall", "North", 0, 3.8, 3, 6, 0.2, 2.7),
        box("IfcWall", "West", 0, 0.2, 3, 0.2, 3.6, 2.7),
        box("IfcWall", "East", 5.8, 0.2, 3, 0.2, 3.6, 2.7),
    ]
    ifcopenshell.api.run("type.assign_type", model, related_objects=[walls[0]], relating_type=wall_type)
    pset = ifcopenshell.api.run("pset.add_pset", model, product=walls[0], name="Pset_WallCommon")
    ifcopenshell.api.run("pset.edit_pset", model, pset=pset, properties={"IsExternal": True, "FireRating": "REI60"})
    ceiling = box("IfcCovering", "Ceiling", 0.2, 0.2, 5.3, 5.6, 3.6, 0.02, "CEILING")
    stair = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcStair", name="Stair")
    flight = box("IfcStairFlight", "Flight", 1, 1, 3, 1, 2, 1.5)
    ifcopenshell.api.run("aggregate.assign_object", model, products=[flight], relating_object=stair)
    ifcopenshell.api.run("spatial.assign_container", model, products=[slab, *walls, ceiling, stair],
                         relating_structure=storey)
    return model


def write(model: ifcopenshell.file, path) -> str:
    model.write(str(path))
    return str(path)
