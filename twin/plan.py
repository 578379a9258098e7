"""A storey's floor plan cut from the twin: one 2D footprint per element, in metres, ready for SVG.

    from twin.plan import storey_plan, plan_svg_paths, to_svg, svg_viewbox
    plan = storey_plan(twin, storey_global_id, cut_height=1.0)
    paths = plan_svg_paths(plan)            # one SVG path ``d`` per element, in plan.rows order
    xy_svg = to_svg(frame_xy, plan.bounds)  # capture frames drawn with the same mapping

Frames. Plan coordinates are the world frame's x, y in metres (z up, so the plan is the view from
above). The cut plane is horizontal at ``z = storey elevation + cut_height``. Each element of the
storey (physical, with triangles) gets one ``kind``:

    "cut"    its triangles cross the plane (walls, columns, doors, windows, stairs): the footprint is
             the section of its mesh by the plane;
    "below"  wholly at or below the plane (slabs, furniture, floor outlets): its outline seen from above;
    "above"  wholly at or above the plane (beams, ceilings, ducts): its outline seen from below, for
             the page to draw dashed.

What is approximated: every footprint is the 2D **convex hull** of its points (the section points
for "cut", all mesh vertices for "below"/"above"), one polygon per element. That is exact for what a
plan is mostly made of: straight walls, columns, doors and windows are convex in section, and slabs
and coverings on a rectangular grid are convex from above. It fills what is not convex: a wall with
a door or a window at the cut height covers its opening (the door or window is drawn over it; see
the draw order below), an L-shaped wall or slab becomes its hull, a slab's stairwell is filled.

SVG mapping (SVG's y axis points down, the plan's y points north/up)::

    svg_x = x - minx
    svg_y = maxy - y          with plan.bounds = [minx, miny, maxx, maxy] (metres)

so SVG user units are metres and the whole plan is ``viewBox="0 0 (maxx - minx) (maxy - miny)"``
(:func:`svg_viewbox`); the browser scales it to whatever pixel width the page gives the ``<svg>``.
:func:`to_svg` applies the same mapping to any world (x, y), e.g. capture frame positions.

Speed: everything is vectorised over the storey's triangles and points (no per-triangle Python);
the convex hulls of all elements are computed at once (:func:`_grouped_convex_hulls`), and the
path strings come out of one ``%`` format over all vertices. A storey of 21,000 elements (930,000
triangles in the building) takes 0.2-0.45 s, SVG paths included (``bench/plan.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.model import Twin

# Plan points are snapped to this grid (metres) before hulls are taken: duplicate vertices collapse
# and the orientation tests run in exact int64 arithmetic. 0.1 mm is far below anything a plan draws
# (SVG paths keep 1 cm at the default precision) and far above float32 noise in world coordinates
# (float32 keeps ~0.06 mm at 500 m from the origin; larger offsets would need a local origin first).
QUANTUM = 1e-4

# A hull vertex closer than this many quanta (0.2 mm) to the line through its neighbours is dropped:
# where a face's diagonal crosses the plane it adds a point on the section's edge, which snapping to
# the grid can push just outside; 2 quanta covers the snapping error of three points (each ≤ √2 / 2).
COLLINEAR = 2.0

KINDS = ("below", "cut", "above")  # also the draw order of plan.rows


@dataclass
class StoreyPlan:
    """The footprints of one storey's elements, in draw order (below, then cut, then above).

    storey: GlobalId of the IfcBuildingStorey. elevation, cut_z: metres, world z (cut_z is the plane).
    rows: (M,) int64 rows into ``twin.elements`` / the geometry arrays.
    global_ids: the M elements' GlobalIds.
    kind: (M,) str, "cut" | "below" | "above" (see the module docstring).
    points: (P, 2) float64 plan x, y in metres, every polygon's vertices one after the other;
        polygon ``i`` is ``points[offsets[i]:offsets[i + 1]]``, counter-clockwise (in plan x right,
        y up), not closed (the first vertex is not repeated). A degenerate footprint (a plate seen
        edge-on) has 1 or 2 vertices.
    offsets: (M + 1,) int64.
    area: (M,) float64 polygon areas, m².
    bounds: (4,) float64 ``[minx, miny, maxx, maxy]`` over all polygons, metres; NaN when M is 0.

    Within "below" the larger footprints come first, so a slab never hides what stands on it; "cut"
    elements are drawn after, so a door or window lies over the wall it is in.
    """

    storey: str
    elevation: float
    cut_z: float
    rows: np.ndarray
    global_ids: list[str]
    kind: np.ndarray
    points: np.ndarray
    offsets: np.ndarray
    area: np.ndarray
    bounds: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def polygons(self) -> list[np.ndarray]:
        """One (n, 2) float64 array per element (views into ``points``), in ``rows`` order."""
        return np.split(self.points, self.offsets[1:-1]) if len(self.rows) else []

    @property
    def above(self) -> np.ndarray:
        """(M,) bool: elements above the cut, to be drawn dashed."""
        return self.kind == "above"


def storey_plan(twin: Twin, storey_global_id: str, cut_height: float = 1.0) -> StoreyPlan:
    """Cut the storey's elements at ``elevation + cut_height`` metres (see the module docstring).

    The storey's elements are the physical ones whose ``storey`` is ``storey_global_id`` and that
    own triangles. KeyError if the twin has no such storey.
    """
    storey = next((s for s in twin.storeys if s.global_id == storey_global_id), None)
    if storey is None:
        raise KeyError(f"no storey {storey_global_id!r} in the twin")
    cut_z = float(storey.elevation) + float(cut_height)
    geometry = twin.geometry
    n = len(twin.elements)

    on_storey = np.fromiter((e.physical and e.storey == storey_global_id for e in twin.elements),
                            dtype=bool, count=n)
    on_storey &= geometry.has_triangles
    rows = np.flatnonzero(on_storey)
    zmin, zmax = geometry.aabb[rows, 2], geometry.aabb[rows, 5]
    # Per element row: 0 not on this plan, 1 below, 2 cut, 3 above (KINDS index + 1).
    code = np.zeros(n, np.int8)
    code[rows] = np.where(zmax <= cut_z, 1, np.where(zmin >= cut_z, 3, 2))

    tri_code = code[geometry.triangle_element]
    section_row, section_xy = _section_points(geometry.vertices, geometry.triangles[tri_code == 2],
                                              geometry.triangle_element[tri_code == 2], cut_z)
    # A "cut" element none of whose triangles crosses the plane (two plates, one each side of it)
    # has no section: it falls back to its outline, like the others, and counts as below.
    sectioned = np.zeros(n, bool)
    sectioned[section_row] = True
    code[(code == 2) & ~sectioned] = 1
    tri_code = code[geometry.triangle_element]
    outlined = (tri_code == 1) | (tri_code == 3)
    outline_row, outline_xy = _outline_points(geometry.vertices, geometry.triangles[outlined],
                                              geometry.triangle_element[outlined])

    group = np.concatenate([section_row, outline_row])
    xy = np.concatenate([section_xy, outline_xy])
    origin = xy.min(axis=0) if len(xy) else np.zeros(2)
    hull_row, points, offsets = _grouped_convex_hulls(group, xy - origin)
    points = points + origin
    area = _polygon_areas(points, offsets)

    # Draw order: below (largest first), cut, above; ties by row.
    order = np.lexsort((hull_row, -np.where(code[hull_row] == 1, area, 0.0), code[hull_row]))
    points, offsets = _reorder(points, offsets, order)
    hull_row, area = hull_row[order], area[order]
    kind = np.asarray(KINDS)[code[hull_row] - 1] if len(hull_row) else np.zeros(0, "<U5")
    bounds = (np.concatenate([points.min(axis=0), points.max(axis=0)]) if len(points)
              else np.full(4, np.nan))
    return StoreyPlan(
        storey=storey_global_id, elevation=float(storey.elevation), cut_z=cut_z,
        rows=hull_row.astype(np.int64), global_ids=[twin.elements[i].global_id for i in hull_row],
        kind=kind, points=points, offsets=offsets, area=area, bounds=bounds,
    )


def _section_points(vertices: np.ndarray, triangles: np.ndarray, triangle_element: np.ndarray,
                    z: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the triangles' edges cross the plane at height ``z``: (K,) element rows, (K, 2) x, y.

    A vertex exactly on the plane counts as above it, so a triangle touching the plane at a vertex
    or lying in it yields no points of its own (its neighbours that cross the plane do). Each
    crossing triangle gives the two ends of its section segment; the segments are not chained.
    """
    corners = vertices[triangles].astype(np.float64)  # (T, 3, 3)
    h = corners[:, :, 2] - z  # (T, 3)
    up = h >= 0
    a, b = corners, np.roll(corners, -1, axis=1)  # edges 0-1, 1-2, 2-0
    ha, hb = h, np.roll(h, -1, axis=1)
    crosses = up != np.roll(up, -1, axis=1)  # (T, 3)
    t = ha[crosses] / (ha[crosses] - hb[crosses])
    xy = a[crosses][:, :2] + t[:, None] * (b[crosses][:, :2] - a[crosses][:, :2])
    rows = np.broadcast_to(triangle_element[:, None], crosses.shape)[crosses]
    return rows.astype(np.int64), xy


