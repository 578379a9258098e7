"""Plan maths of the sample building: a column grid, rooms, walls with doors and windows, MEP runs.

Pure data, no IFC: :func:`plan_building` returns a list of :class:`Part` in the model's world
frame (metres, z up, x east, y north, storey ``s`` at elevation ``s * STOREY_HEIGHT``). The writer
turns parts into IFC entities; the schedule groups them into tasks by ``trade``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

STOREY_HEIGHT = 3.2
SLAB = 0.2
CLEAR_HEIGHT = STOREY_HEIGHT - SLAB  # floor top to the soffit of the slab above
COLUMN = 0.4
BEAM_W, BEAM_H = 0.3, 0.5
#: Structural frames: (column type key, column footprint (x, y), beam type key, beam width, beam depth)
#: in metres. Steel: HEA 300 columns (web along y) and IPE 400 beams; the writer's types give the
#: I-sections.
FRAMES = {
    "concrete": ("column", (COLUMN, COLUMN), "beam", BEAM_W, BEAM_H),
    "steel": ("steel_column", (0.3, 0.29), "steel_beam", 0.18, 0.4),
}
#: Gable roof (``roof="gable"``): an attic storey whose floor is the top storey's roof slab, timber
#: rafters (80×200 mm, every ~0.9 m) rising from both eaves to the ridge at this pitch, and a
#: boarded deck on each slope. The gable ends stay open (an attic under construction).
ROOF_PITCH = math.radians(35.0)
RAFTER_W, RAFTER_H = 0.08, 0.2
RAFTER_SPACING = 0.9
EXT_WALL = 0.25
INT_WALL = 0.12
CEILING_Z = 2.45  # underside of the suspended ceiling above the floor
CEILING_T = 0.02
DOOR_W, DOOR_H = 1.0, 2.1
WINDOW_W, WINDOW_H, WINDOW_SILL = 1.2, 1.4, 0.9
STAIR_RUN, STAIR_WIDTH = 4.2, 1.2  # one straight flight of 18 risers, storey to storey
STAIR_INSET = (0.6, 0.8)  # foot of the flight from the stair bay's corner grid point (x, y)

# Trades in the order a site builds a storey; the schedule has one task per trade per storey.
TRADES = (
    "structure",
    "envelope",
    "partitions framing",
    "MEP rough-in",
    "boarding",
    "ceilings",
    "finishes and fixtures",
)


@dataclass(frozen=True)
class Opening:
    """A box-shaped void in its host part, in the host's local frame (metres).

    x: centre along local x; z: bottom (sill) above the host's origin; width along x; height along z.
    y: centre across local y; depth across y (None: through the host, its width plus 0.1 m).
    filler: "IfcDoor" or "IfcWindow" that fills it, or None for a bare void (a stairwell).
    """

    x: float
    z: float
    width: float
    height: float
    filler: str | None
    y: float = 0.0
    depth: float | None = None


@dataclass(frozen=True)
class Room:
    """A room of one storey: the bay between grid lines x0..x1, y0..y1 (world metres, wall axes).

    inner: (x0, x1, y0, y1) of its floor between the wall faces.
    stair: the room holds the stair up to the next storey (or, above, lies over the one from below).
    """

    storey: int
    name: str
    x0: float
    x1: float
    y0: float
    y1: float
    inner: tuple[float, float, float, float]
    stair: bool = False


@dataclass
class Part:
    """One element of the plan.

    ifc_class / predefined_type / name: what the writer creates.
    storey: storey index. trade: the task that installs it (one of :data:`TRADES`).
    origin: (x, y, z) world metres of the local placement; angle: rotation about z, radians.
    size: (length along local x, width along local y, height along z) of a box whose footprint
        runs from x=0..length and y=-width/2..width/2 in local coordinates, z from 0 up.
    type_key: parts sharing a type key share one type object and, when ``mapped``, one
        representation (an IfcMappedItem of the type's representation map).
    host: index of the wall part an opening cuts (doors and windows fill their opening).
    openings: the :class:`Opening` voids cut in this part (windows and doors in walls, a stairwell in a slab).
    """

    ifc_class: str
    name: str
    storey: int
    trade: str
    origin: tuple[float, float, float]
    size: tuple[float, float, float]
    angle: float = 0.0
    predefined_type: str | None = None
    type_key: str | None = None
    mapped: bool = False
    # "box"; "circle" (pipes: diameter = width); "column" (footprint centred on the origin);
    # "beam" (section extruded along local x); "flight" (stair steps or a sloped railing band).
    profile: str = "box"
    slope: float = 0.0  # rotation about the local y axis after ``angle``, radians: raises the local +x end
    openings: list[Opening] = field(default_factory=list)
    part_of: int | None = None  # index of the aggregate (stair) this part belongs to

    def bounds(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """World axis-aligned bounds ((xmin, ymin, zmin), (xmax, ymax, zmax)) of the part's box, metres."""
        length, width, height = self.size
        x0 = -length / 2 if self.profile == "column" else 0.0
        c, s = math.cos(self.angle), math.sin(self.angle)
        xs, ys = [], []
        for lx in (x0, x0 + length):
            for ly in (-width / 2, width / 2):
                xs.append(self.origin[0] + c * lx - s * ly)
                ys.append(self.origin[1] + s * lx + c * ly)
        z0 = self.origin[2]
        return (min(xs), min(ys), z0), (max(xs), max(ys), z0 + height)


@dataclass
class Plan:
    storeys: int
    xs: list[float]  # grid line x positions, metres
    ys: list[float]
    parts: list[Part]
    rooms: list[Room] = field(default_factory=list)


def _grid(bays: int, rng: random.Random) -> list[float]:
    lines = [0.0]
    for _ in range(bays):
        lines.append(round(lines[-1] + rng.uniform(5.4, 6.6), 2))
    return lines


def _wall(parts, storey, trade, name, a, b, thickness, predefined, type_key, openings):
    (x0, y0), (x1, y1) = a, b
    length = math.hypot(x1 - x0, y1 - y0)
    parts.append(Part("IfcWall", name, storey, trade, (x0, y0, storey * STOREY_HEIGHT),
                      (length, thickness, CLEAR_HEIGHT), math.atan2(y1 - y0, x1 - x0),
                      predefined, type_key, openings=openings))


def plan_building(storeys: int = 2, bays: tuple[int, int] = (3, 2), mep: bool = True, seed: int = 0,
                  structure: str = "concrete", roof: str = "flat") -> Plan:
    """The parts of a ``bays[0]`` × ``bays[1]`` bay building of ``storeys`` storeys.

    structure: the frame, a key of :data:`FRAMES` (reinforced-concrete rectangles or steel I-sections).
    roof: "flat" (a roof slab) or "gable" (an attic storey above: see :data:`ROOF_PITCH`).
    """
    if roof not in ("flat", "gable"):
        raise ValueError(f"roof must be flat or gable, got {roof!r}")
    if storeys < 1 or min(bays) < 1:
        raise ValueError("a building needs at least one storey and one bay each way")
    if structure not in FRAMES:
        raise ValueError(f"structure must be one of {', '.join(FRAMES)}, got {structure!r}")
    column_key, column_size, beam_key, beam_w, beam_h = FRAMES[structure]
    rng = random.Random(seed)
    xs, ys = _grid(bays[0], rng), _grid(bays[1], rng)
    width, depth = xs[-1], ys[-1]
    parts: list[Part] = []
    rooms: list[Room] = []
    stair_bay = (0, 0)
    for s in range(storeys):
        z = s * STOREY_HEIGHT
        # Structure: floor slab (its top is the storey's floor), columns, beams under the next slab.
        # Above the ground floor the slab has a stairwell over the flight below (and its railing).
        sx, sy = xs[stair_bay[0]] + STAIR_INSET[0], ys[stair_bay[1]] + STAIR_INSET[1]
        well = [Opening(sx + (STAIR_RUN - 0.1) / 2, -0.05, STAIR_RUN + 0.1, SLAB + 0.1, None,
                        y=sy + (STAIR_WIDTH + 0.1) / 2 - depth / 2, depth=STAIR_WIDTH + 0.3)] if s else []
        parts.append(Part("IfcSlab", f"Floor slab L{s}", s, "structure", (0, depth / 2, z - SLAB),
                          (width, depth, SLAB), predefined_type="FLOOR" if s else "BASESLAB",
                          type_key="slab", openings=well))
        for i, x in enumerate(xs):
            for j, y in enumerate(ys):
                parts.append(Part("IfcColumn", f"C {i}-{j} L{s}", s, "structure",
                                  (x, y, z), (*column_size, CLEAR_HEIGHT),
                                  predefined_type="COLUMN", type_key=column_key, mapped=True,
                                  profile="column"))
        beam_z = z + CLEAR_HEIGHT - beam_h
        half_x, half_y = column_size[0] / 2, column_size[1] / 2
        for j, y in enumerate(ys):
            for i in range(len(xs) - 1):
                parts.append(Part("IfcBeam", f"B x{i}-{j} L{s}", s, "structure", (xs[i] + half_x, y, beam_z),
                                  (xs[i + 1] - xs[i] - 2 * half_x, beam_w, beam_h), predefined_type="BEAM",
                                  type_key=beam_key, profile="beam"))
        for i, x in enumerate(xs):
            for j in range(len(ys) - 1):
                parts.append(Part("IfcBeam", f"B y{i}-{j} L{s}", s, "structure", (x, ys[j] + half_y, beam_z),
                                  (ys[j + 1] - ys[j] - 2 * half_y, beam_w, beam_h), math.pi / 2,
                                  predefined_type="BEAM", type_key=beam_key, profile="beam"))
        # Envelope: perimeter walls per bay, windows in each, the entrance door on the ground floor.
        perimeter = []
        for i in range(len(xs) - 1):
            perimeter.append(((xs[i], 0.0), (xs[i + 1], 0.0)))
            perimeter.append(((xs[i + 1], depth), (xs[i], depth)))
        for j in range(len(ys) - 1):
            perimeter.append(((width, ys[j]), (width, ys[j + 1])))
            perimeter.append(((0.0, ys[j + 1]), (0.0, ys[j])))
        for k, (a, b) in enumerate(perimeter):
            length = math.hypot(b[0] - a[0], b[1] - a[1])
            if s == 0 and k == 0:
                openings = [Opening(length / 2, 0.0, DOOR_W, DOOR_H, "IfcDoor")]
            else:
                n = 2 if length > 5.0 else 1
                openings = [Opening((q + 0.5) * length / n, WINDOW_SILL, WINDOW_W, WINDOW_H, "IfcWindow")
                            for q in range(n)]
            _wall(parts, s, "envelope", f"Ext wall {k} L{s}", a, b, EXT_WALL, "SOLIDWALL", "ext_wall", openings)
        # Partitions on interior grid lines, a door in each: every room opens onto its neighbours.
        for i in range(1, len(xs) - 1):
            for j in range(len(ys) - 1):
                length = ys[j + 1] - ys[j]
                _wall(parts, s, "partitions framing", f"Partition x{i}-{j} L{s}", (xs[i], ys[j]), (xs[i], ys[j + 1]),
                      INT_WALL, "PARTITIONING", "int_wall", [Opening(length / 2, 0, DOOR_W, DOOR_H, "IfcDoor")])
        for j in range(1, len(ys) - 1):
            for i in range(len(xs) - 1):
                length = xs[i + 1] - xs[i]
                _wall(parts, s, "partitions framing", f"Partition y{j}-{i} L{s}", (xs[i], ys[j]), (xs[i + 1], ys[j]),
                      INT_WALL, "PARTITIONING", "int_wall", [Opening(length / 2, 0, DOOR_W, DOOR_H, "IfcDoor")])
        # Stair up to the next storey in the corner bay, with its railing.
        if s < storeys - 1:
            x0, y0, run = sx, sy, STAIR_RUN
            parts.append(Part("IfcStair", f"Stair L{s}", s, "structure", (x0, y0, z), (0.0, 0.0, 0.0),
                              predefined_type="STRAIGHT_RUN_STAIR"))
            stair = len(parts) - 1
            parts.append(Part("IfcStairFlight", f"Flight L{s}", s, "structure", (x0, y0 + STAIR_WIDTH / 2, z),
                              (run, STAIR_WIDTH, STOREY_HEIGHT), predefined_type="STRAIGHT", profile="flight",
                              part_of=stair))
            parts.append(Part("IfcRailing", f"Railing L{s}", s, "structure",
                              (x0, y0 + STAIR_WIDTH + 0.05, z + 0.9),
                              (run, 0.05, STOREY_HEIGHT), predefined_type="HANDRAIL", profile="flight",
                              part_of=stair))
        # Per room: ceiling, MEP runs above it, lights in it, outlets on the wall.
        for i in range(len(xs) - 1):
            for j in range(len(ys) - 1):
                has_stair = (i, j) == stair_bay and (s < storeys - 1 or s > 0)
                half = [(EXT_WALL if edge else INT_WALL) / 2
                        for edge in (i == 0, i == len(xs) - 2, j == 0, j == len(ys) - 2)]
                inner = (xs[i] + half[0], xs[i + 1] - half[1], ys[j] + half[2], ys[j + 1] - half[3])
                rooms.append(Room(s, f"R{i}-{j} L{s}", xs[i], xs[i + 1], ys[j], ys[j + 1], inner, has_stair))
                if s < storeys - 1 and (i, j) == stair_bay:
                    continue  # the stairwell is open to the floor above
                rx0, rx1, ry0, ry1 = xs[i], xs[i + 1], ys[j], ys[j + 1]
                room = f"R{i}-{j} L{s}"
                cy = (ry0 + ry1) / 2
                parts.append(Part("IfcCovering", f"Ceiling {room}", s, "ceilings",
                                  (rx0 + 0.15, cy, z + CEILING_Z), (rx1 - rx0 - 0.3, ry1 - ry0 - 0.3, CEILING_T),
                                  predefined_type="CEILING", type_key="ceiling"))
                if not mep:
                    continue
                run = rx1 - rx0 - 1.0
                parts.append(Part("IfcDuctSegment", f"Duct {room}", s, "MEP rough-in", (rx0 + 0.5, cy - 0.8, z + 2.6),
                                  (run, 0.4, 0.25), predefined_type="RIGIDSEGMENT", type_key="duct"))
                parts.append(Part("IfcPipeSegment", f"Pipe {room}", s, "MEP rough-in", (rx0 + 0.5, cy + 0.6, z + 2.7),
                                  (run, 0.08, 0.08), predefined_type="RIGIDSEGMENT", type_key="pipe",
                                  profile="circle"))
                parts.append(Part("IfcCableCarrierSegment", f"Tray {room}", s, "MEP rough-in",
                                  (rx0 + 0.5, cy + 1.2, z + 2.75), (run, 0.3, 0.06),
                                  predefined_type="CABLETRAYSEGMENT", type_key="tray"))
                for q, fx in enumerate((rx0 + (rx1 - rx0) / 3, rx0 + 2 * (rx1 - rx0) / 3)):
                    parts.append(Part("IfcLightFixture", f"Light {q} {room}", s, "finishes and fixtures",
                                      (fx - 0.3, cy, z + CEILING_Z - 0.06), (0.6, 0.6, 0.06),
                                      predefined_type="DIRECTIONSOURCE", type_key="light", mapped=True))
                inner = INT_WALL / 2 if j > 0 else EXT_WALL / 2
                for q, fx in enumerate((rx0 + 1.0, rx1 - 1.2)):
                    parts.append(Part("IfcOutlet", f"Outlet {q} {room}", s, "finishes and fixtures",
                                      (fx, ry0 + inner + 0.02, z + 0.3), (0.08, 0.04, 0.12),
                                      predefined_type="POWEROUTLET", type_key="outlet", mapped=True))
    if roof == "gable":
        parts += _gable_roof(storeys, width, depth)
        return Plan(storeys + 1, xs, ys, parts, rooms)
    parts.append(Part("IfcSlab", "Roof slab", storeys - 1, "envelope", (0, depth / 2, storeys * STOREY_HEIGHT - SLAB),
                      (width, depth, SLAB), predefined_type="ROOF", type_key="roof"))
    return Plan(storeys, xs, ys, parts, rooms)


def _gable_roof(attic: int, width: float, depth: float) -> list[Part]:
    """The attic storey ``attic``: its floor slab, rafters from both eaves (y = 0 and y = depth) to
    the ridge above y = depth / 2, and a deck on each slope (see :data:`ROOF_PITCH`)."""
    z = attic * STOREY_HEIGHT
    run = depth / 2
    length = run / math.cos(ROOF_PITCH)
    parts = [Part("IfcSlab", f"Floor slab L{attic}", attic, "structure", (0, depth / 2, z - SLAB),
                  (width, depth, SLAB), predefined_type="FLOOR", type_key="slab")]
    count = max(2, round(width / RAFTER_SPACING) + 1)
    sides = (("S", 0.0, math.pi / 2), ("N", depth, -math.pi / 2))  # eave y, direction up the slope
    for k in range(count):
        x = RAFTER_W / 2 + k * (width - RAFTER_W) / (count - 1)
        for side, y, angle in sides:
            parts.append(Part("IfcBeam", f"Rafter {side}{k} L{attic}", attic, "structure", (x, y, z),
                              (length, RAFTER_W, RAFTER_H), angle, predefined_type="BEAM", type_key="rafter",
                              profile="beam", slope=ROOF_PITCH))
    for side, y, angle in sides:
        # On the rafters: the deck's underside is RAFTER_H above their bottom, across the slope.
        normal_y = -math.sin(angle) * math.sin(ROOF_PITCH)
        parts.append(Part("IfcSlab", f"Roof deck {side} L{attic}", attic, "envelope",
                          (width / 2, y + RAFTER_H * normal_y, z + RAFTER_H * math.cos(ROOF_PITCH)),
                          (length + RAFTER_H * math.tan(ROOF_PITCH), width, 0.025), angle,  # to the ridge
                          predefined_type="ROOF", type_key="roof_deck", slope=ROOF_PITCH))
    return parts
