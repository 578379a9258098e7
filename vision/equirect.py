"""Equirectangular panoramas: pixel ↔ direction maths, vectorised.

A panorama is W × H pixels with H = W / 2. Pixel centres: column ``u`` in [0, W), row ``v`` in
[0, H). Longitude λ (radians, camera frame) is 0 at the centre column and grows to the left
(towards the camera's +y), so the image reads like a photograph: right in the image is right of
the camera. Latitude φ is +π/2 at the top row::

    λ = 2π (0.5 − (u + 0.5) / W)        φ = π (0.5 − (v + 0.5) / H)
    d = (cos φ cos λ, cos φ sin λ, sin φ)          (camera frame: x forward, y left, z up)
"""

from __future__ import annotations

import functools

import numpy as np

from vision.pose import Pose


def panorama_size(width: int) -> tuple[int, int]:
    """(width, height) of a 2:1 panorama; ``width`` must be even and positive."""
    if width <= 0 or width % 2:
        raise ValueError(f"panorama width must be a positive even number, got {width}")
    return width, width // 2


def pixel_to_direction(u, v, width: int) -> np.ndarray:
    """Unit directions (..., 3) in the camera frame of pixel coordinates ``u``, ``v`` (any shape)."""
    w, h = panorama_size(width)
    lon = 2.0 * np.pi * (0.5 - (np.asarray(u, dtype=np.float64) + 0.5) / w)
    lat = np.pi * (0.5 - (np.asarray(v, dtype=np.float64) + 0.5) / h)
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def direction_to_pixel(directions, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (u, v) of camera-frame directions (..., 3) (need not be unit).

    float32 directions give float32 pixels (the pose search projects millions of points).
    """
    w, h = panorama_size(width)
    d = np.asarray(directions)
    d = d if d.dtype == np.float32 else d.astype(np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    lon = np.arctan2(y, x)
    lat = np.arctan2(z, np.sqrt(x * x + y * y))  # np.hypot is several times slower
    u = (0.5 - lon / (2.0 * np.pi)) * w - 0.5
    v = (0.5 - lat / np.pi) * h - 0.5
    # lon in [-π, π] puts u in [-0.5, w - 0.5] up to rounding: wrap the ends (np.mod on floats is
    # ten times slower than these two selections, and this is the pose search's inner loop)
    u = np.where(u < -0.5, u + w, u)
    return np.where(u >= w - 0.5, u - w, u), v


@functools.lru_cache(maxsize=4)
def camera_directions(width: int) -> np.ndarray:
    """(H, W, 3) float32 camera-frame unit direction of every pixel centre (cached, read-only)."""
    w, h = panorama_size(width)
    v, u = np.mgrid[0:h, 0:w]
    directions = pixel_to_direction(u, v, width).astype(np.float32)
    directions.flags.writeable = False
    return directions


def world_rays(pose: Pose, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Origins (3,) and world-frame unit directions (H, W, 3) of every pixel of a panorama at ``pose``."""
    directions = camera_directions(width) @ pose.rotation.T.astype(np.float32)
    return pose.position.astype(np.float32), directions


def world_to_pixel(points, pose: Pose, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, distance in metres) of world points (..., 3) seen from ``pose``."""
    offsets = np.asarray(points, dtype=np.float64) - pose.position
    camera = offsets @ pose.rotation  # world → camera is R^T; row vectors: p @ R
    u, v = direction_to_pixel(camera, width)
    return u, v, np.linalg.norm(offsets, axis=-1)