def _outline_points(vertices: np.ndarray, triangles: np.ndarray,
                    triangle_element: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct (element, vertex) of the triangles: (K,) element rows, (K, 2) x, y."""
    key = triangle_element.astype(np.int64)[:, None] * len(vertices) + triangles
    key = np.unique(key)
    rows, vertex = np.divmod(key, len(vertices))
    return rows, vertices[vertex, :2].astype(np.float64)


def _grouped_convex_hulls(group: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 2D convex hull of each group's points, all groups at once (Andrew's monotone chain).

    group: (K,) int labels; xy: (K, 2) float metres, near the origin (see QUANTUM).
    Returns (G,) the groups in ascending order, (P, 2) hull vertices counter-clockwise without
    repeating the first, (G + 1,) offsets into them.

    Instead of the sequential stack of the textbook algorithm, each chain is pruned in rounds: a
    point of the sorted chain whose neighbours make a turn at it that is not strictly to the left
    lies above (for the lower chain) the segment joining two other points, so it is not a hull
    vertex, whatever else is dropped in the same round. Points within COLLINEAR quanta of that
    segment are dropped too, so a hull may leave out a point by a fraction of a millimetre. Rounds
    stop when nothing is dropped; the chain left is convex and keeps every hull vertex. Duplicates
    are removed first (a pair of equal points would make each other look collinear and both be
    dropped).
    """
    q = np.round(np.asarray(xy, np.float64) / QUANTUM).astype(np.int64)
    order = np.lexsort((q[:, 1], q[:, 0], group))
    g, q = np.asarray(group)[order], q[order]
    distinct = np.ones(len(g), bool)
    distinct[1:] = (g[1:] != g[:-1]) | (q[1:, 0] != q[:-1, 0]) | (q[1:, 1] != q[:-1, 1])
    g, q = g[distinct], q[distinct]

    lower = _prune_chain(g, q)
    upper = _prune_chain(g[::-1], q[::-1])
    ug = g[::-1][upper]
    # The upper chain runs from each group's last point back to its first, both already in the
    # lower chain: drop its ends.
    inner = np.ones(len(upper), bool)
    if len(upper):
        inner[0] = inner[-1] = False
        inner[1:] &= ug[1:] == ug[:-1]
        inner[:-1] &= ug[:-1] == ug[1:]
    lg, ug_inner = g[lower], ug[inner]
    hull_g = np.concatenate([lg, ug_inner])
    hull_q = np.concatenate([q[lower], q[::-1][upper][inner]])
    part = np.concatenate([np.zeros(len(lg), np.int8), np.ones(len(ug_inner), np.int8)])
    position = np.arange(len(hull_g))
    hull = np.lexsort((position, part, hull_g))
    hull_g, hull_q = hull_g[hull], hull_q[hull]

    groups, starts = np.unique(hull_g, return_index=True)
    offsets = np.append(starts, len(hull_g)).astype(np.int64)
    return groups, hull_q * QUANTUM, offsets


def _prune_chain(g: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Indices of the lower monotone chain of each group in a sorted (g, q) run (see above)."""
    keep = np.arange(len(g))
    while len(keep) > 2:
        gk, qk = g[keep], q[keep]
        a, b, c = qk[:-2], qk[1:-1], qk[2:]
        cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        # Not a left turn, or b within COLLINEAR quanta of the line a-c (distance = cross / |ac|).
        flat = cross.astype(np.float64) ** 2 <= COLLINEAR**2 * ((c - a).astype(np.float64) ** 2).sum(axis=1)
        drop = ((cross <= 0) | flat) & (gk[1:-1] == gk[:-2]) & (gk[1:-1] == gk[2:])
        if not drop.any():
            break
        alive = np.ones(len(keep), bool)
        alive[1:-1] = ~drop
        keep = keep[alive]
    return keep


def _polygon_areas(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(M,) shoelace areas of the polygons ``points[offsets[i]:offsets[i + 1]]``, m² (0 below 3 vertices)."""
    m = len(offsets) - 1
    if m == 0:
        return np.zeros(0)
    counts = np.diff(offsets)
    nxt = np.arange(len(points)) + 1
    nxt[offsets[1:] - 1] = offsets[:-1]  # each polygon's last vertex wraps to its first
    terms = points[:, 0] * points[nxt, 1] - points[nxt, 0] * points[:, 1]
    sums = np.add.reduceat(terms, offsets[:-1]) if len(points) else np.zeros(m)
    return np.where(counts >= 3, 0.5 * np.abs(sums), 0.0)


def _reorder(points: np.ndarray, offsets: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polygons ``order[0], order[1], ...`` of a (points, offsets) pair, as a new pair."""
    counts = np.diff(offsets)[order]
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    starts = np.repeat(offsets[:-1][order] - new_offsets[:-1], counts)
    return points[np.arange(new_offsets[-1]) + starts], new_offsets


def to_svg(xy: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """World plan x, y (..., 2) metres → SVG user units (metres, y down): ``(x - minx, maxy - y)``."""
    xy = np.asarray(xy, np.float64)
    if xy.shape[-1] != 2:
        raise ValueError(f"expected (..., 2) plan points, got shape {xy.shape}")
    return np.stack([xy[..., 0] - bounds[0], bounds[3] - xy[..., 1]], axis=-1)


def svg_viewbox(bounds: np.ndarray, margin: float = 0.5) -> str:
    """The ``viewBox`` of the whole plan in :func:`to_svg` units, with ``margin`` metres around it."""
    width, height = bounds[2] - bounds[0], bounds[3] - bounds[1]
    return f"{-margin:g} {-margin:g} {width + 2 * margin:g} {height + 2 * margin:g}"


def plan_svg_paths(plan: StoreyPlan, precision: int = 2) -> list[str]:
    """One SVG path ``d`` per element of ``plan`` (same order as ``plan.rows``), in :func:`to_svg` units.

    ``precision``: decimals kept, in metres (2: centimetres). The first vertex is absolute (``M x y``),
    the others relative to the one before (``h dx``, ``v dy`` or ``l dx dy``), closed by ``Z``: an
    axis-aligned wall is ``M12.30 4.50h5.00v-0.20h-5.00Z``, 40 % shorter than absolute ``L`` commands. The
    steps are differences of the rounded vertices, so they add up exactly (no drift along a path).
    A degenerate footprint of 1 or 2 vertices is left open (stroke it).
    """
    if len(plan) == 0:
        return []
    svg = np.round(to_svg(plan.points, plan.bounds), precision) + 0.0  # + 0.0 turns -0.0 into 0.0
    first = np.zeros(len(svg), bool)
    first[plan.offsets[:-1]] = True
    step = np.round(svg - np.roll(svg, 1, axis=0), precision) + 0.0
    values = np.where(first[:, None], svg, step)
    number = f"%.{precision}f"
    command = np.where(first, f"M{number} {number}",
                       np.where(step[:, 1] == 0, f"h{number}",
                                np.where(step[:, 0] == 0, f"v{number}", f"l{number} {number}")))
    keep = np.ones(values.shape, bool)
    keep[:, 0] = first | (step[:, 0] != 0) | (step[:, 1] == 0)  # the x of M and l, the dx of h
    keep[:, 1] = first | (step[:, 1] != 0)  # the y of M and l, the dy of v
    ends = np.full(len(svg), "", dtype=object)
    closed = np.diff(plan.offsets) >= 3
    ends[plan.offsets[1:] - 1] = np.where(closed, "Z\n", "\n")
    template = "".join((command.astype(object) + ends).tolist())
    return (template % tuple(values[keep].tolist())).split("\n")[:-1]
