"""The twin's Open3D raycasting scene, whose hits map back to elements.

All element meshes go into one triangle mesh (one geometry in the scene) and a primitive id →
element index table translates hits. Building the scene for a subset of elements (an as-built
state: unbuilt elements are seen through) is a new scene over the chosen triangles; Embree builds
one in well under a second for a million triangles.
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
        self.triangle_element = np.ascontiguousarray(owners, dtype=np.int32)
        self.scene = o3d.t.geometry.RaycastingScene()
        if len(triangles):
            self.scene.add_triangles(
                o3d.core.Tensor(np.ascontiguousarray(geometry.vertices, dtype=np.float32)),
                o3d.core.Tensor(np.ascontiguousarray(triangles, dtype=np.uint32)),
            )
        self.n_triangles = len(triangles)
        self._element_of_primitive = np.append(self.triangle_element, np.int32(MISS))

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
