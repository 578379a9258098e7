"""Write a :class:`~twin.generate.layout.Plan` as IFC4 entities.

The spatial structure, units, contexts, types and materials are made with ``ifcopenshell.api``;
the (possibly 150,000) products are written as entities directly with shared profiles, shared
direction and point instances, and mapped representations from their types, and every
relationship is written once per storey or per type with all its members: calling the api once
per product is what makes generation slow at scale.
"""

from __future__ import annotations

import math
from collections import defaultdict

import ifcopenshell
import ifcopenshell.api
import ifcopenshell.guid

from twin.generate.layout import STOREY_HEIGHT, Part, Plan

# Type objects: key -> (IFC type class, name, predefined type, material).
TYPES = {
    "slab": ("IfcSlabType", "Concrete slab 200", "FLOOR", "Concrete C30/37"),
    "roof": ("IfcSlabType", "Roof slab 200", "ROOF", "Concrete C30/37"),
    "column": ("IfcColumnType", "RC column 400x400", "COLUMN", "Concrete C30/37"),
    "beam": ("IfcBeamType", "RC beam 300x500", "BEAM", "Concrete C30/37"),
    "ext_wall": ("IfcWallType", "Exterior wall 250", "SOLIDWALL", "Masonry"),
    "int_wall": ("IfcWallType", "Stud partition 120", "PARTITIONING", "Gypsum board on steel studs"),
    "ceiling": ("IfcCoveringType", "Suspended ceiling", "CEILING", "Mineral fibre tile"),
    "duct": ("IfcDuctSegmentType", "Rect duct 400x250", "RIGIDSEGMENT", "Galvanised steel"),
    "pipe": ("IfcPipeSegmentType", "Copper pipe DN80", "RIGIDSEGMENT", "Copper"),
    "tray": ("IfcCableCarrierSegmentType", "Cable tray 300", "CABLETRAYSEGMENT", "Galvanised steel"),
    "light": ("IfcLightFixtureType", "LED panel 600x600", "DIRECTIONSOURCE", "Aluminium"),
    "outlet": ("IfcOutletType", "Socket outlet", "POWEROUTLET", "PVC"),
    "door": ("IfcDoorType", "Door 1000x2100", "DOOR", "Timber"),
    "window": ("IfcWindowType", "Window 1200x1400", "WINDOW", "Aluminium and glass"),
}


class Writer:
    """Accumulates entities in ``model``; :meth:`write_plan` does the whole building."""

    def __init__(self, model: ifcopenshell.file, body: ifcopenshell.entity_instance):
        self.model = model
        self.body = body
        self._points: dict[tuple, ifcopenshell.entity_instance] = {}
        self._dirs: dict[tuple, ifcopenshell.entity_instance] = {}
        self._profiles: dict[tuple, ifcopenshell.entity_instance] = {}
        self.types: dict[str, ifcopenshell.entity_instance] = {}
        self.maps: dict[str, ifcopenshell.entity_instance] = {}

    # Shared geometric atoms -------------------------------------------------------------
    def point(self, *xyz: float) -> ifcopenshell.entity_instance:
        key = tuple(round(float(v), 6) for v in xyz)
        if key not in self._points:
            self._points[key] = self.model.createIfcCartesianPoint(key)
        return self._points[key]

    def direction(self, *xyz: float) -> ifcopenshell.entity_instance:
        key = tuple(round(float(v), 9) for v in xyz)
        if key not in self._dirs:
            self._dirs[key] = self.model.createIfcDirection(key)
        return self._dirs[key]

    def axis(self, origin=(0.0, 0.0, 0.0), angle: float = 0.0, z_axis=(0.0, 0.0, 1.0), x_axis=None):
        ref = x_axis if x_axis is not None else (math.cos(angle), math.sin(angle), 0.0)
        return self.model.createIfcAxis2Placement3D(self.point(*origin), self.direction(*z_axis), self.direction(*ref))

    def rectangle(self, x0: float, length: float, width: float) -> ifcopenshell.entity_instance:
        """A length × width rectangle spanning x0..x0+length and -width/2..width/2."""
        key = ("rect", round(x0, 6), round(length, 6), round(width, 6))
        if key not in self._profiles:
            position = self.model.createIfcAxis2Placement2D(self.model.createIfcCartesianPoint((x0 + length / 2, 0.0)))
            self._profiles[key] = self.model.createIfcRectangleProfileDef("AREA", None, position, length, width)
        return self._profiles[key]

    def circle(self, diameter: float) -> ifcopenshell.entity_instance:
        key = ("circle", round(diameter, 6))
        if key not in self._profiles:
            position = self.model.createIfcAxis2Placement2D(self.model.createIfcCartesianPoint((0.0, 0.0)))
            self._profiles[key] = self.model.createIfcCircleProfileDef("AREA", None, position, diameter / 2)
        return self._profiles[key]

    def polygon(self, points: list[tuple[float, float]]) -> ifcopenshell.entity_instance:
        pts = [self.model.createIfcCartesianPoint((float(x), float(y))) for x, y in [*points, points[0]]]
        return self.model.createIfcArbitraryClosedProfileDef("AREA", None, self.model.createIfcPolyline(pts))

    def body_rep(self, items, kind: str = "SweptSolid") -> ifcopenshell.entity_instance:
        return self.model.createIfcShapeRepresentation(self.body, "Body", kind, items)

    # Solids ----------------------------------------------------------------------------
    def box_solid(self, size, offset=(0.0, 0.0, 0.0)) -> ifcopenshell.entity_instance:
        """A box of (length, width, height) over x 0..length, y ±width/2, z 0..height, moved by offset."""
        length, width, height = size
        return self.model.createIfcExtrudedAreaSolid(
            self.rectangle(0.0, length, width), self.axis(offset), self.direction(0.0, 0.0, 1.0), height
        )

    def pipe_solid(self, length: float, diameter: float) -> ifcopenshell.entity_instance:
        """A cylinder along local x from 0 to length, centred on the x axis at z = diameter/2."""
        position = self.axis((0.0, 0.0, diameter / 2), z_axis=(1.0, 0.0, 0.0), x_axis=(0.0, 0.0, 1.0))
        return self.model.createIfcExtrudedAreaSolid(self.circle(diameter), position, self.direction(0.0, 0.0, 1.0),
                                                     length)

    def flight_solid(self, part: Part) -> ifcopenshell.entity_instance:
        """A stair flight (steps) or a railing (a sloped band) rising along local x, width along y."""
        run, width, rise = part.size
        if part.ifc_class == "IfcRailing":
            profile = self.polygon([(0.0, 0.0), (run, rise), (run, rise + 0.05), (0.0, 0.05)])
        else:
            steps = 18
            pts = [(0.0, 0.0)]
            for k in range(steps):
                pts += [(run * k / steps, rise * (k + 1) / steps), (run * (k + 1) / steps, rise * (k + 1) / steps)]
            pts += [(run, rise - 0.3), (0.3, 0.0)]
            profile = self.polygon(pts)
        # Profile drawn in the local x-z plane, extruded across the flight along -y.
        position = self.axis((0.0, width / 2, 0.0), z_axis=(0.0, -1.0, 0.0), x_axis=(1.0, 0.0, 0.0))
        return self.model.createIfcExtrudedAreaSolid(profile, position, self.direction(0.0, 0.0, 1.0), width)

    def part_solid(self, part: Part) -> ifcopenshell.entity_instance:
        if part.profile == "circle":
            return self.pipe_solid(part.size[0], part.size[1])
        if part.profile == "flight":
            return self.flight_solid(part)
        return self.box_solid(part.size)

    # Types -----------------------------------------------------------------------------
    def type_for(self, key: str, part: Part | None = None) -> ifcopenshell.entity_instance:
        if key not in self.types:
            ifc_type, name, predefined, material_name = TYPES[key]
            element_type = ifcopenshell.api.run("root.create_entity", self.model, ifc_class=ifc_type, name=name,
                                                predefined_type=predefined)
            material = ifcopenshell.api.run("material.add_material", self.model, name=material_name)
            ifcopenshell.api.run("material.assign_material", self.model, products=[element_type], material=material)
            if part is not None and part.mapped:
                representation = self.body_rep([self.part_solid(part)])
                rep_map = self.model.createIfcRepresentationMap(self.axis(), representation)
                element_type.RepresentationMaps = [rep_map]
                self.maps[key] = rep_map
            self.types[key] = element_type
        return self.types[key]

    def filler_map(self, key: str, size, shape) -> ifcopenshell.entity_instance:
        if key not in self.maps:
            element_type = self.type_for(key)
            rep_map = self.model.createIfcRepresentationMap(self.axis(), self.body_rep(shape))
            element_type.RepresentationMaps = [rep_map]
            self.maps[key] = rep_map
        return self.maps[key]

    def mapped_rep(self, rep_map) -> ifcopenshell.entity_instance:
        operator = self.model.createIfcCartesianTransformationOperator3D(None, None, self.point(0.0, 0.0, 0.0))
        return self.body_rep([self.model.createIfcMappedItem(rep_map, operator)], "MappedRepresentation")

    # Products --------------------------------------------------------------------------
    def product(self, ifc_class: str, guid: str, name: str, placement, representation, predefined=None):
        shape = self.model.createIfcProductDefinitionShape(None, None, [representation]) if representation else None
        entity = self.model.create_entity(ifc_class, GlobalId=guid, Name=name, ObjectPlacement=placement,
                                          Representation=shape)
        if predefined and hasattr(entity, "PredefinedType"):
            entity.PredefinedType = predefined
        return entity


