"""A storey's floor plan as one SVG document, built from :mod:`twin.plan`'s footprints.

SVG units are metres with y down, mapped from the world frame by :func:`twin.plan.to_svg`
(``svg = (x − minx, maxy − y)``); the root carries ``data-min-x`` and ``data-max-y`` so the page
maps frame positions the same way. Each element is one ``<path data-gid=… data-kind=…>``, in
:func:`twin.plan.storey_plan`'s draw order; the page colours them by status.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import quoteattr

from twin.model import Twin
from twin.plan import plan_svg_paths, storey_plan, svg_viewbox

EMPTY_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" data-min-x="0" data-max-y="0"/>\n'


def plan_svg(twin: Twin, storey_global_id: str) -> str:
    plan = storey_plan(twin, storey_global_id)
    if not len(plan) or not math.isfinite(plan.bounds[0]):
        return EMPTY_SVG
    paths = plan_svg_paths(plan)
    min_x, _, max_x, max_y = (float(v) for v in plan.bounds)
    stroke = max(max_x - min_x, float(plan.bounds[3] - plan.bounds[1])) / 1500
    body = "\n".join(
        f'<path data-gid={quoteattr(gid)} data-kind="{kind}" '
        f'data-name={quoteattr(twin.elements[int(row)].name or twin.elements[int(row)].ifc_class)} d="{d}"/>'
        for gid, kind, row, d in zip(plan.global_ids, plan.kind, plan.rows, paths, strict=True)
        if d
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{svg_viewbox(plan.bounds)}" '
        f'preserveAspectRatio="xMidYMid meet" stroke-width="{stroke:.3f}" stroke-linejoin="round" '
        f'data-min-x="{min_x:.4f}" data-max-y="{max_y:.4f}">\n{body}\n</svg>\n'
    )
