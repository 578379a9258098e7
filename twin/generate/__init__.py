"""Sample buildings with a 4D schedule, for the demo, tests, detector training and the benchmark.

    from twin.generate import generate_building
    result = generate_building("sample.ifc", storeys=2, bays=(3, 2), mep=True, seed=0)

The file is IFC4 in metres, model world frame with z up: site, building, storeys (3.2 m apart) and
a room (IfcSpace) per bay; slabs, columns, beams, exterior walls with windows and an entrance door,
partitions with doors, a stair with its railing rising through a well in the slab above, ceilings,
and (with ``mep``) ducts, pipes, cable trays, light fixtures and outlets; types with materials
(layer sets for walls, slabs and ceilings, profile sets for columns and beams: a reinforced-concrete
frame, or a steel one of I-sections; a flat roof, or an attic of timber rafters under a gable),
storey containment, and a work schedule on a Mon-Fri calendar whose tasks install every physical
element exactly once.
The IfcStair is an aggregate without a shape of its own: its flight and railing carry the geometry.
The same seed gives the same file, GlobalIds included.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import ifcopenshell
import ifcopenshell.api
import ifcopenshell.guid
import numpy as np

from twin.generate.layout import STOREY_HEIGHT, plan_building
from twin.generate.schedule import write_schedule
from twin.generate.writer import write_plan

DEFAULT_START = dt.date(2027, 1, 4)


@dataclass
class GeneratedBuilding:
    """What :func:`generate_building` wrote: per-class element counts, tasks, seconds taken."""

    path: Path
    elements: dict[str, int]
    tasks: int
    seconds: float

    @property
    def element_count(self) -> int:
        return sum(self.elements.values())


def _deterministic_guids(model: ifcopenshell.file, seed: int) -> None:
    """Give every rooted entity a GlobalId drawn from ``seed``, in entity order."""
    rng = random.Random(f"sitetwin-guids-{seed}")
    for entity in sorted(model.by_type("IfcRoot"), key=lambda e: e.id()):
        entity.GlobalId = ifcopenshell.guid.compress(uuid.UUID(int=rng.getrandbits(128)).hex)


# (entity, attribute) pairs that are unordered SETs in IFC4 and that ifcopenshell.api fills from
# Python sets, i.e. in memory-address order: sorted by entity id so a seed reproduces the file.
_SETS = (("IfcUnitAssignment", "Units"), ("IfcRelDeclares", "RelatedDefinitions"),
         ("IfcRelAssociatesMaterial", "RelatedObjects"), ("IfcRelAssignsToControl", "RelatedObjects"),
         ("IfcRelDefinesByType", "RelatedObjects"), ("IfcRelContainedInSpatialStructure", "RelatedElements"))


def _canonical_order(model: ifcopenshell.file) -> None:
    for ifc_class, attribute in _SETS:
        for entity in model.by_type(ifc_class):
            members = getattr(entity, attribute)
            if len(members) > 1:
                setattr(entity, attribute, sorted(members, key=lambda e: e.id()))


def generate_building(path: str | os.PathLike, storeys: int = 2, bays: tuple[int, int] = (3, 2), mep: bool = True,
                      seed: int = 0, start: dt.date = DEFAULT_START,
                      structure: str = "concrete", roof: str = "flat") -> GeneratedBuilding:
    """Write a sample building to ``path`` (IFC4, metres). See the module docstring.

    structure: "concrete" (rectangular RC columns and beams) or "steel" (HEA columns, IPE beams).
    roof: "flat" (a roof slab) or "gable" (an attic storey with timber rafters above the top storey).
    """
    started = time.perf_counter()
    plan = plan_building(storeys, bays, mep, seed, structure, roof)
    model = ifcopenshell.api.run("project.create_file", version="IFC4")
    project = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcProject",
                                   name=f"SiteTwin sample building (seed {seed})")
    ifcopenshell.api.run("unit.assign_unit", model, units=[
        ifcopenshell.api.run("unit.add_si_unit", model, unit_type="LENGTHUNIT"),
        ifcopenshell.api.run("unit.add_si_unit", model, unit_type="AREAUNIT"),
        ifcopenshell.api.run("unit.add_si_unit", model, unit_type="VOLUMEUNIT"),
        ifcopenshell.api.run("unit.add_si_unit", model, unit_type="PLANEANGLEUNIT"),
    ])
    context = ifcopenshell.api.run("context.add_context", model, context_type="Model")
    body = ifcopenshell.api.run("context.add_context", model, context_type="Model", context_identifier="Body",
                                target_view="MODEL_VIEW", parent=context)
    site = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcSite", name="Site")
    building = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcBuilding", name="Building A")
    ifcopenshell.api.run("aggregate.assign_object", model, products=[site], relating_object=project)
    ifcopenshell.api.run("aggregate.assign_object", model, products=[building], relating_object=site)
    for placed in (site, building):
        ifcopenshell.api.run("geometry.edit_object_placement", model, product=placed, matrix=np.eye(4))
    storey_entities = []
    for s in range(plan.storeys):
        storey = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcBuildingStorey", name=f"Level {s}")
        matrix = np.eye(4)
        matrix[2, 3] = s * STOREY_HEIGHT
        ifcopenshell.api.run("geometry.edit_object_placement", model, product=storey, matrix=matrix)
        storey.Elevation = s * STOREY_HEIGHT
        storey_entities.append(storey)
    ifcopenshell.api.run("aggregate.assign_object", model, products=storey_entities, relating_object=building)

    by_task = write_plan(model, body, storey_entities, plan, ifcopenshell.guid.new)
    tasks = write_schedule(model, plan.storeys, by_task, start, ifcopenshell.guid.new)
    _canonical_order(model)
    _deterministic_guids(model, seed)
    model.header.file_name.time_stamp = f"{start.isoformat()}T00:00:00"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    model.write(str(tmp))
    os.replace(tmp, path)
    counts = collections.Counter(e.is_a() for e in model.by_type("IfcElement") if not e.is_a("IfcFeatureElement"))
    return GeneratedBuilding(path, dict(sorted(counts.items())), tasks, round(time.perf_counter() - started, 2))
