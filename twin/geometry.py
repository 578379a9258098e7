"""IFC → triangle meshes in world coordinates (metres), one mesh per element, as flat numpy arrays.

Tessellation is ``ifcopenshell.geom.iterator`` over every IfcElement, multi-threaded, with world
coordinates. The iterator already converts lengths to metres whatever the file's unit, so a
millimetre model comes out in metres. Some files yield several shapes for one element (several
Body representations, or one per representation item): the element's mesh is all of them.

The meshes of all elements live in three arrays (the layout a raycasting scene wants)::

    vertices          (V, 3) float32   world frame, metres, z up
    triangles         (T, 3) int32     indices into ``vertices``
    triangle_element  (T,)   int32     index of the owning element in the element list

and per element an axis-aligned box ``aabb`` (N, 6) float64 ``[xmin, ymin, zmin, xmax, ymax, zmax]``
(NaN for an element without triangles) and ``shaped`` (N,) bool: the iterator yielded a shape for
it. A shape can be empty (a wall entirely cut away by its openings yields a shape with no
triangles), so ``shaped`` may hold where the AABB is NaN.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ifcopenshell
import ifcopenshell.geom
import numpy as np

log = logging.getLogger(__name__)


@dataclass
class Geometry:
    """All element meshes of a model (see the module docstring for the array layout)."""

    vertices: np.ndarray
    triangles: np.ndarray
    triangle_element: np.ndarray
    aabb: np.ndarray
    shaped: np.ndarray

    @property
    def has_triangles(self) -> np.ndarray:
        """(N,) bool: elements that own at least one triangle."""
        return np.isfinite(self.aabb[:, 0])

    @classmethod
    def empty(cls, n_elements: int) -> Geometry:
        return cls(
            vertices=np.zeros((0, 3), np.float32),
            triangles=np.zeros((0, 3), np.int32),
            triangle_element=np.zeros(0, np.int32),
            aabb=np.full((n_elements, 6), np.nan),
            shaped=np.zeros(n_elements, bool),
        )


def default_threads() -> int:
    """Tessellation threads: ``SITETWIN_THREADS`` or every core."""
    return int(os.environ.get("SITETWIN_THREADS") or os.cpu_count() or 1)


def iterator_settings() -> ifcopenshell.geom.settings:
    """The settings ingest and the benchmark floor share: world coordinates, metres."""
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    return settings


def element_aabbs(vertices: np.ndarray, triangles: np.ndarray, triangle_element: np.ndarray,
                  n_elements: int) -> np.ndarray:
    """(N, 6) per-element AABB of the triangles it owns; NaN rows for elements without triangles."""
    aabb = np.full((n_elements, 6), np.nan)
    if len(triangles) == 0:
        return aabb
    corners = vertices[triangles].astype(np.float64)  # (T, 3, 3)
    tri_min = corners.min(axis=1)
    tri_max = corners.max(axis=1)
    lo = np.full((n_elements, 3), np.inf)
    hi = np.full((n_elements, 3), -np.inf)
    np.minimum.at(lo, triangle_element, tri_min)
    np.maximum.at(hi, triangle_element, tri_max)
    has = np.isfinite(lo[:, 0])
    aabb[has, :3] = lo[has]
    aabb[has, 3:] = hi[has]
    return aabb


def start_iterator(model: ifcopenshell.file, threads: int | None = None) -> ifcopenshell.geom.iterator | None:
    """Start tessellating every IfcElement; the iterator's threads work ahead in the background.

    Returns None for a model without IfcElements. Hand the result to :func:`collect_shapes`; the
    caller may do other work in between (reading element records overlaps with tessellation).
    """
    elements = model.by_type("IfcElement")
    if not elements:
        return None
    iterator = ifcopenshell.geom.iterator(iterator_settings(), model, threads or default_threads(), include=elements)
    return iterator if iterator.initialize() else None


def tessellate(model: ifcopenshell.file, global_ids: Sequence[str], threads: int | None = None,
               progress: Callable[[int], None] | None = None) -> Geometry:
    """Tessellate every IfcElement of ``model`` into world-frame meshes in metres.

    global_ids: the element list the result is indexed by (``triangle_element`` and ``aabb`` rows
        follow this order); shapes of products not in it are ignored.
    threads: iterator threads (default :func:`default_threads`).
    progress: called with the number of shapes done so far, every few shapes.
    """
    return collect_shapes(start_iterator(model, threads), global_ids, progress)


def collect_shapes(iterator: ifcopenshell.geom.iterator | None, global_ids: Sequence[str],
                   progress: Callable[[int], None] | None = None) -> Geometry:
    """Drain a started iterator (:func:`start_iterator`) into a :class:`Geometry` indexed like ``global_ids``."""
    index = {gid: i for i, gid in enumerate(global_ids)}
    vertex_blocks: list[np.ndarray] = []
    face_blocks: list[np.ndarray] = []
    owners: list[int] = []
    face_counts: list[int] = []
    shaped = np.zeros(len(global_ids), bool)
    done = 0
    while iterator is not None:
        shape = iterator.get()
        owner = index.get(shape.guid)
        if owner is not None:
            shaped[owner] = True
            geometry = shape.geometry
            verts = np.frombuffer(geometry.verts_buffer, dtype=np.float64).reshape(-1, 3)
            faces = np.frombuffer(geometry.faces_buffer, dtype=np.int32).reshape(-1, 3)
            if len(faces):
                vertex_blocks.append(verts)
                face_blocks.append(faces)
                owners.append(owner)
                face_counts.append(len(faces))
        done += 1
        if progress is not None and done % 16 == 0:
            progress(done)
        if not iterator.next():
            break
    if progress is not None:
        progress(done)
    if not face_blocks:
        empty = Geometry.empty(len(global_ids))
        empty.shaped = shaped
        return empty
    vertex_counts = np.fromiter((len(v) for v in vertex_blocks), dtype=np.int64, count=len(vertex_blocks))
    offsets = np.repeat(np.concatenate([[0], np.cumsum(vertex_counts)[:-1]]), face_counts)
    vertices = np.concatenate(vertex_blocks).astype(np.float32)
    triangles = (np.concatenate(face_blocks) + offsets[:, None]).astype(np.int32)
    triangle_element = np.repeat(np.asarray(owners, dtype=np.int32), face_counts)
    return Geometry(
        vertices=vertices,
        triangles=triangles,
        triangle_element=triangle_element,
        aabb=element_aabbs(vertices, triangles, triangle_element, len(global_ids)),
        shaped=shaped,
    )
