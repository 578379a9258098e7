"""IFC → element and storey records: the twin's inventory, as plain data.

Every ``IfcElement`` (all subtypes, IFC2X3/IFC4/IFC4X3) becomes an :class:`ElementRecord`, whether
or not it has geometry of its own (an IfcElementAssembly whose parts carry the geometry is still a
record). Relationships are read with ``ifcopenshell.util.element`` and ``ifcopenshell.util.placement``.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

import ifcopenshell
import ifcopenshell.util.element as ifc_element
import ifcopenshell.util.placement as ifc_placement
import ifcopenshell.util.unit as ifc_unit

from twin import taxonomy


@dataclass(frozen=True)
class StoreyRecord:
    """An IfcBuildingStorey. ``elevation`` is in metres in the model's world frame (z up)."""

    global_id: str
    name: str
    elevation: float


@dataclass
class ElementRecord:
    """One IfcElement of the model.

    ifc_class: the entity name, e.g. ``IfcWallStandardCase``.
    predefined_type: the element's PredefinedType (or its type's), e.g. ``PARTITIONING``.
    storey: GlobalId of the containing IfcBuildingStorey, or None.
    assembly: GlobalId of the aggregate (IfcElementAssembly, IfcStair...) it is part of, or None.
    properties: property and quantity sets flattened to ``{"Pset_WallCommon.IsExternal": True}``;
        quantities are in the file's units as written (IFC quantity sets carry their own unit).
    tracked_class: the :mod:`twin.taxonomy` class, or None for untracked elements.
    physical: False for openings and virtual elements (kept as records, never rendered).
    """

    global_id: str
    ifc_class: str
    predefined_type: str | None
    name: str | None
    type_name: str | None
    storey: str | None
    materials: list[str]
    properties: dict[str, Any]
    assembly: str | None
    tracked_class: str | None
    physical: bool
    step_id: int = field(default=0, compare=False)


def length_scale(model: ifcopenshell.file) -> float:
    """Metres per model length unit (0.001 for a millimetre model)."""
    return float(ifc_unit.calculate_unit_scale(model))


def extract_storeys(model: ifcopenshell.file) -> list[StoreyRecord]:
    """All IfcBuildingStoreys, lowest first. Elevation from the storey's placement, in metres."""
    scale = length_scale(model)
    storeys = []
    for storey in model.by_type("IfcBuildingStorey"):
        try:
            elevation = float(ifc_placement.get_storey_elevation(storey)) * scale
        except Exception:  # a storey without placement or elevation
            elevation = float(storey.Elevation or 0.0) * scale
        storeys.append(StoreyRecord(storey.GlobalId, storey.Name or storey.LongName or "", elevation))
    storeys.sort(key=lambda s: (s.elevation, s.name))
    return storeys


def _json_value(value: Any) -> Any:
    """A property value as JSON-safe plain data (entities become their string, NaN becomes None)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return str(value)


def flatten_psets(psets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"Pset": {"Prop": v, "id": 12}}`` → ``{"Pset.Prop": v}`` with JSON-safe values."""
    flat: dict[str, Any] = {}
    for pset_name, props in psets.items():
        for prop_name, value in props.items():
            if prop_name == "id":
                continue
            flat[f"{pset_name}.{prop_name}"] = _json_value(value)
    return flat


def _material_names(element: ifcopenshell.entity_instance) -> list[str]:
    names = []
    for material in ifc_element.get_materials(element):
        name = getattr(material, "Name", None)
        if name and name not in names:
            names.append(name)
    return names


def _supertypes(model: ifcopenshell.file, entity: str, cache: dict[str, list[str]]) -> list[str]:
    """The entity and its supertypes, most specific first (cached per entity name)."""
    if entity not in cache:
        declaration = ifcopenshell.schema_by_name(model.schema).declaration_by_name(entity)
        chain = []
        while declaration is not None:
            chain.append(declaration.name())
            declaration = declaration.supertype()
        cache[entity] = chain
    return cache[entity]


def element_record(model: ifcopenshell.file, element: ifcopenshell.entity_instance,
                   supertype_cache: dict[str, list[str]] | None = None) -> ElementRecord:
    """The record for one IfcElement."""
    supertypes = _supertypes(model, element.is_a(), {} if supertype_cache is None else supertype_cache)
    element_type = ifc_element.get_type(element)
    storey = ifc_element.get_container(element, ifc_class="IfcBuildingStorey")
    if storey is None:  # parts of an aggregate are contained through their whole
        whole = ifc_element.get_aggregate(element)
        while storey is None and whole is not None:
            storey = ifc_element.get_container(whole, ifc_class="IfcBuildingStorey")
            whole = ifc_element.get_aggregate(whole)
    aggregate = ifc_element.get_aggregate(element)
    predefined = ifc_element.get_predefined_type(element)
    return ElementRecord(
        global_id=element.GlobalId,
        ifc_class=element.is_a(),
        predefined_type=predefined,
        name=element.Name,
        type_name=element_type.Name if element_type is not None else None,
        storey=storey.GlobalId if storey is not None else None,
        materials=_material_names(element),
        properties=flatten_psets(ifc_element.get_psets(element)),
        assembly=aggregate.GlobalId if aggregate is not None and aggregate.is_a("IfcElement") else None,
        tracked_class=taxonomy.classify(
            supertypes, predefined, element_type.is_a() if element_type is not None else None
        ),
        physical=taxonomy.is_physical(supertypes),
        step_id=element.id(),
    )


def extract_elements(model: ifcopenshell.file) -> list[ElementRecord]:
    """A record for every IfcElement in the model, in file order.

    Raises ValueError naming the GlobalId when two elements share one (the twin keys on it).
    """
    cache: dict[str, list[str]] = {}
    records = [element_record(model, element, cache) for element in model.by_type("IfcElement")]
    seen: set[str] = set()
    for record in records:
        if record.global_id in seen:
            raise ValueError(f"duplicate GlobalId {record.global_id} (#{record.step_id} {record.ifc_class})")
        seen.add(record.global_id)
    return records
