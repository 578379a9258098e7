"""Write a :class:`~twin.generate.layout.Plan` as IFC4 entities.

The spatial structure, units, contexts, types and materials are made with ``ifcopenshell.api``;
the (possibly 150,000) products are written as entities directly with shared profiles, shared
direction and point instances, and mapped representations from their types, and every
relationship is written once per storey or per type with all its members: calling the api once
per product is what makes generation slow at scale. Coordinates are metres; each product is
placed relative to its storey, so world z is the storey elevation plus the part's local z.
"""

from __future__ import annotations

import math
from collections import defaultdict

import ifcopenshell
import ifcopenshell.api
import ifcopenshell.guid

from twin.generate.layout import CLEAR_HEIGHT, STOREY_HEIGHT, Part, Plan

# Type objects: key -> (IFC type class, name, predefined type, material). The material is a layer
# set ((material, thickness in metres), ... from the negative local y or z side: outside first) for
# walls, slabs and ceilings; a profile set ("profile", material, section) for columns and beams,
# the section a rectangle (x, y) in metres, x along the member's depth, or an I-section ("I", depth,
# width, web thickness, flange thickness); or one material name for everything else. It is
# assigned to the type, as an authoring tool writes it.
TYPES = {
    "slab": ("IfcSlabType", "Concrete slab 200", "FLOOR", (("Concrete C30/37", 0.2),)),
    "roof": ("IfcSlabType", "Roof slab 200", "ROOF", (("Concrete C30/37", 0.2),)),
    "roof_deck": ("IfcSlabType", "Roof deck boarding 25", "ROOF", (("Timber boarding", 0.025),)),
    "rafter": ("IfcBeamType", "Rafter 80x200", "BEAM", ("profile", "Timber C24", (0.2, 0.08))),
    "column": ("IfcColumnType", "RC column 400x400", "COLUMN", ("profile", "Concrete C30/37", (0.4, 0.4))),
    "beam": ("IfcBeamType", "RC beam 300x500", "BEAM", ("profile", "Concrete C30/37", (0.5, 0.3))),
    "steel_column": ("IfcColumnType", "HEA 300", "COLUMN",
                     ("profile", "Steel S355", ("I", 0.29, 0.3, 0.0085, 0.014))),
    "steel_beam": ("IfcBeamType", "IPE 400", "BEAM",
                   ("profile", "Steel S355", ("I", 0.4, 0.18, 0.0086, 0.0135))),
    "ext_wall": ("IfcWallType", "Exterior wall 250", "SOLIDWALL",
                 (("Render", 0.035), ("Masonry", 0.2), ("Gypsum plaster", 0.015))),
    "int_wall": ("IfcWallType", "Stud partition 120", "PARTITIONING",
                 (("Gypsum board", 0.0125), ("Steel studs", 0.095), ("Gypsum board", 0.0125))),
    "ceiling": ("IfcCoveringType", "Suspended ceiling", "CEILING", (("Mineral fibre tile", 0.02),)),
    "duct": ("IfcDuctSegmentType", "Rect duct 400x250", "RIGIDSEGMENT", "Galvanised steel"),
    "pipe": ("IfcPipeSegmentType", "Copper pipe DN80", "RIGIDSEGMENT", "Copper"),
    "tray": ("IfcCableCarrierSegmentType", "Cable tray 300", "CABLETRAYSEGMENT", "Galvanised steel"),
    "light": ("IfcLightFixtureType", "LED panel 600x600", "DIRECTIONSOURCE", "Aluminium"),
    "outlet": ("IfcOutletType", "Socket outlet", "POWEROUTLET", "PVC"),
    "door": ("IfcDoorType", "Door 1000x2100", "DOOR", "Timber"),
    "window": ("IfcWindowType", "Window 1200x1400", "WINDOW", "Aluminium and glass"),
}

# Layer set usage per type key: (LayerSetDirection, OffsetFromReferenceLine in metres). Walls are
# centred on their axis (local y = 0); slabs and ceilings are extruded up from their placement.
_LAYER_USAGE = {"ext_wall": ("AXIS2", -0.125), "int_wall": ("AXIS2", -0.06), "slab": ("AXIS3", 0.0),
                "roof": ("AXIS3", 0.0), "roof_deck": ("AXIS3", 0.0), "ceiling": ("AXIS3", 0.0)}
