"""An element's quantity for quantity-weighted progress: area, volume or length.

From its quantity sets when the model has them (``BaseQuantities``/``Qto_*``: net before gross),
else from its axis-aligned box in metres (volume; the largest face; the longest side). Within one
task every element uses the same source, so weights stay in the same unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_KEYS = {
    "volume": ("NetVolume", "GrossVolume"),
    "area": ("NetSideArea", "NetArea", "NetSurfaceArea", "GrossSideArea", "GrossArea", "GrossSurfaceArea"),
    "length": ("Length", "NetLength", "GrossLength"),
}


def from_properties(properties: Mapping[str, Any], basis: str) -> float | None:
    """The element's ``basis`` quantity from its flattened quantity sets, or None."""
    for wanted in _KEYS[basis]:
        for key, value in properties.items():
            if key.rsplit(".", 1)[-1] == wanted and isinstance(value, (int, float)) and value > 0:
                return float(value)
    return None


def from_box(box: Sequence[float | None], basis: str) -> float:
    """The ``basis`` quantity of an AABB ``[xmin, ymin, zmin, xmax, ymax, zmax]`` in metres (0 if unknown)."""
    if box is None or any(v is None for v in box):
        return 0.0
    sides = np.sort(np.abs(np.subtract(box[3:], box[:3])))
    if basis == "volume":
        return float(np.prod(sides))
    if basis == "area":
        return float(sides[1] * sides[2])
    return float(sides[2])


def task_quantities(elements: Mapping[str, tuple[Mapping[str, Any], Sequence[float | None]]], basis: str
                    ) -> dict[str, float]:
    """GlobalId → quantity for one task's elements (``{gid: (properties, aabb)}``), one source for all."""
    if basis == "count":
        return {gid: 1.0 for gid in elements}
    from_sets = {gid: from_properties(props, basis) for gid, (props, _) in elements.items()}
    if all(v is not None for v in from_sets.values()):
        return from_sets  # type: ignore[return-value]
    return {gid: from_box(box, basis) for gid, (_, box) in elements.items()}
