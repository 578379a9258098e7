"""The twin's Open3D raycasting scene, whose hits map back to elements.

All element meshes go into one triangle mesh (one geometry in the scene) and a primitive id →
element index table translates hits. Building the scene for a subset of elements (an as-built
state: unbuilt elements are seen through) is a new scene over the chosen triangles; Embree builds
one in well under a second for a million triangles.

A ray through a closed solid meets it twice, entering and leaving. :meth:`ElementScene.facing`
keeps, of the closed and outward-wound shells, only the triangles that face a given point: rays
from there meet each such solid once, where they enter it, which halves the casts of anything
that follows a ray through several elements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from twin.geometry import Geometry

#: Element index reported for a ray that hits nothing.
MISS = -1


@dataclass
class RayHits:
    """What each ray hit. Shapes follow the rays' leading shape ``S``.

    distance: (S,) float32 metres along the ray direction (inf where nothing was hit).
    element: (S,) int32 element index, :data:`MISS` where nothing was hit.
    normal: (S, 3) float32 unit normal of the hit triangle in the world frame (0 where missed).
    """

    distance: np.ndarray
    element: np.ndarray
    normal: np.ndarray


class ElementScene:
    """A RaycastingScene over some elements' triangles.

    geometry: the twin's meshes.
    element_mask: (N,) bool of the elements to include (None: all).
    """

    def __init__(self, geometry: Geometry, element_mask: np.ndarray | None = None):
        triangles = geometry.triangles
        owners = geometry.triangle_element
        if element_mask is not None:
            keep = np.asarray(element_mask, dtype=bool)[owners]
            triangles = triangles[keep]
            owners = owners[keep]
        self._build(np.ascontiguousarray(geometry.vertices, dtype=np.float32),
                    np.ascontiguousarray(triangles, dtype=np.uint32), owners)

    def _build(self, vertices: np.ndarray, triangles: np.ndarray, owners: np.ndarray) -> None:
        self.vertices, self.triangles = vertices, triangles
        self.triangle_element = np.ascontiguousarray(owners, dtype=np.int32)
        self.scene = o3d.t.geometry.RaycastingScene()
        if len(triangles):
            self.scene.add_triangles(o3d.core.Tensor(vertices), o3d.core.Tensor(triangles))
        self.n_triangles = len(triangles)
        self._element_of_primitive = np.append(self.triangle_element, np.int32(MISS))
        self._facing_data: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def facing(self, point: np.ndarray) -> ElementScene:
        """This scene less the triangles of closed, outward-wound shells that face away from
        ``point`` (world metres): a ray from ``point`` meets each closed solid once, entering it.

        Open or inconsistently wound shells (common in real models) keep every triangle, so they
        are met as before. A closed solid that contains ``point`` is not met at all.
        """
        if self._facing_data is None:  # once per scene: normals, plane offsets, closed shells
            corners = self.vertices[self.triangles.astype(np.int64)]
            normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
            self._facing_data = (normals, np.einsum("ij,ij->i", normals, corners[:, 0]),
                                 closed_outward(corners, self.triangle_element))
        normals, offsets, closed = self._facing_data
        keep = ~closed | (normals @ np.asarray(point, np.float32) > offsets)
        scene = ElementScene.__new__(ElementScene)
        scene._build(self.vertices, np.ascontiguousarray(self.triangles[keep]), self.triangle_element[keep])
        return scene

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> RayHits:
        """Cast rays given as (..., 3) origins and unit directions in the world frame (metres)."""
        origins = np.asarray(origins, dtype=np.float32)
        directions = np.asarray(directions, dtype=np.float32)
        shape = np.broadcast_shapes(origins.shape, directions.shape)
        if shape[-1] != 3:
            raise ValueError(f"rays must be (..., 3), got {shape}")
        rays = np.empty(shape[:-1] + (6,), dtype=np.float32)
        rays[..., :3] = origins
        rays[..., 3:] = directions
        result = self.scene.cast_rays(o3d.core.Tensor.from_numpy(rays))
        distance = result["t_hit"].numpy()
        # A miss has primitive id 2**32-1: the lookup table's extra last entry maps it to MISS.
        primitive = result["primitive_ids"].numpy()
        element = self._element_of_primitive[np.minimum(primitive, len(self._element_of_primitive) - 1)]
        normal = result["primitive_normals"].numpy()
        return RayHits(distance=distance, element=element, normal=normal)


def closed_outward(corners: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """(T,) bool: triangles on closed shells wound consistently with normals pointing outwards.

    corners: (T, 3, 3) world corners of each triangle (metres); owners: (T,) element of each.
    Corners are welded per element at 1 mm; a shell is a set of triangles connected by edges
    (Open3D's clustering). It is closed and consistently wound when every directed edge (a → b)
    occurs once and its reverse (b → a) once, and outward when it encloses a positive volume.
    """
    if not len(corners):
        return np.zeros(0, bool)
    key = np.column_stack([np.repeat(np.asarray(owners, np.int64), 3),
                           np.round(corners.reshape(-1, 3).astype(np.float64) * 1000.0).astype(np.int64)])
    order = np.lexsort(key.T[::-1])  # np.unique(axis=0) does the same several times slower
    ordered = key[order]
    first = np.ones(len(key), bool)
    first[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    weld = np.empty(len(key), np.int64)
    weld[order] = np.cumsum(first) - 1
    weld = weld.reshape(-1, 3)
    count = int(weld.max()) + 1
    positions = np.zeros((count, 3))
    positions[weld.ravel()] = corners.reshape(-1, 3)
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(positions), o3d.utility.Vector3iVector(weld))
    shell = np.asarray(mesh.cluster_connected_triangles()[0])
    start, end = weld.ravel(), np.roll(weld, -1, axis=1).ravel()
    edges = np.sort(start * count + end)

    def occurrences(edge: np.ndarray) -> np.ndarray:
        return np.searchsorted(edges, edge, "right") - np.searchsorted(edges, edge, "left")

    good = ((occurrences(start * count + end) == 1) & (occurrences(end * count + start) == 1)).reshape(-1, 3)
    shells = int(shell.max()) + 1
    bad = np.zeros(shells, bool)
    np.logical_or.at(bad, shell, ~good.all(axis=1))
    p = corners.astype(np.float64) - corners.reshape(-1, 3).mean(axis=0)
    volume = np.zeros(shells)
    np.add.at(volume, shell, np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])) / 6.0)
    return ~bad[shell] & (volume[shell] > 0)
