"""The twin of one model revision: element records, storeys and meshes, and its on-disk cache.

A :class:`Twin` is built once from the IFC file (:func:`build_twin`, the slow part is tessellation)
and saved as one ``.npz`` file per revision (:func:`save_twin`); a worker loads it back
(:func:`load_twin`) and builds the raycasting scene without touching the IFC file again.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ifcopenshell
import numpy as np

from twin.elements import ElementRecord, StoreyRecord, extract_elements, extract_storeys
from twin.geometry import Geometry, collect_shapes, start_iterator

CACHE_FORMAT = 1


@dataclass
class Twin:
    """One model revision as plain data. Element ``i`` of ``elements`` owns row ``i`` of the geometry."""

    schema: str
    elements: list[ElementRecord]
    storeys: list[StoreyRecord]
    geometry: Geometry
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def index_of(self, global_id: str) -> int:
        """Row of an element by GlobalId (KeyError naming it if absent)."""
        if not self._index:
            self._index = {e.global_id: i for i, e in enumerate(self.elements)}
        return self._index[global_id]

    @property
    def global_ids(self) -> list[str]:
        return [e.global_id for e in self.elements]

    @property
    def physical_mask(self) -> np.ndarray:
        """(N,) bool: elements a camera can see (not openings or virtual elements)."""
        return np.fromiter((e.physical for e in self.elements), dtype=bool, count=len(self.elements))

    def scene(self, element_mask: np.ndarray | None = None):
        """An :class:`twin.scene.ElementScene` over the physical elements (and ``element_mask``)."""
        from twin.scene import ElementScene  # open3d is only needed by those who cast rays

        mask = self.physical_mask
        if element_mask is not None:
            mask &= np.asarray(element_mask, dtype=bool)
        return ElementScene(self.geometry, mask)


def build_twin(model: ifcopenshell.file, threads: int | None = None,
               progress: Callable[[int], None] | None = None) -> Twin:
    """Read elements and storeys, and tessellate. ``progress`` receives shapes done so far.

    The iterator starts first: its threads tessellate while the records are read.
    """
    iterator = start_iterator(model, threads)
    elements = extract_elements(model)
    geometry = collect_shapes(iterator, [e.global_id for e in elements], progress=progress)
    return Twin(model.schema_identifier, elements, extract_storeys(model), geometry)


def _fields(record) -> dict:
    """A record's fields as a dict, without ``dataclasses.asdict``'s deep copy (records hold plain data)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def save_twin(twin: Twin, path: str | os.PathLike) -> Path:
    """Write the twin to ``path`` (``.npz``) atomically: a crash never leaves half a cache."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": CACHE_FORMAT,
        "schema": twin.schema,
        "elements": [_fields(e) for e in twin.elements],
        "storeys": [_fields(s) for s in twin.storeys],
    }
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            vertices=twin.geometry.vertices,
            triangles=twin.geometry.triangles,
            triangle_element=twin.geometry.triangle_element,
            aabb=twin.geometry.aabb,
            shaped=twin.geometry.shaped,
        )
    os.replace(tmp, path)
    return path


def load_twin(path: str | os.PathLike) -> Twin:
    """Read a twin written by :func:`save_twin`."""
    with np.load(path) as data:
        meta = json.loads(data["meta"].tobytes())
        if meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"{path}: twin cache format {meta.get('format')}, expected {CACHE_FORMAT}")
        geometry = Geometry(
            vertices=data["vertices"],
            triangles=data["triangles"],
            triangle_element=data["triangle_element"],
            aabb=data["aabb"],
            shaped=data["shaped"],
        )
    return Twin(
        schema=meta["schema"],
        elements=[ElementRecord(**e) for e in meta["elements"]],
        storeys=[StoreyRecord(**s) for s in meta["storeys"]],
        geometry=geometry,
    )
