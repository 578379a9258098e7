"""Panorama ↔ perspective tiles, so a detector trained on ordinary images sees little distortion.

An equirectangular frame is cut into :data:`VIEWS`: eight 90° views around the horizon every 45°
(each overlaps its neighbours by half, so any object narrower than 45° is whole in one view) plus
one straight up and one straight down for ceilings, lights and floors. Tiles are sampled with
``cv2.remap`` from maps computed once per (panorama width, tile size). A box found in a tile maps
back to directions on the sphere and to a panorama region; duplicates across overlapping tiles
are merged by non-maximum suppression on those regions (wrap-around aware).

Frames: a tile's camera looks along its view's forward axis; tile pixels (x right, y down).
Panorama pixels and camera frame as in :mod:`vision.equirect`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from vision.equirect import camera_directions, direction_to_pixel, panorama_size
from vision.pose import rotation_matrix

FOV_DEG = 90.0
#: (yaw, pitch) in radians of each view, relative to the panorama's camera frame.
VIEWS: tuple[tuple[float, float], ...] = tuple(
    [(k * math.pi / 4, 0.0) for k in range(8)] + [(0.0, math.pi / 2), (0.0, -math.pi / 2)]
)


@dataclass(frozen=True)
class TileGeometry:
    """Tile size in pixels and the pinhole focal length that gives :data:`FOV_DEG`."""

    size: int

    @property
    def focal(self) -> float:
        return (self.size / 2) / math.tan(math.radians(FOV_DEG) / 2)

    def directions(self, x, y) -> np.ndarray:
        """Unit directions (..., 3) in the view's frame (x forward, y left, z up) of tile pixels (x, y)."""
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        c = self.size / 2
        d = np.stack([np.full(np.broadcast(x, y).shape, self.focal), -(x - c), -(y - c)], axis=-1)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def pixels(self, directions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tile pixels (x, y) of view-frame directions, and whether each is in front of the view."""
        d = np.asarray(directions, np.float64)
        front = d[..., 0] > 1e-9
        safe = np.where(front, d[..., 0], 1.0)
        c = self.size / 2
        return c - self.focal * d[..., 1] / safe, c - self.focal * d[..., 2] / safe, front


def view_rotation(view: int) -> np.ndarray:
    """(3, 3) rotation from view ``view``'s frame to the panorama's camera frame."""
    yaw, pitch = VIEWS[view]
    return rotation_matrix(yaw, pitch, 0.0)


@functools.lru_cache(maxsize=8)
def _remap_tables(width: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 (V, size, size) panorama u and v sampled by every tile pixel (read-only)."""
    tile = TileGeometry(size)
    y, x = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    local = tile.directions(x, y)
    us, vs = [], []
    for view in range(len(VIEWS)):
        u, v = direction_to_pixel(local @ view_rotation(view).T, width)
        us.append(u)
        vs.append(v)
    maps_u = np.asarray(us, np.float32)
    maps_v = np.asarray(vs, np.float32)
    maps_u.flags.writeable = maps_v.flags.writeable = False
    return maps_u, maps_v


def cut_tiles(panorama: np.ndarray, size: int = 320) -> np.ndarray:
    """(V, size, size, C) perspective tiles of an equirectangular image (H, W, C) (2:1)."""
    height, width = panorama.shape[:2]
    if width != 2 * height:
        raise ValueError(f"a panorama must be 2:1, got {width}×{height}")
    maps_u, maps_v = _remap_tables(width, size)
    # BORDER_WRAP joins the left and right edges of the panorama.
    return np.stack([cv2.remap(panorama, mu, mv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
                     for mu, mv in zip(maps_u, maps_v, strict=True)])


@functools.lru_cache(maxsize=32)
def panorama_in_tile(view: int, width: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the pixel centres of a ``width``-wide panorama fall in view ``view``'s tile of ``size``
    pixels: (H·W,) int64 lookup from a flat panorama pixel (``v · W + u``) to a row of the
    (K, 2) float32 tile coordinates (x, y) of the K pixels inside the tile, -1 for those outside
    (cached, read-only)."""
    directions = camera_directions(width).reshape(-1, 3) @ view_rotation(view).astype(np.float32)
    x, y, front = TileGeometry(size).pixels(directions)
    inside = front & (x >= 0) & (x < size) & (y >= 0) & (y < size)
    lookup = np.full(len(inside), -1, np.int64)
    lookup[inside] = np.arange(int(inside.sum()))
    coordinates = np.column_stack([x[inside], y[inside]]).astype(np.float32)
    lookup.flags.writeable = coordinates.flags.writeable = False
    return lookup, coordinates


def tile_boxes_to_regions(view: int, boxes, size: int, width: int, samples: int = 8) -> np.ndarray:
    """(K, 4) panorama regions ``[u0, v0, u1, v1]`` covered by tile boxes ``[x0, y0, x1, y1]``
    (K, 4) of view ``view`` (tile pixels), all at once.

    Points along each box's edges go to the sphere and into the panorama. A region crossing the
    panorama's left/right seam has u1 > width (u continues past the seam); a box around a pole
    spans every longitude, up to the top (or down to the bottom) row.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = (boxes[:, [k]] for k in range(4))  # (K, 1) each
    t = np.linspace(0.0, 1.0, samples)
    ones = np.ones(samples)
    xs = np.hstack([x0 + (x1 - x0) * t, x1 * ones, x1 - (x1 - x0) * t, x0 * ones, (x0 + x1) / 2])
    ys = np.hstack([y0 * ones, y0 + (y1 - y0) * t, y1 * ones, y1 - (y1 - y0) * t, (y0 + y1) / 2])
    tile = TileGeometry(size)
    rotation = view_rotation(view)
    u, v = direction_to_pixel(tile.directions(xs, ys) @ rotation.T, width)  # (K, 4 samples + 1)
    centre = u[:, -1:]
    u = centre + ((u - centre + width / 2) % width) - width / 2  # unwrap around each box's centre
    _, height = panorama_size(width)
    regions = np.column_stack([u.min(axis=1), np.maximum(v.min(axis=1), -0.5), u.max(axis=1),
                               np.minimum(v.max(axis=1), height - 0.5)])
    for pole, side in ((1.0, 1), (-1.0, 3)):
        px, py, front = tile.pixels(rotation.T @ np.array([0.0, 0.0, pole]))
        if front:
            around = (x0[:, 0] <= px) & (px <= x1[:, 0]) & (y0[:, 0] <= py) & (py <= y1[:, 0])
            regions[around, 0], regions[around, 2] = -0.5, width - 0.5
            regions[around, side] = -0.5 if side == 1 else height - 0.5
    regions[regions[:, 0] < -0.5, ::2] += width
    return regions


def tile_box_to_region(view: int, box, size: int, width: int, samples: int = 8) -> np.ndarray:
    """Panorama region ``[u0, v0, u1, v1]`` of one tile box (see :func:`tile_boxes_to_regions`)."""
    return tile_boxes_to_regions(view, box, size, width, samples)[0]


def region_ious(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    """(N, M) IoU of panorama regions ``a`` (N, 4) and ``b`` (M, 4), taking the left/right seam
    into account (in [0, 1])."""
    a = np.asarray(a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, np.float64).reshape(1, -1, 4)
    area = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
            + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]))  # both areas: the union plus the overlap
    iy = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    best = np.zeros(area.shape)
    for shift in (-width, 0, width):
        ix = np.clip(np.minimum(a[..., 2], b[..., 2] + shift) - np.maximum(a[..., 0], b[..., 0] + shift),
                     0.0, None)
        inter = ix * iy
        best = np.maximum(best, inter / np.maximum(area - inter, 1e-12))
    return best


def region_iou(a: np.ndarray, b: np.ndarray, width: int) -> float:
    """IoU of two panorama regions, taking the left/right seam into account (symmetric, in [0, 1])."""
    if tuple(b) < tuple(a):  # a canonical order makes the floating-point result exactly symmetric
        a, b = b, a
    return float(region_ious(a, b, width)[0, 0])


def merge_regions(regions: np.ndarray, scores: np.ndarray, labels: np.ndarray, width: int,
                  iou: float = 0.45, tiles: np.ndarray | None = None) -> np.ndarray:
    """Indices kept by class-wise greedy NMS over panorama regions (highest score first).

    tiles: the view each region was detected in. Two regions of one tile are never merged: the
    detector's own NMS already kept them apart, and in a tile that sees a row of alike elements
    (rafters, joists, a run of columns) their boxes overlap by more than ``iou``; only the same
    object seen in two overlapping tiles is a duplicate."""
    regions = np.asarray(regions, np.float64).reshape(-1, 4)
    labels = np.asarray(labels)
    tiles = np.full(len(regions), -1) if tiles is None else np.asarray(tiles)
    overlap = region_ious(regions, regions, width)
    overlap = np.maximum(overlap, overlap.T)  # exactly symmetric, whatever the rounding
    other_tile = (tiles[:, None] != tiles[None, :]) | (tiles[:, None] < 0)
    duplicate = (labels[:, None] == labels[None, :]) & other_tile & (overlap >= iou)
    removed = np.zeros(len(regions), bool)
    kept: list[int] = []
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        if not removed[i]:
            kept.append(int(i))
            removed |= duplicate[i]
    return np.array(kept, dtype=int)