# Profile set usage per type key: the IFC cardinal point of the member's axis in the section
# (5: centre of the column; 2: bottom centre of the beam, where its placement is).
_CARDINAL_POINT = {"column": 5, "beam": 2, "steel_column": 5, "steel_beam": 2, "rafter": 2}


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
        self.materials: dict[str, ifcopenshell.entity_instance] = {}
        self.sections: dict[str, ifcopenshell.entity_instance] = {}  # named profiles of profile sets
        self.usages: dict[str, ifcopenshell.entity_instance] = {}  # occurrence material usage per type

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

    def axis(self, origin=(0.0, 0.0, 0.0), angle: float = 0.0, z_axis=(0.0, 0.0, 1.0), x_axis=None,
             slope: float = 0.0):
        """A placement at ``origin``: x along ``angle`` about z, then tilted up by ``slope`` about
        the new y (radians); or the given axes."""
        ref = x_axis if x_axis is not None else (math.cos(angle), math.sin(angle), 0.0)
        if slope:
            c, s = math.cos(slope), math.sin(slope)
            ref = (ref[0] * c, ref[1] * c, s)
            z_axis = (-math.cos(angle) * s, -math.sin(angle) * s, c)
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

    def column_solid(self, part: Part) -> ifcopenshell.entity_instance:
        """The type's section, centred on the placement, extruded up by the part's height."""
        return self.model.createIfcExtrudedAreaSolid(self.section(part.type_key), self.axis(),
                                                     self.direction(0.0, 0.0, 1.0), part.size[2])

    def beam_solid(self, part: Part) -> ifcopenshell.entity_instance:
        """The type's section (depth up, width across) extruded along local x from 0 to the length;
        the placement is at the bottom centre of the section."""
        section = TYPES[part.type_key][3][2]
        depth = section[1] if section[0] == "I" else section[0]
        # A rectangle's x is its depth; an I-section's depth runs along the profile's y.
        x_axis = (0.0, 1.0, 0.0) if section[0] == "I" else (0.0, 0.0, 1.0)
        position = self.axis((0.0, 0.0, depth / 2), z_axis=(1.0, 0.0, 0.0), x_axis=x_axis)
        return self.model.createIfcExtrudedAreaSolid(self.section(part.type_key), position,
                                                     self.direction(0.0, 0.0, 1.0), part.size[0])

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
        if part.profile == "column":
            return self.column_solid(part)
        if part.profile == "beam":
            return self.beam_solid(part)
        return self.box_solid(part.size)

    # Types -----------------------------------------------------------------------------
    def material(self, name: str) -> ifcopenshell.entity_instance:
        if name not in self.materials:
            self.materials[name] = ifcopenshell.api.run("material.add_material", self.model, name=name)
        return self.materials[name]

    def section(self, key: str) -> ifcopenshell.entity_instance:
        """The named, centred section of a profile-set type: a rectangle (x, y) or an I-section
        (depth along the profile's y), metres."""
        if key not in self.sections:
            spec = TYPES[key][3][2]
            position = self.model.createIfcAxis2Placement2D(self.model.createIfcCartesianPoint((0.0, 0.0)))
            if spec[0] == "I":
                _, depth, width, web, flange = spec
                self.sections[key] = self.model.createIfcIShapeProfileDef(
                    "AREA", TYPES[key][1], position, width, depth, web, flange)
            else:
                x, y = spec
                self.sections[key] = self.model.createIfcRectangleProfileDef(
                    "AREA", f"{round(y * 1000)}x{round(x * 1000)}", position, x, y)
        return self.sections[key]

    def _assign_type_material(self, key: str, element_type: ifcopenshell.entity_instance) -> None:
        name, spec = TYPES[key][1], TYPES[key][3]
        if isinstance(spec, str):
            ifcopenshell.api.run("material.assign_material", self.model, products=[element_type],
                                 material=self.material(spec))
        elif spec[0] == "profile":
            profile_set = ifcopenshell.api.run("material.add_material_set", self.model, name=name,
                                               set_type="IfcMaterialProfileSet")
            ifcopenshell.api.run("material.add_profile", self.model, profile_set=profile_set,
                                 material=self.material(spec[1]), profile=self.section(key))
            ifcopenshell.api.run("material.assign_material", self.model, products=[element_type],
                                 type="IfcMaterialProfileSet", material=profile_set)
            self.usages[key] = self.model.createIfcMaterialProfileSetUsage(profile_set, _CARDINAL_POINT[key])
        else:
            layer_set = ifcopenshell.api.run("material.add_material_set", self.model, name=name,
                                             set_type="IfcMaterialLayerSet")
            for material_name, thickness in spec:
                layer = ifcopenshell.api.run("material.add_layer", self.model, layer_set=layer_set,
                                             material=self.material(material_name))
                ifcopenshell.api.run("material.edit_layer", self.model, layer=layer,
                                     attributes={"LayerThickness": thickness})
            ifcopenshell.api.run("material.assign_material", self.model, products=[element_type],
                                 type="IfcMaterialLayerSet", material=layer_set)
            direction, offset = _LAYER_USAGE[key]
            self.usages[key] = self.model.createIfcMaterialLayerSetUsage(layer_set, direction, "POSITIVE",
                                                                         offset)

    def type_for(self, key: str, part: Part | None = None) -> ifcopenshell.entity_instance:
        if key not in self.types:
            ifc_type, name, predefined, _ = TYPES[key]
            element_type = ifcopenshell.api.run("root.create_entity", self.model, ifc_class=ifc_type, name=name,
                                                predefined_type=predefined)
            self._assign_type_material(key, element_type)
            if part is not None and part.mapped:
                representation = self.body_rep([self.part_solid(part)])
                rep_map = self.model.createIfcRepresentationMap(self.axis(), representation)
                element_type.RepresentationMaps = [rep_map]
                self.maps[key] = rep_map
            self.types[key] = element_type
        return self.types[key]

    def filler_map(self, key: str, shape) -> ifcopenshell.entity_instance:
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
    door_shape = None
    window_shape = None
    for index, part in enumerate(plan.parts):
        storey = storeys[part.storey]
        z0 = part.storey * STOREY_HEIGHT
        local = (part.origin[0], part.origin[1], part.origin[2] - z0)
        placement = model.createIfcLocalPlacement(storey.ObjectPlacement,
                                                  writer.axis(local, part.angle, slope=part.slope))
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
        for void in part.openings:
            depth = part.size[1] + 0.1 if void.depth is None else void.depth
            opening_placement = model.createIfcLocalPlacement(
                placement, writer.axis((void.x - void.width / 2, void.y, void.z)))
            void_body = writer.body_rep([writer.box_solid((void.width, depth, void.height))])
            opening = writer.product("IfcOpeningElement", new_guid(), f"Opening in {part.name}",
                                     opening_placement, void_body, "OPENING")
            model.createIfcRelVoidsElement(new_guid(), None, None, None, entity, opening)
            if void.filler is None:
                continue
            thickness = part.size[1]
            if void.filler == "IfcDoor":
                if door_shape is None:
                    # An open leaf, swung 90° into the room at the hinge jamb.
                    door_shape = [writer.box_solid((0.05, 0.9, void.height), (0.0, thickness / 2 + 0.5, 0.0))]
                rep_map = writer.filler_map("door", door_shape)
                key, trade = "door", ("envelope" if part.type_key == "ext_wall" else "finishes and fixtures")
            else:
                if window_shape is None:
                    window_shape = [writer.box_solid((void.width, 0.06, void.height))]
                rep_map = writer.filler_map("window", window_shape)
                key, trade = "window", "envelope"
            filler_placement = model.createIfcLocalPlacement(opening_placement, writer.axis())
            filler = writer.product(void.filler, new_guid(), f"{void.filler[3:]} in {part.name}",
                                    filler_placement, writer.mapped_rep(rep_map), void.filler[3:].upper())
            filler.OverallWidth, filler.OverallHeight = void.width, void.height
            model.createIfcRelFillsElement(new_guid(), None, None, None, opening, filler)
            typed[key].append(filler)
            contained[part.storey].append(filler)
            by_task[(part.storey, trade)].append(filler)
    for storey_index, products in contained.items():
        model.createIfcRelContainedInSpatialStructure(new_guid(), None, None, None, products, storeys[storey_index])
    for key, products in typed.items():
        model.createIfcRelDefinesByType(new_guid(), None, None, None, products, writer.types[key])
    for key, products in typed.items():
        if key in writer.usages:  # set usages go on occurrences: one shared usage, one relationship per type
            model.createIfcRelAssociatesMaterial(new_guid(), None, None, None, products, writer.usages[key])
    for storey_index, spaces in write_spaces(writer, storeys, plan, new_guid).items():
        model.createIfcRelAggregates(new_guid(), None, None, None, storeys[storey_index], spaces)
    for stair, parts in aggregates.values():
        model.createIfcRelAggregates(new_guid(), None, None, None, stair, parts)
    return by_task


def write_spaces(writer: Writer, storeys: list, plan: Plan, new_guid) -> dict[int, list]:
    """An IfcSpace per room: its floor between the wall faces extruded to the slab above.

    Spaces are spatial elements, not IfcElements: nothing installs them and no task links them.
    Returns storey index -> its spaces, for one IfcRelAggregates per storey.
    """
    spaces: dict[int, list] = defaultdict(list)
    for room in plan.rooms:
        x0, x1, y0, y1 = room.inner
        placement = writer.model.createIfcLocalPlacement(storeys[room.storey].ObjectPlacement,
                                                         writer.axis((x0, (y0 + y1) / 2, 0.0)))
        body = writer.body_rep([writer.box_solid((x1 - x0, y1 - y0, CLEAR_HEIGHT))])
        space = writer.product("IfcSpace", new_guid(), room.name, placement, body, "INTERNAL")
        space.LongName = "Stair hall" if room.stair else "Office"
        space.CompositionType = "ELEMENT"
        spaces[room.storey].append(space)
    return spaces
