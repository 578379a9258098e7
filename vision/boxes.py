"""Boxes of elements' pixels, and their overlap.

Boxes are (x0, y0, x1, y1) in the pixels of one image (a tile or a panorama; no wrap), as
columns of (4, K) arrays or as one (4,) box.
"""

from __future__ import annotations

import numpy as np


def pixel_bounds(rows: np.ndarray, x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """(4, n) [min x, min y, max x, max y] of the points (x, y) of each element row, in one pass
    (ufunc.at); rows without points get an empty box (inf, inf, -inf, -inf).

    The points are cast to the boxes' float64 first: ufunc.at takes a slow path, some thirty times
    slower, for values of another dtype (float32 tile coordinates, integer pixel indices)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    box = np.full((4, n), np.inf)
    box[2:] = -np.inf
    np.minimum.at(box[0], rows, x)
    np.minimum.at(box[1], rows, y)
    np.maximum.at(box[2], rows, x)
    np.maximum.at(box[3], rows, y)
    return box


def box_iou(region: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (u0, v0, u1, v1) with each of ``boxes`` (4, K), same pixels (no wrap)."""
    w = np.clip(np.minimum(region[2], boxes[2]) - np.maximum(region[0], boxes[0]), 0, None)
    h = np.clip(np.minimum(region[3], boxes[3]) - np.maximum(region[1], boxes[1]), 0, None)
    inter = w * h
    area = (region[2] - region[0]) * (region[3] - region[1])
    areas = (boxes[2] - boxes[0]) * (boxes[3] - boxes[1])
    return inter / np.maximum(area + areas - inter, 1e-9)