def write_plan(model: ifcopenshell.file, body, storeys: list, plan: Plan, new_guid) -> dict[str, list]:
    """Write every part of ``plan``; returns trade-and-storey keyed products for the schedule.

    storeys: the IfcBuildingStorey entities (index = storey number).
    new_guid: a callable returning the next GlobalId (deterministic per seed).
    """
    writer = Writer(model, body)
    contained: dict[int, list] = defaultdict(list)
    typed: dict[str, list] = defaultdict(list)
    by_task: dict[tuple[int, str], list] = defaultdict(list)
    aggregates: dict[int, tuple] = {}
    fillers: dict[str, list] = defaultdict(list)
    door_shape = None
    window_shape = None
    for index, part in enumerate(plan.parts):
        storey = storeys[part.storey]
        z0 = part.storey * STOREY_HEIGHT
        local = (part.origin[0], part.origin[1], part.origin[2] - z0)
        placement = model.createIfcLocalPlacement(storey.ObjectPlacement, writer.axis(local, part.angle))
        if part.ifc_class == "IfcStair":
            entity = writer.product("IfcStair", new_guid(), part.name, placement, None, part.predefined_type)
            aggregates[index] = (entity, [])
        else:
            if part.mapped:
                writer.type_for(part.type_key, part)
                representation = writer.mapped_rep(writer.maps[part.type_key])
            else:
                representation = writer.body_rep([writer.part_solid(part)])
            entity = writer.product(part.ifc_class, new_guid(), part.name, placement, representation,
                                    part.predefined_type)
        if part.type_key:
            writer.type_for(part.type_key, part)
            typed[part.type_key].append(entity)
        by_task[(part.storey, part.trade)].append(entity)
        if part.part_of is not None:
            aggregates[part.part_of][1].append(entity)
        else:
            contained[part.storey].append(entity)
        for x_along, sill, width, height, filler_class in part.openings:
            thickness = part.size[1]
            opening_placement = model.createIfcLocalPlacement(placement, writer.axis((x_along - width / 2, 0.0, sill)))
            opening = writer.product("IfcOpeningElement", new_guid(), f"Opening in {part.name}", opening_placement,
                                     writer.body_rep([writer.box_solid((width, thickness + 0.1, height))]), "OPENING")
            model.createIfcRelVoidsElement(new_guid(), None, None, None, entity, opening)
            if filler_class == "IfcDoor":
                if door_shape is None:
                    # An open leaf, swung 90° into the room at the hinge jamb.
                    door_shape = [writer.box_solid((0.05, 0.9, height), (0.0, thickness / 2 + 0.5, 0.0))]
                rep_map = writer.filler_map("door", (width, thickness, height), door_shape)
                key, trade = "door", ("envelope" if part.type_key == "ext_wall" else "finishes and fixtures")
            else:
                if window_shape is None:
                    window_shape = [writer.box_solid((width, 0.06, height))]
                rep_map = writer.filler_map("window", (width, 0.06, height), window_shape)
                key, trade = "window", "envelope"
            filler_placement = model.createIfcLocalPlacement(opening_placement, writer.axis())
            filler = writer.product(filler_class, new_guid(), f"{filler_class[3:]} in {part.name}", filler_placement,
                                    writer.mapped_rep(rep_map), filler_class[3:].upper())
            filler.OverallWidth, filler.OverallHeight = width, height
            model.createIfcRelFillsElement(new_guid(), None, None, None, opening, filler)
            typed[key].append(filler)
            fillers[key].append(filler)
            contained[part.storey].append(filler)
            by_task[(part.storey, trade)].append(filler)
    for storey_index, products in contained.items():
        model.createIfcRelContainedInSpatialStructure(new_guid(), None, None, None, products, storeys[storey_index])
    for key, products in typed.items():
        model.createIfcRelDefinesByType(new_guid(), None, None, None, products, writer.types[key])
    for stair, parts in aggregates.values():
        model.createIfcRelAggregates(new_guid(), None, None, None, stair, parts)
    return by_task
