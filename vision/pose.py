"""Camera poses in the twin's world frame.

World frame: the twin's, metres, z up. Camera frame: x forward, y left, z up (the panorama's
centre column looks along +x, its top row straight up). A pose is a position and three angles in
radians, applied as ``R = Rz(yaw) · Ry(-pitch) · Rx(roll)`` (camera → world):

* yaw: about world +z, counter-clockwise from +x seen from above (0 looks east, π/2 north);
* pitch: about the camera's left axis, positive tilts the forward axis up;
* roll: about the forward axis, positive lowers the right side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pose:
    """Camera position (x, y, z) in metres and yaw, pitch, roll in radians, world frame."""

    x: float
    y: float
    z: float
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z], dtype=np.float64)

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) camera → world rotation."""
        return rotation_matrix(self.yaw, self.pitch, self.roll)

    def as_list(self) -> list[float]:
        return [self.x, self.y, self.z, self.yaw, self.pitch, self.roll]

    @classmethod
    def from_list(cls, values) -> Pose:
        values = [float(v) for v in values]
        if len(values) != 6 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"a pose is six finite numbers [x, y, z, yaw, pitch, roll], got {values}")
        return cls(*values)

    def as_dict(self) -> dict:
        return {"position": [self.x, self.y, self.z], "yaw": self.yaw, "pitch": self.pitch, "roll": self.roll}

    @classmethod
    def from_dict(cls, data: dict) -> Pose:
        return cls.from_list([*data["position"], data.get("yaw", 0.0), data.get("pitch", 0.0), data.get("roll", 0.0)])


def rotation_matrix(yaw, pitch, roll) -> np.ndarray:
    """``Rz(yaw) · Ry(-pitch) · Rx(roll)``, camera → world (see the module docstring): (3, 3) for
    scalar angles, (..., 3, 3) for arrays of them (the pose search rotates hundreds at once)."""
    if np.ndim(yaw) == np.ndim(pitch) == np.ndim(roll) == 0:
        cy, sy = math.cos(yaw), math.sin(yaw)
        cp, sp = math.cos(-pitch), math.sin(-pitch)
        cr, sr = math.cos(roll), math.sin(roll)
    else:
        yaw, pitch, roll = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (yaw, pitch, roll)))
        cy, sy = np.cos(yaw), np.sin(yaw)
        cp, sp = np.cos(-pitch), np.sin(-pitch)
        cr, sr = np.cos(roll), np.sin(roll)
    rows = ((cy * cp, -sy * cr + cy * sp * sr, sy * sr + cy * sp * cr),
            (sy * cp, cy * cr + sy * sp * sr, -cy * sr + sy * sp * cr),
            (-sp, cp * sr, cp * cr))
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2) if np.ndim(cy) else np.array(rows)


def angles_from_matrix(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in radians of a camera → world rotation (inverse of :func:`rotation_matrix`)."""
    r = np.asarray(rotation, dtype=np.float64)
    pitch = math.asin(max(-1.0, min(1.0, r[2, 0])))
    yaw = math.atan2(r[1, 0], r[0, 0])
    roll = math.atan2(r[2, 1], r[2, 2])
    return yaw, pitch, roll


def wrap_angle(angle):
    """Angle(s) wrapped to [-π, π)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi
