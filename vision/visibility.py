"""Visibility: which elements a panorama pixel sees from a pose, with occlusion by the twin.

At a pose, rays pass through elements not believed built and stop at the first one believed
built; every element met on the way is visible at that pixel (:func:`visibility_layers`).
Occlusion counts only elements believed built: an unbuilt wall hides nothing from the detector.
The layers give each element's visible pixels, its box in the panorama (:func:`element_boxes`)
and in the detector's tiles (:func:`element_tile_boxes`).

Frames: world metres, panorama pixels as in :mod:`vision.equirect`, tile pixels as in
:mod:`vision.tiles`.
"""

from __future__ import annotations

import math

import numpy as np

from vision.boxes import pixel_bounds
from vision.render import RenderScene
from vision.tiles import TileGeometry, panorama_in_tile

#: Working width of the registration renders (pixels); the frame is resized to it.
WORK_WIDTH = 512
#: Rays stop at this distance (metres): an element farther away is "not visible" (too small to judge;
#: :data:`vision.observe.MIN_VISIBLE_SHARE` sets how many pixels an element needs).
#: An exterior wall 18 m away still covers ~900 px of a 1024-px frame and is found (15 m had left
#: such walls of the 4×2-bay layout never observed).
MAX_DISTANCE = 25.0
#: Elements a ray may pass through (not believed built) before we stop following it. Early in a
#: project a ray up may cross a ceiling, a slab, another ceiling and a duct before the beam it sees.
MAX_LAYERS = 8


def visibility_layers(scene: RenderScene, origin: np.ndarray, directions: np.ndarray, believed: np.ndarray,
                      max_layers: int = MAX_LAYERS) -> np.ndarray:
    """(L, H, W) element rows visible along each ray: every element met before the first one
    believed built (which is visible itself and stops the ray), nearer than :data:`MAX_DISTANCE`.

    Rays pass through elements not believed built: an unbuilt wall hides nothing. -1 fills the rest.
    Each pass casts only the rays still going, kept as compact arrays, at the triangles facing
    ``origin`` (:meth:`twin.scene.ElementScene.facing`): a pass enters the next closed element
    instead of leaving the last one.
    """
    full = scene.scene(None).facing(origin)
    shape = directions.shape[:-1]
    layers = np.full((max_layers, int(np.prod(shape))), -1, np.int32)
    ray = np.arange(layers.shape[1])  # which pixel each ray still going belongs to
    dirs = directions.reshape(-1, 3)
    start = np.broadcast_to(np.asarray(origin, np.float32), dirs.shape)
    travelled = np.zeros(len(ray), np.float32)
    last = np.full(len(ray), -1, np.int32)
    slot = np.zeros(len(ray), np.int32)
    for _ in range(max_layers * 3):  # a pass may re-hit the back face of the element just entered
        if not len(ray):
            break
        hits = full.cast(start, dirs)
        step = np.where(np.isfinite(hits.distance), hits.distance, 0.0)
        travelled += step
        hit = (hits.element >= 0) & (travelled <= MAX_DISTANCE)
        new = hit & (hits.element != last)
        layers[slot[new], ray[new]] = hits.element[new]  # a ray goes on only while it has a free slot
        slot += new
        last = np.where(hit, hits.element, last)
        go = hit & ~believed[np.maximum(hits.element, 0)] & (slot < max_layers)
        start = start[go] + dirs[go] * (step[go, None] + 1e-3)
        ray, dirs, travelled, last, slot = ray[go], dirs[go], travelled[go] + 1e-3, last[go], slot[go]
    return layers.reshape((max_layers,) + shape)


def element_boxes(flat: np.ndarray, rows: np.ndarray, n: int, width: int) -> np.ndarray:
    """(4, n) pixel box (u0, v0, u1, v1; exclusive ends) of each element over all visibility layers;
    elements not in view get an empty box (u0 > u1).

    flat, rows: the visibility layers' entries, as flat pixel index (``v · width + u``) and element
    row (:func:`layer_entries`)."""
    ys, xs = np.divmod(flat, width)
    box = pixel_bounds(rows, xs, ys, n)
    box[2:] += 1
    return box


def layer_entries(layers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries of visibility layers (L, H, W): (flat pixel index ``v · W + u``, element row)."""
    entries = layers >= 0
    return np.flatnonzero(entries) % (layers.shape[1] * layers.shape[2]), layers[entries]


def element_tile_boxes(flat: np.ndarray, rows: np.ndarray, n: int, view: int, width: int,
                       tile_size: int) -> np.ndarray:
    """(4, n) box (x0, y0, x1, y1; tile pixels) of each element's visible pixels that fall in the
    tile of view ``view`` (:mod:`vision.tiles`, ``tile_size`` pixels): the box the detector, which
    learnt boxes of what a tile shows, draws around it there. Elements not in the tile get an empty
    box (x0 > x1).

    flat, rows: the visibility layers' entries (:func:`layer_entries`) at panorama width ``width``.
    Each pixel centre is padded by half a panorama pixel's footprint at the tile's centre.
    """
    lookup, coordinates = panorama_in_tile(view, width, tile_size)
    slot = lookup[flat]
    inside = slot >= 0
    xy = coordinates[slot[inside]]
    box = pixel_bounds(rows[inside], xy[:, 0], xy[:, 1], n)
    pad = TileGeometry(tile_size).focal * math.pi / width
    box[:2] = np.maximum(box[:2] - pad, 0)
    box[2:] = np.minimum(box[2:] + pad, tile_size)
    return box
