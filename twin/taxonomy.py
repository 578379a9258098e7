"""What a site manager tracks: IFC classes mapped to tracked classes and their install stages.

This is the one table the renderer, detector training, registration, progress arithmetic and the
dashboard all read. ``docs/taxonomy.md`` explains it for people.

Stages are numbered from 0:

* stage 0 is always "not started" (nothing of the element is on site);
* stage ``k >= 1`` is the k-th entry of :attr:`TrackedClass.stages`;
* the last stage means "fully installed".

Each stage carries a cumulative share of the element's work (its *weight*), used by progress:
a wall that is boarded but not finished counts 0.75 of a wall.
"""

from __future__ import annotations

from dataclasses import dataclass

NOT_STARTED = "not_started"


@dataclass(frozen=True)
class TrackedClass:
    """A class of element the detector knows and the dashboard counts.

    name: detector class name (also the YOLO class name).
    stages: stage names after "not started", in install order.
    weights: cumulative share of work done at each stage in ``stages`` (last is 1.0).
    """

    name: str
    stages: tuple[str, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.stages) != len(self.weights) or not self.stages:
            raise ValueError(f"{self.name}: one weight per stage")
        if list(self.weights) != sorted(self.weights) or self.weights[-1] != 1.0:
            raise ValueError(f"{self.name}: weights must rise to 1.0")

    @property
    def final_stage(self) -> int:
        return len(self.stages)

    def stage_name(self, stage: int) -> str:
        return NOT_STARTED if stage == 0 else self.stages[stage - 1]

    def stage_index(self, name: str) -> int:
        if name == NOT_STARTED:
            return 0
        return self.stages.index(name) + 1

    def weight(self, stage: int) -> float:
        """Share of the element's work done at ``stage`` (0 at stage 0)."""
        return 0.0 if stage <= 0 else self.weights[min(stage, len(self.weights)) - 1]


_INSTALLED = (("installed",), (1.0,))

#: Every tracked class, in detector class-id order. Do not reorder: the id is the YOLO class index.
CLASSES: tuple[TrackedClass, ...] = (
    TrackedClass("wall", ("framed", "boarded", "finished"), (0.4, 0.75, 1.0)),
    TrackedClass("column", *_INSTALLED),
    TrackedClass("beam", *_INSTALLED),
    TrackedClass("slab", *_INSTALLED),
    TrackedClass("door", *_INSTALLED),
    TrackedClass("window", *_INSTALLED),
    TrackedClass("stair", *_INSTALLED),
    TrackedClass("railing", *_INSTALLED),
    TrackedClass("ceiling", ("framed", "finished"), (0.5, 1.0)),
    TrackedClass("pipe", *_INSTALLED),
    TrackedClass("duct", *_INSTALLED),
    TrackedClass("cable_tray", *_INSTALLED),
    TrackedClass("light_fixture", *_INSTALLED),
    TrackedClass("outlet", *_INSTALLED),
    TrackedClass("equipment", *_INSTALLED),
)
BY_NAME: dict[str, TrackedClass] = {c.name: c for c in CLASSES}
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)

# IFC entity -> tracked class. Looked up along the entity's supertypes (most specific first), so
# IfcWallStandardCase finds IfcWall and IFC2X3's IfcFlowSegment falls back to its type object.
_BY_ENTITY: dict[str, str | None] = {
    "IfcWall": "wall",
    "IfcCurtainWall": "wall",
    "IfcColumn": "column",
    "IfcPile": "column",
    "IfcBeam": "beam",
    "IfcMember": "beam",
    "IfcSlab": "slab",
    "IfcRoof": "slab",
    "IfcFooting": "slab",
    "IfcDoor": "door",
    "IfcWindow": "window",
    "IfcStair": "stair",
    "IfcStairFlight": "stair",
    "IfcRamp": "stair",
    "IfcRampFlight": "stair",
    "IfcRailing": "railing",
    "IfcPipeSegment": "pipe",
    "IfcPipeFitting": "pipe",
    "IfcDuctSegment": "duct",
    "IfcDuctFitting": "duct",
    "IfcCableCarrierSegment": "cable_tray",
    "IfcCableCarrierFitting": "cable_tray",
    "IfcLightFixture": "light_fixture",
    "IfcLamp": "light_fixture",
    "IfcOutlet": "outlet",
    "IfcSwitchingDevice": "outlet",
    # Other distribution elements (valves, pumps, boilers, terminals...) are "equipment".
    "IfcDistributionElement": "equipment",
    # Not tracked: voids, virtual and spatial helpers, loose furniture, proxies, fasteners.
    "IfcFeatureElement": None,
    "IfcVirtualElement": None,
    "IfcFurnishingElement": None,
    "IfcBuildingElementProxy": None,
    "IfcElementAssembly": None,
    "IfcDiscreteAccessory": None,
    "IfcFastener": None,
    "IfcMechanicalFastener": None,
    "IfcPlate": None,
    "IfcBuildingElementPart": None,
}

# IFC2X3 writes most MEP elements as generic IfcFlowSegment/IfcFlowTerminal with a typed type
# object (IfcPipeSegmentType, IfcLightFixtureType, ...): the type names the real class.
_BY_TYPE_ENTITY: dict[str, str] = {
    f"{entity}Type": name
    for entity, name in _BY_ENTITY.items()
    if name in {"pipe", "duct", "cable_tray", "light_fixture", "outlet"}
}

# Coverings are tracked only when they are ceilings.
_COVERING_CEILING = {"CEILING"}

# Entities that are not physical building parts: kept as records, never rendered or ray-cast.
NON_PHYSICAL = ("IfcFeatureElement", "IfcVirtualElement")


def classify(supertypes: list[str], predefined_type: str | None = None, type_entity: str | None = None
             ) -> str | None:
    """Tracked class name for an element, or None when it is not tracked.

    supertypes: the element's IFC entity and its supertypes, most specific first
        (e.g. ``["IfcWallStandardCase", "IfcWall", "IfcBuildingElement", ...]``).
    predefined_type: the element's (or its type's) PredefinedType, e.g. ``"CEILING"``.
    type_entity: the entity of the element's type object, e.g. ``"IfcPipeSegmentType"``.
    """
    if type_entity in _BY_TYPE_ENTITY:
        return _BY_TYPE_ENTITY[type_entity]
    if "IfcCovering" in supertypes:
        return "ceiling" if (predefined_type or "").upper() in _COVERING_CEILING else None
    for entity in supertypes:
        if entity in _BY_ENTITY:
            return _BY_ENTITY[entity]
    return None


def is_physical(supertypes: list[str]) -> bool:
    """False for openings, virtual elements and other non-physical IfcElements."""
    return not any(entity in supertypes for entity in NON_PHYSICAL)


@dataclass(frozen=True)
class DetectorLabel:
    """A class the detector predicts: a tracked class at one stage (``wall_boarded``), or the
    class itself when it has a single stage (``column``). Its index in :data:`DETECTOR_LABELS` is
    the YOLO class id."""

    name: str
    tracked: str
    stage: int


DETECTOR_LABELS: tuple[DetectorLabel, ...] = tuple(
    DetectorLabel(c.name if c.final_stage == 1 else f"{c.name}_{stage_name}", c.name, k)
    for c in CLASSES
    for k, stage_name in enumerate(c.stages, start=1)
)
DETECTOR_NAMES: tuple[str, ...] = tuple(label.name for label in DETECTOR_LABELS)
LABEL_OF: dict[tuple[str, int], int] = {(label.tracked, label.stage): i for i, label in enumerate(DETECTOR_LABELS)}
